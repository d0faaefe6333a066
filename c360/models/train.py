"""`c360 train <model>`: a point-in-time training set, a time-based holdout, a fit, held-out metrics, a
registered model version.

1. The training set comes from `build_training_set` (labels from facts, features through Feast as of each
   cutoff). Cutoffs are the config's, or `count` cutoffs `every` apart ending at the newest one the facts
   can label (its horizon ends on or before the newest fact).
2. The last `holdout_cutoffs` cutoffs are held out. A training row is kept only when its label window has
   closed by the first held-out cutoff, so nothing the holdout period decides reaches training (a 90-day
   churn label at a cutoff 30 days before the holdout would). Response rows (one per exposure) split by time
   at the models' holdout fraction, with the attribution window as the gap. Response rows first get what
   the feature service cannot hold (`with_exposures`): the exposure's context (channel, campaign, offer,
   variant, type) from `facts/exposures` by `exposure_id`, and the customer's earlier exposures and their
   outcomes as known at the row's time (`c360.models.response.exposure_history`), so train and tune
   (which prepares through here) both see them.
3. The model fits on the training rows (through Ray Train when the model supports it and Ray is wanted) and
   reports its metrics on the holdout; it is saved and registered (`c360.models.registry`): the first version
   of a model becomes champion; later ones as `promote` says. A refused or failed training registers nothing,
   so the champion stays as it was.
"""

from __future__ import annotations

import inspect
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from c360.features.labels import horizon_end
from c360.features.training_set import TrainingSet, build_training_set, resolve_label
from c360.models.base import LABEL, Model, ModelError, model_class
from c360.models.train_config import TrainConfig, load_config
from c360.settings import LabelSettings
from c360.workspace import Workspace

log = logging.getLogger(__name__)


@dataclass
class Split:
    train: pd.DataFrame
    holdout: pd.DataFrame
    train_cutoffs: list[str]
    holdout_cutoffs: list[str]
    dropped_rows: int = 0
    """Training rows left out because their label window reaches into the holdout period."""


@dataclass
class TrainResult:
    name: str
    version: str | None
    uri: str | None
    champion: bool
    metrics: dict[str, float]
    training_set: str
    features: list[str]
    rows_train: int
    rows_holdout: int
    train_cutoffs: list[str]
    holdout_cutoffs: list[str]
    ray: bool
    seconds: dict[str, float] = field(default_factory=dict)


# ------------------------------------------------------------------------------------------ cutoffs


def plan_cutoffs(ws: Workspace, config: TrainConfig, label: LabelSettings) -> list[pd.Timestamp]:
    """The config's cutoffs, its start/end/every range, or `count` cutoffs ending at the newest one the
    facts can label (training cutoffs one label horizon earlier than the held-out ones)."""
    from c360.features.training_inputs import (
        cutoff_range,
        fact_span,
        parse_cutoffs,
        parse_every,
        parse_time,
    )

    if config.cutoffs:
        return parse_cutoffs(",".join(config.cutoffs))
    every = parse_every(config.every)
    if config.start or config.end:
        if not (config.start and config.end):
            raise ModelError(f"{config.model}: `start` and `end` go together")
        return cutoff_range(parse_time(config.start, "start"), parse_time(config.end, "end"), every)
    oldest, newest = fact_span(ws.lake)
    last = newest.floor("D")
    while label.kind != "response" and horizon_end(last, days=label.days, months=label.months) > newest:
        last -= pd.Timedelta(days=1)
    held = [last - i * every for i in range(config.holdout_cutoffs)][::-1]
    first_held = held[0]
    newest_train = first_held
    if label.kind != "response":  # the gap: training labels close by the first held-out cutoff
        while horizon_end(newest_train, days=label.days, months=label.months) > first_held:
            newest_train -= pd.Timedelta(days=1)
    train = [newest_train - i * every for i in range(config.count - config.holdout_cutoffs)]
    train = [c for c in train if c > oldest]
    if not train:
        raise ModelError(
            f"{config.model}: the facts ({oldest.date()} to {newest.date()}) are too short for a training "
            f"cutoff a label horizon before the held-out cutoff {first_held.date()}; give `cutoffs`"
        )
    return sorted(train) + held


# ------------------------------------------------------------------------------------------ split


