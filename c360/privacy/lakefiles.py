"""Erasing a person from the lake's parquet folders past `raw/`.

- `standardized/<record>/source=<s>/`: identity rows by their source record id, behaviour rows (orders,
  interactions, consent) by `(source, customer_ref)`; products are nobody's.
- `quarantine/`: entries whose delivered row (`raw`) names one of the person's records or identifiers.
- `profiles/`, `features/<view>/`, `events/`, `decisions/`: rows keyed by one of the person's customer ids,
  record keys or device/cookie/user ids (parquet, and JSON lines for append-only logs).
- any other folder of parquet tables (the demo's `ground_truth/`, say): rows where any text column holds one
  of the person's ids or identifiers.
"""

from __future__ import annotations

import json
import re
import time

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from c360.io.lake import Lake
from c360.privacy.rewrite import StoreCounts, filter_lines, filter_parquet, filter_parquet_files
from c360.privacy.subject import Subject
from c360.schemas import RECORD_TYPES

DERIVED = ("profiles", "features", "events", "decisions")
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
_SPLIT = re.compile(r"[;,|\t\"]")


def erase_from_standardized(lake: Lake, subject: Subject) -> StoreCounts:
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


def erase_from_quarantine(lake: Lake, subject: Subject) -> StoreCounts:
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


def _jsonl_drop(keys: set[str]) -> object:
    def drop(line: str) -> bool:
        try:
            obj = json.loads(line)
        except json.JSONDecodeError:
            return False
        if not isinstance(obj, dict):
            return False
        return any(str(obj.get(c)) in keys for c in KEY_COLUMNS if obj.get(c) is not None)

    return drop


def erase_from_derived(lake: Lake, subject: Subject) -> dict[str, StoreCounts]:
    """profiles/, features/, events/, decisions/: whatever stage wrote them, rows keyed by the person go."""
    keys = subject.key_values()
    out: dict[str, StoreCounts] = {}
    for folder in DERIVED:
        started = time.perf_counter()
        counts = StoreCounts()
        for path in lake.glob(f"{folder}/**/*.parquet"):
            counts.add(filter_parquet(lake, path, {c: keys for c in KEY_COLUMNS}))
        for pattern in (f"{folder}/**/*.jsonl", f"{folder}/**/*.json"):
            for path in lake.glob(pattern):
                counts.add(filter_lines(lake, path, _jsonl_drop(keys), keys))  # type: ignore[arg-type]
        counts.seconds = time.perf_counter() - started
        out[folder] = counts
    return out


def erase_from_other_tables(lake: Lake, subject: Subject) -> StoreCounts:
    """Parquet tables in folders c360 does not own: any text column holding one of the person's values."""
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
