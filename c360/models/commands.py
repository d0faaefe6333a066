"""`c360 train`, `c360 tune` and `c360 score`: thin commands over c360.models.train, tune and score.

`add_commands(app)` is called once by c360/cli.py; the stage modules are imported when a command runs, so
`c360 --help` stays instant.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

ConfigOpt = Annotated[
    Path | None,
    typer.Option(
        "--config",
        "-c",
        help="Training config YAML (training/configs/<model>.yaml); default: the model's defaults.",
    ),
]
ModelArg = Annotated[
    str,
    typer.Argument(help="churn, churn_survival, clv, clv_bgnbd, propensity, response, segments or recs."),
]
TrainArg = Annotated[
    str,
    typer.Argument(
        help="churn, churn_survival, clv, clv_bgnbd, propensity, response, segments, recs, or all (every "
        "model in one process: one Ray start; --config then names a folder of <model>.yaml files)."
    ),
]
WorkspaceOpt = Annotated[Path, typer.Option("--workspace", "-w", help="Workspace folder holding c360.yaml.")]
WaitOpt = Annotated[float, typer.Option(help="Seconds to wait while another command holds the workspace.")]


def train(
    model: TrainArg,
    config: ConfigOpt = None,
    promote: Annotated[
        str | None, typer.Option(help="first | better | always | never (default: the config's, else first).")
    ] = None,
    workspace: WorkspaceOpt = Path("."),
    wait: WaitOpt = 0.0,
) -> None:
    """Train a model on a point-in-time training set, measure it on the last cutoff, register it."""
    from c360.cli import _workspace, console
    from c360.io.lease import workspace_lease
    from c360.models.train import print_result, train_model

    with workspace_lease(_workspace(workspace), "c360 train", wait) as ws:
        if model == "recs":
            from c360.recs.train import print_result as print_recs
            from c360.recs.train import train_recs

            print_recs(train_recs(ws, config, promote=promote), console)
            return
        if model != "all":
            print_result(train_model(ws, model, config, promote=promote), console)
            return
        train_all(ws, config, promote, console)


def train_all(ws: object, configs: Path | None, promote: str | None, console: object) -> list[str]:
    """Every shipped model (`c360.models.catalog`) in turn, each with `configs/<model>.yaml` when the folder
    holds one (else its defaults); a model that cannot train is reported and the others still train; a named
    error at the end lists the ones that failed. Returns the models trained."""
    from c360.errors import C360Error, ValidationError
    from c360.models.base import MODELS, ModelError
    from c360.models.catalog import MODULES  # importing it registers every shipped model
    from c360.models.train import print_result, train_model

    if configs is not None and not configs.is_dir():
        raise ValidationError(
            f"with `all`, --config names a folder of <model>.yaml files; {configs} is not one"
        )
    trained, failed = [], []
    shipped = sorted(n for n, cls in MODELS.items() if cls.__module__ in MODULES)  # not a test's own models
    for name in shipped:
        path = configs / f"{name}.yaml" if configs is not None else None
        try:
            result = train_model(
                ws, name, path if path is not None and path.exists() else None, promote=promote
            )
        except C360Error as exc:
            console.print(f"{name}: not trained: {exc}")  # type: ignore[attr-defined]
            failed.append(name)
            continue
        print_result(result, console)
        trained.append(name)
    try:
        if train_recs_too(ws, configs, promote, console):
            trained.append("recs")
    except C360Error as exc:
        console.print(f"recs: not trained: {exc}")  # type: ignore[attr-defined]
        failed.append("recs")
    if failed:
        raise ModelError(
            f"{len(failed)} of {len(trained) + len(failed)} models not trained: {', '.join(failed)}"
        )
    return trained


def train_recs_too(ws: object, configs: Path | None, promote: str | None, console: object) -> bool:
    """`train all`'s last step: the recommender (`configs/recs.yaml` when there), skipped with a note when
    the facts hold no purchase with a product (False); a refusal raises, as any model's."""
    from c360.recs.train import NoPurchasesError, train_recs
    from c360.recs.train import print_result as print_recs

    path = configs / "recs.yaml" if configs is not None else None
    try:
        result = train_recs(ws, path if path is not None and path.exists() else None, promote=promote)
    except NoPurchasesError as exc:
        console.print(f"recs: skipped: {exc}")  # type: ignore[attr-defined]
        return False
    print_recs(result, console)
    return True


def tune(
    model: ModelArg,
    config: Annotated[Path, typer.Option("--config", "-c", help="Config YAML with a `tune:` section.")],
    promote: Annotated[
        bool, typer.Option("--promote", help="Refit the best trial's parameters, register it as champion.")
    ] = False,
    workspace: WorkspaceOpt = Path("."),
    wait: WaitOpt = 0.0,
) -> None:
    """Search hyper-parameters with Ray Tune (ASHA): a results table printed and saved, trials in MLflow."""
    from c360.cli import _workspace, console
    from c360.io.lease import workspace_lease
    from c360.models.tune import print_result, tune_model

    with workspace_lease(_workspace(workspace), "c360 tune", wait) as ws:
        if model == "recs":
            from c360.recs.tune import print_result as print_recs
            from c360.recs.tune import tune_recs

            print_recs(tune_recs(ws, config, promote=promote), console)
            return
        print_result(tune_model(ws, model, config, promote=promote), console)


def score(
    workspace: WorkspaceOpt = Path("."),
    online: Annotated[bool, typer.Option(help="Materialize ml_scores into the online store.")] = True,
    wait: WaitOpt = 0.0,
) -> None:
    """Score every customer with the champion models: profiles' mlScores, the lake's ml_scores, online."""
    from c360.cli import _workspace, console
    from c360.io.lease import workspace_lease
    from c360.models.score import print_report, score_all

    with workspace_lease(_workspace(workspace), "c360 score", wait) as ws:
        print_report(score_all(ws, online=online), console)


def add_commands(app: typer.Typer) -> None:
    app.command()(train)
    app.command()(tune)
    app.command()(score)
