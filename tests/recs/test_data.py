"""The interaction matrix: purchases only, distinct orders, nothing at or after the cutoff, product events
weighted, relevant sets for the two protocols."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from c360.recs.data import build_interactions, product_events, relevant_items

pytestmark = pytest.mark.unit

T0 = pd.Timestamp("2011-01-01", tz="UTC")


def day(n: float) -> pd.Timestamp:
    return T0 + pd.Timedelta(days=n)


def lines() -> pd.DataFrame:
    rows = [
        ("a", "o1", day(0), "mug", 2, "purchase"),
        ("a", "o1", day(0), "mug", 1, "purchase"),  # the same order twice: one order
        ("a", "o2", day(5), "mug", 1, "purchase"),
        ("a", "o2", day(5), "tea", 1, "purchase"),
        ("a", "c1", day(6), "tea", -1, "cancel"),  # cancellations are not purchases
        ("b", "o3", day(3), "tea", 1, "purchase"),
        ("b", "o4", day(9), "pot", 1, "purchase"),  # at the cutoff: not in the matrix
        ("b", "o5", day(12), "mug", 1, "purchase"),
        ("c", "o6", day(11), "pot", 1, "purchase"),  # a customer only after the cutoff
    ]
    frame = pd.DataFrame(rows, columns=["customer_id", "order_id", "ts", "product_id", "quantity", "kind"])
    frame["category"] = frame["product_id"].map({"mug": "kitchen", "tea": "food", "pot": "kitchen"})
    return frame


def test_orders_recency_and_cutoff():
    data = build_interactions(lines(), as_of=day(9))
    assert data.customers.tolist() == ["a", "b"] and data.items.tolist() == ["mug", "tea"]
    a, b = data.rows_of(["a", "b"])
    mug, tea = data.item_index["mug"], data.item_index["tea"]
    assert data.orders[a, mug] == 2 and data.orders[a, tea] == 1 and data.orders[b, mug] == 0
    assert data.last_days[a, mug] == pytest.approx(1 + 4) and data.first_days[a, mug] == pytest.approx(1 + 9)
    assert data.customer_orders.tolist() == [2, 1]
    assert data.customer_days[b] == pytest.approx(6)
    assert data.rows_of(["nobody"]).tolist() == [-1]
    catalogue = pd.DataFrame({"product_id": ["tea", "mug"], "category": ["food", None]})
    assert build_interactions(lines(), as_of=day(9), products=catalogue).category.tolist() == [None, "food"]


def test_relevant_sets_for_both_protocols():
    data = build_interactions(lines(), as_of=day(9))
    a, b = data.rows_of(["a", "b"])
    mug = data.item_index["mug"]
    everything = relevant_items(data, lines(), day(9), day(20), new_only=False)
    # pot is not in the training catalogue; c was not seen in training
    assert everything == {b: {mug}}
    assert relevant_items(data, lines(), day(9), day(20), new_only=True) == {b: {mug}}
    repeat = relevant_items(data, lines(), day(0), day(20), new_only=True)
    assert a not in repeat  # a bought nothing new


def test_product_events_weigh_views_below_carts_and_purchases():
    events = pd.DataFrame(
        {
            "customer_id": ["a", "a", "d", "d"],
            "ts": [day(1), day(2), day(2), day(3)],
            "type": ["web_visit"] * 4,
            "attributes": [
                json.dumps({"product_id": "pot", "event": "view"}),
                json.dumps({"product_id": "pot", "event": "add_to_cart"}),
                json.dumps({"product_id": "mug", "event": "view"}),
                json.dumps({"pages": 3}),  # no product: ignored
            ],
        }
    )
    weighted = product_events(events)
    assert weighted["weight"].tolist() == [0.25, 0.5, 0.25]
    data = build_interactions(lines(), as_of=day(9), events=weighted)
    a, d = data.rows_of(["a", "d"])
    pot, mug = data.item_index["pot"], data.item_index["mug"]
    assert data.weights[a, pot] == pytest.approx(0.75) and data.orders[a, pot] == 0
    assert data.weights[a, mug] == pytest.approx(2.0)
    assert data.weights[d, mug] == pytest.approx(0.25) and np.isnan(data.customer_days[d])
