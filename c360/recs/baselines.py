"""Baselines: popularity (overall or by segment, for cold start) and repeat-purchase + popularity.

Popularity counts the customers who bought each item in the last `window_days` before the matrix's as_of
(recent sales predict next month's better than all-time sales in a shop with seasons); by segment, a
customer gets their segment's counts, blended with the overall counts so a small segment is not ruled by
a handful of buyers. Repeat-purchase ranks the customer's own items first (by orders, then recency), then
fills the list with popular items: the baseline to beat when already-bought items count.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import scipy.sparse as sp

from c360.recs.base import Recommender
from c360.recs.data import Interactions, dense_rows
from c360.recs.rules import Rules


def bought_within(data: Interactions, window_days: float | None) -> sp.csr_matrix:
    """Customer x item, True where the customer's last purchase of the item is within `window_days` before
    as_of (any purchase when None)."""
    if window_days is None:
        return data.orders > 0
    recent = data.last_days.copy()
    recent.data = (recent.data <= 1.0 + window_days).astype(np.float32)
    recent.eliminate_zeros()
    return recent > 0


def recent_popularity(data: Interactions, window_days: float | None) -> np.ndarray:
    """Customers who bought each item within `window_days` before as_of (all time when None)."""
    return np.asarray(bought_within(data, window_days).sum(axis=0), dtype=np.float64).ravel()


class Popularity(Recommender):
    """The same list for everyone (or everyone in a segment): the cold-start and no-consent answer."""

    name = "popularity"
    personalized = False

    def __init__(
        self,
        window_days: float | None = 90.0,
        by_segment: bool = False,
        blend: float = 20.0,
        rules: Rules | None = None,
    ) -> None:
        super().__init__(rules)
        self.window_days = window_days
        self.by_segment = by_segment
        self.blend = blend

    def _fit(self, data: Interactions) -> None:
        self.counts_ = recent_popularity(data, self.window_days)
        self.segment_counts_: dict[object, np.ndarray] = {}
        if self.by_segment and data.segment is not None:
            recent = bought_within(data, self.window_days)
            segments = pd.Series(data.segment)
            share = self.counts_ / max(self.counts_.sum(), 1.0)
            for seg, rows in segments.groupby(segments, dropna=True).indices.items():
                counts = np.asarray(recent[rows].sum(axis=0), dtype=np.float64).ravel()
                # shrunk toward the overall shares: `blend` pseudo-purchases spread like the whole shop's
                self.segment_counts_[seg] = counts + self.blend * share
        self.popularity_ = self.counts_

    def _scores(self, history: sp.csr_matrix, rows: np.ndarray) -> np.ndarray:
        out = np.tile(self.counts_, (len(rows), 1))
        if self.segment_counts_ and self.data_.segment is not None:
            for k, r in enumerate(rows.tolist()):
                seg = self.data_.segment[r] if r >= 0 else None
                if seg in self.segment_counts_:
                    out[k] = self.segment_counts_[seg]
        return out

    def recommend_segment(self, segment: object, n: int = 10) -> list[str]:
        """A segment's list for a customer known only by segment (a new visitor from a country)."""
        self._check()
        counts = self.segment_counts_.get(segment, self.counts_)
        allowed = ~self.rules.blocked_items(self.data_.items)
        order = [i for i in np.argsort(-counts, kind="stable") if allowed[i]]
        return [str(self.data_.items[i]) for i in order[:n]]


class RepeatPopularity(Recommender):
    """The customer's own items first (orders, then recency), popular items after."""

    name = "repeat + popularity"

    def __init__(
        self, window_days: float | None = 90.0, recency_days: float = 60.0, rules: Rules | None = None
    ) -> None:
        super().__init__(rules)
        self.window_days = window_days
        self.recency_days = recency_days

    def _fit(self, data: Interactions) -> None:
        self.counts_ = recent_popularity(data, self.window_days)

    def _scores(self, history: sp.csr_matrix, rows: np.ndarray) -> np.ndarray:
        pop = self.counts_ / max(self.counts_.max(), 1.0)  # in [0, 1]: below any bought item
        out = np.tile(pop, (len(rows), 1))
        known = rows >= 0
        if known.any():
            orders = dense_rows(self.data_.orders, rows[known])
            last = dense_rows(self.data_.last_days, rows[known])
            recency = np.where(last > 0, np.exp(-(last - 1.0) / self.recency_days), 0.0)
            repeat = np.where(orders > 0, 1.0 + np.log1p(orders) + recency, 0.0)
            out[known] = np.where(orders > 0, 1.0 + repeat, out[known])
        return out
