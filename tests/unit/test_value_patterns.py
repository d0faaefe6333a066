"""Fields derived from a source column by regex (`value_patterns`); ids required by config (`id_required`)."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import numpy as np
import pyarrow as pa
import pytest
import yaml

from c360.errors import ConfigError
from c360.settings import FileSetSettings, parse_settings
from c360.sources.mapping import BatchContext, derive_by_pattern, standardize_batch
from c360.sources.readers import required_columns

pytestmark = pytest.mark.unit

NOW = datetime(2025, 1, 1, tzinfo=UTC)

ORDERS = {
    "path": "raw/x/*.csv",
    "format": "csv",
    "record": "transaction",
    "mapping": {
        "order_id": "invoice",
        "customer_ref": "cust",
        "ts": "at",
        "product_id": "sku",
        "quantity": "qty",
        "unit_price": "price",
    },
    "value_patterns": {"kind": {"column": "invoice", "patterns": {"^C": "cancel"}, "default": "purchase"}},
}


def run(rows: list[dict], settings: dict):
    fs = FileSetSettings.model_validate(settings)
    names = list(dict.fromkeys(k for r in rows for k in r))
    table = pa.table({n: pa.array([r.get(n) for r in rows], pa.string()) for n in names})
    numbers = np.arange(1, len(rows) + 1, dtype=np.int64)
    ctx = BatchContext("shop", "orders", "raw/x/a.csv", NOW)
    return standardize_batch(table, numbers, lambda idx: [json.dumps(rows[i]) for i in idx], fs, ctx)


def line(invoice: str | None, qty: str, cust: str | None = "17850"):
    return {
        "invoice": invoice,
        "cust": cust,
        "at": "2011-01-02 10:00:00",
        "sku": "85123A",
        "qty": qty,
        "price": "2.55",
    }


def test_cancellation_is_derived_from_the_invoice_prefix_and_may_be_negative():
    rows = [line("536365", "6"), line("C536379", "-1"), line("A563186", "1"), line("536366", "-2")]
    out = run(rows, ORDERS)
    got = out.standardized.select(["order_id", "kind", "quantity"]).to_pylist()
    assert got == [
        {"order_id": "536365", "kind": "purchase", "quantity": 6},
        {"order_id": "C536379", "kind": "cancel", "quantity": -1},  # negative, kept as a cancel
        {"order_id": "A563186", "kind": "purchase", "quantity": 1},  # an "A" inside is not a "^C"
    ]
    # a purchase (no C prefix) with a negative quantity is still quarantined, with its reason
    q = out.quarantine.to_pylist()
    assert [(r["row"], r["field"], r["reason"]) for r in q] == [(4, "quantity", "negative_quantity")]


def test_first_pattern_in_file_order_wins_and_empty_column_stays_empty():
    values = pa.array(["CX1", "X1", "C9", None, "  ", "Z"])
    got = derive_by_pattern(values, {"^C9": "return", "^C": "cancel", "X": "purchase"}, None)
    assert got.to_pylist() == ["cancel", "purchase", "return", None, None, None]
    with_default = derive_by_pattern(values, {"^C": "cancel"}, "purchase")
    assert with_default.to_pylist() == ["cancel", "purchase", "cancel", None, None, "purchase"]


def test_numeric_column_is_matched_as_text():
    got = derive_by_pattern(pa.array([17850.0, 12.5, None]), {r"^\d+$": "whole"}, "fraction")
    assert got.to_pylist() == ["whole", "fraction", None]


def test_empty_source_column_makes_the_required_kind_missing():
    out = run([line(None, "1"), line("536365", "1")], ORDERS)
    assert out.standardized.num_rows == 1
    reasons = {(r["field"], r["reason"]) for r in out.quarantine.to_pylist()}
    assert reasons == {("order_id", "missing_required"), ("kind", "missing_required")}


def test_value_maps_apply_after_a_pattern():
    settings = {
        **ORDERS,
        "value_patterns": {"kind": {"column": "invoice", "patterns": {"^C": "CANC"}, "default": "SALE"}},
        "value_maps": {"kind": {"CANC": "cancel", "SALE": "purchase"}},
    }
    out = run([line("C1", "-1"), line("2", "1")], settings)
    assert out.standardized.column("kind").to_pylist() == ["cancel", "purchase"]


def test_pattern_column_is_a_required_source_column():
    fs = FileSetSettings.model_validate(ORDERS)
    assert "invoice" in required_columns(fs)
    fs = FileSetSettings.model_validate(
        {**ORDERS, "value_patterns": {"kind": {"column": "status", "patterns": {"^C": "cancel"}}}}
    )
    assert "status" in required_columns(fs)


@pytest.mark.parametrize(
    ("patterns", "message"),
    [
        ({"^(C": "cancel"}, "not a valid regular expression"),
        ({"(?=C)": "cancel"}, "not a valid regular expression"),  # lookahead: Python has it, RE2 does not
        ({}, "at least one regex"),
        ({"^C": "cancelled"}, "not one of: purchase, return, cancel"),
    ],
)
def test_bad_patterns_fail_at_config_load_naming_the_key(patterns, message):
    doc = {
        "sources": {
            "shop": {
                "kind": "ecommerce",
                "files": {
                    "orders": {
                        **ORDERS,
                        "value_patterns": {"kind": {"column": "invoice", "patterns": patterns}},
                    }
                },
            }
        }
    }
    with pytest.raises(ConfigError) as err:
        parse_settings(yaml.safe_dump(doc))
    text = str(err.value)
    assert message in text
    assert "sources.shop.files.orders" in text and "value_patterns" in text


def test_a_field_cannot_be_mapped_and_derived():
    with pytest.raises(ValueError, match="in value_patterns and in mapping"):
        FileSetSettings.model_validate({**ORDERS, "mapping": {**ORDERS["mapping"], "kind": "status"}})


def test_unknown_field_in_value_patterns_is_refused():
    with pytest.raises(ValueError, match="unknown canonical field 'flavour' in value_patterns"):
        FileSetSettings.model_validate(
            {**ORDERS, "value_patterns": {"flavour": {"column": "invoice", "patterns": {"x": "y"}}}}
        )


IDENTITY = {
    "path": "raw/x/*.parquet",
    "format": "parquet",
    "record": "identity",
    "id_column": "cust",
    "mapping": {"country": "country"},
}


def test_id_required_quarantines_rows_without_an_id():
    rows = [{"cust": "1", "country": "GB"}, {"cust": None, "country": "FR"}, {"cust": " ", "country": "DE"}]
    kept = run(rows, IDENTITY)
    assert kept.standardized.num_rows == 3  # by default a row without id is keyed by its row number
    out = run(rows, {**IDENTITY, "id_required": True})
    assert out.standardized.column("source_record_id").to_pylist() == ["1"]
    q = out.quarantine.to_pylist()
    assert [(r["row"], r["field"], r["reason"], r["action"]) for r in q] == [
        (2, "source_record_id", "missing_required", "row_rejected"),
        (3, "source_record_id", "missing_required", "row_rejected"),
    ]
    assert "'cust'" in q[0]["message"] and "FR" not in q[0]["message"]


def test_id_required_needs_an_id_column():
    with pytest.raises(ValueError, match="id_required needs an id_column"):
        FileSetSettings.model_validate({**IDENTITY, "id_column": None, "id_required": True})
