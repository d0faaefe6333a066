"""The hybrid's item, customer and pair features on a hand-made purchase table whose values are known."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from c360.recs.data import build_interactions, dense_rows
from c360.recs.hybrid_features import FEATURES, ITEM_FEATURES, customer_features, item_features

pytestmark = pytest.mark.unit

AS_OF = pd.Timestamp("2011-01-31", tz="UTC")


def lines() -> pd.DataFrame:
    """A buys X in three orders ten days apart (Y with the first); B buys X once, then Z five days
    before as_of."""
    rows = [
        ("A", "o1", "2011-01-01", "X"),
        ("A", "o1", "2011-01-01", "Y"),
        ("A", "o2", "2011-01-11", "X"),
        ("A", "o3", "2011-01-21", "X"),
        ("B", "o4", "2011-01-21", "X"),
        ("B", "o5", "2011-01-26", "Z"),
    ]
    frame = pd.DataFrame(rows, columns=["customer_id", "order_id", "ts", "product_id"])
    return frame.assign(ts=pd.to_datetime(frame["ts"], utc=True), quantity=1, kind="purchase", category=None)


@pytest.fixture(scope="module")
def data():
    return build_interactions(lines(), AS_OF)


def test_item_features(data):
    items = dict(zip(ITEM_FEATURES, item_features(data).T, strict=True))
    x, y, z = (data.item_index[p] for p in "XYZ")
    assert items["item_customers"][[x, y, z]].tolist() == [2, 1, 1]
    assert items["item_repeat_rate"][[x, y, z]].tolist() == [0.5, 0.0, 0.0]
    assert items["item_age"][[x, y, z]].tolist() == [30.0, 30.0, 5.0]
    # X's one repeat buyer (A) came back every ten days; nobody repeated Y or Z
    assert items["item_interval"][x] == pytest.approx(10.0)
    assert np.isnan(items["item_interval"][[y, z]]).all()


def test_customer_and_pair_features(data):
    rows = data.rows_of(["A", "A", "B"])
    x, y = data.item_index["X"], data.item_index["Y"]
    u, i = np.array([0, 1, 2]), np.array([x, y, x])
    dense = [dense_rows(m, rows) for m in (data.orders, data.last_days, data.first_days)]
    columns = customer_features(data, item_features(data), rows, u, i, *dense, np.full(3, np.nan))
    f = dict(zip(FEATURES, columns, strict=True))
    assert len(columns) == len(FEATURES)
    # A: 4 item purchases over 2 items, half of them repeats; B: two items once each
    assert f["user_repeat_share"].tolist() == [0.5, 0.5, 0.0]
    assert f["user_days_since_last"].tolist() == [10.0, 10.0, 5.0]
    assert f["pair_orders"].tolist() == [3.0, 1.0, 1.0]
    assert f["pair_days_since_last"].tolist() == [10.0, 30.0, 10.0]
    assert f["pair_interval"][0] == pytest.approx(10.0) and np.isnan(f["pair_interval"][1:]).all()
    # due by the item's typical interval (10 days): A's X and B's X are both ten days since
    assert f["pair_item_due"][[0, 2]].tolist() == pytest.approx([1.0, 1.0])
    assert np.isnan(f["pair_item_due"][1])
    # X was in A's last basket; Y twenty days before it; B's X five days before B's last order
    assert f["pair_before_last_order"].tolist() == [0.0, 20.0, 5.0]
    assert f["pair_order_share"].tolist() == pytest.approx([1.0, 1 / 3, 0.5])
