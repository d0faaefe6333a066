"""Ingest work, one raw file at a time: planning on the driver, processing wherever it runs.

`plan_ingest` lists each file set's files, drops those the watermark has seen, and checks the header of every
new file before any data is read. `process_file` reads one file, standardizes it batch by batch with the pure
functions of `mapping`, and writes its outputs under names derived from the file's path, so running it twice
(after a crash, say) overwrites instead of duplicating. Both the Ray Data pipeline and the single-process
baseline run exactly these functions.
"""

from __future__ import annotations

import logging
import time
import traceback
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from c360.errors import ConfigError
from c360.io.lake import Lake
from c360.privacy.suppression import IngestSuppression, drop_quarantine_rows, raw_text_drop_mask
from c360.schemas import QUARANTINE_SCHEMA, RECORD_FIELDS, standardized_schema
from c360.settings import FileSetSettings, Settings
from c360.sources.dates import order_for_file
from c360.sources.duplicates import DuplicatePolicy, deduplicate
from c360.sources.layout import file_hash, quarantine_rel, standardized_rel
from c360.sources.mapping import ROW_REJECTED, BatchContext, malformed_quarantine, standardize_batch
from c360.sources.normalize import phone_to_e164
from c360.sources.rawfile import RowLimits, without_rows
from c360.sources.readers import FileFailed, RawFile, check_columns, read_file
from c360.sources.watermark import Watermark, fingerprint

log = logging.getLogger(__name__)

BATCH_ROWS = 100_000
"""Rows standardized at once; bounds the memory of one file's intermediate arrays."""


@dataclass
class FileTask:
    """Everything a worker needs to ingest one file (plain values, so it travels through Ray as JSON)."""

    source: str
    file_set: str
    path: str
    rel: str
    fingerprint: dict[str, Any]
    settings: dict[str, Any]
    load_date: str
    ingested_at: str
    max_quarantine_fraction: float = 1.0
    max_field_bytes: int = 1 << 20
    max_row_bytes: int = 4 << 20
    duplicate_ids: DuplicatePolicy = "last"

    @property
    def file_set_settings(self) -> FileSetSettings:
        return FileSetSettings.model_validate(self.settings)


@dataclass
class FileResult:
    source: str
    file_set: str
    rel: str
    fingerprint: dict[str, Any]
    rows_read: int = 0
    rows_accepted: int = 0
    rows_quarantined: int = 0
    fields_nulled: int = 0
    rows_suppressed: int = 0
    """Rows of erased people dropped by the suppression list (`c360.privacy.suppression`)."""
    rows_collapsed: int = 0
    """Identical copies of a row (same record id, same contents) kept once."""
    fields_cleaned: int = 0
    """Values that lost control, bidi-override or invisible characters."""
    duplicates_quarantined: int = 0
    """Versions of a repeated record id the `duplicate_ids` policy did not keep (among `rows_quarantined`)."""
    rows_outside: int = 0
    """Rows whose timestamp falls outside the file set's `period` (another export's): not loaded."""
    outputs: list[str] = field(default_factory=list)
    error: str | None = None
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class FileSetPlan:
    source: str
    file_set: str
    settings: FileSetSettings
    files_listed: int = 0
    files_skipped: int = 0
    tasks: list[FileTask] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)
    watermark: Watermark | None = None


def selected_sources(settings: Settings, sources: list[str] | None) -> list[str]:
    if not sources:
        return list(settings.sources)
    unknown = [s for s in sources if s not in settings.sources]
    if unknown:
        known = ", ".join(settings.sources) or "(none declared)"
        raise ConfigError(f"unknown source(s) {', '.join(unknown)}; the workspace declares: {known}")
    return list(sources)


def plan_ingest(
    lake: Lake, settings: Settings, sources: list[str] | None, started: datetime
) -> list[FileSetPlan]:
    """List new files per file set and check their headers; nothing is read beyond the first block of each."""
    plans = []
    for source in selected_sources(settings, sources):
        for name, fs in settings.sources[source].files.items():
            plan = FileSetPlan(source, name, fs, watermark=Watermark.load(lake, source, name))
            paths = lake.glob(fs.path)
            plan.files_listed = len(paths)
            for path in paths:
                rel = lake.relative(path)
                mark = fingerprint(lake.info(path))
                if not plan.watermark.is_new(rel, mark):
                    plan.files_skipped += 1
                    continue
                try:
                    check_columns(lake, path, rel, fs)
                except FileFailed as exc:
                    plan.failed.append((rel, exc.message))
                    continue
                plan.tasks.append(
                    FileTask(
                        source=source,
                        file_set=name,
                        path=path,
                        rel=rel,
                        fingerprint=mark,
                        settings=fs.model_dump(mode="json"),
                        load_date=started.date().isoformat(),
                        ingested_at=started.isoformat(),
                        max_quarantine_fraction=settings.ingest.max_quarantine_fraction,
                        max_field_bytes=settings.ingest.max_field_bytes,
                        max_row_bytes=settings.ingest.max_row_bytes,
                        duplicate_ids=settings.ingest.duplicate_ids,
                    )
                )
            if plan.failed and not plan.tasks and len(plan.failed) == plan.files_listed - plan.files_skipped:
                log.error(
                    "%s/%s: every new file (%d) failed its header check; nothing of this file set is loaded",
                    source,
                    name,
                    len(plan.failed),
                )
            plans.append(plan)
    return plans


