"""The ingest stage's part of an erasure: `raw/`, `standardized/` and `quarantine/`.

Raw: each declared file rewritten without the person's rows, in its own format. A row is the person's when
its own record id (identity file sets) or its customer reference (orders, tickets, sessions, consent...) is
one of their source records. CSV and JSON-lines files keep every other row byte for byte (same delimiter,
quoting, encoding, line endings); parquet files keep their schema. A file whose bytes do not even contain one
of the ids is never parsed. A file that does but cannot be decoded with its declared encoding (an export in
another code page, which ingest rejected) is scanned as bytes, line by line, and the note says so: it is
never skipped, since an erasure that stops at one bad file stops for good. After a rewrite the ingest
watermark gets the file's new fingerprint, so the next ingest does not take it for a new delivery.

Standardized: identity rows by their source record id, behaviour rows by `(source, customer_ref)`; products
are nobody's. Quarantine: entries whose delivered row (`raw`) names one of the person's records or
identifiers. Every rewrite is atomic per file, so running a step again after an interruption is safe.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Iterator

import numpy as np
import pyarrow as pa

from c360.io.lake import Lake
from c360.privacy.rewrite import (
    StoreCounts,
    drop_lines_as_bytes,
    encoded_needles,
    filter_lines,
    filter_parquet,
    filter_parquet_files,
    replace_rows,
)
from c360.privacy.subject import FunctionStep, Subject
from c360.schemas import RECORD_TYPES
from c360.settings import FileSetSettings
from c360.sources.watermark import Watermark, fingerprint
from c360.workspace import Workspace

_SPLIT = re.compile(r"[;,|\t\"]")


def match_column(fs: FileSetSettings) -> str | None:
    """The raw column that names the person's source record in this file set."""
    if fs.record == "identity":
        return fs.id_column
    return fs.mapping.get("customer_ref")


def _records_with_text(text: str, fs: FileSetSettings) -> Iterator[tuple[list[str], str]]:
    """CSV records with the exact text each was read from (quoted values may span lines)."""
    lines = iter(io.StringIO(text, newline=""))
    consumed: list[str] = []

    def feed() -> Iterator[str]:
        for line in lines:
            consumed.append(line)
            yield line

    reader = csv.reader(feed(), delimiter=fs.csv.delimiter, quotechar=fs.csv.quote_char)
    for record in reader:
        chunk = "".join(consumed)
        consumed.clear()
        yield record, chunk


def rewrite_csv(lake: Lake, path: str, fs: FileSetSettings, column: str, ids: set[str]) -> StoreCounts:
    counts = StoreCounts(files_scanned=1)
    data = lake.read_bytes(path)
    needles = encoded_needles(ids, fs.csv.encoding)
    if not any(n in data for n in needles):
        return counts
    try:
        text = data.decode(fs.csv.encoding)
    except UnicodeDecodeError:
        delimiter = fs.csv.delimiter.encode("utf-8")
        return drop_lines_as_bytes(lake, path, data, needles, delimiter, fs.csv.encoding)
    out: list[str] = []
    index: int | None = None
    removed = 0
    for n, (record, chunk) in enumerate(_records_with_text(text, fs)):
        if n == 0 and fs.csv.header:
            names = [c.strip().lstrip("\ufeff") for c in record]
            index = names.index(column) if column in names else None
            out.append(chunk)
            if index is None:
                return counts
            continue
        if index is None:
            index = int(column[1:]) if column.startswith("f") and column[1:].isdigit() else None
            if index is None:
                return counts
        if len(record) > index and record[index].strip() in ids:
            removed += 1
            continue
        out.append(chunk)
    if not removed:
        return counts
    new = "".join(out).encode(fs.csv.encoding)
    return replace_rows(lake, path, data, new, removed, counts)


def rewrite_jsonl(lake: Lake, path: str, fs: FileSetSettings, column: str, ids: set[str]) -> StoreCounts:
    def drop(line: str) -> bool:
        try:
            obj = json.loads(line)
        except json.JSONDecodeError:
            return False
        return isinstance(obj, dict) and obj.get(column) is not None and str(obj[column]).strip() in ids

    return filter_lines(lake, path, drop, ids, encoding=fs.csv.encoding)


