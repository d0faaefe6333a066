"""One contract run against every recommender on a shop whose right answer is known (tests.recs.make_world):
customers shop mostly in a home category, so held-out purchases are predictable from history and a
personalised method must beat the popular list on them."""

from __future__ import annotations

import os

import numpy as np
import pandas as pd
import pytest

from c360.recs.als import Als
from c360.recs.base import POPULAR_REASON, RESULT_COLUMNS, Recommender, RecsError
from c360.recs.baselines import Popularity, RepeatPopularity
from c360.recs.data import build_interactions
from c360.recs.ease import Ease
from c360.recs.neighbours import ContentBased, ItemKNN
from c360.recs.user_neighbours import TifuKNN, UserKNN
from tests.recs import SPLIT, held_out_ndcg, make_world, products_of, similarity_of

pytestmark = pytest.mark.unit
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

LINES = make_world()
DATA = build_interactions(LINES, SPLIT, products=products_of(LINES))
SIMILARITY = similarity_of(LINES)


def personalised() -> dict[str, Recommender]:
    return {
        "item-kNN": ItemKNN(top_k=20),
        "EASE": Ease(lambda_=20.0),
        "ALS": Als(factors=8, iterations=8, regularization=0.1, alpha=5.0),
        "content": ContentBased(SIMILARITY),
        "user-kNN": UserKNN(neighbours=20),
        "TIFU-kNN": TifuKNN(neighbours=20),
    }


def ndcg(model: Recommender, new: bool) -> float:
    return held_out_ndcg(model, DATA, LINES, new)


@pytest.fixture(scope="module")
def fitted() -> dict[str, Recommender]:
    models = {**personalised(), "popularity": Popularity(), "repeat": RepeatPopularity()}
    return {name: model.fit(DATA) for name, model in models.items()}


@pytest.mark.parametrize("name", ["item-kNN", "EASE", "ALS", "content", "user-kNN", "TIFU-kNN"])
def test_personalised_beats_popularity_on_new_items(fitted, name):
    popular = ndcg(fitted["popularity"], new=True)
    assert ndcg(fitted[name], new=True) > popular + 0.1, (name, popular)


@pytest.mark.parametrize("name", ["repeat", "TIFU-kNN"])
def test_own_history_wins_when_repeats_count(fitted, name):
    # half of a customer's next items are items they bought before: their own history ranks above the shop's
    assert ndcg(fitted[name], new=False) > ndcg(fitted["popularity"], new=False) + 0.1


@pytest.mark.parametrize(
    "name", ["item-kNN", "EASE", "ALS", "content", "user-kNN", "TIFU-kNN", "popularity", "repeat"]
)
def test_contract_rows_ranks_and_exclusions(fitted, name):
    model = fitted[name]
    customers = list(DATA.customers[:5])
    out = model.recommend(customers, n=7)
    assert list(out.columns) == RESULT_COLUMNS
    for customer, rows in out.groupby("customer_id"):
        assert rows["rank"].tolist() == list(range(1, 8))
        assert rows["score"].is_monotonic_decreasing
        bought = set(DATA.items[DATA.orders[DATA.customer_index[customer]].indices])
        assert bought.isdisjoint(rows["product_id"]), "exclude_bought is the default"
        assert rows["product_id"].is_unique
    # a category restricts the list; an explicit exclude list is honoured
    only = model.recommend(customers[:2], n=4, category="cat3")
    assert set(only["product_id"].str[:2]) == {"p3"}
    first = out[out["customer_id"] == customers[0]]["product_id"].iloc[0]
    again = model.recommend(customers[:1], n=7, exclude=[first])
    assert first not in set(again["product_id"])
    assert model.recommend(customers[:1], n=0).empty


def test_unknown_customer_gets_the_popular_list_flagged(fitted):
    out = fitted["EASE"].recommend(["stranger"], n=5)
    buyers = np.asarray((DATA.orders > 0).sum(axis=0)).ravel()  # customers who bought each item
    assert out["score"].tolist() == sorted(buyers, reverse=True)[:5]
    assert [buyers[DATA.item_index[p]] for p in out["product_id"]] == out["score"].tolist()
    assert set(out["reason"]) == {POPULAR_REASON}


def test_personal_reasons_name_a_bought_item(fitted):
    out = fitted["item-kNN"].recommend([DATA.customers[0]], n=5)
    bought = set(DATA.items[DATA.orders[0].indices])
    named = [r.removeprefix("because you bought ") for r in out["reason"] if r.startswith("because")]
    assert named and set(named) <= bought


def test_all_purchases_mode_keeps_bought_items(fitted):
    out = fitted["repeat"].recommend([DATA.customers[0]], n=3, exclude_bought=False)
    bought = set(DATA.items[DATA.orders[0].indices])
    assert set(out["product_id"]) <= bought and set(out["reason"]) == {"bought before"}


def test_als_new_history_without_refit(fitted):
    als = fitted["ALS"]
    # a customer unseen at fit time who bought category-2 items: their solved factors favour category 2
    history = DATA.weights[:1].copy()
    history.data[:] = 0
    history = history.tolil()
    for k in range(4):
        history[0, DATA.item_index[f"p2_{k:02d}"]] = 1.0
    scores = als._scores(history.tocsr(), np.array([-1]))[0]
    top = DATA.items[np.argsort(-scores)[:5]]
    assert sum(p.startswith("p2") for p in top) >= 4


def test_segment_popularity_and_errors():
    segments = pd.Series({c: ("north" if int(c[1:]) % 6 == 0 else "south") for c in DATA.customers})
    data = build_interactions(LINES, SPLIT, segments=segments)
    model = Popularity(by_segment=True, blend=1.0).fit(data)
    # customers of home category 0 are all "north": their segment's list is category 0's
    north = model.recommend_segment("north", n=5)
    assert sum(p.startswith("p0") for p in north) >= 4
    assert model.recommend_segment("nowhere", n=3) == Popularity().fit(data).recommend_segment("x", n=3)
    with pytest.raises(RecsError):
        Ease().recommend(["c0001"])
    with pytest.raises(RecsError):
        Popularity().fit(data).top_items(np.array([0]), -1)
