"""`c360 score`: every champion model over every customer's latest feature rows, written where apps read.

1. Champions: for each profile score (`churnRisk`, `clv`, `segment`) the first model that fills it and has a
   champion in the registry (`clv` before `clv_bgnbd`). `nextProductPropensity` comes from the `recs`
   champion (`c360.recs.score`, which also writes every customer's list to `recommendations/`). A score
   whose model was never trained stays null, never a made-up value.
2. Features: every current customer (the golden records) as of now, through Feast's
   `get_historical_features` on the references each champion was trained on, so a score reads exactly the
   features, and the day counts, its model learnt from. Erased customers are left out.
3. Predictions: Ray Data `map_batches` with one `Scorer` per actor (the models loaded once per actor).
4. Writes: `features/ml_scores/part-<run>.parquet` in the lake (the Feast `ml_scores` view's source, one row
   per customer stamped with the run's time), the `mlScores` section of each profile document (read from
   the store and written back, so consent changes recorded since the profiles run are kept), and the online
   store (Feast materializes `ml_scores`).
5. Segment history: when the segments champion scored, one file of `segments/history/` for the run
   (`c360.models.segments.append_history`: customer_id, as_of = the run's time, the segment, the k-means
   cluster, the model version); the erasure plan's `segments` step removes a person's rows.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from c360.errors import NotFoundError
from c360.models.base import Model, model_class
from c360.workspace import Workspace

log = logging.getLogger(__name__)

SCORES: dict[str, str] = {
    "churnRisk": "churn_risk",
    "clv": "clv",
    "segment": "segment",
    "nextProductPropensity": "next_product_propensity",
}
"""Profile mlScores field -> ml_scores view column, for the scores this stage fills."""
PREFERENCE: dict[str, tuple[str, ...]] = {
    "churnRisk": ("churn",),
    "clv": ("clv", "clv_bgnbd"),
    "segment": ("segments",),
}
"""Which model fills a score when several could: the first with a champion."""
VIEW = "ml_scores"
ML_SCORES_SCHEMA = pa.schema(
    [
        ("customer_id", pa.string()),
        ("event_timestamp", pa.timestamp("ns", tz="UTC")),
        ("churn_risk", pa.float64()),
        ("clv", pa.float64()),
        ("next_product_propensity", pa.float64()),
        ("segment", pa.string()),
    ]
)
STORE_BATCH = 1000
CLUSTER = "segment_cluster"
"""The segments model's k-means cluster beside its segment: kept for the segment history, not a view field."""


@dataclass
class ScoreReport:
    run_id: str
    customers: int = 0
    models: dict[str, str] = field(default_factory=dict)
    """Score field -> `model vVERSION` that filled it."""
    unscored: list[str] = field(default_factory=list)
    """Score fields left null (no champion)."""
    profiles: int = 0
    online_rows: int = 0
    lake_path: str | None = None
    history_path: str | None = None
    """The run's segment history file (segments/history/), when the segments champion scored."""
    recommendations_path: str | None = None
    """The run's lists (recommendations/), when the recs champion scored."""
    seconds: dict[str, float] = field(default_factory=dict)


# ------------------------------------------------------------------------------------------ champions


def champions(ws: Workspace) -> dict[str, tuple[Model, str]]:
    """Score field -> (the champion model that fills it, its version); fields without one are absent."""
    from c360.models import registry

    out: dict[str, tuple[Model, str]] = {}
    for score, names in PREFERENCE.items():
        for name in names:
            try:
                model_class(name)
            except NotFoundError:
                continue  # that model's module is not part of this c360
            version = registry.champion(ws, name)
            if version is None:
                continue
            model = registry.load_champion(ws, name)
            if model is not None:
                out[score] = (model, str(version.version))
                break
    return out


