"""`facts/transaction_lines`: standardized transactions, numbered within their order and converted into the
reporting currency at the rate of their date. A line whose currency has no rate for its date is not written
(summing it would mix currencies): it goes to `quarantine/<source>/facts-no_fx_rate.parquet`, rewritten by
every run, so a rates file delivered later releases it.
"""

from __future__ import annotations

import duckdb
import pyarrow as pa
import pyarrow.compute as pc

from c360.facts.keyed import filter_columns
from c360.facts.schemas import SCHEMAS, TRANSACTION_LINES
from c360.schemas import QUARANTINE_SCHEMA

COLUMNS = [
    "source",
    "source_record_id",
    "_file",
    "_row",
    "_ingested_at",
    "customer_ref",
    "order_id",
    "ts",
    "product_id",
    "category",
    "quantity",
    "unit_price",
    "amount",
    "currency",
    "kind",
    "channel",
    "campaign_id",
]
QUARANTINE_FILE = "facts-no_fx_rate.parquet"


def number_lines(table: pa.Table) -> pa.Array:
    """1-based position of each row within its order ((source, order_id)), by source_record_id; rows without
    an order id are numbered among themselves per source. Returned in the rows' own order."""
    if table.num_rows == 0:
        return pa.array([], pa.int32())
    con = duckdb.connect()
    try:
        src = table.select(["source", "order_id", "source_record_id"]).append_column(
            "_i", pa.array(range(table.num_rows), pa.int64())
        )
        con.register("t", src)
        out = con.sql(
            "SELECT _i, CAST(row_number() OVER (PARTITION BY source, order_id "
            "ORDER BY source_record_id, _i) AS INTEGER) AS line FROM t ORDER BY _i"
        ).to_arrow_table()
    finally:
        con.close()
    return out["line"].combine_chunks()


def convert(table: pa.Table, rates: pa.Array) -> pa.Table:
    """Lines (standardized columns plus customer_id) with `line`, `fx_rate` and the `*_rc` amounts, in the
    transaction_lines schema (plus any extra columns kept at the end)."""
    amount = pc.cast(table["amount"], pa.float64())
    unit = pc.cast(table["unit_price"], pa.float64())
    cols = {
        "customer_id": table["customer_id"],
        "order_id": table["order_id"],
        "line": number_lines(table),
        "ts": table["ts"],
        "product_id": table["product_id"],
        "category": table["category"],
        "quantity": table["quantity"],
        "unit_price": unit,
        "amount": amount,
        "currency": table["currency"],
        "fx_rate": rates,
        "unit_price_rc": pc.multiply(unit, rates),
        "amount_rc": pc.multiply(amount, rates),
        "kind": table["kind"],
        "channel": table["channel"],
        "campaign_id": table["campaign_id"],
        "source": table["source"],
        "source_record_id": table["source_record_id"],
        "_file": table["_file"],
        "_row": table["_row"],
    }
    schema = SCHEMAS[TRANSACTION_LINES]
    out = pa.table({f.name: cols[f.name] for f in schema}).cast(schema)
    for extra in ("part", "_file_index", "_ingested_at", "customer_ref"):
        if extra in table.column_names:
            out = out.append_column(extra, table[extra])
    return out


def split_no_rate(lines: pa.Table) -> tuple[pa.Table, pa.Table]:
    """(lines with a rate, lines without one)."""
    has = pc.is_valid(lines["fx_rate"])
    return filter_columns(lines, has), lines.filter(pc.invert(has))


def _raw(missing: pa.Table) -> pa.Array:
    """The standardized line as JSON (ids, time, money; nothing personal): what an erasure matches the
    person's records against, and what an operator reads."""
    cols = ["source_record_id", "order_id", "customer_ref", "ts", "product_id", "amount", "currency"]
    present = [c for c in cols if c in missing.column_names]
    con = duckdb.connect()
    try:
        con.execute("SET TimeZone = 'UTC'")
        con.register("m", missing.select(present).append_column("_i", pa.array(range(missing.num_rows))))
        pairs = ", ".join(f"'{c}', {c}" for c in present)
        out = con.sql(f"SELECT json_object({pairs})::VARCHAR AS raw FROM m ORDER BY _i").to_arrow_table()
    finally:
        con.close()
    return out["raw"].combine_chunks().cast(pa.string())


def no_rate_quarantine(missing: pa.Table, reporting: str) -> dict[str, pa.Table]:
    """Per source, the quarantine rows (QUARANTINE_SCHEMA, reason no_fx_rate) of lines without a rate."""
    out: dict[str, pa.Table] = {}
    if missing.num_rows == 0:
        return out
    day = pc.strftime(missing["ts"], format="%Y-%m-%d")
    currency = pc.fill_null(missing["currency"], "(none)")
    message = pc.binary_join_element_wise(
        "no ",
        currency,
        f"->{reporting} rate on or within facts.fx_max_age_days before ",
        pc.fill_null(day, "(no date)"),
        "; the line is left out of facts until a rate is delivered",
        "",
    )
    n = missing.num_rows
    rows = pa.table(
        {
            "source": missing["source"],
            "file_set": pa.array(["facts"] * n, pa.string()),
            "file": missing["_file"],
            "row": missing["_row"],
            "field": pa.array(["currency"] * n, pa.string()),
            "reason": pa.array(["no_fx_rate"] * n, pa.string()),
            "message": message,
            "action": pa.array(["row_rejected"] * n, pa.string()),
            "raw": _raw(missing),
            "_ingested_at": missing["_ingested_at"]
            if "_ingested_at" in missing.column_names
            else pa.nulls(n, QUARANTINE_SCHEMA.field("_ingested_at").type),
        }
    ).cast(QUARANTINE_SCHEMA)
    rows = rows.sort_by([("file", "ascending"), ("row", "ascending")])
    for source in sorted(pc.unique(rows["source"]).to_pylist(), key=str):
        out[str(source)] = rows.filter(pc.equal(rows["source"], source))
    return out
