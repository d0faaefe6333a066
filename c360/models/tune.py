"""`c360 tune <model> --config training/configs/<model>.yaml`: Ray Tune over a model's hyper-parameters.

The config's `tune:` section holds the search space (fixed values or distributions), the number of trials,
the scheduler and the metric (`metric`/`mode` at the top level). Unknown hyper-parameters are refused before
any data is read (`c360.models.train_config.check_params`).

Selection never sees the holdout: the training rows are split again by time (their last cutoff validates,
with the same label-window gap as the holdout; one training cutoff only: a seeded 20% of customers), the
trials are compared on that validation, and the best configuration is refit on all training rows and
measured on the holdout only when promoted (`--promote`: registered and made champion).

ASHA needs intermediate results: a trial reports after fitting on growing shares of its training rows
(rung i of `max_t` fits on i/max_t of them), so weak configurations stop on a small share (successive
halving over data). Every trial is logged as an MLflow run of the experiment `c360-tune-<model>`; the results
table is printed and saved as CSV and Parquet under the lake's `tuning/<model>/<run>/`.
"""

from __future__ import annotations

import logging
import math
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from c360.models.base import ModelError, model_class
from c360.models.train import Prepared, TrainResult, prepare, time_split, train_model
from c360.models.train_config import TrainConfig, TuneSpec, load_config
from c360.workspace import Workspace

log = logging.getLogger(__name__)
TUNING = "tuning"


@dataclass
class TuneResult:
    name: str
    run_id: str
    metric: str
    mode: str
    table: pd.DataFrame
    best_params: dict[str, Any]
    best_value: float | None
    saved: list[str] = field(default_factory=list)
    mlflow_runs: int = 0
    promoted: TrainResult | None = None
    seconds: float = 0.0


def search_space(spec: TuneSpec) -> dict[str, Any]:
    """The YAML search space as Ray Tune domains."""
    from ray import tune

    makers = {
        "uniform": lambda a: tune.uniform(*a),
        "loguniform": lambda a: tune.loguniform(*a),
        "randint": lambda a: tune.randint(a[0], a[1] + 1),  # both ends included, as written
        "qrandint": lambda a: tune.qrandint(*a),
        "choice": lambda a: tune.choice(list(a)),
        "grid": lambda a: tune.grid_search(list(a)),
    }
    space = {}
    for name, value in spec.search_space.items():
        if isinstance(value, dict):
            ((kind, args),) = value.items()
            space[name] = makers[kind](args)
        else:
            space[name] = value
    return space