def any_champion(ws: Workspace) -> bool:
    """Whether any model filling a profile score has a champion (the pipeline's score stage runs then)."""
    try:
        from c360.models import registry
    except ModuleNotFoundError:  # a c360 without the model registry: nothing can have been trained
        return False
    models = ws.settings.models
    if models.tracking_uri is None and not ws.resolve_path(models.mlflow_db).exists():
        return False  # no embedded MLflow store yet: nothing registered (and none created by asking)

    for names in PREFERENCE.values():
        for name in names:
            try:
                model_class(name)
            except NotFoundError:
                continue
            if registry.champion(ws, name) is not None:
                return True
    return registry.champion(ws, "recs") is not None


def feature_refs(models: Mapping[str, Model], ws: Workspace) -> list[str]:
    """The `view:feature` references the models were trained on (their training sets' own), in order."""
    refs: list[str] = []
    store = None
    for model in models.values():
        card_refs = (model.card.training_set or {}).get("features")
        if not card_refs and model.card.feature_service:
            from c360.features.store import open_feature_store

            store = store or open_feature_store(ws)
            service = store.get_feature_service(model.card.feature_service)
            card_refs = [
                f"{p.name_to_use()}:{f.name}" for p in service.feature_view_projections for f in p.features
            ]
        refs.extend(r for r in card_refs or [] if r not in refs)
    return refs


# ------------------------------------------------------------------------------------------ predict


class Scorer:
    """One Ray Data actor: the models, loaded once; a feature batch in, the ml_scores columns out."""

    def __init__(self, models: Mapping[str, Model]) -> None:
        os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # two cores shared: idle threads must not spin
        self.models = dict(models)

    def __call__(self, batch: pd.DataFrame) -> pd.DataFrame:
        return score_batch(self.models, batch)


def score_batch(models: Mapping[str, Model], batch: pd.DataFrame) -> pd.DataFrame:
    """customer_id, event_timestamp and one column per view field; a field without a model is null."""
    out = pd.DataFrame({"customer_id": batch["customer_id"].to_numpy()})
    out["event_timestamp"] = pd.to_datetime(batch["event_timestamp"], utc=True).to_numpy()
    for column in ("churn_risk", "clv", "next_product_propensity"):
        out[column] = np.full(len(batch), np.nan)
    out["segment"] = pd.Series([None] * len(batch), dtype=object)
    for score, model in models.items():
        full = model.predict(batch)
        predicted = full.iloc[:, 0]
        column = SCORES[score]
        if column == "segment":
            values = predicted.astype(object).where(predicted.notna(), None)
            out[column] = [None if v is None else str(v) for v in values]
            if "cluster" in full.columns:
                out[CLUSTER] = pd.to_numeric(full["cluster"], errors="coerce").to_numpy(dtype=float)
        else:
            out[column] = pd.to_numeric(predicted, errors="coerce").to_numpy(dtype=float)
    return out


def score_frame(
    features: pa.Table,
    models: Mapping[str, Model],
    *,
    batch_size: int = 50_000,
    actors: int | None = None,
    extra: tuple[str, ...] = (),
) -> pa.Table:
    """Every row of `features` through `map_batches(Scorer)`; the ml_scores table, in the rows' order, with
    the `extra` columns `score_batch` gave (`CLUSTER`) after the view's."""
    import ray
    import ray.data

    if features.num_rows == 0:
        return conform(ML_SCORES_SCHEMA.empty_table(), extra)
    actors = actors or max(1, min(2, int(ray.cluster_resources().get("CPU", 1))))
    blocks = [features.slice(i, batch_size) for i in range(0, features.num_rows, batch_size)]
    ds = ray.data.from_arrow(blocks).map_batches(
        Scorer,
        fn_constructor_kwargs={"models": dict(models)},
        batch_format="pandas",
        batch_size=batch_size,
        compute=ray.data.ActorPoolStrategy(size=min(actors, len(blocks))),
        num_cpus=1,
    )
    parts = [pa.Table.from_pandas(b, preserve_index=False) for b in ds.iter_batches(batch_format="pandas")]
    table = pa.concat_tables([conform(p, extra) for p in parts])
    return table