def time_split(
    frame: pd.DataFrame, label: LabelSettings, holdout_cutoffs: int, holdout_fraction: float, gap_days: int
) -> Split:
    """The holdout is the last cutoff(s) (response: the newest `holdout_fraction` of exposures); training
    keeps the rows whose label window closed by the holdout's start."""
    times = pd.to_datetime(frame["event_timestamp"], utc=True)
    if label.kind == "response":
        start = times.quantile(1 - holdout_fraction)
        held = times >= start
        closes = times + pd.Timedelta(days=gap_days)
    else:
        cuts = sorted(times.unique())
        if len(cuts) <= holdout_cutoffs:
            raise ModelError(
                f"{len(cuts)} cutoff(s) in the training set: a time-based holdout of {holdout_cutoffs} "
                "needs at least one more for training"
            )
        start = cuts[-holdout_cutoffs]
        held = times >= start
        ends = {t: horizon_end(t, days=label.days, months=label.months) for t in cuts}
        closes = times.map(ends)
    fits = ~held & (closes <= start)
    train, holdout = frame[fits].reset_index(drop=True), frame[held].reset_index(drop=True)
    if train.empty:
        raise ModelError(
            f"no training rows whose label window closes by the holdout's start ({start.date()}): "
            "add earlier cutoffs, at least one label horizon before the held-out one"
        )
    if holdout.empty:
        raise ModelError("the held-out cutoff has no rows")

    def stamps(rows: pd.DataFrame) -> list[str]:
        if label.kind == "response":
            t = pd.to_datetime(rows["event_timestamp"], utc=True)
            return [t.min().isoformat(), t.max().isoformat()]
        return [t.isoformat() for t in sorted(pd.to_datetime(rows["event_timestamp"], utc=True).unique())]

    return Split(train, holdout, stamps(train), stamps(holdout), int((~held & ~fits).sum()))


# ------------------------------------------------------------------------------------------ fit


def supports_ray(model: Model) -> bool:
    """True when `c360.models.ray_fit` can fit this model's library through a Ray Train trainer."""
    try:
        from c360.models import ray_fit
    except ModuleNotFoundError:
        return False
    return bool(ray_fit.supports_ray_train(model))


def fit_model(
    model: Model,
    train: pd.DataFrame,
    features: list[str],
    valid: pd.DataFrame | None,
    *,
    use_ray: bool,
    previous: Model | None = None,
) -> tuple[dict[str, float], bool]:
    """Fit (through Ray Train when asked and supported); returns (held-out metrics, whether Ray fitted).
    `previous` (the champion) goes to models whose fit takes it (segments keep their labels with it)."""
    if use_ray and supports_ray(model):
        from c360.models.ray_fit import fit_with_ray

        return dict(fit_with_ray(model, train, features, valid) or model.card.metrics), True
    extra = {"previous": previous} if "previous" in inspect.signature(model.fit).parameters else {}
    return dict(model.fit(train, features, valid, **extra) or model.card.metrics), False


def feature_names(ts: TrainingSet) -> list[str]:
    return list(dict.fromkeys(ref.split(":", 1)[1] for ref in ts.features))


def describe(ws: Workspace, model: Model, ts: TrainingSet, split: Split) -> None:
    """What made the model, on its card (and so in MLflow)."""
    import json

    card = model.card
    card.feature_service = ts.feature_service
    card.features = feature_names(ts)
    spec = json.loads(ws.lake.read_text(ts.spec_path)) if ws.lake.exists(ts.spec_path) else {}
    card.label = spec.get("label") or {"name": ts.label}
    card.training_set = {
        "set_id": ts.set_id,
        "label": card.label,
        "path": ws.lake.relative(ts.path),
        "spec_path": ws.lake.relative(ts.spec_path),
        "rows": ts.rows,
        "positives": ts.positives,
        "feature_service": ts.feature_service,
        "features": list(ts.features),
        "cutoffs": spec.get("cutoffs"),
        "facts_fingerprint": spec.get("facts", {}).get("fingerprint"),
        "feature_files": spec.get("feature_files"),
        "train_cutoffs": split.train_cutoffs,
        "holdout_cutoffs": split.holdout_cutoffs,
        "rows_train": len(split.train),
        "rows_holdout": len(split.holdout),
        "rows_dropped_for_gap": split.dropped_rows,
    }


# ------------------------------------------------------------------------------------------ register


