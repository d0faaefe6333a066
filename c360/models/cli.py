"""`c360 models list|show|promote|rollback`: the registered model versions of a workspace (MLflow through
Feast's integration, c360.models.registry). Errors go up to `c360.cli.run_cli`, which prints them and exits
with their code (not found 3, a refused promotion 2, an unreachable store 4)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

models_app = typer.Typer(
    help="Registered models: versions, the champion, promote and roll back.", no_args_is_help=True
)

WorkspaceOpt = Annotated[Path, typer.Option("--workspace", "-w", help="Workspace folder holding c360.yaml.")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]


def _console():
    from c360.cli import console

    return console


def _ws(path: Path):
    from c360.cli import _workspace

    return _workspace(path)


def _metrics(metrics: dict[str, float]) -> str:
    return ", ".join(f"{k} {v:.4g}" for k, v in sorted(metrics.items())) or "-"


@models_app.command("list")
def models_list(
    name: Annotated[str | None, typer.Argument(help="Only this model's versions.")] = None,
    workspace: WorkspaceOpt = Path("."),
    as_json: JsonOpt = False,
) -> None:
    """Every registered version: stage, champion, held-out metrics, feature service."""
    from c360.io.terminal import json_text, plain
    from c360.models.registry import list_versions

    versions = list_versions(_ws(workspace), name)
    console = _console()
    if as_json:
        console.print(json_text(json.loads(json.dumps([v.row() for v in versions], default=str))))
        return
    if not versions:
        console.print("no registered models yet: train one with `c360 train <model>`")
        return
    table = Table(title="registered models")
    for col in ("model", "version", "stage", "champion", "metrics", "feature service", "registered"):
        table.add_column(col)
    for v in versions:
        cells = (
            v.name,
            str(v.version),
            v.stage,
            "*" if v.champion else "",
            _metrics(v.metrics),
            v.versioned_service or v.feature_service or "-",
            v.created_at or "-",
        )
        table.add_row(*(plain(c) for c in cells))
    console.print(table)


@models_app.command("show")
def models_show(
    name: Annotated[str, typer.Argument(help="The model's registered name (churn, clv, ...).")],
    version: Annotated[int | None, typer.Argument(help="A version; the champion when left out.")] = None,
    workspace: WorkspaceOpt = Path("."),
    as_json: JsonOpt = False,
) -> None:
    """One version: what made it (feature service, label, training set, params, code) and its metrics."""
    from dataclasses import asdict

    from c360.io.terminal import json_text, plain
    from c360.models.registry import show

    v = show(_ws(workspace), name, version)
    console = _console()
    doc = asdict(v)
    if as_json:
        console.print(json_text(json.loads(json.dumps(doc, default=str))))
        return
    table = Table(title=f"{v.name} version {v.version}", show_header=False)
    table.add_column("field")
    table.add_column("value", overflow="fold")
    rows = {
        "model uri": v.uri,
        "stage": v.stage + (" (champion)" if v.champion else ""),
        "artifact": v.folder or "-",
        "feature service": f"{v.versioned_service or '-'} (trained on {v.feature_service or '-'})",
        "features": ", ".join(v.features) or "-",
        "label": json.dumps(v.label) if v.label else "-",
        "training set": json.dumps(v.training_set, default=str) if v.training_set else "-",
        "metrics": _metrics(v.metrics),
        "params": ", ".join(f"{k}={p}" for k, p in sorted(v.params.items())) or "-",
        "code": f"c360 {v.c360_version or '?'}" + (f" @ {v.git_sha}" if v.git_sha else ""),
        "mlflow run": v.run_id or "-",
        "registered": v.created_at or "-",
    }
    for key, value in rows.items():
        table.add_row(key, plain(value))
    console.print(table)


@models_app.command("promote")
def models_promote(
    name: Annotated[str, typer.Argument(help="The model's registered name.")],
    version: Annotated[int, typer.Argument(help="The version to make champion.")],
    workspace: WorkspaceOpt = Path("."),
) -> None:
    """Make a version the champion (scoring uses it); it must load and Feast must serve its features."""
    from c360.io.terminal import plain
    from c360.models.registry import promote

    v = promote(_ws(workspace), name, version)
    _console().print(plain(f"{v.name}: version {v.version} is the champion ({_metrics(v.metrics)})"))


@models_app.command("rollback")
def models_rollback(
    name: Annotated[str, typer.Argument(help="The model's registered name.")],
    workspace: WorkspaceOpt = Path("."),
) -> None:
    """Give the champion back to the previous champion."""
    from c360.io.terminal import plain
    from c360.models.registry import rollback

    v = rollback(_ws(workspace), name)
    _console().print(
        plain(f"{v.name}: rolled back; version {v.version} is the champion ({_metrics(v.metrics)})")
    )
