"""`c360 features plan|apply|materialize|backfill|training-set`: the Feast feature store of a workspace
(`c360.features.store`, `materialize`, `backfill`, `training_set`). Registered by c360/cli.py; each command
imports its stage when it runs, so `c360 --help` stays instant. Errors go up to `c360.cli.run_cli`."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.text import Text

from c360.errors import ValidationError
from c360.io.lease import workspace_lease
from c360.io.terminal import plain, safe_text

if TYPE_CHECKING:
    from c360.workspace import Workspace

WorkspaceOpt = Annotated[Path, typer.Option("--workspace", "-w", help="Workspace folder holding c360.yaml.")]
WaitOpt = Annotated[float, typer.Option(help="Seconds to wait while another command holds the workspace.")]


def _console() -> Any:
    from c360.cli import console

    return console


def _ws(path: Path) -> Workspace:
    from c360.cli import _workspace

    return _workspace(path)


features_app = typer.Typer(help="The Feast feature store of the workspace.", no_args_is_help=True)


@features_app.command("plan")
def features_plan(workspace: WorkspaceOpt = Path(".")) -> None:
    """`feast plan` with the workspace's rendered config."""
    from c360.features.store import plan

    _console().print(Text(safe_text(plan(_ws(workspace)), allow_newlines=True)))  # Feast's words, as-is


@features_app.command("apply")
def features_apply(workspace: WorkspaceOpt = Path(".")) -> None:
    """`feast apply`: register entities, views and services; create the online tables."""
    from c360.features.store import apply

    _console().print(Text(safe_text(apply(_ws(workspace)), allow_newlines=True)))


@features_app.command("materialize")
def features_materialize(workspace: WorkspaceOpt = Path("."), wait: WaitOpt = 0.0) -> None:
    """Load feature values written since the last run into the configured online store."""
    from c360.features.materialize import materialize

    with workspace_lease(_ws(workspace), "c360 features materialize", wait) as ws:
        r = materialize(ws)
    _console().print(
        f"materialized {r.rows:,} row(s) of {len(r.views)} view(s) up to {r.end} in {r.seconds:.1f}s"
    )


@features_app.command("backfill")
def features_backfill(
    start: Annotated[str, typer.Option(help="First cutoff, YYYY-MM-DD (the day's start, 00:00 UTC).")],
    end: Annotated[str, typer.Option(help="Last cutoff, YYYY-MM-DD (included when on the --every grid).")],
    every: Annotated[
        str | None, typer.Option(help="Cutoff spacing, like 7d or 2w (default features.backfill_every).")
    ] = None,
    workspace: WorkspaceOpt = Path("."),
    wait: WaitOpt = 0.0,
) -> None:
    """Feature rows as of each cutoff, from the fact tables truncated there (Feast point-in-time history)."""
    from c360.features.backfill import backfill

    with workspace_lease(_ws(workspace), "c360 features backfill", wait) as ws:
        r = backfill(ws, start, end, every)
    _console().print(
        plain(
            f"backfill {r.cutoffs[0]}..{r.cutoffs[-1]}: {len(r.cutoffs)} cutoff(s), "
            f"{r.customers:,} customer(s) at the last, {r.rows:,} row(s); {r.written} file(s) written, "
            f"{r.unchanged} unchanged, "
            f"{r.removed} removed in {r.seconds:.1f}s"
        )
    )


@features_app.command("training-set")
def features_training_set(
    label: Annotated[str, typer.Option(help="A label declared in features.labels (c360.yaml).")],
    cutoffs: Annotated[
        str | None, typer.Option(help="Comma-separated cutoff dates, like 2025-01-05,2025-02-02.")
    ] = None,
    start: Annotated[str | None, typer.Option(help="First cutoff (with --end instead of --cutoffs).")] = None,
    end: Annotated[str | None, typer.Option(help="Last cutoff (included when on the --every grid).")] = None,
    every: Annotated[
        str | None, typer.Option(help="Cutoff spacing from --start, like 7d or 2w (features.backfill_every).")
    ] = None,
    features: Annotated[
        str | None, typer.Option(help="Feature service to join (default: the label's model's service).")
    ] = None,
    out: Annotated[str, typer.Option(help="Folder in the lake the set is written under.")] = "training_sets",
    workspace: WorkspaceOpt = Path("."),
    wait: WaitOpt = 0.0,
) -> None:
    """Write a point-in-time training set (labels from facts, features through Feast) as Parquet."""
    from c360.features.training_inputs import cutoff_range, parse_cutoffs, parse_every, parse_time
    from c360.features.training_set import build_training_set

    if (cutoffs is None) == (start is None and end is None):
        raise ValidationError("give either --cutoffs or --start and --end")
    ws0 = _ws(workspace)
    if cutoffs is not None:
        cuts = parse_cutoffs(cutoffs)
    else:
        if start is None or end is None:
            raise ValidationError("--start and --end go together")
        step = parse_every(every or ws0.settings.features.backfill_every)
        cuts = cutoff_range(parse_time(start, "--start"), parse_time(end, "--end"), step)
    with workspace_lease(ws0, "c360 features training-set", wait) as ws:
        r = build_training_set(ws, label, cuts, features=features, out=out)
    _console().print(
        plain(
            f"training set {r.label}/{r.set_id}: {r.rows:,} row(s), {r.positives:,} positive, "
            f"{len(r.features)} feature(s) of service {r.feature_service} in {r.seconds:.1f}s"
        )
    )
    if r.missing_views:
        _console().print(plain(f"left out (no rows in the lake): {', '.join(r.missing_views)}"))
    _console().print(plain(f"written: {ws.lake.relative(r.path)} and {ws.lake.relative(r.spec_path)}"))
