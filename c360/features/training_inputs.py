"""What a training set is built from, read and checked at the edge: cutoffs from the command line, and the
fact tables (their rows, time span and state) that labels are computed from."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Sequence
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from c360.errors import ConfigError, NotFoundError, ValidationError
from c360.facts.schemas import EXPOSURES, FACTS, INTERACTIONS, SCHEMAS, TRANSACTION_LINES
from c360.facts.store import facts_partition_paths, read_facts
from c360.features.labels import as_cutoffs
from c360.io.lake import Lake

FACTS_STATE = f"{FACTS}/_state/facts.json"


# ------------------------------------------------------------------------------------------ cutoffs


def parse_cutoffs(text: str) -> list[pd.Timestamp]:
    """`2025-01-05,2025-02-02T12:00` -> UTC timestamps; a value that is not a date is named."""
    out = []
    for raw in (p.strip() for p in text.split(",")):
        if not raw:
            continue
        out.append(parse_time(raw, "--cutoffs"))
    if not out:
        raise ValidationError("--cutoffs: give at least one date, like 2025-01-05,2025-02-02")
    return as_cutoffs(out)


def parse_time(raw: str, what: str) -> pd.Timestamp:
    try:
        ts = pd.Timestamp(raw)
    except (ValueError, TypeError):
        raise ValidationError(
            f"{what}: {raw!r} is not a date or time (use ISO 8601, like 2025-01-05)"
        ) from None
    if ts is pd.NaT:
        raise ValidationError(f"{what}: {raw!r} is not a date or time")
    return ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")


def parse_every(text: str) -> pd.Timedelta:
    m = re.fullmatch(r"([1-9][0-9]*)([dw])", text.strip())
    if not m:
        raise ValidationError(f"--every {text!r} must be a number and d or w, like 7d or 2w")
    return pd.Timedelta(days=int(m.group(1)) * (7 if m.group(2) == "w" else 1))


def cutoff_range(start: pd.Timestamp, end: pd.Timestamp, every: pd.Timedelta) -> list[pd.Timestamp]:
    """start, start + every, ... up to and including end."""
    if end < start:
        raise ValidationError(f"--end {end.isoformat()} is before --start {start.isoformat()}")
    count = int((end - start) // every) + 1
    return [start + i * every for i in range(count)]


# ------------------------------------------------------------------------------------------ facts


def read_fact(
    lake: Lake, table: str, columns: Sequence[str], until: pd.Timestamp | None = None
) -> pd.DataFrame:
    """`columns` of a facts table (rows with `ts` at or before `until` when given) as pandas, strings
    Arrow-backed (a fraction of the memory of Python objects)."""
    ts_type = SCHEMAS[table].field("ts").type
    where = None if until is None else pc.field("ts") <= pa.scalar(until.to_pydatetime(), ts_type)
    with lake.guard():
        read = read_facts(lake, table, list(columns), filter=where)
    return read.to_pandas(types_mapper={pa.string(): pd.StringDtype("pyarrow")}.get)


def fact_span(lake: Lake) -> tuple[pd.Timestamp, pd.Timestamp]:
    """The oldest and newest `ts` of the timed customer facts (transaction lines and interactions), from
    the parquet footers' statistics where the writer kept them, else from the column."""
    lo, hi = None, None
    for table in (TRANSACTION_LINES, INTERACTIONS):
        for path in facts_partition_paths(lake, table):
            for mm in _ts_ranges(lake, path):
                lo = mm[0] if lo is None else min(lo, mm[0])
                hi = mm[1] if hi is None else max(hi, mm[1])
    if lo is None or hi is None:
        raise NotFoundError(
            f"no fact rows under {lake.display_uri}/{FACTS}/ (transaction_lines, interactions); "
            "run `c360 facts`"
        )
    return pd.Timestamp(lo).tz_convert("UTC"), pd.Timestamp(hi).tz_convert("UTC")


def _ts_ranges(lake: Lake, path: str) -> list[tuple[Any, Any]]:
    with lake.guard(), lake.open(path, "rb") as fh:
        meta = pq.ParquetFile(fh).metadata
    col = meta.schema.names.index("ts")
    ranges = []
    for g in range(meta.num_row_groups):
        group = meta.row_group(g)
        stats = group.column(col).statistics
        if group.num_rows == 0 or (stats is not None and stats.null_count == group.num_rows):
            continue
        if stats is None or not stats.has_min_max:  # no statistics: read the column
            mm = pc.min_max(lake.read_table(path, columns=["ts"]).column("ts")).as_py()
            return [] if mm["min"] is None else [(mm["min"], mm["max"])]
        ranges.append((_utc(stats.min), _utc(stats.max)))
    return ranges


def _utc(value: Any) -> pd.Timestamp:
    ts = pd.Timestamp(value)
    return ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")


def facts_state(lake: Lake) -> dict[str, Any]:
    """The facts stage's input fingerprint (`facts/_state/facts.json`), or a digest of the fact files when
    the stage left no state (files written by other means)."""
    path = lake.path(FACTS_STATE)
    if lake.exists(FACTS_STATE):
        text = lake.read_text(path)
        try:
            doc = json.loads(text)
        except json.JSONDecodeError:
            raise ConfigError(f"{lake.relative(path)}: not valid JSON") from None
        fingerprint = (
            doc.get("fingerprint") or doc.get("input_fingerprint") if isinstance(doc, dict) else None
        )
        return {
            "source": FACTS_STATE,
            "fingerprint": fingerprint or hashlib.sha256(text.encode()).hexdigest(),
        }
    digest = hashlib.sha256()
    for table in (TRANSACTION_LINES, INTERACTIONS, EXPOSURES):
        for p in facts_partition_paths(lake, table):
            digest.update(f"{lake.relative(p)}\0{lake.info(p).get('size')}\0".encode())
            digest.update(lake.read_bytes(p)[-4096:])  # the parquet footer: row counts, statistics
    return {"source": "fact files (no facts state)", "fingerprint": digest.hexdigest()}
