"""What a reader hands to standardization: a file's rows as delivered, and the rows it could not take.

Kept apart from the readers so the fallback (line by line) reader and the size checks share the types
without importing each other.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from c360.errors import IngestError

MALFORMED = "malformed_row"
FIELD_TOO_LARGE = "field_too_large"
ROW_TOO_LARGE = "row_too_large"


class FileFailed(IngestError):
    """One file cannot be ingested at all; the message names the file and the problem."""


@dataclass(frozen=True)
class RowLimits:
    """Sizes (UTF-8 bytes) past which one delivered value or row is quarantined instead of loaded."""

    max_field_bytes: int = 1 << 20
    max_row_bytes: int = 4 << 20

    @property
    def smallest(self) -> int:
        return min(self.max_field_bytes, self.max_row_bytes)


@dataclass(frozen=True)
class MalformedRow:
    """A delivered row that never reaches standardization: unparseable, or too large to load."""

    row: int
    message: str
    raw: str
    """The row as delivered, JSON-encoded (a JSON string of the line text, or an object of its values)."""
    reason: str = MALFORMED
    field: str | None = None
    """The canonical field at fault, when the problem is one mapped value."""


@dataclass
class RawFile:
    """A whole file read as delivered: its columns, the 1-based data row of each table row, and bad rows."""

    table: pa.Table
    rows: np.ndarray
    malformed: list[MalformedRow]
    raw_json: Callable[[Sequence[int]], list[str]]
    """Rows (by table index) as delivered, JSON-encoded, for the quarantine's `raw` column."""

    @property
    def rows_read(self) -> int:
        return self.table.num_rows + len(self.malformed)


def without_rows(raw: RawFile, drop: np.ndarray, moved: Sequence[MalformedRow] = ()) -> RawFile:
    """`raw` without the dropped table rows (plus `moved` entries for them, if any); `raw_json` lookups keep
    pointing at the rows as delivered."""
    kept = np.flatnonzero(~drop)
    original = raw.raw_json
    malformed = raw.malformed
    if moved:
        malformed = sorted([*raw.malformed, *moved], key=lambda m: m.row)
    return RawFile(
        table=raw.table.filter(pa.array(~drop)),
        rows=raw.rows[kept],
        malformed=malformed,
        raw_json=lambda idx: original([int(kept[i]) for i in idx]),
    )
