"""A file set's `period`: rows of another export (their time outside the span) are neither loaded nor
quarantined, and counted, so two overlapping exports of one system load each row once."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import numpy as np
import pyarrow as pa
import pytest
from pydantic import ValidationError

from c360.settings import FileSetSettings
from c360.sources.mapping import BatchContext, standardize_batch
from tests.unit.test_value_patterns import ORDERS

pytestmark = pytest.mark.unit

LINES = {**ORDERS, "timezone": "Europe/London", "period": {"end": "2010-12-01"}}
"""Invoice lines (`kind` from the invoice number) of the export that ends where the next one starts."""


def run(rows: list[dict], settings: dict):
    fs = FileSetSettings.model_validate(settings)
    table = pa.table({n: pa.array([r[n] for r in rows], pa.string()) for n in rows[0]})
    numbers = np.arange(1, len(rows) + 1, dtype=np.int64)
    ctx = BatchContext("shop", "lines_2009", "raw/shop/2009/a.csv", datetime(2025, 1, 1, tzinfo=UTC))
    return standardize_batch(table, numbers, lambda idx: [json.dumps(rows[i]) for i in idx], fs, ctx)


def line(invoice: str, at: str, qty: str = "6", price: str = "2.55") -> dict:
    return {"invoice": invoice, "cust": "17850", "at": at, "sku": "85123A", "qty": qty, "price": price}


def test_rows_at_or_after_the_end_are_left_out_and_counted_in_the_file_sets_zone():
    rows = [
        line("1", "2010-11-30 23:59:59"),  # the last second before the end, London time: kept
        line("2", "2010-12-01 00:00:00"),  # the end itself (exclusive): the next export's
        line("3", "2010-12-09 12:00:00"),
        line("4", "2010-11-02 09:00:00", qty="-2"),  # inside, and bad: quarantined as always
        line("5", "2010-12-02 09:00:00", qty="-2"),  # outside and bad: the other export reports it
        line("6", "not a time"),  # no readable time: quarantined, it cannot be placed in either export
    ]
    out = run(rows, LINES)
    assert out.standardized.column("order_id").to_pylist() == ["1"]
    assert out.rows_outside == 3
    quarantined = sorted({(r["row"], r["reason"]) for r in out.quarantine.to_pylist()})
    assert quarantined == [(4, "negative_quantity"), (6, "invalid_timestamp")]
    assert out.rows_rejected == 2
    assert out.rows_accepted + out.rows_rejected + out.rows_outside == out.rows_read == 6


def test_a_start_keeps_later_rows_and_a_zone_given_in_the_config_wins():
    settings = {**LINES, "period": {"start": "2010-12-01T00:00:00+00:00"}}
    rows = [line("1", "2010-11-30 23:59:59"), line("2", "2010-12-01 00:00:00")]  # London = UTC in winter
    out = run(rows, settings)
    assert out.standardized.column("order_id").to_pylist() == ["2"]
    assert out.rows_outside == 1


def test_without_a_period_nothing_is_outside():
    settings = {k: v for k, v in LINES.items() if k != "period"}
    out = run([line("1", "2010-11-30 10:00:00"), line("2", "2011-12-01 10:00:00")], settings)
    assert out.rows_outside == 0 and out.rows_accepted == 2


@pytest.mark.parametrize(
    ("period", "record", "message"),
    [
        ({}, "transaction", "needs a start, an end or both"),
        ({"start": "2011-01-01", "end": "2010-12-01"}, "transaction", "is not before its end"),
        ({"start": "2010-01-01", "end": "2011-01-01T00:00:00+00:00"}, "transaction", "both with a time zone"),
        ({"end": "2010-12-01"}, "product", "has no timestamp"),
    ],
)
def test_a_period_that_cannot_apply_is_a_config_error(period, record, message):
    settings = dict(LINES, record=record, period=period)
    if record == "product":
        settings.update(mapping={"product_id": "sku", "title": "name"}, value_patterns={})
    with pytest.raises(ValidationError, match=message):
        FileSetSettings.model_validate(settings)
