"""Writing raw tables as delivered files (csv, jsonl, parquet), and spoiling a few rows on purpose.

The csv and jsonl writers are built from pyarrow string kernels, so a file costs a handful of column
operations, and their bytes depend on nothing but the table: the same seed gives byte-identical files.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from c360.demo import vec
from c360.demo.layout import FileSet
from c360.io.lake import Lake

BATCH_ROWS = 200_000


@dataclass
class Injected:
    """Rows spoiled in one table: 0-based row numbers and the index of the defect applied to each."""

    rows: np.ndarray
    defect: np.ndarray


def inject_defects(
    fs: FileSet, table: pa.Table, rate: float, rng: np.random.Generator
) -> tuple[pa.Table, Injected]:
    """Spoil about `rate` of the rows, one unambiguous defect per spoiled row, drawn from `fs.defects`."""
    n = table.num_rows
    if not fs.defects or rate <= 0 or n == 0:
        return table, Injected(np.zeros(0, np.int64), np.zeros(0, np.int64))
    rows = np.flatnonzero(rng.random(n) < rate)
    defect = rng.integers(0, len(fs.defects), rows.size)
    for d, spec in enumerate(fs.defects):
        hit = rows[defect == d]
        if hit.size == 0:
            continue
        i = table.schema.get_field_index(spec.column)
        col = table.column(i).combine_chunks()
        mask = np.zeros(n, dtype=bool)
        mask[hit] = True
        if spec.value is None:
            replacement = pa.scalar(None, col.type)
        elif pa.types.is_string(col.type):
            replacement = pa.scalar(spec.value, pa.string())
        else:
            raise TypeError(
                f"{fs.source}/{fs.name}: cannot write {spec.value!r} into {col.type} {spec.column}"
            )
        table = table.set_column(i, spec.column, pc.if_else(pa.array(mask), replacement, col))
    return table, Injected(rows, defect)


def _payload(lines: pa.Array) -> memoryview:
    """The concatenated bytes of a string array without nulls (zero copy)."""
    lines = lines.cast(pa.large_string()) if lines.type != pa.large_string() else lines
    offsets = np.frombuffer(lines.buffers()[1], dtype=np.int64, count=len(lines) + 1, offset=lines.offset * 8)
    data = lines.buffers()[2]
    return memoryview(data)[int(offsets[0]) : int(offsets[-1])]


def _as_text(col: pa.Array) -> pa.Array:
    return col if pa.types.is_string(col.type) else pc.cast(col, pa.string())


def _csv_field(col: pa.Array, delimiter: str) -> pa.Array:
    text = _as_text(col)
    special = pc.fill_null(pc.match_substring_regex(text, "[" + re.escape(delimiter) + '"\r\n]'), False)
    quoted = vec.join('"', pc.replace_substring(text, '"', '""'), '"')
    return pc.if_else(special, quoted, text)


def csv_chunks(table: pa.Table, delimiter: str) -> Iterator[bytes | memoryview]:
    """The file's bytes in pieces: a header, then batches of rows; fields quoted only when they must be."""
    header = pa.array(list(table.column_names))
    yield delimiter.join(_csv_field(header, delimiter).to_pylist()).encode() + b"\n"
    for start in range(0, table.num_rows, BATCH_ROWS):
        part = table.slice(start, BATCH_ROWS)
        cols = [_csv_field(part.column(i).combine_chunks(), delimiter) for i in range(part.num_columns)]
        lines = pc.binary_join_element_wise(*cols, delimiter, null_handling="replace", null_replacement="")
        yield _payload(vec.join(lines, "\n"))


def _json_escape(text: pa.Array) -> pa.Array:
    if not pc.any(pc.match_substring_regex(text, r'[\\"\n\r\t]')).as_py():
        return text
    for src, dst in (("\\", "\\\\"), ('"', '\\"'), ("\n", "\\n"), ("\r", "\\r"), ("\t", "\\t")):
        text = pc.replace_substring(text, src, dst)
    return text


_LITERAL = {"num": r"^-?[0-9]+(\.[0-9]+)?$", "bool": r"^(true|false)$"}


def jsonl_chunks(table: pa.Table, json_types: dict[str, str]) -> Iterator[memoryview]:
    """One JSON object per line; null fields are left out, as most exporters do."""
    for start in range(0, table.num_rows, BATCH_ROWS):
        part = table.slice(start, BATCH_ROWS)
        frags = []
        for name in part.column_names:
            text = _as_text(part.column(name).combine_chunks())
            quoted = vec.join('"', _json_escape(text), '"')
            kind = json_types.get(name)
            if kind is not None:
                literal = pc.fill_null(pc.match_substring_regex(text, _LITERAL[kind]), False)
                quoted = pc.if_else(literal, text, quoted)
            frags.append(vec.join(f',"{name}":', quoted))
        body = pc.binary_join_element_wise(*frags, "", null_handling="replace", null_replacement="")
        body = pc.utf8_slice_codeunits(body, 1)
        yield _payload(vec.join("{", body, "}\n"))


def write_table(lake: Lake, fs: FileSet, table: pa.Table, path: str) -> None:
    """Write one part file at `path` (a lake-native path) in the file set's format."""
    if fs.format == "parquet":
        lake.write_table(table, path, compression="snappy")
        return
    chunks = (
        csv_chunks(table, fs.delimiter) if fs.format == "csv" else jsonl_chunks(table, dict(fs.json_types))
    )
    with lake.open(path, "wb") as fh:
        for piece in chunks:
            fh.write(piece)