def conform(table: pa.Table, extra: tuple[str, ...] = ()) -> pa.Table:
    """The ml_scores view's columns in its types, then the `extra` ones (float64; null when absent)."""
    fields = [*ML_SCORES_SCHEMA, *(pa.field(name, pa.float64()) for name in extra)]
    cols = []
    for f in fields:
        col = table.column(f.name) if f.name in table.column_names else pa.nulls(table.num_rows, f.type)
        cols.append(col.cast(f.type))
    return pa.table(cols, schema=pa.schema(fields))


def write_history(ws: Workspace, scores: pa.Table, as_of: datetime, version: str) -> str:
    """The run's segments (customer_id, segment, cluster) as a `segments/history/` file; its path."""
    from c360.models.segments import append_history

    names = ["customer_id", "segment", *([CLUSTER] if CLUSTER in scores.column_names else [])]
    frame = scores.select(names).to_pandas().rename(columns={CLUSTER: "cluster"})
    return append_history(ws, frame, as_of, version)


# ------------------------------------------------------------------------------------------ inputs / writes


def current_customers(ws: Workspace) -> list[str]:
    from c360.identity.store import IdentityStore

    golden = IdentityStore(ws.lake).read_arrow("golden", columns=["customer_id"])
    return [] if golden is None else sorted(set(golden.column("customer_id").to_pylist()))


def latest_features(ws: Workspace, customers: list[str], refs: list[str], now: datetime) -> pa.Table:
    """Each customer's features as of `now` (Feast point-in-time join, erased customers left out)."""
    from c360.features.training import historical_features

    entity = pd.DataFrame({"customer_id": customers, "event_timestamp": pd.Timestamp(now)})
    if not refs:
        return pa.Table.from_pandas(entity, preserve_index=False)
    return historical_features(ws, entity, refs)


def write_lake(ws: Workspace, scores: pa.Table, run_id: str) -> str:
    path = ws.lake.path("features", VIEW, f"part-{run_id}.parquet")
    ws.lake.replace_table(scores, path)
    return path


def write_profiles(ws: Workspace, scores: pa.Table, slices: int | None = None) -> int:
    """Patch `mlScores` of every scored customer's document in the profile store; returns how many."""
    return start_profiles(ws, scores, slices)()


def start_profiles(ws: Workspace, scores: pa.Table, slices: int | None = None) -> Callable[[], int]:
    """Start patching the profile documents; the returned call waits and gives how many were written.

    Each document is read from the store and written back (a consent change recorded since the profiles
    run stays). Large runs go in Ray tasks, one slice of customers each with its own store connection
    (the profiles stage writes the same way), so they use every core and overlap the online store's
    materialization, which `score_all` runs meanwhile; small runs are done before this returns."""
    import ray

    frame = scores.select(["customer_id", *SCORES.values()]).to_pandas()
    if slices is None:
        cpus = int(ray.cluster_resources().get("CPU", 1)) if ray.is_initialized() else 1
        slices = 1 if len(frame) < 50_000 or cpus < 2 else 4 * cpus
    if slices <= 1:
        written = patch_profiles(ws, frame)
        return lambda: written
    store_ws = Workspace.from_settings(ws.settings, ws.root)
    task = ray.remote(num_cpus=1)(patch_profiles)
    bounds = np.linspace(0, len(frame), slices + 1).astype(int)
    refs = [task.remote(store_ws, frame.iloc[lo:hi]) for lo, hi in zip(bounds[:-1], bounds[1:], strict=True)]
    return lambda: int(sum(ray.get(refs)))


def patch_profiles(ws: Workspace, frame: pd.DataFrame) -> int:
    """The mlScores of `frame`'s customers (customer_id + ml_scores columns) into their documents."""
    from c360.profile.store import open_profile_store

    written = 0
    with open_profile_store(ws) as store:
        for i in range(0, len(frame), STORE_BATCH):
            docs = []
            for row in frame.iloc[i : i + STORE_BATCH].itertuples(index=False):
                try:
                    doc = store.get(row.customer_id)
                except NotFoundError:
                    continue
                ml = dict(doc.get("mlScores") or {})
                for score, column in SCORES.items():
                    ml[score] = _value(getattr(row, column))
                doc["mlScores"] = ml
                docs.append(doc)
            written += store.upsert_many(docs) if docs else 0
    return written


