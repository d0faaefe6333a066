"""`c360 features backfill`: feature rows as of each cutoff, from the fact tables alone.

Cutoffs run from `start` to `end` inclusive, every `every` (7d, 2w; default `features.backfill_every`); a
cutoff is the instant a day begins (00:00 UTC), and its rows hold what was known then: no fact with a later
`ts` is read (the partitions are read filtered to `ts <= last cutoff`, and each cutoff's aggregates to its
own). Rows go to `features/<view>/backfill-<YYYY-MM-DD>-part-<p:05d>.parquet` with event_timestamp = the
cutoff, beside the rows `profiles` writes, so Feast's point-in-time join answers a training row at any
cutoff with the values as they were then.

Work goes partition by partition (the facts' customer partitions), a few at a time as Ray tasks: one
partition's facts, every cutoff at once in DuckDB (c360/features/history.py); this process writes its files
in partition order; only the engagement rows and RFM inputs wait in memory for the population's quintile
edges at each cutoff. `product_stats` is summed over partitions and
written once per cutoff.

Each file's content digest and size are kept in `features/_state/backfill.json`: a file whose rows did not
change (and that is still the size written) is not rewritten, so re-running over the same range writes
nothing. Bad input fails before any work: end before start, a cutoff before the oldest fact, after the
newest fact or after now (it would read the future).
"""

from __future__ import annotations

import json
import logging
import os
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from c360.errors import NotFoundError, ValidationError
from c360.facts.schemas import INTERACTIONS, PRODUCTS, SCHEMAS, TRANSACTION_LINES
from c360.features.history import (
    GOLDEN_COLUMNS,
    INTERACTION_COLUMNS,
    PRODUCT_COLUMNS,
    TX_COLUMNS,
    CutoffRows,
    customer_rows,
    first_facts,
    product_activity,
    product_rows,
    score_rfm,
    summaries,
    thresholds_of,
    typed_golden,
)
from c360.io.lake import Lake
from c360.profile.feature_tables import CUSTOMER_VIEWS, feature_table
from c360.profile.staging import partition_of
from c360.workspace import Workspace

log = logging.getLogger(__name__)

STATE = ("features", "_state", "backfill.json")
PRODUCT_VIEW = "product_stats"
PRODUCT_SCHEMA = pa.schema(
    [
        ("product_id", pa.string()),
        ("event_timestamp", pa.timestamp("ns", tz="UTC")),
        ("category", pa.string()),
        ("price_band", pa.string()),
        ("price_rc", pa.float64()),
        ("purchases_7d", pa.int64()),
        ("purchases_30d", pa.int64()),
        ("purchases_90d", pa.int64()),
        ("buyers_30d", pa.int64()),
    ]
)
Serialized = tuple[bytes, str, int]
"""A file's parquet bytes, their digest and its row count."""


def _serialized(table: pa.Table) -> Serialized:
    from c360.facts.store import serialize

    data, digest = serialize(table)
    return data, digest, table.num_rows


@dataclass
class BackfillReport:
    cutoffs: list[str]
    partitions: int = 0
    customers: int = 0
    """Customers with rows at the last cutoff."""
    rows: int = 0
    written: int = 0
    unchanged: int = 0
    removed: int = 0
    seconds: float = 0.0
    files: list[str] = field(default_factory=list)
    """The files written by this run (relative to the lake root)."""


# ----------------------------------------------------------------------------------------- validation


def parse_every(text: str) -> pd.Timedelta:
    """`7d` / `2w` -> a Timedelta; anything else is a ValidationError naming the value."""
    m = re.fullmatch(r"\s*([1-9][0-9]*)\s*([dw])\s*", text or "")
    if not m:
        raise ValidationError(f"--every {text!r}: expected a number and d or w, like 7d or 2w")
    return pd.Timedelta(days=int(m.group(1)) * (7 if m.group(2) == "w" else 1))


def _day(value: date | datetime | str, what: str) -> pd.Timestamp:
    try:
        ts = pd.Timestamp(value)
    except (ValueError, TypeError):
        raise ValidationError(f"{what} {value!r}: expected a date, YYYY-MM-DD") from None
    ts = ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")
    if ts != ts.normalize():
        raise ValidationError(f"{what} {value!r}: a cutoff is a day (00:00 UTC), not a time of day")
    return ts


def cutoff_days(start: date | str, end: date | str, every: pd.Timedelta) -> list[pd.Timestamp]:
    """start, start + every, ... up to end inclusive (end is a cutoff when the steps land on it)."""
    first, last = _day(start, "--start"), _day(end, "--end")
    if last < first:
        raise ValidationError(f"--end {last.date()} is before --start {first.date()}")
    return list(pd.date_range(first, last, freq=every))


