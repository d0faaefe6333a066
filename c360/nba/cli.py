"""`c360 nba simulate|evaluate|warm-start|register`: the next-best-action stage of a workspace
(`c360.nba.workspace`).

`simulate` serves simulated visits of the workspace's demo people through the engine into the decision log
(and saves the learnt model as `current`, or `--save-as` a candidate); `evaluate` judges a checkpoint's
greedy policy on that log with IPS, SNIPS and doubly robust estimates before it is promoted; `warm-start`
seeds a fresh model from the exposures table; `register` makes a checkpoint an `nba` model version
(`c360 models list` shows it). Errors go up to `c360.cli.run_cli`, which prints them and exits with their
code: an unknown checkpoint, an empty log or no exposures 3, a catalogue with an unknown channel (or one that
does not match the log) 2.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

if TYPE_CHECKING:
    from c360.nba.catalog import Catalog
    from c360.nba.workspace import Evaluation

nba_app = typer.Typer(
    help="Next-best-action: simulate traffic into the decision log, evaluate a policy off-line.",
    no_args_is_help=True,
)

WorkspaceOpt = Annotated[Path, typer.Option("--workspace", "-w", help="Workspace folder holding c360.yaml.")]
WaitOpt = Annotated[float, typer.Option(help="Seconds to wait while another command holds the workspace.")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]
CatalogOpt = Annotated[
    Path | None,
    typer.Option("--catalog", help="Action catalogue (YAML); default training/configs/nba/catalog.yaml."),
]
SaveAsOpt = Annotated[
    Path | None, typer.Option("--save-as", help="Save the model here instead of as `current`.")
]


def _console():
    from c360.cli import console

    return console


def _ws(path: Path):
    from c360.cli import _workspace

    return _workspace(path)


def _print(report: object, as_json: bool, text: str) -> None:
    """The report as JSON, or `text` as a plain line."""
    from c360.io.terminal import json_text, plain

    console = _console()
    console.print(json_text(json.loads(json.dumps(asdict(report), default=str))) if as_json else plain(text))


def _catalog(path: Path | None) -> Catalog:
    from c360.nba.catalog import DEFAULT_CATALOG, load_catalog

    return load_catalog(path or DEFAULT_CATALOG)


@nba_app.command("simulate")
def nba_simulate(
    decisions: Annotated[int, typer.Option(help="Simulated visits to decide on.")] = 5_000,
    frozen: Annotated[
        bool, typer.Option("--frozen", help="Serve `current` without learning (an honest log for evaluate).")
    ] = False,
    save_as: SaveAsOpt = None,
    seed: Annotated[int | None, typer.Option(help="Demo seed; default: the workspace's demo data.")] = None,
    customers: Annotated[int | None, typer.Option(help="Demo people; default: the demo data's.")] = None,
    catalog: CatalogOpt = None,
    workspace: WorkspaceOpt = Path("."),
    wait: WaitOpt = 0.0,
    as_json: JsonOpt = False,
) -> None:
    """Serve simulated visits of the demo people through the bandit, logging every decision and reward."""
    from c360.io.lease import workspace_lease
    from c360.nba.workspace import simulate

    cat = _catalog(catalog)
    with workspace_lease(_ws(workspace), "c360 nba simulate", wait) as ws:
        report = simulate(ws, cat, decisions, not frozen, save_as, seed, customers)
    saved = f"saved {report.checkpoint} ({report.version})" if report.checkpoint else "model frozen"
    _print(
        report,
        as_json,
        f"{report.decisions:,} decisions logged to {report.log} (demo seed {report.seed}, "
        f"{report.customers:,} people): conversion rate {report.reward_rate:.4f}, expected "
        f"{report.expected_rate:.4f} against {report.random_rate:.4f} for random choice; {saved}",
    )


@nba_app.command("warm-start")
def nba_warm_start(
    passes: Annotated[int, typer.Option(help="Passes over the exposures.")] = 1,
    save_as: SaveAsOpt = None,
    force: Annotated[bool, typer.Option("--force", help="Replace an existing checkpoint.")] = False,
    catalog: CatalogOpt = None,
    workspace: WorkspaceOpt = Path("."),
    wait: WaitOpt = 0.0,
    as_json: JsonOpt = False,
) -> None:
    """Seed a fresh bandit from the exposures table (campaign sends and their outcomes)."""
    from c360.io.lease import workspace_lease
    from c360.nba.workspace import warm_start_from_exposures

    cat = _catalog(catalog)
    with workspace_lease(_ws(workspace), "c360 nba warm-start", wait) as ws:
        report = warm_start_from_exposures(ws, cat, passes, save_as, force)
    _print(
        report,
        as_json,
        f"warm start from {report.examples:,} of {report.exposures:,} exposures ({report.skipped:,} "
        f"match no action), {report.updates:,} updates: saved {report.checkpoint} ({report.version})",
    )


@nba_app.command("register")
def nba_register(
    policy: Annotated[str, typer.Option(help="The checkpoint: 'current' or a path.")] = "current",
    promote: Annotated[
        bool | None,
        typer.Option(
            "--promote/--no-promote", help="Make it the champion (default: the first version only)."
        ),
    ] = None,
    catalog: CatalogOpt = None,
    workspace: WorkspaceOpt = Path("."),
    wait: WaitOpt = 0.0,
    as_json: JsonOpt = False,
) -> None:
    """Register a checkpoint as the next `nba` model version, with its off-policy estimates as metrics."""
    from c360.io.lease import workspace_lease
    from c360.nba.workspace import register_checkpoint

    cat = _catalog(catalog)
    with workspace_lease(_ws(workspace), "c360 nba register", wait) as ws:
        v = register_checkpoint(ws, cat, policy, promote)
    metrics = ", ".join(f"{k} {x:.4g}" for k, x in sorted(v.metrics.items())) or "no decisions to judge it on"
    champ = " (champion)" if v.champion else ""
    _print(v, as_json, f"nba version {v.version} registered{champ}: {metrics}")


@nba_app.command("evaluate")
def nba_evaluate(
    policy: Annotated[
        str,
        typer.Option(help="'current', a checkpoint path or a registered version (nba:3, nba:champion)."),
    ],
    baseline: Annotated[
        str | None, typer.Option(help="A second checkpoint (or 'current') to judge on the same log.")
    ] = None,
    n_boot: Annotated[int, typer.Option(help="Bootstrap resamples for the 95% intervals.")] = 500,
    seed: Annotated[int, typer.Option(help="Seed of the bootstrap and the reward model's folds.")] = 0,
    catalog: CatalogOpt = None,
    workspace: WorkspaceOpt = Path("."),
    as_json: JsonOpt = False,
) -> None:
    """IPS, SNIPS and doubly robust estimates of a policy on the decision log, with 95% CIs and ESS."""
    from c360.nba.workspace import evaluate

    result = evaluate(_ws(workspace), _catalog(catalog), policy, baseline, n_boot, seed)
    if as_json:
        _print(result, True, "")
        return
    _console().print(_evaluation_table(result))


def _evaluation_table(result: Evaluation) -> Table:
    from c360.io.terminal import plain

    table = Table(title="Off-policy evaluation on the decision log")
    for col in ("policy", "version", "estimator", "estimate", "95% CI", "ESS", "n"):
        table.add_column(col, justify="left" if col in ("policy", "version", "estimator") else "right")
    for p in (result.logged, result.candidate, result.baseline):
        if p is None:
            continue
        for e in p.estimates:
            table.add_row(
                plain(p.name),
                plain(p.version),
                e.estimator,
                f"{e.value:.4f}",
                f"[{e.low:.4f}, {e.high:.4f}]",
                f"{e.ess:,.0f}",
                f"{e.n:,}",
            )
        table.add_section()
    table.caption = plain(
        f"{result.decisions:,} logged decisions ({result.rewarded:,} rewarded) in {result.log}; "
        "ESS: how many logged decisions an estimate is worth"
    )
    return table
