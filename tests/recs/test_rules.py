"""Business rules: consumables come back, inactive products never do, at most K per category, consent,
similar items, reasons."""

from __future__ import annotations

import numpy as np
import pytest

from c360.recs.base import RecsError, recommend_with_consent
from c360.recs.baselines import Popularity, RepeatPopularity
from c360.recs.data import build_interactions
from c360.recs.neighbours import ItemKNN, content_matrix
from c360.recs.rules import NO_CONSENT_REASON, Rules, similar_items
from tests.recs import SPLIT, make_world, products_of, similarity_of

pytestmark = pytest.mark.unit

LINES = make_world(customers=120, seed=1)
DATA = build_interactions(LINES, SPLIT, products=products_of(LINES))
CUSTOMER = DATA.customers[0]
BOUGHT = set(DATA.items[DATA.orders[0].indices])


def test_consumables_are_recommended_again_and_inactive_never():
    consumable = sorted(BOUGHT)[0]
    plain = RepeatPopularity().fit(DATA).recommend([CUSTOMER], n=10)
    assert consumable not in set(plain["product_id"])
    again = RepeatPopularity(rules=Rules(consumables=frozenset({consumable}))).fit(DATA)
    # the repeat baseline ranks the customer's own items first: the consumable leads the list
    assert again.recommend([CUSTOMER], n=10)["product_id"].iloc[0] == consumable
    top = plain["product_id"].iloc[0]
    hidden = RepeatPopularity(rules=Rules(inactive=frozenset({top}))).fit(DATA).recommend([CUSTOMER], n=10)
    assert top not in set(hidden["product_id"]) and len(hidden) == 10


def test_at_most_k_per_category():
    capped = ItemKNN(top_k=20, rules=Rules(max_per_category=2)).fit(DATA)
    out = capped.recommend(list(DATA.customers[:20]), n=8)
    per = out.assign(cat=out["product_id"].str[:2]).groupby(["customer_id", "cat"]).size()
    assert per.max() <= 2
    assert (out.groupby("customer_id").size() == 8).all()
    # without the cap the same model fills lists from the customer's home category
    free = ItemKNN(top_k=20).fit(DATA).recommend(list(DATA.customers[:20]), n=8)
    assert free.assign(cat=free["product_id"].str[:2]).groupby(["customer_id", "cat"]).size().max() > 2
    with pytest.raises(ValueError):
        Rules(max_per_category=0)


def test_no_consent_gets_the_popular_list_flagged():
    model = ItemKNN(top_k=20).fit(DATA)
    popular = Popularity(window_days=None).fit(DATA)
    customers = list(DATA.customers[:4])
    out = recommend_with_consent(model, popular, customers, consented=customers[:2], n=5)
    assert out["customer_id"].drop_duplicates().tolist() == customers
    personal = out[out["customer_id"].isin(customers[:2])]
    anonymous = out[out["customer_id"].isin(customers[2:])]
    assert NO_CONSENT_REASON not in set(personal["reason"])
    assert set(anonymous["reason"]) == {NO_CONSENT_REASON}
    lists = anonymous.groupby("customer_id")["product_id"].apply(list).tolist()
    assert lists[0] == lists[1]  # the same list for both: nothing of theirs was used
    with pytest.raises(RecsError):
        recommend_with_consent(model, model, customers, consented=[], n=5)


def test_similar_items_for_a_product_page():
    sim = content_matrix(similarity_of(LINES), DATA.items)
    out = similar_items(sim, DATA.items, "p2_03", n=4)
    assert len(out) == 4 and all(p.startswith("p2_") and p != "p2_03" for p, _ in out)
    knn = ItemKNN(top_k=5).fit(DATA)
    neighbours = similar_items(knn.sim_, DATA.items, "p4_00", n=5)
    scores = [s for _, s in neighbours]
    assert scores == sorted(scores, reverse=True) and sum(p.startswith("p4_") for p, _ in neighbours) >= 3
    assert similar_items(sim, DATA.items, "unknown") == []


def test_reasons_point_at_the_most_similar_bought_item():
    model = ItemKNN(top_k=20).fit(DATA)
    out = model.recommend([CUSTOMER], n=5)
    row = DATA.customer_index[CUSTOMER]
    for product, reason in zip(out["product_id"], out["reason"], strict=True):
        assert reason.startswith("because you bought ")
        named = reason.removeprefix("because you bought ")
        i = DATA.item_index[product]
        bought = DATA.orders[row].indices
        sims = model.sim_[i][:, bought].toarray().ravel()
        assert DATA.items[bought[int(np.argmax(sims))]] == named