def _file_ts_range(lake: Lake, path: str) -> tuple[Any, Any] | None:
    """min and max `ts` of a parquet file from its row-group statistics (None when it has no rows)."""
    meta = pq.ParquetFile(path, filesystem=lake.arrow_fs).metadata
    idx = meta.schema.to_arrow_schema().get_field_index("ts")
    lows, highs = [], []
    for g in range(meta.num_row_groups):
        col = meta.row_group(g).column(idx)
        stats = col.statistics
        if meta.row_group(g).num_rows == 0:
            continue
        if stats is None or not stats.has_min_max:
            t = lake.read_table(path, columns=["ts"])["ts"]
            return (pc.min(t).as_py(), pc.max(t).as_py()) if len(t) else None
        lows.append(stats.min)
        highs.append(stats.max)
    return (min(lows), max(highs)) if lows else None


def fact_time_range(lake: Lake) -> tuple[pd.Timestamp, pd.Timestamp]:
    """The oldest and newest `ts` of any transaction line or interaction."""
    from c360.facts.build import facts_partition_paths

    lows, highs = [], []
    for table in (TRANSACTION_LINES, INTERACTIONS):
        for path in facts_partition_paths(lake, table):
            found = _file_ts_range(lake, path)
            if found is not None:
                lows.append(pd.Timestamp(found[0]))
                highs.append(pd.Timestamp(found[1]))
    if not lows:
        raise NotFoundError(
            "no facts in the lake (facts/transaction_lines, facts/interactions): run `c360 facts`"
        )

    def utc(t: pd.Timestamp) -> pd.Timestamp:
        return t.tz_localize("UTC") if t.tzinfo is None else t.tz_convert("UTC")

    return utc(min(lows)), utc(max(highs))


def plan_cutoffs(
    lake: Lake, start: date | str, end: date | str, every: str, now: datetime | None = None
) -> list[pd.Timestamp]:
    """The cutoffs of a backfill, or a ValidationError before any work is done."""
    cutoffs = cutoff_days(start, end, parse_every(every))
    now_ts = pd.Timestamp(now or datetime.now(UTC)).tz_convert("UTC")
    if cutoffs[-1] > now_ts:
        raise ValidationError(
            f"cutoff {cutoffs[-1].date()} is after now ({now_ts.isoformat(timespec='seconds')}): "
            "a backfill there would read the future"
        )
    oldest, newest = fact_time_range(lake)
    if cutoffs[0] < oldest:
        raise ValidationError(
            f"--start {cutoffs[0].date()} is before the oldest fact ({oldest.isoformat()}): "
            "no feature history exists there"
        )
    if cutoffs[-1] > newest:
        raise ValidationError(
            f"cutoff {cutoffs[-1].date()} is after the newest fact ({newest.isoformat()}): its rows would "
            "read the future of the data (pick an --end on or before that day)"
        )
    return cutoffs


# ------------------------------------------------------------------------------------------ writing


class _Files:
    """Backfill files and their digests (features/_state/backfill.json): writes only what changed."""

    def __init__(self, lake: Lake, report: BackfillReport) -> None:
        self.lake = lake
        self.report = report
        path = lake.path(*STATE)
        self.state: dict[str, list[Any]] = (
            json.loads(lake.read_text(path)).get("files", {}) if lake.fs.exists(path) else {}
        )
        self.seen: set[str] = set()

    def _size(self, rel: str) -> int | None:
        """The file's size on the lake (None when it is gone): a file rewritten behind the backfill's back
        (an erasure, retention, a hand edit) no longer has the size recorded with its digest."""
        try:
            return int(self.lake.info(self.lake.path(rel))["size"])
        except FileNotFoundError:
            return None

    def save(self) -> None:
        self.lake.replace_text(self.lake.path(*STATE), json.dumps({"files": self.state}, sort_keys=True))

    def put(self, tables: dict[str, Serialized]) -> None:
        """Write each relative path -> serialized table whose digest differs from the recorded one (or whose
        file is gone or resized). The changed entries leave the state before their files are written, so a
        kill in between leaves them to be rewritten, never trusted."""
        pending = {}
        for rel, (data, digest, rows) in tables.items():
            self.seen.add(rel)
            self.report.rows += rows
            if self.state.get(rel) == [digest, len(data)] and self._size(rel) == len(data):
                self.report.unchanged += 1
                continue
            pending[rel] = (data, digest)
        if not pending:
            return
        for rel in pending:
            self.state.pop(rel, None)
        self.save()
        for rel, (data, digest) in pending.items():
            self.lake.replace_bytes(self.lake.path(rel), data)
            self.state[rel] = [digest, len(data)]
            self.report.written += 1
            self.report.files.append(rel)
        self.save()

    def prune(self, views: tuple[str, ...], days: list[str]) -> None:
        """Remove this range's files this run did not produce (a partition left empty, fewer partitions)."""
        removed = False
        for view in views:
            for day in days:
                for path in self.lake.glob(f"features/{view}/backfill-{day}-part-*.parquet"):
                    rel = self.lake.relative(path)
                    if rel not in self.seen:
                        self.lake.rm(path)
                        self.state.pop(rel, None)
                        self.report.removed += 1
                        removed = True
        if removed:
            self.save()


