"""Erasing a person from lake folders by key alone, whatever stage wrote them.

- a derived folder (`profiles/`, `features/<view>/`, `events/`, `decisions/`, `facts/`, `training_sets/`):
  rows keyed by one of the person's customer ids, record keys or device/cookie/user ids (parquet, and JSON
  lines for append-only logs). `events/` is the events stage's step (c360/events/erasure.py: it adds the
  anonymous ids stitched to the person); `decisions/` is the next-best-action stage's (c360/nba/erasure.py:
  rewards stay as tombstones); the profile and facts stages use the same function for the folders they write.
- any other folder of parquet tables (the demo's `ground_truth/`, say): rows where any text column holds one
  of the person's ids or identifiers.

Folders a stage knows better (raw/, standardized/, quarantine/, identity/) are that stage's step.
"""

from __future__ import annotations

import json
from collections.abc import Callable

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from c360.io.lake import Lake
from c360.privacy.rewrite import StoreCounts, filter_lines, filter_parquet
from c360.privacy.subject import FunctionStep, Subject
from c360.workspace import Workspace

DERIVED = ("profiles", "features", "events", "decisions", "facts", "training_sets")
KEY_COLUMNS = (
    "customer_id",
    "customerId",
    "user_id",
    "userId",
    "anonymous_id",
    "anonymousId",
    "alias_id",
    "other_customer_id",
    "record_key",
    "email",
    "phone",
    "device_id",
    "cookie_id",
)
HANDLED = frozenset(
    {"raw", "standardized", "quarantine", "identity", "privacy", "_state", "models", *DERIVED}
)


def _jsonl_drop(keys: set[str]) -> Callable[[str], bool]:
    def drop(line: str) -> bool:
        try:
            obj = json.loads(line)
        except json.JSONDecodeError:
            return False
        if not isinstance(obj, dict):
            return False
        return any(str(obj.get(c)) in keys for c in KEY_COLUMNS if obj.get(c) is not None)

    return drop


def erase_from_folder(lake: Lake, folder: str, subject: Subject) -> StoreCounts:
    """One derived folder: parquet rows and JSON lines keyed by one of the person's key values."""
    keys = subject.key_values()
    counts = StoreCounts()
    for path in lake.glob(f"{folder}/**/*.parquet"):
        counts.add(filter_parquet(lake, path, {c: keys for c in KEY_COLUMNS}))
    for pattern in (f"{folder}/**/*.jsonl", f"{folder}/**/*.json"):
        for path in lake.glob(pattern):
            counts.add(filter_lines(lake, path, _jsonl_drop(keys), keys))
    return counts


def erase_from_other_tables(ws: Workspace, subject: Subject) -> StoreCounts:
    """Parquet tables in folders c360 does not own: any text column holding one of the person's values."""
    lake = ws.lake
    needles = {v.casefold() for v in subject.key_values() | subject.identifier_values()}
    total = StoreCounts()
    for path in lake.glob("**/*.parquet"):
        top = lake.relative(path).split("/")[0]
        if top in HANDLED:
            continue
        schema = pq.read_schema(path, filesystem=lake.arrow_fs)
        text = [f.name for f in schema if pa.types.is_string(f.type) or pa.types.is_large_string(f.type)]
        if not text:
            continue

        def match(table: pa.Table) -> np.ndarray:
            drop = np.zeros(table.num_rows, dtype=bool)
            for col in table.column_names:
                vals = table.column(col).to_pylist()
                drop |= np.array(
                    [v is not None and v.strip().casefold() in needles for v in vals], dtype=bool
                )
            return drop

        total.add(filter_parquet(lake, path, {c: needles for c in text}, matcher=match))
    return total


OTHER_TABLES_STEP = FunctionStep("other_tables", erase_from_other_tables)