def register(
    ws: Workspace, model: Model, ts: TrainingSet | None, promote: str, metric: str | None, mode: str
) -> tuple[Any, bool]:
    """Save and register the model as its name's next version (the registry writes the lake's
    `models/<name>/<version>/`); champion as `promote` says. Returns (ModelVersion, champion now?)."""
    from c360.models import registry

    make: bool | None = {"first": None, "always": True, "never": False}.get(promote)
    if promote == "better":
        old = _champion_metric(ws, model.name, metric) if metric else None
        new = model.card.metrics.get(metric) if metric else None
        make = registry.champion(ws, model.name) is None or (
            new is not None and (old is None or (new > old if mode == "max" else new < old))
        )
    version = registry.register_model(ws, model, training_set=ts, promote=make)
    return version, bool(version.champion)


def _champion_metric(ws: Workspace, name: str, metric: str) -> float | None:
    from c360.models import registry

    current = registry.load_champion(ws, name)
    return None if current is None else current.card.metrics.get(metric)


# ------------------------------------------------------------------------------------------ train


@dataclass
class Prepared:
    """What a fit needs: the config, the training set, its time split and the feature columns."""

    config: TrainConfig
    label: LabelSettings
    training_set: TrainingSet
    split: Split
    features: list[str]
    seconds: float


def with_exposures(ws: Workspace, frame: pd.DataFrame) -> tuple[pd.DataFrame, list[str]]:
    """Response rows (one per `exposure_id`) with the exposure's context columns and the customer's prior
    exposure outcomes (`c360.models.response`); returns the frame and the history feature columns added
    (the context columns are the response model's to choose: `Response.prepare`)."""
    from c360.facts.schemas import EXPOSURES
    from c360.facts.store import read_facts
    from c360.models.response import HISTORY_FEATURES, exposure_context, exposure_history

    if "exposure_id" not in frame.columns or frame.empty:
        return frame, []
    frame = exposure_context(ws, frame)
    columns = ["customer_id", "ts", "offer_id", "first_open_ts", "first_click_ts", "conversion_ts"]
    exposures = read_facts(ws.lake, EXPOSURES, columns).to_pandas()
    frame = exposure_history(exposures, frame)
    return frame, [c for c in HISTORY_FEATURES if c in frame.columns]


def prepare(ws: Workspace, config: TrainConfig, training_set: TrainingSet | None = None) -> Prepared:
    """Build (or take) the training set and split it by time; every check before any fitting."""
    started = time.perf_counter()
    label = resolve_label(ws, config.label_name)
    if training_set is None:
        cuts = plan_cutoffs(ws, config, label)
        ensure_history(ws, cuts)
        training_set = build_training_set(ws, config.label_name, cuts, features=config.feature_service)
    frame = training_set.table().to_pandas()
    history: list[str] = []
    if label.kind == "response":
        frame, history = with_exposures(ws, frame)
    split = time_split(
        frame,
        label,
        config.holdout_cutoffs,
        ws.settings.models.holdout_fraction,
        ws.settings.facts.attribution_days,
    )
    features = [f for f in feature_names(training_set) if f in frame.columns and f != LABEL]
    features += [f for f in history if f not in features]
    return Prepared(config, label, training_set, split, features, time.perf_counter() - started)


def ensure_history(ws: Workspace, cutoffs: list[pd.Timestamp]) -> list[str]:
    """Compute the feature history (`c360 features backfill`) at each training cutoff that has none, so the
    point-in-time join finds the features as they were there: without it, a workspace that only ran
    `c360 run` has today's features alone, and every training row would join nulls. Returns the days
    computed. A cutoff is left alone when it has its backfill files, or when a profile feature row not from a
    backfill (a `c360 profiles` run's) is at or before it; `c360 features backfill` recomputes days already
    there."""
    import pyarrow.compute as pc

    from c360.features.backfill import backfill
    from c360.profile.feature_tables import CUSTOMER_VIEWS

    oldest = None  # the oldest profile feature row not from a backfill (`c360 profiles` writes them)
    for path in ws.lake.glob("features/profile/*.parquet"):
        if path.rsplit("/", 1)[-1].startswith("backfill-"):
            continue
        stamps = ws.lake.read_table(path, columns=["event_timestamp"])["event_timestamp"]
        first = pc.min(stamps).as_py() if len(stamps) else None
        if first is not None:
            first = pd.Timestamp(first).tz_localize("UTC") if first.tzinfo is None else pd.Timestamp(first)
            oldest = first if oldest is None else min(oldest, first)
    missing = []
    for cutoff in sorted(set(cutoffs)):
        day = cutoff.date().isoformat()
        if oldest is not None and oldest <= cutoff:
            continue
        if any(not ws.lake.glob(f"features/{view}/backfill-{day}-part-*.parquet") for view in CUSTOMER_VIEWS):
            missing.append(day)
    for day in missing:
        report = backfill(ws, day, day, "1d")
        log.info("training: feature history at %s computed (%d rows)", day, report.rows)
    return missing


