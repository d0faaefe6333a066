"""The hybrid re-ranker: trained on a validation window before the cutoff, refit, then tested after it."""

from __future__ import annotations

import os

import numpy as np
import pandas as pd
import pytest

from c360.recs.als import Als
from c360.recs.base import RecsError
from c360.recs.baselines import Popularity, RepeatPopularity
from c360.recs.data import build_interactions, csr_rows, relevant_items
from c360.recs.ease import Ease
from c360.recs.hybrid import BELOW, Hybrid
from c360.recs.neighbours import ItemKNN
from tests.recs import SPLIT, held_out_ndcg, make_world, products_of

pytestmark = pytest.mark.unit
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

LINES = make_world(customers=300, seed=2)
VALIDATION = SPLIT - pd.DateOffset(months=1)
PRODUCTS = products_of(LINES)


def generators() -> dict:
    return {
        "pop": Popularity(),
        "repeat": RepeatPopularity(),
        "knn": ItemKNN(top_k=20),
        "ease": Ease(lambda_=20.0),
        "als": Als(factors=8, iterations=8, regularization=0.1, alpha=5.0),
    }


def ndcg(model, data, new: bool) -> float:
    return held_out_ndcg(model, data, LINES, new)


@pytest.fixture(scope="module")
def trained() -> dict:
    history = build_interactions(LINES, VALIDATION, products=PRODUCTS)
    data = build_interactions(LINES, SPLIT, products=PRODUCTS)
    shared = generators()
    out = {"data": data, "generators": shared}
    for new in (True, False):
        labels = relevant_items(history, LINES, VALIDATION, SPLIT, new_only=new)
        hybrid = Hybrid(
            shared, new_items=new, candidates=15, params={"min_data_in_leaf": 20}, seeds=1 if new else 3
        )
        out[new] = hybrid.train_ranker([(history, labels)]).fit(data)
    return out


def test_hybrid_ranks_as_well_as_its_best_generator(trained):
    data = trained["data"]
    for new in (True, False):
        best = max(ndcg(g, data, new) for g in trained["generators"].values())
        popular = ndcg(trained["generators"]["pop"], data, new)
        got = ndcg(trained[new], data, new)
        assert got > popular + 0.1 and got >= best - 0.03, (new, got, best)


def test_the_ranker_learnt_from_both_kinds_of_signal(trained):
    new_items, everything = trained[True], trained[False]
    assert len(everything.rankers_) == 3 == len(everything.rounds_)
    assert all(len(everything.feature_names) == r.num_feature() for r in everything.rankers_)
    assert min(everything.rounds_) >= 10 and 0 < everything.validation_ndcg_ <= 1
    gains = everything.feature_importance()
    # repeats count in (b): the pair's own history carries weight; never in (a), where bought items are gone
    assert gains["pair_orders"] + gains["pair_order_share"] + gains["repeat_score"] > 0
    assert new_items.feature_importance()["pair_orders"] == 0
    # each task's boosters were learnt with its own objective (new items: rank_xendcg; all: lambdarank)
    assert "objective=rank_xendcg" in new_items.rankers_[0].model_to_string()
    assert all("objective=lambdarank" in r.model_to_string() for r in everything.rankers_)


def test_new_items_mode_and_candidate_floor(trained):
    hybrid, data = trained[True], trained["data"]
    out = hybrid.recommend(list(data.customers[:10]), n=10)
    for customer, rows in out.groupby("customer_id"):
        bought = set(data.items[data.orders[data.customer_index[customer]].indices])
        assert bought.isdisjoint(rows["product_id"]) and len(rows) == 10
    scores = hybrid.scores(np.arange(3))
    assert (scores > BELOW).sum(axis=1).min() >= 15  # the candidate union; the rest sit below
    with pytest.raises(RecsError):
        Hybrid(generators()).fit(data).recommend(["c0000"])


def test_seeded_rankers_are_averaged(trained):
    hybrid, data = trained[False], trained["data"]
    rows = np.arange(5)
    u, i, x = hybrid.candidate_features(rows, csr_rows(data.weights, rows))
    each = [r.predict(x) for r in hybrid.rankers_]
    assert not np.allclose(each[0], each[1])  # another bagging seed, another model
    assert np.allclose(hybrid.scores(rows)[u, i], np.mean(each, axis=0))
    assert len(trained[True].rankers_) == 1  # as asked
