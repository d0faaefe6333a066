"""Interaction attributes as typed columns (wrong types null, never an error) and incremental sentiment."""

from __future__ import annotations

import pyarrow as pa
import pytest

from c360.facts.interactions import sentiment, typed_attributes
from c360.facts.sentiment import score_texts

pytestmark = pytest.mark.unit


def _rows(types: list[str | None], attributes: list[str | None], **cols: list) -> pa.Table:
    n = len(types)
    base = {"type": pa.array(types, pa.string()), "attributes": pa.array(attributes, pa.string())}
    for name in ("campaign_id", "offer_id", "variant"):
        base[name] = pa.array(cols.get(name, [None] * n), pa.string())
    return pa.table(base)


def test_values_take_the_column_type_or_are_null():
    out = typed_attributes(
        _rows(
            ["web_visit", "web_visit", "web_visit", "support_ticket", "iot_reading"],
            [
                '{"pages": 4, "category": "garden", "cart_items": 2, "cart_value": 12.5, "purchased": true}',
                '{"pages": "7", "cart_value": "4.50", "cart_items": 2.0, "purchased": "yes", "category": 3}',
                '{"pages": 2.5, "cart_items": [1], "cart_value": {"a": 1}, "purchased": null}',
                '{"status": "open", "priority": 1, "csat": 5, "topic": null}',
                '{"metric": "temp", "value": 21, "unit": "C"}',
            ],
        )
    ).to_pylist()
    assert out[0]["pages"] == 4 and out[0]["page_category"] == "garden" and out[0]["cart_items"] == 2
    assert out[0]["cart_value"] == 12.5 and out[0]["purchased"] is True
    # numbers sent as strings read as numbers; a whole float is an integer; other types are null
    assert out[1]["pages"] == 7 and out[1]["cart_value"] == 4.5 and out[1]["cart_items"] == 2
    assert out[1]["purchased"] is None and out[1]["page_category"] is None
    assert out[2]["pages"] is None and out[2]["cart_items"] is None and out[2]["cart_value"] is None
    assert out[3]["status"] == "open" and out[3]["priority"] is None and out[3]["csat"] == 5
    assert out[3]["topic"] is None
    assert out[4]["value"] == 21.0 and out[4]["unit"] == "C"


def test_attributes_of_another_type_and_broken_json_are_null_not_errors():
    out = typed_attributes(
        _rows(
            ["support_ticket", "web_visit", "web_visit", "web_visit", None],
            ['{"pages": 3, "likes": 9}', "{not json", "[1, 2]", None, '{"pages": 1}'],
        )
    ).to_pylist()
    assert out[0]["pages"] is None and out[0]["likes"] is None  # not defined for support tickets
    assert all(r["pages"] is None for r in out[1:])


def test_campaign_offer_and_variant_come_from_columns_else_attributes():
    out = typed_attributes(
        _rows(
            ["email_send", "email_send", "email_open"],
            [
                '{"campaign_id": "C1", "offer": "ten_off", "variant": "B", "subject": "Hi"}',
                '{"campaign_id": "C1", "offer_id": "X", "offer": "Y"}',
                '{"campaign_id": 42}',
            ],
            campaign_id=["OWN", None, ""],
        )
    ).to_pylist()
    assert (out[0]["campaign_id"], out[0]["offer_id"], out[0]["variant"]) == ("OWN", "ten_off", "B")
    assert out[0]["subject"] == "Hi"
    assert out[1]["campaign_id"] == "C1" and out[1]["offer_id"] == "X"  # offer_id before offer
    assert out[2]["campaign_id"] == "42"


def test_sentiment_is_reused_for_the_same_text_and_scored_for_new_or_changed_text():
    rows = pa.table(
        {
            "source": ["s"] * 4,
            "source_record_id": ["1", "2", "3", "4"],
            "text": ["I love it", "Terrible service", None, "  "],
        }
    )
    previous = pa.table(
        {
            "source": ["s", "s"],
            "source_record_id": ["1", "2"],
            "text": ["I love it", "old text"],
            "sentiment": [0.123, 0.5],  # a stored value this test can tell apart from a fresh score
            "sentiment_label": ["positive", "positive"],
        }
    )
    score, label, scored = sentiment(rows, previous)
    fresh, fresh_label = score_texts(pa.array(["Terrible service"]))
    assert scored == 1
    assert score.to_pylist() == [0.123, fresh[0].as_py(), None, None]
    assert label.to_pylist() == ["positive", fresh_label[0].as_py(), None, None]
    assert fresh[0].as_py() < 0
