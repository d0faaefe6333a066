"""Rewriting lake files without some rows: atomically, and only files that hold any of them.

Every edit goes through `Lake.replace_bytes` / `replace_table` (written beside, moved over), so a reader sees
the old file or the new, never half of one, and a crash leaves at worst a stray `.tmp` file. A parquet file
is first judged from its footer statistics and then from its key columns alone; only a file that really holds
a matching row is read whole and rewritten. That keeps erasure in a 1M-customer lake proportional to the
files the person is in, not to the size of the lake.
"""

from __future__ import annotations

import io
import re
import sqlite3
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from c360.io.lake import Lake


@dataclass
class StoreCounts:
    """What one erasure or retention pass removed from one store (counts only, never values)."""

    rows: int = 0
    files_scanned: int = 0
    files_rewritten: int = 0
    files_deleted: int = 0
    bytes_rewritten: int = 0
    """Size of the files written anew."""
    bytes_removed: int = 0
    """How much smaller the store became."""
    keys: int = 0
    """Keys, documents or entries removed from a database-like store."""
    seconds: float = 0.0
    notes: list[str] = field(default_factory=list)

    def add(self, other: StoreCounts) -> None:
        self.rows += other.rows
        self.files_scanned += other.files_scanned
        self.files_rewritten += other.files_rewritten
        self.files_deleted += other.files_deleted
        self.bytes_rewritten += other.bytes_rewritten
        self.bytes_removed += other.bytes_removed
        self.keys += other.keys
        self.seconds += other.seconds
        self.notes.extend(other.notes)

    def to_dict(self) -> dict[str, object]:
        return {
            "rows": self.rows,
            "files_scanned": self.files_scanned,
            "files_rewritten": self.files_rewritten,
            "files_deleted": self.files_deleted,
            "bytes_rewritten": self.bytes_rewritten,
            "bytes_removed": self.bytes_removed,
            "keys": self.keys,
            "seconds": round(self.seconds, 3),
            "notes": list(self.notes),
        }

    @classmethod
    def from_dict(cls, doc: Mapping[str, Any]) -> StoreCounts:
        """Back from `to_dict`: the erasure journal keeps each finished step's counts for the audit."""

        def whole(key: str) -> int:
            return int(doc.get(key) or 0)

        return cls(
            rows=whole("rows"),
            files_scanned=whole("files_scanned"),
            files_rewritten=whole("files_rewritten"),
            files_deleted=whole("files_deleted"),
            bytes_rewritten=whole("bytes_rewritten"),
            bytes_removed=whole("bytes_removed"),
            keys=whole("keys"),
            seconds=float(doc.get("seconds") or 0.0),
            notes=[str(n) for n in doc.get("notes") or []],
        )


def replace_rows(
    lake: Lake, path: str, data: bytes, new: bytes, removed: int, counts: StoreCounts
) -> StoreCounts:
    """Put `new` (the file without `removed` rows) in place of `data` and count the rewrite in `counts`."""
    lake.replace_bytes(path, new)
    counts.rows = removed
    counts.files_rewritten = 1
    counts.bytes_rewritten = len(new)
    counts.bytes_removed = len(data) - len(new)
    return counts


def size_of(lake: Lake, path: str) -> int:
    return int(lake.info(path).get("size") or 0)


# --------------------------------------------------------------------------------------------- parquet

Matcher = Callable[[pa.Table], np.ndarray]
"""Given a table of the key columns, True for rows to remove."""


def isin_matcher(values: Mapping[str, Collection[str]]) -> Matcher:
    """Rows where any named column holds one of its values (compared as text)."""
    sets = {
        col: pa.array(sorted({str(v) for v in vals}), pa.string()) for col, vals in values.items() if vals
    }

    def match(table: pa.Table) -> np.ndarray:
        drop = np.zeros(table.num_rows, dtype=bool)
        for col, wanted in sets.items():
            if col not in table.column_names:
                continue
            column = table.column(col)
            if not pa.types.is_string(column.type) and not pa.types.is_large_string(column.type):
                column = column.cast(pa.string())
            drop |= pc.fill_null(pc.is_in(column, value_set=wanted), False).to_numpy(zero_copy_only=False)
        return drop

    return match


def _may_contain(meta: pq.FileMetaData, values: Mapping[str, Collection[str]]) -> bool:
    """False only when footer statistics prove that no row group holds any of the values."""
    names = meta.schema.names
    for rg in range(meta.num_row_groups):
        group = meta.row_group(rg)
        for col, vals in values.items():
            if not vals:
                continue
            if col not in names:
                continue
            stats = group.column(names.index(col)).statistics
            if stats is None or not stats.has_min_max or not isinstance(stats.min, str):
                return True
            if any(stats.min <= str(v) <= stats.max for v in vals):
                return True
    return False