def backfill_path(view: str, cutoff: pd.Timestamp, part: int) -> str:
    return f"features/{view}/backfill-{cutoff.date().isoformat()}-part-{part:05d}.parquet"


# ---------------------------------------------------------------------------------------- the run


def _partitions(lake: Lake, count: int) -> list[int]:
    from c360.facts.build import facts_partition_paths

    found = set()
    from c360.facts.store import part_of_name

    for table in (TRANSACTION_LINES, INTERACTIONS):
        for path in facts_partition_paths(lake, table):
            part = part_of_name(path)
            if part is not None:
                found.add(part)
    if found and max(found) >= count:
        raise ValidationError(
            f"facts are laid out in more partitions than facts.partitions ({count}): run `c360 facts`"
        )
    return list(range(count))


def _read_part(lake: Lake, table: str, part: int, columns: list[str], last: pd.Timestamp) -> pa.Table:
    """One facts partition (its base file and deltas), rows with ts <= the last cutoff only (nothing later
    is read)."""
    from c360.facts.store import partition_files

    schema = pa.schema([SCHEMAS[table].field(c) for c in columns])
    paths = partition_files(lake, table, part)
    if not paths:
        return schema.empty_table()
    bound = pa.scalar(last.to_pydatetime(), type=SCHEMAS[table].field("ts").type)
    parts = [lake.read_table(p, columns=columns, filters=pc.field("ts") <= bound) for p in paths]
    return pa.concat_tables([t.select(columns).cast(schema) for t in parts])


def _golden(lake: Lake) -> pd.DataFrame:
    from c360.identity.store import IdentityStore

    table = IdentityStore(lake).read_arrow("golden", columns=GOLDEN_COLUMNS, sort=False)
    if table is None:
        raise NotFoundError("no golden records (identity/golden): run `c360 resolve` first")
    return typed_golden(table.to_pandas())


def _products(lake: Lake) -> pd.DataFrame:
    from c360.facts.build import read_facts

    return read_facts(lake, PRODUCTS, columns=PRODUCT_COLUMNS).to_pandas()


@dataclass
class PartitionRows:
    """One partition's work: its files (all views but engagement_rfm), its engagement rows and RFM inputs
    per cutoff index (scored once the population's edges are known), its product activity."""

    part: int
    files: dict[str, Serialized]
    held: list[tuple[int, pa.Table, pd.DataFrame]]
    activity: pa.Table | None
    customers: int


def partition_rows(
    lake_args: dict[str, Any], part: int, cutoffs: list[pd.Timestamp], golden: pd.DataFrame
) -> PartitionRows:
    """Every cutoff of one partition, from its facts (rows with ts after the last cutoff are not read)."""
    lake = Lake(lake_args["uri"], storage_options=lake_args["storage_options"])
    last = cutoffs[-1]
    tx = _read_part(lake, TRANSACTION_LINES, part, TX_COLUMNS, last)
    inter = _read_part(lake, INTERACTIONS, part, INTERACTION_COLUMNS, last)
    s = summaries(tx, inter, cutoffs)
    first = first_facts(tx, inter)
    out: dict[str, Serialized] = {}
    held = []
    customers = 0
    for k, cutoff in enumerate(cutoffs):
        rows: CutoffRows = customer_rows(golden, s.tx[k], s.interactions[k], s.sentiment[k], first, cutoff)
        for view in CUSTOMER_VIEWS:
            if view == "engagement_rfm" or rows.views[view].empty:
                continue
            out[backfill_path(view, cutoff, part)] = _serialized(feature_table(view, rows.views[view]))
        eng = rows.views["engagement_rfm"]
        if len(eng):
            held.append((k, feature_table("engagement_rfm", eng), rows.rfm_inputs))
        if k == len(cutoffs) - 1:
            customers = len(eng)
    activity = product_activity(tx, cutoffs) if tx.num_rows else None
    return PartitionRows(part, out, held, activity, customers)


def _lake_args(lake: Lake) -> dict[str, Any]:
    return {"uri": lake.uri if not lake.is_local else lake.root, "storage_options": lake.storage_options}


