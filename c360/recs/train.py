"""`c360 train recs`: the recommender fitted on the workspace's purchases, measured on a held-out window at
the end of the facts beside popularity, and registered like every model (`c360 models list/show/promote/
rollback recs`).

1. Purchases come from `facts/transaction_lines`, categories from `facts/products`. The last
   `holdout_days` (whole days ending with the newest purchase) are held out.
2. The model (`c360.recs.model.RecsModel`, the config's method and parameters) fits on the purchases before
   the window and is measured on it: precision, recall, NDCG and MAP at n and coverage, for customers seen
   before the window, with popularity's figures beside them (`popularity_ndcg`, ...). The same fit
   calibrates `nextProductPropensity`.
3. With `refit` (the default) the registered version is the same method and parameters refitted on every
   purchase, so the lists know the newest weeks; its card keeps the held-out metrics of step 2.
4. It is registered through `c360.models.registry` (champion as `promote` says); the version's folder holds
   item-side state only. The customers' purchase histories the scorer reads go to the lake's
   `recs/customers/` (`c360.recs.store`), keyed by customer_id.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from c360.models.base import ModelError
from c360.recs.config import RecsConfig, load_recs_config
from c360.recs.data import purchases
from c360.recs.model import RecsModel
from c360.recs.rules import Rules
from c360.workspace import Workspace

log = logging.getLogger(__name__)
NAME = "recs"


class NoPurchasesError(ModelError):
    """The facts hold no purchase with a product: nothing to recommend from (`c360 train all` skips recs)."""


@dataclass
class RecsTrainResult:
    version: str
    champion: bool
    method: str
    metrics: dict[str, float]
    customers: int
    items: int
    holdout: tuple[str, str]
    ray: bool
    seconds: dict[str, float] = field(default_factory=dict)


def read_purchases(ws: Workspace) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(purchase lines, products) of the workspace's facts."""
    from c360.recs.data import read_lines, read_products

    lines = purchases(read_lines(ws.lake)).reset_index(drop=True)
    return lines, read_products(ws.lake)


def holdout_start(lines: pd.DataFrame, days: int) -> tuple[pd.Timestamp, pd.Timestamp]:
    """[start, end): the last `days` whole days up to and including the newest purchase's day."""
    if lines.empty:
        raise NoPurchasesError("recs: the facts hold no purchase with a product; nothing to learn from")
    end = lines["ts"].max().floor("D") + pd.Timedelta(days=1)
    start = end - pd.Timedelta(days=days)
    if not (lines["ts"] < start).any():
        raise ModelError(
            f"recs: every purchase is in the last {days} day(s): no history before the held-out window "
            "(shorten `holdout_days`)"
        )
    return start, end


def model_for(cfg: RecsConfig, params: dict[str, Any] | None = None) -> RecsModel:
    model = RecsModel({**cfg.params, **(params or {}), "n": cfg.n, "exclude_bought": cfg.exclude_bought})
    model.rules = Rules(frozenset(cfg.consumables), frozenset(cfg.inactive), cfg.max_per_category)
    model.consent_channel_ = cfg.consent_channel
    return model


def fit_and_measure(
    cfg: RecsConfig,
    lines: pd.DataFrame,
    products: pd.DataFrame | None,
    start: pd.Timestamp,
    end: pd.Timestamp,
    params: dict[str, Any] | None = None,
    use_ray: bool = False,
) -> RecsModel:
    """The model fitted on the purchases before `start`, measured on [start, end) (its card's metrics)."""
    model = model_for(cfg, params)
    before = lines[lines["ts"] < start]
    window = lines[(lines["ts"] >= start) & (lines["ts"] < end)]
    if window.empty:
        raise ModelError(f"recs: no purchase in the held-out window {start.date()} to {end.date()}")
    model.fit(before, (), window, products=products, use_ray=use_ray)
    return model


def train_recs(
    ws: Workspace,
    config: RecsConfig | dict[str, Any] | str | Path | None = None,
    *,
    params: dict[str, Any] | None = None,
    promote: str | None = None,
) -> RecsTrainResult:
    """Train, measure and register the recommender (module docstring)."""
    from c360.models.train import register
    from c360.recs.store import write_history

    started = time.perf_counter()
    cfg = load_recs_config(config)
    seconds: dict[str, float] = {}
    lines, products = read_purchases(ws)
    start, end = holdout_start(lines, cfg.holdout_days)
    use_ray = cfg.ray and model_for(cfg, params).resolve_method(lines["product_id"].nunique()) == "als"
    if use_ray:
        from c360.runtime import ensure_ray

        ensure_ray(ws.settings.ray, progress=False)
    t0 = time.perf_counter()
    measured = fit_and_measure(cfg, lines, products, start, end, params, use_ray)
    seconds["fit_and_measure"] = time.perf_counter() - t0
    model = measured
    if cfg.refit:
        t0 = time.perf_counter()
        model = model_for(cfg, params)
        model.fit(lines, (), None, products=products, use_ray=use_ray)
        model.calibration_ = measured.calibration_
        seconds["refit"] = time.perf_counter() - t0
    model.card.metrics = dict(measured.card.metrics)
    model.card.label = {
        "name": "next purchases",
        "window_days": cfg.holdout_days,
        "new_items": cfg.exclude_bought,
    }
    model.card.training_set = {
        "source": "facts/transaction_lines",
        "purchases": len(lines),
        "customers": int(lines["customer_id"].nunique()),
        "items": int(lines["product_id"].nunique()),
        "holdout": [start.isoformat(), end.isoformat()],
        "newest_purchase": lines["ts"].max().isoformat(),
        "refit": cfg.refit,
    }
    t0 = time.perf_counter()
    version, champion = register(ws, model, None, promote or cfg.promote, cfg.metric, cfg.mode)
    write_history(ws, lines)
    seconds["register"] = time.perf_counter() - t0
    seconds["total"] = time.perf_counter() - started
    log.info("recs v%s trained: %s", version.version, model.card.metrics)
    return RecsTrainResult(
        version=str(version.version),
        champion=champion,
        method=model.method_,
        metrics=model.card.metrics,
        customers=int(lines["customer_id"].nunique()),
        items=len(model.items_),
        holdout=(start.isoformat(), end.isoformat()),
        ray=use_ray,
        seconds=seconds,
    )


def print_result(result: RecsTrainResult, console: Any) -> None:
    from c360.io.terminal import plain

    m = result.metrics
    console.print(
        plain(
            f"recs version {result.version}{' (champion)' if result.champion else ''}: {result.method} over "
            f"{result.items:,} item(s) and {result.customers:,} customer(s); held out "
            f"{result.holdout[0][:10]} to {result.holdout[1][:10]}: NDCG@k {m.get('ndcg', 0):.4f} "
            f"(popularity {m.get('popularity_ndcg', 0):.4f}), precision {m.get('precision', 0):.4f}, "
            f"recall {m.get('recall', 0):.4f}, MAP {m.get('map', 0):.4f}, "
            f"coverage {m.get('coverage', 0):.3f} over {int(m.get('customers_evaluated', 0)):,} customer(s); "
            f"{'ALS in a Ray task, ' if result.ray else ''}{result.seconds.get('total', 0):.1f}s in all"
        )
    )
