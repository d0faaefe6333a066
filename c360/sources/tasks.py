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
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

import numpy as np
import pyarrow as pa

from c360.errors import ConfigError
from c360.io.lake import Lake
from c360.privacy.suppression import IngestSuppression, drop_quarantine_rows
from c360.schemas import QUARANTINE_SCHEMA, standardized_schema
from c360.settings import FileSetSettings, Settings
from c360.sources.layout import file_hash, quarantine_rel, standardized_rel
from c360.sources.mapping import BatchContext, malformed_quarantine, standardize_batch
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


def _without_rows(raw: RawFile, drop: np.ndarray) -> RawFile:
    """`raw` without the dropped rows; quarantine `raw` lookups keep pointing at the rows as delivered."""
    kept = np.flatnonzero(~drop)
    original = raw.raw_json
    return RawFile(
        table=raw.table.filter(pa.array(~drop)),
        rows=raw.rows[kept],
        malformed=raw.malformed,
        raw_json=lambda idx: original([int(kept[i]) for i in idx]),
    )


def process_file(lake: Lake, task: FileTask) -> FileResult:
    """Read, standardize and write one raw file; every failure comes back as a message, never an exception."""
    started = time.perf_counter()
    result = FileResult(task.source, task.file_set, task.rel, task.fingerprint)
    fs = task.file_set_settings
    try:
        raw = read_file(lake, task.path, task.rel, fs)
        # Right to be forgotten: rows of erased people (matched by salted hashes on the suppression list) are
        # dropped here, before standardization, so they are neither loaded nor quarantined with their values.
        suppression = IngestSuppression.load(lake)
        suppressed = 0
        if suppression:
            drop = suppression.raw_drop_mask(
                raw.table, task.source, fs.id_column, fs.mapping.get("customer_ref")
            )
            if drop.any():
                raw = _without_rows(raw, drop)
                suppressed = int(drop.sum())
        raw_dropped = suppressed
        ctx = BatchContext(task.source, task.file_set, task.rel, datetime.fromisoformat(task.ingested_at))
        parts: list[pa.Table] = []
        quarantine: list[pa.Table] = [malformed_quarantine(raw.malformed, ctx)]
        rejected = len(raw.malformed)
        for start in range(0, raw.table.num_rows, BATCH_ROWS):
            batch = raw.table.slice(start, BATCH_ROWS)
            rows = raw.rows[start : start + batch.num_rows]
            out = standardize_batch(
                batch, rows, lambda idx, s=start: raw.raw_json([i + s for i in idx]), fs, ctx
            )
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
        result.rows_read = raw.rows_read + raw_dropped
        result.rows_suppressed = suppressed
        result.rows_quarantined = rejected
        result.rows_accepted = result.rows_read - rejected - suppressed
        if result.rows_read and rejected / result.rows_read > task.max_quarantine_fraction:
            raise FileFailed(
                f"{task.rel}: {rejected} of {result.rows_read} rows quarantined, more than "
                f"ingest.max_quarantine_fraction={task.max_quarantine_fraction}; nothing of it was loaded"
            )
        standardized = pa.concat_tables(parts) if parts else standardized_schema(fs.record).empty_table()
        q = pa.concat_tables(quarantine).sort_by([("row", "ascending")]) if quarantine else None
        outputs: list[str] = []
        if standardized.num_rows:
            rel_out = standardized_rel(fs.record, task.source, task.file_set, task.load_date, task.rel)
            lake.write_table(standardized.cast(standardized_schema(fs.record)), lake.path(rel_out))
            outputs.append(rel_out)
        if q is not None and q.num_rows:
            rel_out = quarantine_rel(task.source, task.file_set, task.load_date, task.rel)
            lake.write_table(q.cast(QUARANTINE_SCHEMA), lake.path(rel_out))
            outputs.append(rel_out)
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
    result.seconds = time.perf_counter() - started
    return result