def _workers(ws: Workspace) -> int:
    configured = ws.settings.ray.num_cpus
    return max(1, int(configured) if configured else len(os.sched_getaffinity(0)))


def _run(ws: Workspace, jobs: list[tuple[Any, ...]], workers: int) -> Iterator[PartitionRows]:
    """partition_rows over the jobs, in order: here, or as Ray tasks (at most `workers` at a time)."""
    if workers <= 1 or len(jobs) <= 1:
        for job in jobs:
            yield partition_rows(*job)
        return
    import ray

    from c360.runtime import ensure_ray

    ensure_ray(ws.settings.ray, progress=False)
    task = ray.remote(num_cpus=1)(partition_rows)
    pending = [task.remote(*job) for job in jobs[:workers]]
    queued = list(jobs[workers:])
    while pending:  # a bounded window keeps memory to a few partitions' results
        done = ray.get(pending.pop(0))
        if queued:
            pending.append(task.remote(*queued.pop(0)))
        yield done


def backfill(
    ws: Workspace,
    start: date | str,
    end: date | str,
    every: str | None = None,
    *,
    now: datetime | None = None,
    workers: int | None = None,
) -> BackfillReport:
    """Compute and write the feature rows of every cutoff in [start, end]; see the module docstring.

    `workers`: partitions computed at once as Ray tasks (default: ray.num_cpus, else the CPUs this process
    may use; 1 computes them here, one after another, without Ray). The files are written by this process,
    in partition order.
    """
    t0 = time.perf_counter()
    lake = ws.lake
    cutoffs = plan_cutoffs(lake, start, end, every or ws.settings.features.backfill_every, now=now)
    count = ws.settings.facts.partitions
    parts = _partitions(lake, count)
    report = BackfillReport(cutoffs=[c.date().isoformat() for c in cutoffs], partitions=count)
    files = _Files(lake, report)
    golden = _golden(lake)
    golden_part = partition_of(golden["customer_id"].to_numpy(dtype=object), count)

    held: dict[int, list[tuple[int, pa.Table, pd.DataFrame]]] = {k: [] for k in range(len(cutoffs))}
    activity: list[pa.Table] = []
    jobs = [(_lake_args(lake), p, cutoffs, golden[golden_part == p].reset_index(drop=True)) for p in parts]
    for done in _run(ws, jobs, workers or _workers(ws)):
        files.put(done.files)
        for k, table, inputs in done.held:
            held[k].append((done.part, table, inputs))
        if done.activity is not None:
            activity.append(done.activity)
        report.customers += done.customers
        log.info("backfill: partition %d of %d done", done.part + 1, count)

    for k, cutoff in enumerate(cutoffs):
        edges = thresholds_of([inputs for _, _, inputs in held[k]])
        out = {}
        for p, table, inputs in held[k]:
            rows = CutoffRows(cutoff, {"engagement_rfm": table.to_pandas()}, inputs)
            scored = score_rfm(rows, edges)["engagement_rfm"]
            out[backfill_path("engagement_rfm", cutoff, p)] = feature_table("engagement_rfm", scored)
        held[k] = []
        files.put({rel: _serialized(t) for rel, t in out.items()})

    _write_products(lake, files, cutoffs, activity)
    files.prune((*CUSTOMER_VIEWS, PRODUCT_VIEW), report.cutoffs)
    report.seconds = time.perf_counter() - t0
    return report


def _write_products(lake: Lake, files: _Files, cutoffs: list[pd.Timestamp], activity: list[pa.Table]) -> None:
    products = _products(lake)
    counts = ["purchases_7d", "purchases_30d", "purchases_90d", "buyers_30d"]
    if activity:
        aggs = [("line_category", "min"), *((c, "sum") for c in counts)]
        grouped = pa.concat_tables(activity).group_by(["k", "product_id"], use_threads=False).aggregate(aggs)
        per = grouped.rename_columns(
            [{f"{c}_{f}": c for c, f in aggs}.get(n, n) for n in grouped.column_names]
        )
        per = per.to_pandas()
    else:
        per = pd.DataFrame(columns=["k", "product_id", "line_category", *counts])
    out = {}
    for k, cutoff in enumerate(cutoffs):
        rows = product_rows(products, per[per["k"] == k].drop(columns="k"), cutoff)
        if len(rows):
            table = pa.Table.from_pandas(rows, preserve_index=False).cast(PRODUCT_SCHEMA)
            out[backfill_path(PRODUCT_VIEW, cutoff, 0)] = _serialized(table)
    files.put(out)


__all__ = ["BackfillReport", "backfill", "cutoff_days", "fact_time_range", "parse_every", "plan_cutoffs"]
