"""The registered model's own contract: a saved version loads to the same lists (item-side state and the
rules it was trained with), a customer it never saw is served from their history alone, and `predict` (the
MLflow pyfunc face) gives the top product and a probability."""

from __future__ import annotations

import os

import numpy as np
import pandas as pd
import pytest

from c360.models.base import Model, ModelError
from c360.recs.base import RecsError
from c360.recs.data import build_interactions, histories
from c360.recs.model import RecsModel
from c360.recs.rules import Rules
from tests.recs import END, SPLIT, make_world, products_of

pytestmark = pytest.mark.unit
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
LINES = make_world(customers=200, seed=9)
PRODUCTS = products_of(LINES)


@pytest.mark.parametrize("method", ["ease", "als"])
def test_a_saved_version_loads_to_the_same_lists_and_rules(method, tmp_path):
    model = RecsModel({"method": method, "lambda_": 20.0, "factors": 8, "iterations": 8})
    model.rules = Rules(inactive=frozenset({"p1_00"}), max_per_category=3)
    before, window = LINES[LINES["ts"] < SPLIT], LINES[LINES["ts"] >= SPLIT]
    metrics = model.fit(before, (), window, products=PRODUCTS)
    assert metrics["ndcg"] > metrics["popularity_ndcg"] + 0.1
    loaded = Model.load(model.save(tmp_path / "v1"))
    assert isinstance(loaded, RecsModel) and loaded.method_ == method and loaded.rules == model.rules
    customers = sorted(LINES["customer_id"].unique())[:30]
    data = histories(before, customers)
    ours, theirs = model.attach(data).recommend(customers), loaded.attach(data).recommend(customers)
    pd.testing.assert_frame_equal(ours, theirs)
    assert "p1_00" not in set(theirs["product_id"])
    per_category = theirs["product_id"].str[:2].groupby(theirs["customer_id"]).value_counts()
    assert per_category.max() <= 3


def test_a_customer_the_fit_never_saw_is_served_from_their_history():
    model = RecsModel({"method": "als", "factors": 8, "iterations": 8})
    model.fit(LINES[LINES["ts"] < SPLIT], products=PRODUCTS)
    model.calibration_ = {"x": [0.0, 1.0], "y": [0.1, 0.6], "popular_rate": 0.05}
    frame = pd.DataFrame({"customer_id": ["new", "empty"], "items": [["p3_00", "p3_01", "p3_02"], []]})
    out = model.predict(frame)
    assert out.loc[0, "product_id"].startswith("p3_")  # from the category of what they bought
    assert 0.1 <= out.loc[0, "next_product_propensity"] <= 0.6
    assert out.loc[1, "next_product_propensity"] == pytest.approx(0.05)  # no history: the popular rate
    with pytest.raises(ModelError, match="items"):
        model.predict(frame.drop(columns="items"))


def test_the_calibration_orders_customers_by_how_often_their_top_item_is_bought():
    model = RecsModel({"method": "ease", "lambda_": 20.0})
    model.fit(LINES[LINES["ts"] < SPLIT], (), LINES[LINES["ts"] >= SPLIT], products=PRODUCTS)
    x, y = np.array(model.calibration_["x"]), np.array(model.calibration_["y"])
    assert len(x) >= 2 and (np.diff(y) >= 0).all() and 0 <= y.min() <= y.max() <= 1
    assert 0 < model.calibration_["popular_rate"] < 1
    data = build_interactions(LINES, END)
    assert model.resolve_method(data.shape[1]) == "ease"
    assert RecsModel({"ease_max_items": 10}).resolve_method(data.shape[1]) == "als"
    with pytest.raises(ModelError, match="method"):
        RecsModel({"method": "bandit"})