def rewrite_parquet(lake: Lake, path: str, column: str, ids: set[str]) -> StoreCounts:
    """A raw parquet file without the person's rows. One that is not readable parquet (truncated, corrupt
    footer) was never ingested and cannot be rewritten row by row: its bytes are searched for the ids, and a
    file holding one is removed (keeping it would keep the person); one holding none stays, with a note, as
    compression can hide a value from a byte search. Either way the erasure finishes and says so."""
    try:
        return filter_parquet(lake, path, {column: ids})
    except (pa.ArrowInvalid, OSError) as exc:  # an outage, not a corrupt file, fails read_bytes below too
        reason = type(exc).__name__
    data = lake.read_bytes(path)
    counts = StoreCounts(files_scanned=1)
    rel = lake.relative(path)
    if any(n in data for n in encoded_needles(ids, "utf-8")):
        lake.rm(path)
        counts.files_deleted, counts.bytes_removed = 1, len(data)
        counts.notes.append(f"{rel}: not readable as parquet ({reason}); it held an id, so it was removed")
    else:
        counts.notes.append(f"{rel}: not readable as parquet ({reason}); no id in its bytes, left as it is")
    return counts


def _refresh_watermark(lake: Lake, source: str, file_set: str, path: str) -> bool:
    wm = Watermark.load(lake, source, file_set)
    rel = lake.relative(path)
    if rel not in wm.files:
        return False
    wm.files[rel]["fingerprint"] = fingerprint(lake.info(path))
    wm.dirty = True
    wm.save(lake)
    return True


def erase_from_raw(ws: Workspace, subject: Subject) -> StoreCounts:
    """Rewrite every declared raw file that holds one of the person's rows."""
    lake = ws.lake
    total = StoreCounts()
    for source, src in ws.settings.sources.items():
        ids = subject.records.get(source, set())
        if not ids:
            continue
        for name, fs in src.files.items():
            if fs.record == "product":  # the catalogue is nobody's personal data
                continue
            column = match_column(fs)
            if column is None:
                total.notes.append(f"raw/{source}/{name}: no id column to find rows by; not rewritten")
                continue
            for path in lake.glob(fs.path):
                if fs.format == "csv":
                    counts = rewrite_csv(lake, path, fs, column, ids)
                elif fs.format == "jsonl":
                    counts = rewrite_jsonl(lake, path, fs, column, ids)
                else:
                    counts = rewrite_parquet(lake, path, column, ids)
                if counts.files_rewritten:
                    _refresh_watermark(lake, source, name, path)
                total.add(counts)
    return total


def erase_from_standardized(ws: Workspace, subject: Subject) -> StoreCounts:
    lake = ws.lake
    total = StoreCounts()
    for record in RECORD_TYPES:
        if record == "product":
            continue
        column = "source_record_id" if record == "identity" else "customer_ref"
        for source, ids in subject.records.items():
            files = lake.glob(f"standardized/{record}/source={source}/**/*.parquet")
            total.add(filter_parquet_files(lake, files, {column: ids}))
    return total


def _tokens(raw: str | None) -> set[str]:
    if raw is None:
        return set()
    try:
        obj = json.loads(raw)
    except json.JSONDecodeError:
        obj = raw
    if isinstance(obj, dict):
        values = [v for v in obj.values() if v is not None]
        return {str(v).strip().casefold() for v in values}
    return {t.strip().casefold() for t in _SPLIT.split(str(obj)) if t.strip()}


def erase_from_quarantine(ws: Workspace, subject: Subject) -> StoreCounts:
    lake = ws.lake
    total = StoreCounts()
    base = {v.casefold() for v in subject.identifier_values() if len(v) >= 4}
    for path in lake.glob("quarantine/**/*.parquet"):
        source = lake.relative(path).split("/")[1]
        needles = base | {i.casefold() for i in subject.records.get(source, set())}
        if not needles:
            continue

        def match(table: pa.Table, needles: set[str] = needles) -> np.ndarray:
            return np.array([bool(_tokens(r) & needles) for r in table.column("raw").to_pylist()], dtype=bool)

        total.add(filter_parquet(lake, path, {"raw": needles}, matcher=match))
    return total


RAW_STEP = FunctionStep("raw", erase_from_raw)
STANDARDIZED_STEP = FunctionStep("standardized", erase_from_standardized)
QUARANTINE_STEP = FunctionStep("quarantine", erase_from_quarantine)