def filter_parquet(
    lake: Lake,
    path: str,
    values: Mapping[str, Collection[str]],
    matcher: Matcher | None = None,
    delete_if_empty: bool = False,
) -> StoreCounts:
    """Remove the rows of one parquet file where a key column holds one of `values` (or `matcher` says so).

    With only `values`, footer statistics can rule the file out without reading data; a custom `matcher`
    still reads only the key columns named in `values` before deciding to rewrite.
    """
    counts = StoreCounts(files_scanned=1)
    pf = pq.ParquetFile(path, filesystem=lake.arrow_fs)
    names = pf.schema_arrow.names
    keys = [c for c in values if c in names]
    if not keys:
        return counts
    if matcher is None:
        if not _may_contain(pf.metadata, values):
            return counts
        matcher = isin_matcher(values)
    drop = matcher(pf.read(columns=keys))
    if not drop.any():
        return counts
    before = size_of(lake, path)
    table = pf.read()
    kept = table.filter(pa.array(~drop))
    counts.rows = int(drop.sum())
    if kept.num_rows == 0 and delete_if_empty:
        lake.rm(path)
        counts.files_deleted = 1
        counts.bytes_removed = before
        return counts
    lake.replace_table(kept, path)
    after = size_of(lake, path)
    counts.files_rewritten = 1
    counts.bytes_rewritten = after
    counts.bytes_removed = before - after
    return counts


def filter_parquet_files(
    lake: Lake,
    paths: list[str],
    values: Mapping[str, Collection[str]],
    matcher: Matcher | None = None,
    delete_if_empty: bool = False,
) -> StoreCounts:
    total = StoreCounts()
    for path in paths:
        total.add(filter_parquet(lake, path, values, matcher, delete_if_empty))
    return total


# --------------------------------------------------------------------------------------------- text lines


def encoded_needles(needles: Collection[str], encoding: str) -> set[bytes]:
    """Each needle as bytes in the file's declared encoding and in UTF-8 (a file that cannot be decoded as
    declared was most likely written in another encoding; ids are usually ASCII, the same in both)."""
    out: set[bytes] = set()
    for n in needles:
        if not n:
            continue
        for enc in (encoding, "utf-8"):
            try:
                out.add(n.encode(enc))
            except (UnicodeEncodeError, LookupError):
                continue
    return out


def line_matcher(needles: set[bytes], delimiter: bytes | None) -> Callable[[bytes], bool]:
    """Whether a line's bytes hold one of the needles as a whole field (split on `delimiter`, quotes and
    blanks trimmed) or, without a delimiter (JSON lines), standing alone: not part of a longer word or
    number, so `C1` does not take the line of `C10`."""
    alts = b"|".join(re.escape(n) for n in sorted(needles, key=len, reverse=True))
    token = re.compile(rb"(?<![A-Za-z0-9_])(?:" + alts + rb")(?![A-Za-z0-9_])")

    def holds(line: bytes) -> bool:
        if not any(n in line for n in needles):
            return False
        if delimiter:
            fields = line.rstrip(b"\r\n").split(delimiter)
            return any(f.strip(b" \t\"'") in needles for f in fields)
        return token.search(line) is not None

    return holds


def drop_lines_as_bytes(
    lake: Lake, path: str, data: bytes, needles: set[bytes], delimiter: bytes | None, encoding: str
) -> StoreCounts:
    """Rewrite a file that cannot be decoded: lines (split on LF, CRLF or CR) holding a needle go, every
    other byte stays. Counted, with a note naming the file (never a value), so it is never skipped silently.
    A quoted value spanning lines is not followed here: the file could not be ingested anyway."""
    counts = StoreCounts(files_scanned=1)
    counts.notes.append(f"{lake.relative(path)}: not decodable as {encoding}; scanned as bytes")
    if not needles:
        return counts
    holds = line_matcher(needles, delimiter)
    lines = data.splitlines(keepends=True)
    kept = [line for line in lines if not holds(line)]
    removed = len(lines) - len(kept)
    if not removed:
        return counts
    new = b"".join(kept)
    return replace_rows(lake, path, data, new, removed, counts)


def filter_lines(
    lake: Lake, path: str, drop_line: Callable[[str], bool], needles: Collection[str], encoding: str = "utf-8"
) -> StoreCounts:
    """Remove whole lines (JSON lines) for which `drop_line` is true, keeping every other byte as it was.

    `needles` is a cheap pre-check: a file whose bytes contain none of them is not decoded at all. A file
    that does hold one but cannot be decoded is scanned as bytes (`drop_lines_as_bytes`).
    """
    data = lake.read_bytes(path)
    encoded = encoded_needles(needles, encoding)
    if not any(n in data for n in encoded):
        return StoreCounts(files_scanned=1)
    try:
        text = data.decode(encoding)
    except UnicodeDecodeError:
        return drop_lines_as_bytes(lake, path, data, encoded, None, encoding)
    counts = StoreCounts(files_scanned=1)
    lines = io.StringIO(text, newline="").readlines()  # only \n, \r\n, \r end a line
    kept = [line for line in lines if not (line.strip() and drop_line(line))]
    removed = len(lines) - len(kept)
    if not removed:
        return counts
    new = "".join(kept).encode(encoding)
    return replace_rows(lake, path, data, new, removed, counts)


# --------------------------------------------------------------------------------------------- SQLite


def wipe_sqlite(conn: sqlite3.Connection, counts: StoreCounts) -> None:
    """Rebuild an SQLite file without deleted rows' leftovers, then empty its write-ahead log.

    SQLite keeps deleted rows' bytes in free pages, in its log and (after b-tree splits) in pages' unallocated
    space, which no later delete touches; for an erasure that is not deletion. Callers delete with
    `PRAGMA secure_delete=ON` and then call this. The rebuilt database counts as one file rewritten."""
    if conn.in_transaction:
        conn.commit()
    conn.execute("VACUUM")
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    (pages,) = conn.execute("PRAGMA page_count").fetchone()
    (page_size,) = conn.execute("PRAGMA page_size").fetchone()
    counts.files_rewritten += 1
    counts.bytes_rewritten += pages * page_size
