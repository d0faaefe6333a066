"""`c360 features materialize`: feature rows written since the last run -> the configured online store.

Feast's `materialize_incremental` remembers, per view, up to when it has loaded; each run loads the rows whose
event_timestamp falls after that and up to `end`. Views with no rows in the lake yet (ml_scores before any
model, real-time signals before any event) are skipped rather than failing the run.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import UTC, datetime

import pyarrow.compute as pc
import pyarrow.dataset as ds

from c360.errors import C360Error
from c360.features.store import open_feature_store
from c360.io.outages import online_store_call
from c360.workspace import Workspace


@dataclass
class MaterializeReport:
    end: str
    rows: int = 0
    seconds: float = 0.0
    views: dict[str, int] = field(default_factory=dict)

    @property
    def rows_per_second(self) -> float:
        return self.rows / self.seconds if self.seconds > 0 else 0.0


def _rows_between(ws: Workspace, view: str, start: datetime | None, end: datetime) -> int | None:
    """Rows of `features/<view>/` with start < event_timestamp <= end; None when the folder holds nothing."""
    lake = ws.lake
    files = lake.glob(f"features/{view}/*.parquet")
    if not files:
        return None
    data = ds.dataset(files, filesystem=lake.arrow_fs, format="parquet")
    ts = data.to_table(columns=["event_timestamp"])["event_timestamp"]
    mask = pc.less_equal(ts, pc.cast(end, ts.type))
    if start is not None:
        mask = pc.and_(mask, pc.greater(ts, pc.cast(start, ts.type)))
    return int(pc.sum(mask).as_py() or 0)


def materialize(ws: Workspace, end: datetime | None = None) -> MaterializeReport:
    """Incrementally materialize every view with rows in the lake; returns rows loaded and time taken."""
    end = (end or datetime.now(UTC)).astimezone(UTC)
    # A copied or moved workspace's registry is re-applied first (open_feature_store): it would read the
    # original's lake.
    store = open_feature_store(ws)
    views = store.list_feature_views()
    if not views:
        raise C360Error("the feature registry is empty: run `c360 features apply` first")
    report = MaterializeReport(end=end.isoformat())
    names = []
    for view in views:
        if not view.online:
            continue
        start = view.most_recent_end_time
        rows = _rows_between(ws, view.name, start.astimezone(UTC) if start else None, end)
        if rows is None:
            continue
        names.append(view.name)
        report.views[view.name] = rows
    if not names:
        return report
    t0 = time.perf_counter()
    with online_store_call(ws.settings):
        store.materialize_incremental(end_date=end, feature_views=names)
    report.seconds = time.perf_counter() - t0
    report.rows = sum(report.views.values())
    return report
