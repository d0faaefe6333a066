"""Ranking metrics against values computed by hand."""

from __future__ import annotations

import math

import pytest

from c360.recs.metrics import coverage, evaluate, user_metrics

pytestmark = pytest.mark.unit


def test_one_list_by_hand():
    # hits at ranks 1 and 3 of 3; two relevant items
    m = user_metrics([1, 2, 3], {1, 3}, k=3)
    assert m["precision"] == pytest.approx(2 / 3)
    assert m["recall"] == pytest.approx(1.0)
    dcg = 1 / math.log2(2) + 1 / math.log2(4)
    idcg = 1 / math.log2(2) + 1 / math.log2(3)
    assert m["ndcg"] == pytest.approx(dcg / idcg)  # 0.9197
    assert m["map"] == pytest.approx((1 / 1 + 2 / 3) / 2)


def test_short_list_and_truncation():
    # a list of 2 at k = 10: precision still divides by 10; the ideal holds min(|R|, k) = 3 hits
    m = user_metrics([7, 8], {8, 9, 10}, k=10)
    assert m["precision"] == pytest.approx(0.1)
    assert m["recall"] == pytest.approx(1 / 3)
    ideal = 1 + 1 / math.log2(3) + 1 / math.log2(4)
    assert m["ndcg"] == pytest.approx((1 / math.log2(3)) / ideal)
    assert m["map"] == pytest.approx((1 / 2) / 3)
    # items past k are not counted
    assert user_metrics([1, 2, 3], {3}, k=2) == {"precision": 0.0, "recall": 0.0, "ndcg": 0.0, "map": 0.0}


def test_average_over_customers_and_coverage():
    ranked = {0: [1, 2], 1: [2, 3], 2: [9]}
    relevant = {0: {1}, 1: {5}, 3: {4}}  # customer 3 has no list: scores 0; customer 2 is not evaluated
    out = evaluate(ranked, relevant, catalogue_size=10, k=2)
    assert out["precision"] == pytest.approx((1 / 2 + 0 + 0) / 3)
    assert out["recall"] == pytest.approx(1 / 3)
    assert out["ndcg"] == pytest.approx(1 / 3)
    assert out["coverage"] == pytest.approx(3 / 10)  # items 1, 2, 3 in the evaluated customers' lists
    assert coverage([[0, 1, 2], [2, 3]], 8, k=2) == pytest.approx(4 / 8)  # {0, 1} and {2, 3}
    assert evaluate({}, {}, 10)["ndcg"] == 0.0
