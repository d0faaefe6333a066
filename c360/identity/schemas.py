"""The Arrow types of every identity table, declared once.

Tables reach the store as pandas frames, and a column that is empty or all null in a run has no type pandas
can give Arrow: it was stored as Arrow's `null` type. A first run that found no links wrote its link table
that way, and every later run then failed casting strings to null (issue 11). `typed` gives such a column
its declared type on write, and on read for stores written before (so those workspaces recover without
`resolve --full`). Only null-typed columns are touched: a column that has a type keeps it.
"""

from __future__ import annotations

import re

import pyarrow as pa

from c360.identity.golden import GOLDEN_FIELDS, LIST_FIELDS
from c360.schemas import TS, standardized_schema

_STR = pa.string()
_I64 = pa.int64()

_FIXED: dict[str, dict[str, pa.DataType]] = {
    "links": {
        "record_key_l": _STR,
        "record_key_r": _STR,
        "kind": _STR,
        "rule": _STR,
        "weight": pa.float64(),
        "probability": pa.float64(),
        "accepted": pa.bool_(),
        "reason": _STR,
    },
    "clusters": {
        "customer_id": _STR,
        "n_records": _I64,
        "first_seen": pa.timestamp("ns", tz="UTC"),
        "updated_at": TS,
    },
    "id_map": {
        "source": _STR,
        "source_record_id": _STR,
        "record_key": _STR,
        "customer_id": _STR,
        "component": _I64,
    },
    "aliases": {"alias_id": _STR, "customer_id": _STR, "created_at": TS, "run_id": _STR},
    "changes": {
        "run_id": _STR,
        "at": pa.timestamp("ns", tz="UTC"),
        "kind": _STR,
        "customer_id": _STR,
        "other_customer_id": _STR,
        "records": _I64,
        "reason": _STR,
    },
    "refused_identifiers": {"field": _STR, "value": _STR, "reason": _STR, "records": _I64, "people": _I64},
    "tf": {"field": _STR, "value": _STR, "tf": pa.float64()},
    "corrections": {},
    "golden": {
        "customer_id": _STR,
        "n_records": _I64,
        "sources": pa.list_(_STR),
        "first_observed": TS,
        "last_observed": TS,
        **{f: _STR for f in GOLDEN_FIELDS},
        **{f"{f}__from": _STR for f in GOLDEN_FIELDS},
        "birth_date": pa.timestamp("us"),
        **{f: pa.list_(_STR) for f in LIST_FIELDS},
    },
}
_RECORD = {f.name: f.type for f in standardized_schema("identity")} | {
    "record_key": _STR,
    "fingerprint": _I64,
    "rid": _I64,
}
_SNAPSHOT_SUFFIX = (re.compile(r"^k\d+$"), _I64)


def column_type(table: str, column: str) -> pa.DataType | None:
    """The declared type of `column` in identity table `table` (None: not declared, left as it is)."""
    if table in ("records", "prepared"):
        if column in _RECORD:
            return _RECORD[column]
        if column.endswith(("__s", "__id", "__nicks")):
            return _STR
        return _I64 if _SNAPSHOT_SUFFIX[0].match(column) else None
    if table == "links":
        if column.startswith("g_"):
            return pa.int8()
        if column.startswith("tf_"):
            return pa.float32()
    return _FIXED.get(table, {}).get(column)


def typed(table_name: str, table: pa.Table) -> pa.Table:
    """`table` with each null-typed column given its declared type (values stay null)."""
    if not any(pa.types.is_null(f.type) for f in table.schema):
        return table
    fields, columns = [], []
    for i, spec in enumerate(table.schema):
        col = table.column(i)
        want = column_type(table_name, spec.name) if pa.types.is_null(spec.type) else None
        if want is not None:
            col = pa.nulls(len(col), want) if len(col) else pa.array([], want)
            spec = pa.field(spec.name, want)
        fields.append(spec)
        columns.append(col)
    # The pandas metadata describes the old (empty) columns: dropped, pandas reads the Arrow types.
    return pa.Table.from_arrays(columns, schema=pa.schema(fields))
