"""Rows too large to load, and the line-by-line CSV reader used when the fast one gives up on a file.

pyarrow's readers parse in blocks and fail a whole file when one row is larger than a block ("straddling
object straddles two block boundaries"). A 50 MB value between valid rows must cost that row only, so:
the fast read stays as it is for normal files; when it fails, or when a value or row is over
`ingest.max_field_bytes` / `ingest.max_row_bytes`, the offending rows become quarantine entries
(`field_too_large`, `row_too_large`) with their row number, and the rest of the file is loaded.

A quarantined oversized row keeps its small values (people fixing the export, and erasure, need them) but
not the oversized ones: each value longer than `CLIP_CHARS` is replaced by a note of its size.
"""

from __future__ import annotations

import csv
import io
import json
import sys
from collections.abc import Callable, Iterable, Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from c360.settings import FileSetSettings
from c360.sources.rawfile import (
    FIELD_TOO_LARGE,
    MALFORMED,
    ROW_TOO_LARGE,
    MalformedRow,
    RawFile,
    RowLimits,
    without_rows,
)

CLIP_CHARS = 256
"""Values longer than this are left out of an oversized row's quarantine entry (their size is kept)."""


def utf8_len(value: str) -> int:
    return len(value) if value.isascii() else len(value.encode("utf-8", "surrogatepass"))


def value_bytes(value: object) -> int:
    """Delivered size of one value: its text, or its JSON text when nested."""
    if value is None:
        return 0
    if isinstance(value, str):
        return utf8_len(value)
    if isinstance(value, bytes):
        return len(value)
    return utf8_len(json.dumps(value, ensure_ascii=False, default=str))


def _clip(value: object) -> object:
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    if isinstance(value, str | list | dict):
        size = value_bytes(value)
        if size > CLIP_CHARS:
            return f"<{size} bytes not kept>"
    return value


def clipped_json(record: dict[str, object]) -> str:
    """An oversized row for the quarantine's `raw`: small values as delivered, large ones as their size."""
    return json.dumps({k: _clip(v) for k, v in record.items()}, ensure_ascii=False, default=str)


def clipped_text(text: str) -> str:
    """A line that cannot be split into values: its start only (JSON string, like a malformed row)."""
    return json.dumps(_clip(text) if len(text) > CLIP_CHARS else text, ensure_ascii=False)


def canonical_field(column: str, fs: FileSetSettings) -> str | None:
    for name, source_column in fs.mapping.items():
        if source_column == column:
            return name
    return None


def too_large(
    row: int, record: dict[str, object] | None, text: str | None, fs: FileSetSettings, limits: RowLimits
) -> MalformedRow | None:
    """The quarantine entry for one delivered row over a limit, or None when it is within both."""
    sizes = {k: value_bytes(v) for k, v in record.items()} if record is not None else {}
    total = sum(sizes.values()) if record is not None else utf8_len(text or "")

    def raw() -> str:
        return clipped_json(record) if record is not None else clipped_text(text or "")

    for column, size in sizes.items():  # one runaway value is named before the row it swells
        if size > limits.max_field_bytes:
            name = canonical_field(column, fs)
            where = f"{name} (column {column!r})" if name else f"column {column!r}"
            message = (
                f"{where} is {size:,} bytes, over ingest.max_field_bytes={limits.max_field_bytes:,}; "
                "the value is not kept in quarantine"
            )
            return MalformedRow(row, message, raw(), FIELD_TOO_LARGE, name)
    if total > limits.max_row_bytes:
        message = (
            f"row is {total:,} bytes, over ingest.max_row_bytes={limits.max_row_bytes:,}; "
            f"values over {CLIP_CHARS} bytes are not kept in quarantine"
        )
        return MalformedRow(row, message, raw(), ROW_TOO_LARGE)
    return None


def _byte_lengths(column: pa.ChunkedArray) -> np.ndarray | None:
    t = column.type
    if not (pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_binary(t)):
        return None
    return np.asarray(pc.fill_null(pc.binary_length(column), 0).to_numpy(), dtype=np.int64)


def split_oversized(raw: RawFile, fs: FileSetSettings, limits: RowLimits) -> RawFile:
    """Move table rows holding a value or a row over the limits to `malformed` (the parsed-table check).

    One max per text column decides the common case (nothing to do) without looking at any row.
    """
    table = raw.table
    if table.num_rows == 0:
        return raw
    lengths: list[tuple[str, np.ndarray]] = []
    for name in table.column_names:
        ln = _byte_lengths(table.column(name))
        if ln is not None and len(ln):
            lengths.append((name, ln))
    widest = {name: int(ln.max()) for name, ln in lengths}
    if (
        sum(widest.values()) <= limits.max_row_bytes
        and max(widest.values(), default=0) <= limits.max_field_bytes
    ):
        return raw
    bad = np.zeros(table.num_rows, dtype=bool)
    total = np.zeros(table.num_rows, dtype=np.int64)
    for _, ln in lengths:
        bad |= ln > limits.max_field_bytes
        total += ln
    bad |= total > limits.max_row_bytes
    idx = np.flatnonzero(bad)
    moved = []
    for i in idx.tolist():
        record = table.slice(i, 1).to_pylist()[0]
        entry = too_large(int(raw.rows[i]), record, None, fs, limits)
        if entry is not None:
            moved.append(entry)
    return without_rows(raw, bad, moved)


def table_rows_json(table: pa.Table) -> Callable[[Sequence[int]], list[str]]:
    def raw_json(indices: Sequence[int]) -> list[str]:
        if len(indices) == 0:
            return []
        picked = table.take(pa.array(indices, pa.int64())).to_pylist()
        return [json.dumps(r, ensure_ascii=False, default=str) for r in picked]

    return raw_json


def read_csv_lines(text: str, header: list[str], fs: FileSetSettings, limits: RowLimits) -> RawFile:
    """The slow, sure CSV path: Python's csv module record by record, each judged before it is kept.

    Used only when pyarrow's reader failed on the file; row numbers count data records (blank lines
    skipped), as the fast path does.
    """
    opts = fs.csv
    lines = text.split("\n")
    csv.field_size_limit(sys.maxsize)  # sizes are judged here, against the configured limits
    reader = csv.reader(io.StringIO(text), delimiter=opts.delimiter, quotechar=opts.quote_char)
    records: Iterable[list[str]] = reader
    consumed = 0
    if opts.header:
        next(reader, None)
        consumed = reader.line_num
    columns: list[list[str]] = [[] for _ in header]
    kept: list[int] = []
    malformed: list[MalformedRow] = []
    number = 0
    for fields in records:
        first, consumed = consumed, reader.line_num
        if not fields:
            continue
        number += 1
        original = "\n".join(lines[first:consumed]).rstrip("\r")
        record: dict[str, object] | None = (
            dict(zip(header, fields, strict=True)) if len(fields) == len(header) else None
        )
        entry = too_large(number, record, original, fs, limits)
        if entry is None and record is None:
            message = f"expected {len(header)} columns, found {len(fields)}"
            entry = MalformedRow(number, message, json.dumps(original, ensure_ascii=False), MALFORMED)
        if entry is not None:
            malformed.append(entry)
            continue
        for col, value in zip(columns, fields, strict=True):
            col.append(value)
        kept.append(number)
    table = pa.Table.from_arrays([pa.array(c, pa.string()) for c in columns], names=header)
    return RawFile(table, np.array(kept, dtype=np.int64), malformed, table_rows_json(table))
