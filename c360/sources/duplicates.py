"""Rows of one file that share a source record id: kept once, and every version that loses is reported.

Downstream, a record is keyed by (source, source_record_id) and one row per key survives (resolve keeps the
latest). Two rows with the same id in one delivery therefore meant one of them vanished without a word. Here,
per file: identical copies are kept once and counted (`collapsed`); when the copies differ, the policy in
`ingest.duplicate_ids` picks the survivor and every other version goes to quarantine as `duplicate_id`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from c360.schemas import LINEAGE_FIELDS
from c360.sources.rawfile import MalformedRow

DuplicatePolicy = Literal["last", "first", "reject"]
DUPLICATE_ID = "duplicate_id"
_LINEAGE = {f.name for f in LINEAGE_FIELDS}
_SHOW_ROWS = 5


@dataclass
class Deduplicated:
    standardized: pa.Table
    losers: list[MalformedRow]
    """Quarantine entries (reason `duplicate_id`) for the versions the policy did not keep."""
    collapsed: int
    """Identical copies dropped (a row equal to a kept or quarantined one, id and contents)."""


def _rows_text(rows: Sequence[int]) -> str:
    shown = ", ".join(str(r) for r in rows[:_SHOW_ROWS])
    return shown + (f" and {len(rows) - _SHOW_ROWS} more" if len(rows) > _SHOW_ROWS else "")


def deduplicate(
    std: pa.Table, policy: DuplicatePolicy, raw_for_rows: Callable[[list[int]], list[str]]
) -> Deduplicated:
    """Apply the duplicate-id policy to one file's standardized rows (in file order).

    `raw_for_rows` gives the delivered row, JSON-encoded, for 1-based data row numbers. Messages name rows
    and the policy, never the id itself.
    """
    n = std.num_rows
    if n < 2:
        return Deduplicated(std, [], 0)
    ids = std.column("source_record_id")
    if len(pc.unique(ids)) == n:  # the common case: one hash pass, nothing to do
        return Deduplicated(std, [], 0)
    counts = pc.value_counts(ids)
    repeated = counts.field("values").filter(pc.greater(counts.field("counts"), 1))
    idx = np.flatnonzero(np.asarray(pc.is_in(ids, value_set=repeated), dtype=bool))
    sub = std.take(pa.array(idx))
    content = [c for c in sub.column_names if c not in _LINEAGE]
    contents = list(zip(*(sub.column(c).to_pylist() for c in content), strict=True))
    row_numbers = sub.column("_row").to_pylist()
    groups: dict[str, list[int]] = {}
    for i, key in enumerate(sub.column("source_record_id").to_pylist()):
        groups.setdefault(key, []).append(i)

    drop = np.zeros(n, dtype=bool)
    losers: list[tuple[int, str]] = []  # (position in sub, message)
    collapsed = 0
    for members in groups.values():
        versions: dict[tuple[object, ...], list[int]] = {}
        for i in members:
            versions.setdefault(contents[i], []).append(i)
        # each version stands as one row: its last copy under `last`, its first otherwise
        standing = [v[-1] if policy == "last" else v[0] for v in versions.values()]
        collapsed += len(members) - len(standing)
        for i in members:
            if i not in standing:
                drop[idx[i]] = True
        if len(standing) == 1:
            continue
        if policy == "reject":
            keep = None
            note = (
                f"source record id repeats with different contents at rows "
                f"{_rows_text(sorted(row_numbers[i] for i in standing))}; "
                "ingest.duplicate_ids=reject quarantines every version"
            )
        else:
            keep = (
                max(standing, key=lambda i: row_numbers[i])
                if policy == "last"
                else min(standing, key=lambda i: row_numbers[i])
            )
            note = (
                f"source record id repeats with different contents; ingest.duplicate_ids={policy} keeps "
                f"row {row_numbers[keep]}"
            )
        for i in standing:
            if i != keep:
                drop[idx[i]] = True
                losers.append((i, note))
    losers.sort(key=lambda x: row_numbers[x[0]])
    raws = raw_for_rows([row_numbers[i] for i, _ in losers])
    entries = [
        MalformedRow(row_numbers[i], note, raw, DUPLICATE_ID, "source_record_id")
        for (i, note), raw in zip(losers, raws, strict=True)
    ]
    return Deduplicated(std.filter(pa.array(~drop)), entries, collapsed)