def validation_split(data: Prepared, seed: int, gap_days: int = 0) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The training rows split again: by time with two training cutoffs or more, else by customer."""
    train = data.split.train
    try:
        inner = time_split(train, data.label, 1, 0.2, gap_days)
        return inner.train, inner.holdout
    except ModelError:
        ids = train["customer_id"].unique()
        rng = np.random.default_rng(seed)
        valid_ids = set(rng.choice(ids, size=max(1, len(ids) // 5), replace=False))
        held = train["customer_id"].isin(valid_ids)
        return train[~held].reset_index(drop=True), train[held].reset_index(drop=True)


def _trial(config: dict[str, Any], *, name: str, base: dict[str, Any], data: Any, tune_spec: dict) -> None:
    """One Ray Tune trial: fit on growing shares of the training rows, report the validation metrics."""
    import os

    from ray import tune

    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    train, valid, features = data
    rungs = tune_spec["max_t"]
    order = np.random.default_rng(tune_spec["seed"]).permutation(len(train))
    for rung in range(1, rungs + 1):
        rows = train.iloc[np.sort(order[: max(2, math.ceil(len(train) * rung / rungs))])]
        model = model_class(name)({**base, **config})
        metrics = model.fit(rows.reset_index(drop=True), features, valid) or model.card.metrics
        tune.report({**{k: float(v) for k, v in metrics.items() if v is not None}, "rows": len(rows)})


def run_trials(data: Prepared, cfg: TrainConfig, valid_split: tuple[pd.DataFrame, pd.DataFrame]) -> Any:
    """The Ray Tune run; returns its ResultGrid."""
    from ray import tune
    from ray.tune.schedulers import ASHAScheduler, FIFOScheduler
    from ray.tune.search.basic_variant import BasicVariantGenerator

    spec = cfg.tune or TuneSpec()
    if not cfg.metric:
        raise ModelError(f"{cfg.model}: name the metric to tune (`metric: auc`, `mode: max`) in the config")
    s = spec.scheduler
    scheduler = (
        ASHAScheduler(
            max_t=s.max_t, grace_period=min(s.grace_period, s.max_t), reduction_factor=s.reduction_factor
        )
        if s.name == "asha"
        else FIFOScheduler()
    )
    train, valid = valid_split
    trainable = tune.with_resources(
        tune.with_parameters(  # puts the frames in the object store once, for every trial
            _trial,
            name=cfg.model,
            base=dict(cfg.params),
            data=(train, valid, data.features),
            tune_spec={"max_t": s.max_t, "seed": spec.seed},
        ),
        {"cpu": spec.cpus_per_trial},
    )
    storage = tempfile.mkdtemp(prefix="c360-tune-")
    try:
        tuner = tune.Tuner(
            trainable,
            param_space=search_space(spec),
            tune_config=tune.TuneConfig(
                metric=cfg.metric,
                mode=cfg.mode,
                num_samples=spec.num_samples,
                max_concurrent_trials=spec.max_concurrent_trials,
                scheduler=scheduler,
                search_alg=BasicVariantGenerator(random_state=spec.seed),
                reuse_actors=True,  # one trial process per slot: a new one per trial costs seconds
            ),
            run_config=tune.RunConfig(name=f"c360-tune-{cfg.model}", storage_path=storage, verbose=0),
        )
        return tuner.fit()
    finally:
        shutil.rmtree(storage, ignore_errors=True)


def results_table(grid: Any, cfg: TrainConfig) -> pd.DataFrame:
    """One row per trial: its hyper-parameters, the metric at its last rung, rows fitted, time, status."""
    spec = cfg.tune or TuneSpec()
    rows = []
    for i, result in enumerate(grid):
        metrics = result.metrics or {}
        row: dict[str, Any] = {"trial": i + 1}
        row.update({k: (result.config or {}).get(k) for k in spec.search_space})
        row[cfg.metric or "metric"] = metrics.get(cfg.metric)
        row["rows"] = metrics.get("rows")
        row["rungs"] = metrics.get("training_iteration")
        row["seconds"] = metrics.get("time_total_s")
        row["status"] = (
            "error" if result.error else ("stopped early" if row["rungs"] != spec.scheduler.max_t else "done")
        )
        rows.append(row)
    table = pd.DataFrame(rows)
    if len(table) and cfg.metric in table:
        table = table.sort_values(cfg.metric, ascending=cfg.mode == "min", na_position="last", kind="stable")
    return table.reset_index(drop=True)


def save_table(ws: Workspace, name: str, run_id: str, table: pd.DataFrame) -> list[str]:
    folder = ws.lake.path(TUNING, name, run_id)
    parquet, csv = f"{folder}/results.parquet", f"{folder}/results.csv"
    ws.lake.replace_table(pa.Table.from_pandas(table, preserve_index=False), parquet)
    ws.lake.replace_text(csv, table.to_csv(index=False))
    return [ws.lake.relative(parquet), ws.lake.relative(csv)]


def tracking_uri(ws: Workspace) -> str:
    """The workspace's MLflow store (the registry's own, when it says)."""
    from c360.models.registry import tracking_uri as registry_uri

    return registry_uri(ws)


def log_trials(ws: Workspace, cfg: TrainConfig, run_id: str, table: pd.DataFrame) -> int:
    """Every trial as an MLflow run (params, the metric, rows, rungs) under `c360-tune-<model>`."""
    try:
        import mlflow
    except ModuleNotFoundError:
        log.warning("mlflow is not installed: the %d trial(s) are not logged", len(table))
        return 0
    client = mlflow.MlflowClient(tracking_uri=tracking_uri(ws))
    experiment = f"c360-tune-{cfg.model}"
    found = client.get_experiment_by_name(experiment)
    if found is None:
        from c360.models.registry import artifact_root

        exp_id = client.create_experiment(experiment, artifact_location=artifact_root(ws))
    else:
        exp_id = found.experiment_id
    spec = cfg.tune or TuneSpec()
    for row in table.to_dict("records"):
        run = client.create_run(
            exp_id, run_name=f"{run_id}-trial-{row['trial']}", tags={"c360.tune_run": run_id}
        )
        for k in spec.search_space:
            client.log_param(run.info.run_id, k, row.get(k))
        for k in (cfg.metric, "rows", "rungs", "seconds"):
            value = row.get(k)
            if value is not None and not (isinstance(value, float) and math.isnan(value)):
                client.log_metric(run.info.run_id, str(k), float(value))
        client.set_terminated(run.info.run_id, "FAILED" if row["status"] == "error" else "FINISHED")
    return len(table)


def tune_model(
    ws: Workspace,
    name: str,
    config: TrainConfig | dict[str, Any] | str | Path | None,
    *,
    promote: bool = False,
) -> TuneResult:
    """Tune `name` as its config says (module docstring); `promote` refits the best and makes it champion."""
    from c360.runtime import ensure_ray

    started = time.perf_counter()
    cfg = config if isinstance(config, TrainConfig) else load_config(config, name)
    if cfg.tune is None or not cfg.tune.search_space:
        raise ModelError(f"{name}: the config has no `tune.search_space` to search")
    if not cfg.metric:
        raise ModelError(f"{name}: name the metric to tune (`metric: auc`, `mode: max`) in the config")
    model_class(name)(dict(cfg.params))  # unknown fixed params: named before any data
    data = prepare(ws, cfg)
    ensure_ray(ws.settings.ray, progress=False)
    valid = validation_split(data, cfg.tune.seed, ws.settings.facts.attribution_days)
    grid = run_trials(data, cfg, valid)
    table = results_table(grid, cfg)
    run_id = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    ok = table[table["status"] != "error"].dropna(subset=[cfg.metric]) if len(table) else table
    if ok.empty:
        errors = [str(r.error) for r in grid if r.error]
        raise ModelError(
            f"{name}: every trial failed; first error: {errors[0] if errors else 'none reported'}"
        )
    best_row = ok.iloc[0]
    best = {k: _plain(best_row[k]) for k in cfg.tune.search_space}
    result = TuneResult(
        name=name,
        run_id=run_id,
        metric=cfg.metric,
        mode=cfg.mode,
        table=table,
        best_params=best,
        best_value=float(best_row[cfg.metric]),
    )
    result.saved = save_table(ws, name, run_id, table)
    result.mlflow_runs = log_trials(ws, cfg, run_id, table)
    if promote:
        result.promoted = train_model(ws, name, cfg, params=best, promote="always", prepared=data)
    result.seconds = time.perf_counter() - started
    return result


def _plain(value: Any) -> Any:
    return value.item() if hasattr(value, "item") else value


def print_result(result: TuneResult, console: Any) -> None:

    from c360.io.terminal import plain
    from c360.models.train import print_result as print_trained

    title = f"{result.name}: {len(result.table)} trial(s), {result.metric} ({result.mode}) on validation"
    console.print(trials_table(result.table, title))
    console.print(
        plain(
            f"best: {result.best_params} ({result.metric} {result.best_value:.4g}); "
            f"saved {', '.join(result.saved)}; {result.mlflow_runs} trial(s) logged to MLflow; "
            f"{result.seconds:.1f}s"
        )
    )
    if result.promoted is not None:
        print_trained(result.promoted, console)


def trials_table(frame: pd.DataFrame, title: str) -> Any:
    """A tuning run's trials (one row each, the status column left-aligned) as a rich table."""
    from rich.table import Table

    table = Table(title=title)
    for column in frame.columns:
        table.add_column(str(column), justify="right" if column != "status" else "left")
    for row in frame.itertuples(index=False):
        table.add_row(*[_cell(v) for v in row])
    return table


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return "" if math.isnan(value) else f"{value:.4g}"
    return "" if value is None else str(value)