def _value(value: Any) -> Any:
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return None
    return value.item() if hasattr(value, "item") else value


def write_online(ws: Workspace, end: datetime) -> int:
    """Materialize the ml_scores view up to `end` into the online store; rows loaded."""
    from c360.features.materialize import _rows_between
    from c360.features.store import apply_if_changed, open_feature_store
    from c360.io.outages import online_store_call

    store = open_feature_store(ws)
    try:
        view = store.get_feature_view(VIEW)
    except Exception:  # noqa: BLE001 - Feast's FeatureViewNotFoundException: the repo was never applied
        apply_if_changed(ws)
        store = open_feature_store(ws)
        view = store.get_feature_view(VIEW)
    start = view.most_recent_end_time
    rows = _rows_between(ws, VIEW, start.astimezone(UTC) if start else None, end) or 0
    with online_store_call(ws.settings):
        store.materialize_incremental(end_date=end, feature_views=[VIEW])
    return rows


# ------------------------------------------------------------------------------------------ score


def score_all(ws: Workspace, *, online: bool = True, profiles: bool = True) -> ScoreReport:
    """Score every current customer with every champion (module docstring); a no-op report when no model
    has a champion yet."""
    from c360.runtime import ensure_ray

    now = datetime.now(UTC).replace(microsecond=0)
    report = ScoreReport(run_id=now.strftime("%Y%m%dT%H%M%SZ"))
    t0 = time.perf_counter()
    chosen = champions(ws)
    report.models = {s: f"{m.name} v{v}" for s, (m, v) in chosen.items()}
    report.unscored = [s for s in SCORES if s not in chosen]
    from c360.models import registry

    recs = registry.champion(ws, "recs") is not None
    if not chosen and not recs:
        return report
    models = {s: m for s, (m, _) in chosen.items()}
    customers = current_customers(ws)
    if not customers:
        return report
    features = latest_features(ws, customers, feature_refs(models, ws), now)
    report.seconds["features"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    ensure_ray(ws.settings.ray, progress=False)
    segmented = "segment" in chosen
    scored = score_frame(features, models, extra=(CLUSTER,) if segmented else ())
    scores = scored.select(ML_SCORES_SCHEMA.names)
    report.customers = scores.num_rows
    report.seconds["predict"] = time.perf_counter() - t0
    if recs:
        from c360.recs.score import fill_next_product

        scores = fill_next_product(ws, scores, now, report)
    t0 = time.perf_counter()
    report.lake_path = ws.lake.relative(write_lake(ws, scores, report.run_id))
    if segmented:
        path = write_history(ws, scored, now, chosen["segment"][1])
        report.history_path = ws.lake.relative(path)
    report.seconds["lake"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    profiles_done = start_profiles(ws, scores) if profiles else None
    if online:  # while the profile documents are patched in Ray tasks
        report.online_rows = write_online(ws, now)
        report.seconds["online"] = time.perf_counter() - t0
    if profiles_done is not None:
        report.profiles = profiles_done()
        report.seconds["profiles"] = time.perf_counter() - t0
    return report


def print_report(report: ScoreReport, console: Any) -> None:
    from c360.io.terminal import plain

    if not report.models:
        console.print(plain("score: no model has a champion yet (`c360 train <model>`); nothing scored"))
        return
    used = ", ".join(f"{s} by {m}" for s, m in report.models.items())
    left = f"; left null: {', '.join(report.unscored)}" if report.unscored else ""
    timings = ", ".join(f"{k} {v:.1f}s" for k, v in report.seconds.items())
    console.print(
        plain(
            f"scored {report.customers:,} customer(s): {used}{left}; {report.profiles:,} profile(s) updated, "
            f"{report.online_rows:,} row(s) online; {report.lake_path}"
            f"{f', segment history {report.history_path}' if report.history_path else ''}"
            f"{f', lists {report.recommendations_path}' if report.recommendations_path else ''} ({timings})"
        )
    )