def test_the_hybrid_registers_its_item_side_and_falls_back_to_ease_on_a_small_shop(tmp_path):
    lines = make_world(customers=300, seed=2)
    before, window = lines[lines["ts"] < SPLIT], lines[lines["ts"] >= SPLIT]
    model = RecsModel({"method": "hybrid", "lambda_": 20.0, "factors": 8, "iterations": 8})
    metrics = model.fit(before, (), window, products=products_of(lines))
    assert model.method_ == "hybrid" and "fallback" not in model.card.extra
    assert metrics["ndcg"] > metrics["popularity_ndcg"] + 0.3
    loaded = Model.load(model.save(tmp_path / "v1"))
    assert {"hybrid_ranker", "hybrid_ease", "hybrid_als"} <= set(loaded.hybrid_state_)
    customers = sorted(lines["customer_id"].unique())[:20]
    data = histories(before, customers)
    pd.testing.assert_frame_equal(
        model.attach(data).recommend(customers), loaded.attach(data).recommend(customers)
    )
    # every attach of a version shares its rankers, compiled once (an incremental update attaches each time)
    first, second = loaded.attach(data), loaded.attach(histories(before, customers[:1]))
    assert first.rankers_ is second.rankers_ and all(r.compiled for r in first.rankers_)
    assert len(first.rankers_) == 2  # two seeds' rankers averaged, by default (c360.recs.hybrid)
    # the online recommender compiles a version it loads before its first request
    from c360.inference.recommender import Recommender as Online

    online = Online(Model.load(tmp_path / "v1"), before)
    assert all(r.compiled for r in online._personal.rankers_)
    # the customer-neighbour generators are off by default (their neighbours are the attached customers)
    assert not {"uknn", "tifu"} & set(loaded.attach(data).generators)
    # a version registered when the hybrid kept fewer item features is refused, not read askew
    loaded.hybrid_state_["hybrid_item_features"] = loaded.hybrid_state_["hybrid_item_features"][:, :4]
    with pytest.raises(RecsError, match="older c360"):
        loaded.attach(data)
    # all purchases, asked for: TIFU-kNN, refitted on the attached histories, no state of its own kept
    repeats = RecsModel(
        {
            "method": "hybrid",
            "exclude_bought": False,
            "lambda_": 20.0,
            "factors": 8,
            "customer_neighbours": True,
        }
    )
    repeats.fit(before, (), window, products=products_of(lines))
    again = Model.load(repeats.save(tmp_path / "v2"))
    assert repeats.method_ == "hybrid" and "tifu" in again.attach(data).generators
    assert not [k for k in again.hybrid_state_ if "uknn" in k or "tifu" in k]
    pd.testing.assert_frame_equal(
        repeats.attach(data).recommend(customers, exclude_bought=False),
        again.attach(data).recommend(customers, exclude_bought=False),
    )
    few = lines[lines["customer_id"].isin(customers[:10])]
    small = RecsModel({"method": "hybrid"})
    small.fit(few[few["ts"] < SPLIT], (), few[few["ts"] >= SPLIT])
    assert small.method_ == "ease" and "at least 50" in small.card.extra["fallback"]


def test_a_shop_past_neighbours_max_customers_ranks_without_the_customer_neighbours(tmp_path):
    lines = make_world(customers=300, seed=2)
    before, window = lines[lines["ts"] < SPLIT], lines[lines["ts"] >= SPLIT]
    params = {"method": "hybrid", "lambda_": 20.0, "factors": 8, "iterations": 8}
    large = RecsModel({**params, "customer_neighbours": True, "neighbours_max_customers": 100})  # past it
    large.fit(before, (), window, products=products_of(lines))
    assert large.method_ == "hybrid"
    loaded = Model.load(large.save(tmp_path / "large"))
    customers = sorted(lines["customer_id"].unique())[:20]
    data = histories(before, customers)
    assert not {"uknn", "tifu"} & set(loaded.attach(data).generators)
    pd.testing.assert_frame_equal(
        large.attach(data).recommend(customers), loaded.attach(data).recommend(customers)
    )
    # under it the version keeps user-kNN and says so; a version that does not say (registered before the
    # customer-side generators) loads without them, as it was trained
    small = RecsModel({**params, "customer_neighbours": True})
    small.fit(before, (), window, products=products_of(lines))
    again = Model.load(small.save(tmp_path / "small"))
    assert "uknn" in again.attach(data).generators
    older = Model.load(large.save(tmp_path / "older"))
    del older.hybrid_state_["hybrid_customer_side"]
    pd.testing.assert_frame_equal(
        large.attach(data).recommend(customers), older.attach(data).recommend(customers)
    )
