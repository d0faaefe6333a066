"""`facts/products`: one row per product id, the version ingested last, its price also in the reporting
currency (at the rate of the day it was ingested; null when there is none)."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc

from c360.facts.fx import FxConverter
from c360.facts.schemas import PRODUCTS, SCHEMAS


def latest_products(rows: pa.Table) -> pa.Table:
    """Standardized product rows reduced to one per product_id: the latest `_ingested_at`, then the latest
    file and row (a later line of the same delivery wins), sorted by product_id."""
    rows = rows.filter(pc.is_valid(rows["product_id"]))
    if rows.num_rows == 0:
        return rows
    order = rows.sort_by(
        [
            ("product_id", "ascending"),
            ("_ingested_at", "descending"),
            ("_file", "descending"),
            ("_row", "descending"),
            ("source", "descending"),
        ]
    )
    ids = order["product_id"].combine_chunks()
    if len(ids) > 1:
        first = pc.not_equal(ids.slice(1), ids.slice(0, len(ids) - 1))
        keep = pa.concat_arrays([pa.array([True]), pc.fill_null(first, True)])
    else:
        keep = pa.array([True])
    return order.filter(keep)


def build_products(rows: pa.Table, conv: FxConverter) -> pa.Table:
    """Standardized product rows -> the products table."""
    latest = latest_products(rows)
    if latest.num_rows == 0:
        return SCHEMAS[PRODUCTS].empty_table()
    price = pc.cast(latest["price"], pa.float64())
    rate = conv.rates(latest["currency"], latest["_ingested_at"])
    cols = {
        "product_id": latest["product_id"],
        "title": latest["title"],
        "description": latest["description"],
        "category": latest["category"],
        "price": price,
        "currency": latest["currency"],
        "price_rc": pc.multiply(price, rate),
        "attributes": latest["attributes"],
        "updated_at": latest["_ingested_at"],
        "source": latest["source"],
        "source_record_id": latest["source_record_id"],
    }
    schema = SCHEMAS[PRODUCTS]
    return pa.table({f.name: cols[f.name] for f in schema}).cast(schema)