def follow_label_horizon(model: Model, label: LabelSettings, given: dict[str, Any]) -> None:
    """A model predicting over a horizon (`horizon_days`: clv) predicts over its label's, unless the config
    names one: a 6-month clv label gives 6 months of value, never the default year. A model told its labels'
    window (`label_days`) learns it from the label too."""
    if not (label.months or label.days):
        return
    days = label.months * 365.25 / 12 if label.months else float(label.days or 0)  # months: mean length
    for key in ("horizon_days", "label_days"):  # label_days: the window the model's labels cover
        if key in model.params and key not in given:
            model.params[key] = days
            model.card.params[key] = days


def train_model(
    ws: Workspace,
    name: str,
    config: TrainConfig | dict[str, Any] | str | Path | None = None,
    *,
    training_set: TrainingSet | None = None,
    params: dict[str, Any] | None = None,
    promote: str | None = None,
    prepared: Prepared | None = None,
) -> TrainResult:
    """Train one model end to end (module docstring). `params` override the config's (a tuned trial)."""
    started = time.perf_counter()
    cfg = config if isinstance(config, TrainConfig) else load_config(config, name)
    if cfg.model != name:
        raise ModelError(f"the config trains {cfg.model!r}, not {name!r}")
    klass = model_class(name)
    model = klass({**cfg.params, **(params or {})})  # unknown hyper-parameters: named before any data
    data = prepared or prepare(ws, cfg, training_set)
    follow_label_horizon(model, data.label, {**cfg.params, **(params or {})})
    seconds: dict[str, float] = {"training_set": data.seconds}
    split = data.split
    describe(ws, model, data.training_set, split)
    if cfg.ray:
        from c360.runtime import ensure_ray

        ensure_ray(ws.settings.ray, progress=False)
    previous = None
    if "previous" in inspect.signature(model.fit).parameters:
        from c360.models import registry

        previous = registry.load_champion(ws, name)
    t0 = time.perf_counter()
    metrics, on_ray = fit_model(
        model, split.train, data.features, split.holdout, use_ray=cfg.ray, previous=previous
    )
    model.card.metrics = {k: float(v) for k, v in metrics.items() if v is not None}
    seconds["fit"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    version, champion = register(ws, model, data.training_set, promote or cfg.promote, cfg.metric, cfg.mode)
    seconds["register"] = time.perf_counter() - t0
    seconds["total"] = time.perf_counter() - started
    log.info("%s v%s trained: %s", name, version.version, model.card.metrics)
    return TrainResult(
        name=name,
        version=str(version.version),
        uri=getattr(version, "uri", None),
        champion=champion,
        metrics=model.card.metrics,
        training_set=data.training_set.set_id,
        features=data.features,
        rows_train=len(split.train),
        rows_holdout=len(split.holdout),
        train_cutoffs=split.train_cutoffs,
        holdout_cutoffs=split.holdout_cutoffs,
        ray=on_ray,
        seconds=seconds,
    )


def print_result(result: TrainResult, console: Any) -> None:
    from c360.io.terminal import plain

    metrics = ", ".join(f"{k} {v:.4g}" for k, v in sorted(result.metrics.items()))
    how = "through Ray Train" if result.ray else "in-process"
    console.print(
        plain(
            f"{result.name} version {result.version}{' (champion)' if result.champion else ''}: "
            f"{result.rows_train:,} training row(s) at {len(result.train_cutoffs)} cutoff(s), "
            f"{result.rows_holdout:,} held out ({', '.join(c[:10] for c in result.holdout_cutoffs)}); "
            f"held-out {metrics or 'no metrics'}; fitted {how} in {result.seconds.get('fit', 0):.1f}s, "
            f"{result.seconds.get('total', 0):.1f}s in all"
        )
    )