def _remove_stale(lake: Lake, task: FileTask, record: str, keep: set[str]) -> None:
    """Outputs of an earlier run of the same input (another load date, a quarantine no longer needed)."""
    h = file_hash(task.rel)
    patterns = (
        f"standardized/{record}/source={task.source}/load_date=*/{task.file_set}-{h}.parquet",
        f"quarantine/{task.source}/{task.file_set}/load_date=*/{h}.parquet",
    )
    for pattern in patterns:
        for path in lake.glob(pattern):
            if lake.relative(path) not in keep:
                lake.rm(path)


def _phone_variants(region: str) -> Callable[[str], list[tuple[str, str]]]:
    """A raw token that reads as a phone number, in the E.164 form the suppression list hashed."""

    def variants(token: str) -> list[tuple[str, str]]:
        if sum(c.isdigit() for c in token) < 7:
            return []
        e164 = phone_to_e164(token, region)
        return [("phone", e164)] if e164 else []

    return variants


def _suppress_quarantined(
    suppression: IngestSuppression, q: pa.Table, std: pa.Table, source: str, fs: FileSetSettings
) -> tuple[pa.Table, pa.Table, int, int]:
    """Quarantine entries (and their kept rows) whose raw text names an erased person, removed.

    A row that failed to parse or validate never had standardized values to match, so its raw text is
    matched instead; otherwise an erased person would come back through quarantine. Returns the tables and
    how many rejected and accepted rows were dropped.
    """
    hit = raw_text_drop_mask(
        suppression.lst, q.column("raw").to_pylist(), source, _phone_variants(fs.default_region)
    )
    if not hit.any():
        return q, std, 0, 0
    rows = set(q.column("row").filter(pa.array(hit)).to_pylist())
    gone = hit | np.isin(np.asarray(q.column("row")), list(rows))
    removed = q.filter(pa.array(gone))
    rejected = removed.filter(pc.equal(removed.column("action"), ROW_REJECTED))
    kept_hit = np.isin(np.asarray(std.column("_row")), list(rows))
    return (
        q.filter(pa.array(~gone)),
        std.filter(pa.array(~kept_hit)),
        len(set(rejected.column("row").to_pylist())),
        int(kept_hit.sum()),
    )


def _standardize(
    raw: RawFile, fs: FileSetSettings, ctx: BatchContext, suppression: IngestSuppression, result: FileResult
) -> tuple[pa.Table, list[pa.Table], int, int]:
    """Standardize batch by batch; returns standardized rows, quarantine parts, rejected, suppressed."""
    fs = _dates_ordered_for_file(raw.table, fs, ctx.file)
    parts: list[pa.Table] = []
    quarantine: list[pa.Table] = [malformed_quarantine(raw.malformed, ctx)]
    rejected = len(raw.malformed)
    suppressed = 0
    for start in range(0, raw.table.num_rows, BATCH_ROWS):
        batch = raw.table.slice(start, BATCH_ROWS)
        rows = raw.rows[start : start + batch.num_rows]
        out = standardize_batch(batch, rows, lambda idx, s=start: raw.raw_json([i + s for i in idx]), fs, ctx)
        std_part, q_part = out.standardized, out.quarantine
        if suppression:  # a new record of an erased person (same email, phone, device...) is dropped too
            hit = suppression.standardized_drop_mask(std_part)
            if hit.any():
                q_part = drop_quarantine_rows(
                    q_part, std_part.filter(pa.array(hit)).column("_row").to_pylist()
                )
                std_part = std_part.filter(pa.array(~hit))
                suppressed += int(hit.sum())
        parts.append(std_part)
        quarantine.append(q_part)
        rejected += out.rows_rejected
        result.fields_nulled += out.fields_nulled
        result.fields_cleaned += out.fields_cleaned
        result.rows_outside += out.rows_outside
    standardized = pa.concat_tables(parts) if parts else standardized_schema(fs.record).empty_table()
    return standardized, quarantine, rejected, suppressed


def _dates_ordered_for_file(table: pa.Table, fs: FileSetSettings, rel: str) -> FileSetSettings:
    """The file set's settings with its date formats in the order this file's unambiguous dates show."""
    if isinstance(fs.date_format, str) or not fs.date_format:
        return fs
    names = [f.name for f in RECORD_FIELDS[fs.record] if pa.types.is_date(f.type)]
    columns = [fs.mapping[n] for n in names if fs.mapping.get(n) in table.column_names]
    order = order_for_file([table.column(c).combine_chunks() for c in columns], fs.date_format)
    if order.decision is None:
        if order.day_only and order.month_only:
            log.warning(
                "%s: dates both day-first only (%d values) and month-first only (%d); read in the configured "
                "order",
                rel,
                order.day_only,
                order.month_only,
            )
        return fs
    log.info(
        "%s: dates read %s (%d values read only that way, none only the other way)",
        rel,
        order.decision.replace("_", "-"),
        order.day_only if order.decision == "day_first" else order.month_only,
    )
    return fs.model_copy(update={"date_format": order.formats})


