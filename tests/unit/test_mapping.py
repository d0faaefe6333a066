"""Mapping and validation of one batch: what is kept, what is quarantined, and why."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from decimal import Decimal

import numpy as np
import pyarrow as pa
import pytest

from c360.schemas import QUARANTINE_REASONS, QUARANTINE_SCHEMA, standardized_schema
from c360.settings import FileSetSettings
from c360.sources.mapping import BatchContext, standardize_batch

pytestmark = pytest.mark.unit

NOW = datetime(2025, 1, 1, tzinfo=UTC)


def run(rows: list[dict], **settings):
    fs = FileSetSettings.model_validate({"path": "raw/x/*.csv", "format": "csv", **settings})
    names = list(dict.fromkeys(k for r in rows for k in r))
    table = pa.table({n: pa.array([r.get(n) for r in rows], pa.string()) for n in names})
    numbers = np.arange(1, len(rows) + 1, dtype=np.int64)

    def raw_json(idx):
        return [json.dumps(rows[i]) for i in idx]

    ctx = BatchContext("shop", "orders", "raw/x/a.csv", NOW)
    return standardize_batch(table, numbers, raw_json, fs, ctx)


ORDER_MAPPING = {
    "order_id": "id",
    "customer_ref": "cust",
    "ts": "at",
    "product_id": "sku",
    "quantity": "qty",
    "unit_price": "price",
    "kind": "type",
}


def order(**over):
    row = {
        "id": "O1",
        "cust": "C1",
        "at": "2024-05-01T10:00:00Z",
        "sku": "S1",
        "qty": "2",
        "price": "9.99",
        "type": "purchase",
    }
    row.update(over)
    return row


def test_amount_is_derived_and_currency_defaults():
    out = run(
        [order(), order(id="O2", qty="3", price="$1,000.10")],
        record="transaction",
        mapping=ORDER_MAPPING,
        default_currency="eur",
    )
    assert out.standardized.schema == standardized_schema("transaction")
    got = out.standardized.select(["order_id", "quantity", "unit_price", "amount", "currency"]).to_pylist()
    assert got == [
        {
            "order_id": "O1",
            "quantity": 2,
            "unit_price": Decimal("9.99"),
            "amount": Decimal("19.98"),
            "currency": "EUR",
        },
        {
            "order_id": "O2",
            "quantity": 3,
            "unit_price": Decimal("1000.1"),
            "amount": Decimal("3000.3"),
            "currency": "EUR",
        },
    ]
    assert out.quarantine.num_rows == 0


def test_each_problem_rejects_its_row_with_reason_field_and_row_number():
    rows = [
        order(),  # 1 ok
        order(id=""),  # 2 missing_required order_id
        order(qty="two"),  # 3 invalid_number quantity (the derived amount is not reported again)
        order(type="refund"),  # 4 invalid_enum
        order(at="not a time"),  # 5 invalid_timestamp
        order(type="R"),  # 6 mapped by value_maps -> ok
        order(price="1.2.3", at="later"),  # 7 two problems, one row
    ]
    out = run(rows, record="transaction", mapping=ORDER_MAPPING, value_maps={"kind": {"r": "return"}})
    q = out.quarantine.select(["row", "field", "reason", "action"]).to_pylist()
    assert q == [
        {"row": 2, "field": "order_id", "reason": "missing_required", "action": "row_rejected"},
        {"row": 3, "field": "quantity", "reason": "invalid_number", "action": "row_rejected"},
        {"row": 4, "field": "kind", "reason": "invalid_enum", "action": "row_rejected"},
        {"row": 5, "field": "ts", "reason": "invalid_timestamp", "action": "row_rejected"},
        {"row": 7, "field": "ts", "reason": "invalid_timestamp", "action": "row_rejected"},
        {"row": 7, "field": "unit_price", "reason": "invalid_number", "action": "row_rejected"},
    ]
    assert out.standardized.column("_row").to_pylist() == [1, 6]
    assert out.standardized.column("kind").to_pylist() == ["purchase", "return"]
    assert (out.rows_read, out.rows_accepted, out.rows_rejected) == (7, 2, 5)
    assert out.quarantine.schema == QUARANTINE_SCHEMA
    assert set(out.quarantine.column("reason").to_pylist()) <= set(QUARANTINE_REASONS)
    assert json.loads(out.quarantine.column("raw")[0].as_py()) == rows[1]


def test_invalid_identifiers_are_nulled_and_the_row_kept_without_pii_in_messages():
    rows = [
        {"id": "P1", "mail": "ann@example.com", "tel": "+44 20 7946 0958", "dob": "1980-01-31"},
        {"id": "P2", "mail": "secret-ann-at-example", "tel": "0000000000", "dob": "1980-01-31"},
        {"id": "P3", "mail": "bob@example.com", "tel": "n/a", "dob": "31/31/1980"},  # bad date: nulled, kept
        {"id": "", "mail": "", "tel": "", "dob": ""},  # nothing required for identity: kept
    ]
    out = run(
        rows,
        record="identity",
        id_column="id",
        mapping={"email": "mail", "phone": "tel", "birth_date": "dob"},
    )
    q = out.quarantine.select(["row", "field", "reason", "action"]).to_pylist()
    assert q == [
        {"row": 2, "field": "email", "reason": "invalid_email", "action": "field_nulled"},
        {"row": 2, "field": "phone", "reason": "invalid_phone", "action": "field_nulled"},
        {"row": 3, "field": "phone", "reason": "invalid_phone", "action": "field_nulled"},
        {"row": 3, "field": "birth_date", "reason": "invalid_date", "action": "field_nulled"},
    ]
    kept = out.standardized.select(["source_record_id", "email", "phone", "birth_date"]).to_pylist()
    assert kept == [
        {"source_record_id": "P1", "email": "ann@example.com", "phone": "+442079460958",
         "birth_date": date(1980, 1, 31)},
        {"source_record_id": "P2", "email": None, "phone": None, "birth_date": date(1980, 1, 31)},
        # an identity record is never rejected for an unreadable field: its identifiers still count
        {"source_record_id": "P3", "email": "bob@example.com", "phone": None, "birth_date": None},
        {"source_record_id": "raw/x/a.csv:4", "email": None, "phone": None, "birth_date": None},  # file:row
    ]  # fmt: skip
    assert out.fields_nulled == 4
    for message in out.quarantine.column("message").to_pylist():
        assert "secret-ann" not in message and "0000000000" not in message and "31/31" not in message


def test_record_id_defaults_to_file_and_row_and_lineage_is_filled():
    out = run(
        [{"u": "C1", "t": "1714564800", "e": "web visit"}],
        record="interaction",
        mapping={"customer_ref": "u", "ts": "t", "type": "e"},
    )
    row = out.standardized.to_pylist()[0]
    assert row["source"] == "shop"
    assert row["source_record_id"] == "raw/x/a.csv:1"
    assert (row["_file"], row["_row"], row["_ingested_at"]) == ("raw/x/a.csv", 1, NOW)
    assert row["type"] == "web_visit"
    assert row["ts"] == datetime(2024, 5, 1, 12, 0, tzinfo=UTC)


def test_constants_and_consent_booleans():
    rows = [
        {"c": "C1", "t": "2024-01-01", "p": "Marketing", "g": "yes"},
        {"c": "C2", "t": "2024-01-01", "p": "ads", "g": "maybe"},
    ]
    out = run(
        rows,
        record="consent",
        mapping={"customer_ref": "c", "ts": "t", "purpose": "p", "granted": "g"},
        constants={"channel": "Email"},
    )
    assert out.standardized.select(["purpose", "channel", "granted"]).to_pylist() == [
        {"purpose": "marketing", "channel": "email", "granted": True}
    ]
    q = out.quarantine.select(["row", "field", "reason"]).to_pylist()
    assert q == [
        {"row": 2, "field": "purpose", "reason": "invalid_enum"},
        {"row": 2, "field": "granted", "reason": "invalid_bool"},
    ]


def test_a_mapped_amount_is_used_as_delivered():
    mapping = {**ORDER_MAPPING, "amount": "total"}
    out = run([order(total="15.00")], record="transaction", mapping=mapping)
    assert out.standardized.column("amount").to_pylist() == [Decimal("15")]


def test_negative_quantity_or_price_rejects_a_purchase_but_not_a_return():
    rows = [
        order(id="O1", qty="-2"),
        order(id="O2", price="-9.99"),
        order(id="O3", qty="-1", type="return"),
        order(id="O4", qty="-1", type="cancel"),
        order(id="O5"),
    ]
    out = run(rows, record="transaction", mapping=ORDER_MAPPING)
    assert out.standardized.column("order_id").to_pylist() == ["O3", "O4", "O5"]
    assert out.standardized.column("amount").to_pylist()[0] == Decimal("-9.99")
    q = out.quarantine.select(["row", "field", "reason", "action"]).to_pylist()
    assert q == [
        {"row": 1, "field": "quantity", "reason": "negative_quantity", "action": "row_rejected"},
        {"row": 2, "field": "unit_price", "reason": "negative_unit_price", "action": "row_rejected"},
    ]
    assert set(out.quarantine.column("reason").to_pylist()) <= set(QUARANTINE_REASONS)
    assert "purchase" in out.quarantine.column("message")[0].as_py()


def test_a_mapped_negative_amount_rejects_a_purchase():
    mapping = {**ORDER_MAPPING, "amount": "total"}
    out = run(
        [order(total="-15.00"), order(total="-15.00", type="return")], record="transaction", mapping=mapping
    )
    assert out.standardized.column("kind").to_pylist() == ["return"]
    assert out.quarantine.select(["row", "reason"]).to_pylist() == [{"row": 1, "reason": "negative_amount"}]


def test_control_and_bidi_characters_are_stripped_and_counted():
    rows = [
        {"id": "C1\x00", "e": "jane@exam\u200bple.com", "f": "Zo\x00ë", "l": "\u202eevil\u202c", "c": "gb"},
        {"id": "C2", "e": "bob@example.com", "f": "Anne\tMarie", "l": "O\x1b[31mBrien", "c": "g\u2066b"},
        {"id": "C3", "e": "carl@example.com", "f": "Carl", "l": "Plain", "c": "gb"},
    ]
    out = run(
        rows,
        record="identity",
        id_column="id",
        mapping={"email": "e", "first_name": "f", "last_name": "l", "country": "c"},
    )
    got = out.standardized.select(
        ["source_record_id", "email", "first_name", "last_name", "country"]
    ).to_pylist()
    assert got == [
        {"source_record_id": "C1", "email": "jane@example.com", "first_name": "Zoë", "last_name": "evil",
         "country": "GB"},
        {"source_record_id": "C2", "email": "bob@example.com", "first_name": "Anne Marie",
         "last_name": "O[31mBrien", "country": "GB"},
        {"source_record_id": "C3", "email": "carl@example.com", "first_name": "Carl", "last_name": "Plain",
         "country": "GB"},
    ]  # fmt: skip
    # fields changed, not values: id, email, first and last name (row 1); first, last name, country (row 2)
    assert out.fields_cleaned == 7
    assert out.quarantine.num_rows == 0


def test_free_text_keeps_line_breaks_and_tabs():
    rows = [{"u": "C1", "t": "1714564800", "e": "support_ticket", "x": "line one\r\nline\ttwo\x00\rend"}]
    out = run(rows, record="interaction", mapping={"customer_ref": "u", "ts": "t", "type": "e", "text": "x"})
    assert out.standardized.column("text").to_pylist() == ["line one\nline\ttwoend"]
    assert out.fields_cleaned == 1


def test_a_currency_outside_iso_4217_rejects_the_row_as_invalid_currency():
    rows = [order(cur="gbp"), order(cur="EURO"), order(cur="ABC"), order(cur="")]
    out = run(rows, record="transaction", mapping={**ORDER_MAPPING, "currency": "cur"})
    assert out.standardized.column("currency").to_pylist() == ["GBP", "USD"]  # empty: default_currency
    q = out.quarantine.select(["row", "field", "reason"]).to_pylist()
    assert q == [
        {"row": 2, "field": "currency", "reason": "invalid_currency"},
        {"row": 3, "field": "currency", "reason": "invalid_currency"},
    ]
    assert all("ISO 4217" in m and "EURO" not in m for m in out.quarantine.column("message").to_pylist())


FX_MAPPING = {"date": "day", "base": "from", "currency": "to", "rate": "rate"}


def test_fx_rate_rows_need_iso_codes_a_positive_rate_and_no_default_currency():
    rows = [
        {"day": "2024-05-02", "from": "eur", "to": "USD", "rate": "1.0712"},  # 1 ok
        {"day": "2024-05-02", "from": "EUR", "to": "XYZ", "rate": "1.2"},  # 2 invalid_currency
        {"day": "2024-05-02", "from": "EUR", "to": "GBP", "rate": "-0.85"},  # 3 invalid_rate
        {"day": "2024-05-02", "from": "EUR", "to": "GBP", "rate": "0"},  # 4 invalid_rate
        {"day": "2024-05-02", "from": "EUR", "to": "", "rate": "0.85"},  # 5 missing: no default applies
        {"day": "2024-05-32", "from": "EUR", "to": "GBP", "rate": "0.85"},  # 6 invalid_date
        {"day": "2024-05-03", "from": "EURO", "to": "GBP", "rate": "0,8543"},  # 7 invalid_currency (base)
    ]
    out = run(rows, record="fx_rate", mapping=FX_MAPPING)
    assert out.standardized.schema == standardized_schema("fx_rate")
    assert out.standardized.select(["date", "base", "currency", "rate"]).to_pylist() == [
        {"date": date(2024, 5, 2), "base": "EUR", "currency": "USD", "rate": 1.0712}
    ]
    q = out.quarantine.select(["row", "field", "reason"]).to_pylist()
    assert q == [
        {"row": 2, "field": "currency", "reason": "invalid_currency"},
        {"row": 3, "field": "rate", "reason": "invalid_rate"},
        {"row": 4, "field": "rate", "reason": "invalid_rate"},
        {"row": 5, "field": "currency", "reason": "missing_required"},
        {"row": 6, "field": "date", "reason": "invalid_date"},
        {"row": 7, "field": "base", "reason": "invalid_currency"},
    ]
