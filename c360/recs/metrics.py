"""Top-k ranking metrics for recommendations, with binary relevance (bought in the test window or not).

Per customer, with R the relevant items and the list's first k items:
- precision@k = hits / k (a short list is still divided by k: a slot left empty is a slot wasted);
- recall@k = hits / |R|;
- NDCG@k = sum over hits of 1/log2(rank + 1), divided by the same sum over the first min(|R|, k) ranks;
- AP@k = sum over hits of precision at the hit's rank, divided by min(|R|, k).
Each is averaged over the customers that have at least one relevant item. Catalogue coverage is the share of
the catalogue that appears in at least one customer's top k.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from c360.recs.base import Recommender

METRICS: tuple[str, ...] = ("precision", "recall", "ndcg", "map", "coverage")


def _discounts(k: int) -> np.ndarray:
    return 1.0 / np.log2(np.arange(2, k + 2))


def user_metrics(ranked: Sequence[int], relevant: set[int], k: int) -> dict[str, float]:
    """precision, recall, ndcg and map at k of one ranked list."""
    top = list(ranked)[:k]
    hits = np.array([item in relevant for item in top], dtype=bool)
    n_hits = int(hits.sum())
    ideal = min(len(relevant), k)
    disc = _discounts(k)
    dcg = float(disc[: len(top)][hits].sum())
    idcg = float(disc[:ideal].sum())
    precision_at_hits = np.cumsum(hits) / np.arange(1, len(top) + 1)
    ap = float(precision_at_hits[hits].sum() / ideal) if ideal else 0.0
    return {
        "precision": n_hits / k,
        "recall": n_hits / len(relevant) if relevant else 0.0,
        "ndcg": dcg / idcg if idcg else 0.0,
        "map": ap,
    }


def coverage(ranked_lists: Iterable[Sequence[int]], catalogue_size: int, k: int) -> float:
    """Share of the catalogue recommended to anyone in a top k."""
    seen: set[int] = set()
    for ranked in ranked_lists:
        seen.update(list(ranked)[:k])
    return len(seen) / catalogue_size if catalogue_size else 0.0


def evaluate(
    ranked: Mapping[int, Sequence[int]], relevant: Mapping[int, set[int]], catalogue_size: int, k: int = 10
) -> dict[str, float]:
    """Mean precision, recall, ndcg, map at k over the customers in `relevant` with a non-empty set (a
    customer without a list scores 0), and coverage over those customers' lists."""
    users = [u for u, items in relevant.items() if items]
    if not users:
        return dict.fromkeys(METRICS, 0.0)
    sums = dict.fromkeys(("precision", "recall", "ndcg", "map"), 0.0)
    for u in users:
        for name, value in user_metrics(ranked.get(u, ()), relevant[u], k).items():
            sums[name] += value
    out = {name: total / len(users) for name, total in sums.items()}
    out["coverage"] = coverage((ranked.get(u, ()) for u in users), catalogue_size, k)
    return out


def evaluate_model(
    model: Recommender, relevant: Mapping[int, set[int]], k: int = 10, exclude_bought: bool = True
) -> dict[str, float]:
    """`evaluate` of a fitted recommender's top k (under its rules) for the customers (rows of the matrix it
    was fitted on) in `relevant`."""
    users = np.array(sorted(relevant), dtype=np.int64)
    items, _ = model.top_items(users, k, exclude_bought=exclude_bought)
    ranked = {int(u): [int(i) for i in row if i >= 0] for u, row in zip(users, items, strict=True)}
    return evaluate(ranked, relevant, model.data_.shape[1], k)
