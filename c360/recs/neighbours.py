"""Item-neighbour recommenders: item-kNN over co-purchases and content-based over `facts/product_similarity`.

Both score a customer's items as the sum, over what they bought, of each bought item's similarity to the
candidate, so both answer "because you bought X" from the same arithmetic. Neighbour lists are pruned to
each item's `top_k` most similar: the matrix stays sparse and the long tail of weak co-purchases (noise on
a few thousand customers) drops out; `top_k` is chosen on the validation window.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import scipy.sparse as sp

from c360.recs.base import Recommender
from c360.recs.data import Interactions, neighbour_sums
from c360.recs.rules import Rules


def _top_k_rows(m: sp.csr_matrix, top_k: int | None) -> sp.csr_matrix:
    """Each row's top_k entries by value (ties: lower column first)."""
    m = m.tocsr()
    m.sort_indices()
    if top_k is None:
        return m
    rows, cols, vals = [], [], []
    for r in range(m.shape[0]):
        lo, hi = m.indptr[r], m.indptr[r + 1]
        if hi == lo:
            continue
        data, idx = m.data[lo:hi], m.indices[lo:hi]
        keep = np.argsort(-data, kind="stable")[:top_k]
        rows.append(np.full(len(keep), r))
        cols.append(idx[keep])
        vals.append(data[keep])
    if not rows:
        return sp.csr_matrix(m.shape, dtype=np.float32)
    out = sp.csr_matrix(
        (np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))), shape=m.shape, dtype=np.float32
    )
    out.sort_indices()
    return out


def cosine_neighbours(x: sp.csr_matrix, top_k: int | None = 100, shrink: float = 0.0) -> sp.csr_matrix:
    """Item x item cosine of the columns of `x` (customers x items, binarised), the diagonal removed, each
    row pruned to its top_k. `shrink` damps pairs seen together by few customers: c / (|a||b| + shrink)."""
    b = (x > 0).astype(np.float32).tocsc()
    co = (b.T @ b).tocsr().astype(np.float32)
    co.setdiag(0)
    co.eliminate_zeros()
    norms = np.sqrt(np.asarray(b.sum(axis=0)).ravel())
    coo = co.tocoo()
    denom = norms[coo.row] * norms[coo.col] + shrink
    sim = sp.csr_matrix((coo.data / denom, (coo.row, coo.col)), shape=co.shape, dtype=np.float32)
    return _top_k_rows(sim, top_k)


class ItemKNN(Recommender):
    """Cosine item-kNN: score(u, i) = sum over bought j of sim(j, i), neighbours pruned to top_k."""

    name = "item-kNN"

    def __init__(self, top_k: int | None = 100, shrink: float = 0.0, rules: Rules | None = None) -> None:
        super().__init__(rules)
        self.top_k = top_k
        self.shrink = shrink

    def _fit(self, data: Interactions) -> None:
        # rows of `sim_` are the bought item: history @ sim_ sums each bought item's neighbour list
        self.sim_ = cosine_neighbours(data.weights, self.top_k, self.shrink)
        self._reason_sim = self.sim_

    def _scores(self, history: sp.csr_matrix, rows: np.ndarray) -> np.ndarray:
        return neighbour_sums(self.sim_, history)


def content_matrix(similarity: pd.DataFrame, items: np.ndarray) -> sp.csr_matrix:
    """`facts/product_similarity` (product_id, similar_product_id, score) as an item x item matrix over
    `items` (pairs naming another product are dropped)."""
    index = pd.Index(items)
    r = index.get_indexer(similarity["product_id"])
    c = index.get_indexer(similarity["similar_product_id"])
    keep = (r >= 0) & (c >= 0)
    m = sp.csr_matrix(
        (similarity["score"].to_numpy(dtype=np.float32)[keep], (r[keep], c[keep])),
        shape=(len(items), len(items)),
    )
    m.sort_indices()
    return m


class ContentBased(Recommender):
    """Content neighbours from product texts (TF-IDF cosine, computed by the facts stage): score(u, i) = sum
    over bought j of content_sim(j, i). Recommends items nobody bought yet, which co-purchases cannot."""

    name = "content"

    def __init__(self, similarity: pd.DataFrame, rules: Rules | None = None) -> None:
        super().__init__(rules)
        self.similarity = similarity

    def _fit(self, data: Interactions) -> None:
        self.sim_ = content_matrix(self.similarity, data.items)
        self._reason_sim = self.sim_

    def _scores(self, history: sp.csr_matrix, rows: np.ndarray) -> np.ndarray:
        return neighbour_sums(self.sim_, history)
