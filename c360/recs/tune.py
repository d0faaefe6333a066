"""`c360 tune recs --config training/configs/recs.yaml`: Ray Tune over the recommender's hyper-parameters,
compared on a validation window carved from the training period, never on the held-out test window.

The window is the `validation_days` before the held-out one: each trial fits on the purchases before it
and is measured on it (the config's `metric`, NDCG at n by default). Trials go through `ray.tune.Tuner`
as `c360 tune` runs them for the other models, with one difference: a recommender fit is one step (a
matrix inversion, or ALS iterations over the whole matrix), so there are no rungs for ASHA to cut on and
every trial runs to its end (FIFO). The results table is saved under the lake's `tuning/recs/<run>/` and
each trial logged to MLflow (`c360-tune-recs`), as for the other models; `--promote` trains the best
parameters with `c360.recs.train` (measured on the test window then, and made champion).
"""

from __future__ import annotations

import shutil
import tempfile
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd

from c360.models.base import ModelError
from c360.models.train_config import TuneSpec
from c360.recs.config import RecsConfig, load_recs_config
from c360.recs.train import RecsTrainResult, fit_and_measure, holdout_start, read_purchases, train_recs
from c360.workspace import Workspace


@dataclass
class RecsTuneResult:
    run_id: str
    metric: str
    table: pd.DataFrame
    best_params: dict[str, Any]
    best_value: float
    validation: tuple[str, str]
    saved: list[str] = field(default_factory=list)
    mlflow_runs: int = 0
    promoted: RecsTrainResult | None = None
    seconds: float = 0.0


def validation_window(lines: pd.DataFrame, cfg: RecsConfig) -> tuple[pd.Timestamp, pd.Timestamp]:
    """[start, end): the `validation_days` before the held-out window."""
    end, _ = holdout_start(lines, cfg.holdout_days)
    start = end - pd.Timedelta(days=cfg.validation_days)
    if not (lines["ts"] < start).any():
        raise ModelError(
            f"recs: no purchase before the validation window {start.date()} to {end.date()} "
            "(shorten `validation_days` or `holdout_days`)"
        )
    return start, end


def _trial(params: dict[str, Any], *, cfg: dict, lines: pd.DataFrame, products: Any, window: tuple) -> None:
    """One trial: fit before the validation window, report its metrics on it."""
    from ray import tune

    config = RecsConfig.model_validate(cfg)
    model = fit_and_measure(config, lines, products, window[0], window[1], params, use_ray=False)
    tune.report({k: float(v) for k, v in model.card.metrics.items()})


def run_trials(cfg: RecsConfig, lines: pd.DataFrame, products: pd.DataFrame, window: tuple) -> Any:
    from ray import tune
    from ray.tune.search.basic_variant import BasicVariantGenerator

    from c360.models.tune import search_space

    spec = cfg.tune or TuneSpec()
    trainable = tune.with_resources(
        tune.with_parameters(
            _trial,
            cfg=cfg.model_dump(),
            lines=lines[lines["ts"] < window[1]],
            products=products,
            window=window,
        ),
        {"cpu": spec.cpus_per_trial},
    )
    storage = tempfile.mkdtemp(prefix="c360-tune-recs-")
    try:
        tuner = tune.Tuner(
            trainable,
            param_space=search_space(spec),
            tune_config=tune.TuneConfig(
                metric=cfg.metric,
                mode=cfg.mode,
                num_samples=spec.num_samples,
                max_concurrent_trials=spec.max_concurrent_trials,
                search_alg=BasicVariantGenerator(random_state=spec.seed),
                reuse_actors=True,
            ),
            run_config=tune.RunConfig(name="c360-tune-recs", storage_path=storage, verbose=0),
        )
        return tuner.fit()
    finally:
        shutil.rmtree(storage, ignore_errors=True)


def results_table(grid: Any, cfg: RecsConfig) -> pd.DataFrame:
    """One row per trial: its parameters, the metric and popularity's on the validation window, status."""
    spec = cfg.tune or TuneSpec()
    rows = []
    for i, result in enumerate(grid):
        metrics = result.metrics or {}
        row: dict[str, Any] = {"trial": i + 1}
        row.update({k: (result.config or {}).get(k) for k in spec.search_space})
        row[cfg.metric] = metrics.get(cfg.metric)
        row[f"popularity_{cfg.metric}"] = metrics.get(f"popularity_{cfg.metric}")
        row["seconds"] = metrics.get("time_total_s")
        row["status"] = "error" if result.error else "done"
        rows.append(row)
    table = pd.DataFrame(rows)
    if len(table):
        table = table.sort_values(cfg.metric, ascending=cfg.mode == "min", na_position="last", kind="stable")
    return table.reset_index(drop=True)


def tune_recs(
    ws: Workspace, config: RecsConfig | dict[str, Any] | str | Path | None, *, promote: bool = False
) -> RecsTuneResult:
    """Search as the config's `tune:` section says (module docstring)."""
    from c360.models.tune import log_trials, save_table
    from c360.runtime import ensure_ray

    started = time.perf_counter()
    cfg = load_recs_config(config)
    if cfg.tune is None or not cfg.tune.search_space:
        raise ModelError("recs: the config has no `tune.search_space` to search")
    lines, products = read_purchases(ws)
    window = validation_window(lines, cfg)
    ensure_ray(ws.settings.ray, progress=False)
    grid = run_trials(cfg, lines, products, window)
    table = results_table(grid, cfg)
    ok = table[table["status"] == "done"].dropna(subset=[cfg.metric]) if len(table) else table
    if ok.empty:
        errors = [str(r.error) for r in grid if r.error]
        raise ModelError(f"recs: every trial failed; first error: {errors[0] if errors else 'none reported'}")
    best_row = ok.iloc[0]
    best = {
        k: (v.item() if hasattr(v, "item") else v) for k, v in best_row[list(cfg.tune.search_space)].items()
    }
    result = RecsTuneResult(
        run_id=datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ"),
        metric=cfg.metric,
        table=table,
        best_params=best,
        best_value=float(best_row[cfg.metric]),
        validation=(window[0].isoformat(), window[1].isoformat()),
    )
    result.saved = save_table(ws, "recs", result.run_id, table)
    result.mlflow_runs = log_trials(ws, cfg, result.run_id, table)  # type: ignore[arg-type]
    if promote:
        result.promoted = train_recs(ws, cfg, params=best, promote="always")
    result.seconds = time.perf_counter() - started
    return result


def print_result(result: RecsTuneResult, console: Any) -> None:
    from c360.io.terminal import plain
    from c360.models.tune import trials_table
    from c360.recs.train import print_result as print_trained

    title = f"recs: {len(result.table)} trial(s), {result.metric} on the validation window"
    console.print(trials_table(result.table, title))
    console.print(
        plain(
            f"best on the validation window {result.validation[0][:10]} to {result.validation[1][:10]}: "
            f"{result.best_params} ({result.metric} {result.best_value:.4g}); "
            f"saved {', '.join(result.saved)}; {result.mlflow_runs} trial(s) logged to MLflow; "
            f"{result.seconds:.1f}s"
        )
    )
    if result.promoted is not None:
        print_trained(result.promoted, console)
