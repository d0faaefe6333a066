"""Transaction lines: numbering within an order, conversion, and the no_fx_rate quarantine rows."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pyarrow as pa
import pytest

from c360.facts.lines import convert, no_rate_quarantine, number_lines, split_no_rate
from c360.facts.schemas import SCHEMAS, TRANSACTION_LINES
from c360.schemas import QUARANTINE_SCHEMA, TS

pytestmark = pytest.mark.unit
T = datetime(2025, 5, 4, 10, tzinfo=UTC)


def _tx(ids: list[str], orders: list[str | None], sources: list[str] | None = None) -> pa.Table:
    n = len(ids)
    return pa.table(
        {
            "customer_id": ["c"] * n,
            "source": sources or ["shop"] * n,
            "source_record_id": ids,
            "_file": ["raw/o.csv"] * n,
            "_row": list(range(1, n + 1)),
            "_ingested_at": pa.array([T] * n, TS),
            "order_id": pa.array(orders, pa.string()),
            "ts": pa.array([T] * n, TS),
            "product_id": ["p"] * n,
            "category": ["x"] * n,
            "quantity": pa.array([2] * n, pa.int64()),
            "unit_price": pa.array([5.0] * n, pa.float64()),
            "amount": pa.array([10.0] * n, pa.float64()),
            "currency": ["EUR"] * n,
            "kind": ["purchase"] * n,
            "channel": ["web"] * n,
            "campaign_id": pa.array([None] * n, pa.string()),
        }
    )


def test_lines_are_numbered_within_their_order_by_record_id():
    table = _tx(["L3", "L1", "L2", "M1", "L0"], ["A", "A", "A", "B", "A"], ["shop"] * 4 + ["other"])
    assert number_lines(table).to_pylist() == [3, 1, 2, 1, 1]  # L0 is in another source's order A


def test_convert_multiplies_by_the_rate_and_keeps_the_schema():
    table = _tx(["L1", "L2"], ["A", "A"])
    out = convert(table, pa.array([1.25, None], pa.float64()))
    assert out.select(SCHEMAS[TRANSACTION_LINES].names).schema == SCHEMAS[TRANSACTION_LINES]
    assert out["amount_rc"].to_pylist() == [12.5, None]
    assert out["unit_price_rc"].to_pylist() == [6.25, None]
    good, missing = split_no_rate(out)
    assert good["source_record_id"].to_pylist() == ["L1"]
    assert missing["source_record_id"].to_pylist() == ["L2"]


def test_lines_without_a_rate_become_quarantine_rows_naming_currency_and_date():
    table = _tx(["L1", "L2"], ["A", "B"], ["shop", "pos"]).append_column(
        "customer_ref", pa.array(["C7", "C8"])
    )
    out = convert(table, pa.nulls(2, pa.float64()))
    by_source = no_rate_quarantine(out, "USD")
    assert set(by_source) == {"shop", "pos"}
    row = by_source["shop"].to_pylist()[0]
    assert by_source["shop"].schema == QUARANTINE_SCHEMA
    assert row["reason"] == "no_fx_rate" and row["field"] == "currency"
    assert row["file"] == "raw/o.csv" and row["row"] == 1
    assert "EUR" in row["message"] and "2025-05-04" in row["message"]
    # the line's ids, so an erasure of the person (by their record) finds the row
    assert (
        json.loads(row["raw"])["customer_ref"] == "C7" and json.loads(row["raw"])["source_record_id"] == "L1"
    )
