"""Point-in-time training sets: labels from the fact tables joined with the feature history.

`build_training_set(ws, "churn", cutoffs)`:
1. checks everything before reading a row of data: the label is declared in `features.labels`, the feature
   service is registered, every cutoff lies within the facts and every label horizon (cutoff + days or
   months) ends on or before the newest fact, so no label is cut short by the end of the data;
2. computes the label rows (`c360.features.labels`): customer_id, event_timestamp = cutoff (the exposure's
   time for response labels), label; erased people are removed;
3. joins the feature service's features as of each row's event_timestamp through Feast's
   `get_historical_features` (`c360.features.training.historical_features`): the latest feature row at or
   before it within the view's ttl, never a later one. The workspace's offline store does that join with
   DuckDB ASOF joins (`c360.features.offline_store`) and keeps every entity row, so a labelled row with no
   feature row yet keeps nulls rather than vanishing;
4. writes `training_sets/<label>/<set_id>/data.parquet`, sorted, and `spec.json` beside it: the label's
   definition, the feature service and its references, the cutoffs, counts and the facts' state.

The set id is a digest of the inputs (label definition, feature references, cutoffs, the facts' fingerprint,
the feature files read), so the same request on the same data lands in the same folder with the same rows,
and a changed input in another.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pandas as pd
import pyarrow as pa

from c360.errors import NotFoundError, ValidationError
from c360.facts.schemas import EXPOSURES, INTERACTIONS, TRANSACTION_LINES
from c360.features.labels import FACT_COLUMNS, as_cutoffs, horizon_end, label_rows
from c360.features.training_inputs import fact_span, facts_state, read_fact
from c360.io.lake import Lake
from c360.settings import LabelSettings, path_outside_lake
from c360.workspace import Workspace

log = logging.getLogger(__name__)

TRAINING_SETS = "training_sets"
DATA_FILE, SPEC_FILE = "data.parquet", "spec.json"
RESERVED = ("customer_id", "event_timestamp", "label", "exposure_id", "as_of")  # columns a set holds itself
# The feature service a label kind trains by default when no service carries the label's own name.
DEFAULT_SERVICE = {
    "churn": "churn",
    "clv": "clv",
    "purchase": "next_best_action",
    "response": "next_best_action",
}


@dataclass(frozen=True)
class TrainingSet:
    """A written training set: where it is and what it holds. `dataset()` opens it as a Ray Dataset."""

    label: str
    set_id: str
    path: str  # filesystem-native path of data.parquet (what pyarrow and Ray read, with `filesystem`)
    spec_path: str
    rows: int
    positives: int
    feature_service: str
    features: list[str]
    missing_views: list[str] = field(default_factory=list)
    seconds: float = 0.0
    lake: Lake | None = field(default=None, repr=False, compare=False)

    def dataset(self) -> Any:
        """The rows as a Ray Dataset (`ray.data.read_parquet`), for Ray Train and Tune."""
        import ray.data

        fs = self.lake.arrow_fs if self.lake is not None else None
        return ray.data.read_parquet(self.path, filesystem=fs)

    def table(self) -> pa.Table:
        if self.lake is None:
            raise NotFoundError(f"training set {self.set_id}: no lake to read {self.path} from")
        return self.lake.read_table(self.path)


# ------------------------------------------------------------------------------------------ checks


def resolve_label(ws: Workspace, name: str) -> LabelSettings:
    labels = ws.settings.features.labels
    if name not in labels:
        known = ", ".join(sorted(labels)) or "none"
        raise ValidationError(f"unknown label {name!r}; features.labels in c360.yaml declares: {known}")
    return labels[name]


def horizon(label: LabelSettings, cutoff: pd.Timestamp) -> pd.Timestamp:
    """The newest instant a label at `cutoff` depends on (the cutoff itself for response labels, whose
    exposures must have closed by it)."""
    return horizon_end(cutoff, days=label.days, months=label.months) if label.kind != "response" else cutoff


def check_cutoffs(
    name: str, label: LabelSettings, cutoffs: Sequence[pd.Timestamp], span: tuple[pd.Timestamp, pd.Timestamp]
) -> None:
    oldest, newest = span
    for cutoff in cutoffs:
        if cutoff < oldest:
            raise ValidationError(
                f"cutoff {cutoff.isoformat()} is before the oldest fact ({oldest.isoformat()}): "
                "nothing is known about anyone then"
            )
        end = horizon(label, cutoff)
        if end > newest:
            raise ValidationError(
                f"label {name!r} at cutoff {cutoff.isoformat()} needs data through {end.isoformat()}; "
                f"facts end at {newest.isoformat()}"
            )


def service_features(ws: Workspace, store: Any, name: str) -> tuple[list[str], list[str]]:
    """(`view:feature` references of a registered service whose views have rows in the lake, views without).

    An on-demand view (computed at read time from other views and the request's `as_of`) counts as present
    when every view it reads has rows.
    """
    try:
        service = store.get_feature_service(name)
    except Exception:  # noqa: BLE001 - Feast raises its own FeatureServiceNotFoundException
        known = ", ".join(sorted(s.name for s in store.list_feature_services())) or "none"
        raise ValidationError(
            f"no feature service {name!r} in the Feast registry (registered: {known}); "
            "run `c360 features apply` after changing feature_repo/"
        ) from None
    on_demand = {v.name: v for v in store.list_on_demand_feature_views()}

    def has_rows(view: str) -> bool:
        if view in on_demand:
            return all(has_rows(src) for src in on_demand[view].source_feature_view_projections)
        return bool(ws.lake.glob(f"features/{view}/*.parquet"))

    refs, missing = [], []
    for projection in service.feature_view_projections:
        if not has_rows(projection.name):
            missing.append(projection.name_to_use())
            continue
        refs.extend(f"{projection.name_to_use()}:{f.name}" for f in projection.features)
    return refs, missing


def feature_state(lake: Lake, store: Any, refs: Sequence[str]) -> str:
    """A digest of the feature files the references read (names and sizes): a rebuilt feature history
    gives the set another id, an untouched one the same."""
    on_demand = {v.name: v for v in store.list_on_demand_feature_views()}
    views: set[str] = set()
    for view in {ref.split(":", 1)[0] for ref in refs}:
        views |= set(on_demand[view].source_feature_view_projections) if view in on_demand else {view}
    digest = hashlib.sha256()
    for view in sorted(views):
        for path in lake.glob(f"features/{view}/*.parquet"):
            digest.update(f"{lake.relative(path)}\0{lake.info(path).get('size')}\n".encode())
    return digest.hexdigest()[:32]


def default_service(store: Any, name: str, label: LabelSettings) -> str:
    """The service named like the label when one is registered, else the one for its kind."""
    registered = {s.name for s in store.list_feature_services()}
    return name if name in registered else DEFAULT_SERVICE[label.kind]


def set_id(spec: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(spec, sort_keys=True, default=str).encode()).hexdigest()[:16]


# ------------------------------------------------------------------------------------------ build


def build_training_set(
    ws: Workspace,
    label: str,
    cutoffs: Sequence[object],
    *,
    features: str | None = None,
    out: str = TRAINING_SETS,
    store: Any | None = None,
) -> TrainingSet:
    """Write a point-in-time training set for a configured label; see the module docstring."""
    from c360.features.store import open_feature_store
    from c360.privacy.suppression import exclude_suppressed

    started = time.perf_counter()
    lake = ws.lake
    definition = resolve_label(ws, label)
    problem = path_outside_lake(out)
    if problem:
        raise ValidationError(f"--out {out!r} {problem}; give a folder relative to the lake root")
    cuts = as_cutoffs(cutoffs)
    if not cuts:
        raise ValidationError("give at least one cutoff")
    span = fact_span(lake)
    check_cutoffs(label, definition, cuts, span)
    store = store or open_feature_store(ws)
    service = features or default_service(store, label, definition)
    refs, missing_views = service_features(ws, store, service)
    names = [ref.split(":", 1)[1] for ref in refs]
    clash = sorted({n for n in names if names.count(n) > 1} | (set(RESERVED) & set(names)))
    if clash:
        raise ValidationError(
            f"feature service {service!r}: feature name(s) {', '.join(clash)} are not unique in a training "
            "set (in two views, or a column the set uses itself); select one of them in the service"
        )
    if missing_views:
        log.warning(
            "feature service %s: view(s) %s have no rows in the lake; their features are left out",
            service,
            ", ".join(missing_views),
        )

    needs = FACT_COLUMNS[definition.kind]
    until = max(horizon(definition, c) for c in cuts)  # nothing after the last horizon is read
    tables = {t: read_fact(lake, t, cols, until) if cols else pd.DataFrame() for t, cols in needs.items()}
    rows = label_rows(definition, cuts, tables[TRANSACTION_LINES], tables[INTERACTIONS], tables[EXPOSURES])
    _check_population(label, definition, cuts, rows)
    keys = ["customer_id", "event_timestamp", *(["exposure_id"] if "exposure_id" in rows else [])]

    kept = exclude_suppressed(ws, pa.Table.from_pandas(rows, preserve_index=False)).to_pandas()
    entity = kept[["customer_id", "event_timestamp"]].drop_duplicates(ignore_index=True)
    feature_cols = list(dict.fromkeys(ref.split(":", 1)[1] for ref in refs))
    data = kept.merge(
        _features_at(ws, store, entity, refs), on=["customer_id", "event_timestamp"], how="left"
    )
    order = ["event_timestamp", "customer_id", *keys[2:]]  # cutoff-major, like the label functions
    data = data[[*keys, "label", *feature_cols]].sort_values(order, kind="stable", ignore_index=True)

    state = facts_state(lake)
    label_doc = {"name": label, **definition.model_dump(mode="json")}
    if definition.kind == "response":
        label_doc["attribution_days"] = ws.settings.facts.attribution_days
    identity = {
        "label": label_doc,
        "feature_service": service,
        "features": refs,
        "cutoffs": [c.isoformat() for c in cuts],
        "facts": state["fingerprint"],
        "feature_files": feature_state(lake, store, refs),
    }
    sid = set_id(identity)
    folder = lake.path(out, label, sid)
    positives = int((data["label"] > 0).sum())
    per_cutoff = _per_cutoff(definition, cuts, data)
    spec = {
        "set_id": sid,
        "label": label_doc,
        "population": _population(definition),
        "feature_service": service,
        "features": refs,
        "missing_views": missing_views,
        "join": "feast get_historical_features (c360.features.offline_store: DuckDB ASOF per view)",
        "cutoffs": identity["cutoffs"],
        "rows": len(data),
        "positives": positives,
        "per_cutoff": per_cutoff,
        "erased_rows_removed": len(rows) - len(kept),
        "facts": {**state, "oldest": span[0].isoformat(), "newest": span[1].isoformat()},
        "feature_files": identity["feature_files"],
        "data": DATA_FILE,
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    table = pa.Table.from_pandas(data, preserve_index=False)
    lake.replace_table(table, f"{folder}/{DATA_FILE}")
    lake.replace_text(f"{folder}/{SPEC_FILE}", json.dumps(spec, indent=2, default=str) + "\n")
    return TrainingSet(
        label=label,
        set_id=sid,
        path=f"{folder}/{DATA_FILE}",
        spec_path=f"{folder}/{SPEC_FILE}",
        rows=len(data),
        positives=positives,
        feature_service=service,
        features=refs,
        missing_views=missing_views,
        seconds=time.perf_counter() - started,
        lake=lake,
    )


def _features_at(ws: Workspace, store: Any, entity: pd.DataFrame, refs: Sequence[str]) -> pd.DataFrame:
    """The referenced features as of each entity row (customer_id, event_timestamp), one row per row."""
    from c360.features.training import historical_features

    joined = historical_features(ws, entity, list(refs), store=store).to_pandas()
    joined["event_timestamp"] = pd.to_datetime(joined["event_timestamp"], utc=True).astype(
        "datetime64[us, UTC]"
    )
    names = list(dict.fromkeys(ref.split(":", 1)[1] for ref in refs))
    return joined[["customer_id", "event_timestamp", *names]].drop_duplicates(
        ["customer_id", "event_timestamp"]
    )


def _check_population(name: str, label: LabelSettings, cuts: list[pd.Timestamp], rows: pd.DataFrame) -> None:
    if label.kind == "response":
        if rows.empty:
            raise ValidationError(
                f"label {name!r}: no exposure's attribution window closes by {cuts[-1].isoformat()}"
            )
        return
    present = set(rows["event_timestamp"])
    for cutoff in cuts:
        if cutoff not in present:
            who = "who bought before it" if label.kind == "churn" else "known at it"
            raise ValidationError(f"label {name!r}: no customers {who} at cutoff {cutoff.isoformat()}")


def _per_cutoff(label: LabelSettings, cuts: list[pd.Timestamp], data: pd.DataFrame) -> dict[str, Any]:
    if label.kind == "response":
        return {}
    counts = data.groupby("event_timestamp")["label"].agg(rows="size", positives=lambda s: int((s > 0).sum()))
    return {c.isoformat(): {k: int(v) for k, v in counts.loc[c].items()} for c in cuts if c in counts.index}


def _population(label: LabelSettings) -> str:
    return {
        "churn": "customers with a purchase at or before the cutoff; 1 = none in (cutoff, cutoff + days]",
        "clv": "customers known at the cutoff; net reporting-currency spend in (cutoff, cutoff + months]",
        "purchase": "customers known at the cutoff; 1 = a purchase (in category) in (cutoff, cutoff + days]",
        "response": "exposures whose attribution window closed by the latest cutoff; 1 = converted",
    }[label.kind]