def process_file(lake: Lake, task: FileTask) -> FileResult:
    """Read, standardize and write one raw file; every failure comes back as a message, never an exception.

    Every row read ends up in exactly one place, so the counts add up: read = accepted + quarantined +
    suppressed + collapsed (identical copies kept once) + outside (the file set's period).
    """
    started = time.perf_counter()
    result = FileResult(task.source, task.file_set, task.rel, task.fingerprint)
    fs = task.file_set_settings
    try:
        raw = read_file(lake, task.path, task.rel, fs, RowLimits(task.max_field_bytes, task.max_row_bytes))
        # Right to be forgotten: rows of erased people (matched by salted hashes on the suppression list) are
        # dropped here, before standardization, so they are neither loaded nor quarantined with their values.
        suppression = IngestSuppression.load(lake)
        raw_dropped = 0
        if suppression:
            drop = suppression.raw_drop_mask(
                raw.table, task.source, fs.id_column, fs.mapping.get("customer_ref")
            )
            if drop.any():
                raw = without_rows(raw, drop)
                raw_dropped = int(drop.sum())
        ctx = BatchContext(task.source, task.file_set, task.rel, datetime.fromisoformat(task.ingested_at))
        standardized, quarantine, rejected, suppressed = _standardize(raw, fs, ctx, suppression, result)
        suppressed += raw_dropped

        def raw_for_rows(rows: list[int]) -> list[str]:
            return raw.raw_json(np.searchsorted(raw.rows, rows).tolist())

        dedup = deduplicate(standardized, task.duplicate_ids, raw_for_rows)
        standardized = dedup.standardized
        quarantine.append(malformed_quarantine(dedup.losers, ctx))
        rejected += len(dedup.losers)
        result.duplicates_quarantined = len(dedup.losers)
        q = pa.concat_tables(quarantine).sort_by([("row", "ascending")])
        if suppression and q.num_rows:  # rows that only exist as raw text: malformed, rejected, too large
            q, standardized, gone_rejected, gone_accepted = _suppress_quarantined(
                suppression, q, standardized, task.source, fs
            )
            rejected -= gone_rejected
            suppressed += gone_rejected + gone_accepted
        result.rows_read = raw.rows_read + raw_dropped
        result.rows_suppressed = suppressed
        result.rows_quarantined = rejected
        result.rows_collapsed = dedup.collapsed
        result.rows_accepted = standardized.num_rows
        placed = result.rows_accepted + rejected + suppressed + dedup.collapsed + result.rows_outside
        unexplained = result.rows_read - placed
        if unexplained:
            log.error("%s: %d row(s) not accounted for by the ingest counts", task.rel, unexplained)
        if result.rows_read and rejected / result.rows_read > task.max_quarantine_fraction:
            raise FileFailed(
                f"{task.rel}: {rejected} of {result.rows_read} rows quarantined, more than "
                f"ingest.max_quarantine_fraction={task.max_quarantine_fraction}; nothing of it was loaded"
            )
        outputs: list[str] = []
        if standardized.num_rows:
            rel_out = standardized_rel(fs.record, task.source, task.file_set, task.load_date, task.rel)
            lake.write_table(standardized.cast(standardized_schema(fs.record)), lake.path(rel_out))
            outputs.append(rel_out)
        if q.num_rows:
            rel_out = quarantine_rel(task.source, task.file_set, task.load_date, task.rel)
            lake.write_table(q.cast(QUARANTINE_SCHEMA), lake.path(rel_out))
            outputs.append(rel_out)
        if result.fields_cleaned:
            log.info("%s: %d value(s) lost control or invisible characters", task.rel, result.fields_cleaned)
        _remove_stale(lake, task, fs.record, set(outputs))
        result.outputs = outputs
    except FileFailed as exc:
        result.error = exc.message
    except Exception as exc:  # noqa: BLE001 - one file's bug must not stop the others; the trace goes to the log
        # the exception text may quote a value, so only its type and the frames are kept
        frames = "".join(traceback.format_tb(exc.__traceback__))
        log.error("%s: unexpected %s while ingesting\n%s", task.rel, type(exc).__name__, frames)
        result.error = f"{task.rel}: unexpected {type(exc).__name__} while ingesting (traceback in the log)"
    if result.error:
        result.rows_accepted = result.rows_quarantined = result.fields_nulled = result.rows_suppressed = 0
        result.rows_collapsed = result.fields_cleaned = result.duplicates_quarantined = 0
        result.rows_outside = 0
    result.seconds = time.perf_counter() - started
    return result
