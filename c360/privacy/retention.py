"""`c360 retention`: data minimization by age, per record type (`privacy.retention_days` in c360.yaml).

Rows of `standardized/<record>/` (and of `events/`, once the serving layer writes it) older than their type's
limit are dropped, and so are the rows of the fact tables built from them (FACT_FOLDERS, by their `ts`).
Each file is judged by the footer statistics of its time column first: a file entirely past the limit is
deleted without being read, a file entirely within it is left alone, and only a file that straddles the
limit is rewritten (atomically). Rows without a time are kept. Every pass that removes
anything is written to the privacy audit log with its counts.
"""

from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from c360.io.lake import Lake
from c360.privacy.audit import write_audit
from c360.privacy.rewrite import StoreCounts, size_of
from c360.workspace import Workspace

log = logging.getLogger(__name__)

TIME_COLUMNS: dict[str, tuple[str, ...]] = {
    "identity": ("observed_at",),
    "transaction": ("ts",),
    "interaction": ("ts",),
    "consent": ("ts",),
    "event": ("timestamp", "ts", "received_at"),
}
# Fact tables (c360/facts) that carry a record type's rows: they expire with it.
FACT_FOLDERS: dict[str, tuple[str, ...]] = {
    "transaction": ("facts/transaction_lines",),
    "interaction": ("facts/interactions", "facts/exposures"),
}


@dataclass
class RetentionReport:
    cutoffs: dict[str, str] = field(default_factory=dict)
    """record type -> ISO cutoff; rows older than it were dropped."""
    counts: dict[str, StoreCounts] = field(default_factory=dict)
    audit_path: str | None = None

    @property
    def rows(self) -> int:
        return sum(c.rows for c in self.counts.values())


def _stats_range(meta: pq.FileMetaData, column: str) -> tuple[object, object] | None:
    names = meta.schema.names
    if column not in names or meta.num_row_groups == 0:
        return None
    lo = hi = None
    for rg in range(meta.num_row_groups):
        stats = meta.row_group(rg).column(names.index(column)).statistics
        if stats is None or not stats.has_min_max:
            return None
        lo = stats.min if lo is None or stats.min < lo else lo
        hi = stats.max if hi is None or stats.max > hi else hi
    return lo, hi


def _as_utc(value: object) -> datetime | None:
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    return None


def expire_file(lake: Lake, path: str, columns: tuple[str, ...], cutoff: datetime) -> StoreCounts:
    """Drop the rows of one parquet file whose time is before `cutoff`."""
    counts = StoreCounts(files_scanned=1)
    pf = pq.ParquetFile(path, filesystem=lake.arrow_fs)
    column = next((c for c in columns if c in pf.schema_arrow.names), None)
    if column is None:
        return counts
    span = _stats_range(pf.metadata, column)
    if span is not None:
        lo, hi = (_as_utc(v) for v in span)
        null_count = sum(
            pf.metadata.row_group(rg).column(pf.schema_arrow.names.index(column)).statistics.null_count or 0
            for rg in range(pf.metadata.num_row_groups)
        )
        if lo is not None and lo >= cutoff:
            return counts
        if hi is not None and hi < cutoff and null_count == 0:
            counts.rows = pf.metadata.num_rows
            counts.bytes_removed = size_of(lake, path)
            counts.files_deleted = 1
            lake.rm(path)
            return counts
    table = pf.read()
    times = table.column(column)
    if not pa.types.is_timestamp(times.type):
        return counts
    scalar = pa.scalar(cutoff, type=pa.timestamp("us", tz="UTC")).cast(times.type)
    old = pc.fill_null(pc.less(times, scalar), False)
    n_old = int(pc.sum(old).as_py() or 0)
    if n_old == 0:
        return counts
    before = size_of(lake, path)
    lake.replace_table(table.filter(pc.invert(old)), path)
    counts.rows = n_old
    counts.files_rewritten = 1
    counts.bytes_rewritten = size_of(lake, path)
    counts.bytes_removed = before - counts.bytes_rewritten
    return counts


def run_retention(ws: Workspace, now: datetime | None = None) -> RetentionReport:
    """Apply every configured retention limit once; a second run on the same day removes nothing."""
    now = now or datetime.now(UTC)
    lake = ws.lake
    report = RetentionReport()
    for record, days in sorted(ws.settings.privacy.retention_days.items()):
        cutoff = now - timedelta(days=days)
        report.cutoffs[record] = cutoff.isoformat()
        pattern = "events/**/*.parquet" if record == "event" else f"standardized/{record}/**/*.parquet"
        patterns = [pattern, *(f"{folder}/*.parquet" for folder in FACT_FOLDERS.get(record, ()))]
        counts = StoreCounts()
        for path in (p for pat in patterns for p in lake.glob(pat)):
            counts.add(expire_file(lake, path, TIME_COLUMNS[record], cutoff))
        report.counts[record] = counts
    if report.rows:
        run_id = f"ret_{now.strftime('%Y%m%dT%H%M%S')}_{secrets.token_hex(4)}"
        report.audit_path = write_audit(
            lake,
            run_id,
            now,
            "retention",
            {
                "retention_days": dict(ws.settings.privacy.retention_days),
                "cutoffs": report.cutoffs,
                "rows_removed": report.rows,
                "stores": {r: c.to_dict() for r, c in report.counts.items()},
            },
        )
    log.info("retention: %d rows older than their limit removed", report.rows)
    return report
