"""The one recommender interface: `fit(interactions)` then `recommend(customer_ids, n, exclude_bought=...,
category=...)`, returning ranked (customer_id, rank, product_id, score, reason) rows.

A subclass only scores: `_fit` learns from the matrix and `_scores` turns customers' history rows into a
score per catalogue item. Everything else is shared, so every method obeys the same rules the same way:
already-bought items are left out unless asked for (or listed as consumables, which are bought again),
inactive products and an explicit `exclude` list are never shown, a `category` restricts the list, at most
K items of one category make the top n, and each item carries a reason. A customer the model has never
seen (or with no history) gets the most popular items, flagged as such: a popular list beats an empty one.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable, Sequence
from typing import ClassVar

import numpy as np
import pandas as pd
import scipy.sparse as sp

from c360.errors import ValidationError
from c360.recs.data import Interactions, csr_rows, dense_rows
from c360.recs.rules import NO_CONSENT_REASON, Rules, consented_split, reasons

BATCH = 512
"""Customers scored at once: a batch x catalogue float matrix."""
RESULT_COLUMNS = ["customer_id", "rank", "product_id", "score", "reason"]
POPULAR_REASON = "popular"


class RecsError(ValidationError):
    """A recommender used before `fit`, or asked for a negative list length."""


class Recommender(ABC):
    """Base of every recommender; learned state ends in `_` (scikit-learn habit)."""

    name: ClassVar[str] = "recommender"
    personalized: ClassVar[bool] = True
    """False for methods that give everyone the same list (popularity): they need no consent."""

    def __init__(self, rules: Rules | None = None) -> None:
        self.rules = rules or Rules()

    # ---- what a subclass writes -------------------------------------------------------------------------
    @abstractmethod
    def _fit(self, data: Interactions) -> None: ...

    @abstractmethod
    def _scores(self, history: sp.csr_matrix, rows: np.ndarray) -> np.ndarray:
        """float scores, len(rows) x items (higher first). `history`: the customers' weight rows;
        `rows`: their row in the fitted matrix, -1 for a customer the fit did not see."""

    # ---- shared -----------------------------------------------------------------------------------------
    def fit(self, data: Interactions) -> Recommender:
        self.data_ = data
        self.popularity_ = np.asarray((data.orders > 0).sum(axis=0), dtype=np.float64).ravel()
        self._reason_sim: sp.csr_matrix | None = None
        self._fit(data)
        return self

    def warm(self) -> None:  # noqa: B027 - a hook: most methods have nothing to do ahead
        """Do now what the first list would otherwise wait for (a server's load)."""

    def _check(self) -> Interactions:
        if not hasattr(self, "data_"):
            raise RecsError(f"{self.name}: call fit() before recommending")
        return self.data_

    def scores(self, rows: np.ndarray) -> np.ndarray:
        """Scores of fitted customers (rows of the matrix), raw: no rule applied."""
        data = self._check()
        return self._scores(csr_rows(data.weights, rows), rows)

    def mask(self, rows: np.ndarray, exclude_bought: bool, category: str | None = None) -> np.ndarray:
        """True where an item may be shown to the customer of each row (rows -1: nothing bought)."""
        data = self._check()
        allowed = np.ones((len(rows), data.shape[1]), dtype=bool)
        allowed[:, self.rules.blocked_items(data.items)] = False
        if category is not None:
            allowed[:, data.category != category] = False
        if exclude_bought:
            bought = dense_rows(data.orders, rows) > 0
            bought[:, self.rules.repeatable_items(data.items)] = False
            allowed &= ~bought
        return allowed

    def top_items(
        self, rows: np.ndarray, n: int, exclude_bought: bool = True, category: str | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Item indices and scores of each row's top n under the rules (-1 / -inf where fewer qualify)."""
        rows = np.asarray(rows, dtype=np.int64)
        if n < 0:
            raise RecsError(f"n must be >= 0, got {n}")
        data = self._check()
        out_items = np.full((len(rows), n), -1, dtype=np.int64)
        out_scores = np.full((len(rows), n), -np.inf)
        for lo in range(0, len(rows), BATCH):
            batch = rows[lo : lo + BATCH]
            history = csr_rows(data.weights, batch)  # -1: an empty row
            unknown = np.flatnonzero(np.diff(history.indptr) == 0)  # no history to personalise from
            s = np.asarray(self._scores(history, batch), dtype=np.float64)
            if len(unknown):
                s[unknown] = self.popularity_
            s = np.where(self.mask(batch, exclude_bought, category), s, -np.inf)
            items, values = self._select(s, n)
            out_items[lo : lo + len(batch)], out_scores[lo : lo + len(batch)] = items, values
        return out_items, out_scores

    def _select(self, s: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
        items = np.full((s.shape[0], n), -1, dtype=np.int64)
        values = np.full((s.shape[0], n), -np.inf)
        if n == 0 or s.shape[1] == 0:
            return items, values
        limit = self.rules.max_per_category
        width = min(s.shape[1], n if limit is None else n * 8)
        part = (
            np.argpartition(-s, width - 1, axis=1)[:, :width]
            if width < s.shape[1]
            else np.tile(np.arange(s.shape[1]), (s.shape[0], 1))
        )
        order = np.take_along_axis(
            part, np.argsort(-np.take_along_axis(s, part, 1), axis=1, kind="stable"), 1
        )
        for u in range(s.shape[0]):
            ranked = order[u] if limit is None else self._capped(s[u], order[u], n, limit)
            ranked = [i for i in ranked[:n] if np.isfinite(s[u, i])]
            items[u, : len(ranked)] = ranked
            values[u, : len(ranked)] = s[u, ranked]
        return items, values

    def _capped(self, s: np.ndarray, order: np.ndarray, n: int, limit: int) -> list[int]:
        """Greedy top n with at most `limit` items per category (unknown categories are not capped); falls
        back to the whole catalogue's order when the pre-selected candidates run out."""
        category = self.data_.category
        picked: list[int] = []
        counts: dict[object, int] = {}
        for candidates in (order, np.argsort(-s, kind="stable")):
            for i in candidates:
                if len(picked) == n or not np.isfinite(s[i]):
                    return picked
                if i in picked:
                    continue
                c = category[i]
                if c is not None and counts.get(c, 0) >= limit:
                    continue
                counts[c] = counts.get(c, 0) + 1
                picked.append(int(i))
        return picked

    def recommend(
        self,
        customer_ids: Sequence[str],
        n: int = 10,
        exclude_bought: bool = True,
        category: str | None = None,
        exclude: Sequence[str] = (),
    ) -> pd.DataFrame:
        """Ranked rows per customer: customer_id, rank (1 = best), product_id, score, reason."""
        data = self._check()
        rows = data.rows_of(list(customer_ids))
        saved = self.rules
        if exclude:
            self.rules = saved.excluding(exclude)
        try:
            items, values = self.top_items(rows, n, exclude_bought, category)
        finally:
            self.rules = saved
        columns: dict[str, list] = {name: [] for name in RESULT_COLUMNS}
        for k, (customer, row) in enumerate(zip(customer_ids, rows, strict=True)):
            chosen = items[k][items[k] >= 0]
            personal = (
                self.personalized and row >= 0 and data.weights.indptr[row + 1] > data.weights.indptr[row]
            )
            why = reasons(data, row, chosen, self.reason_similarity()) if personal else None
            columns["customer_id"] += [customer] * len(chosen)
            columns["rank"] += list(range(1, len(chosen) + 1))
            columns["product_id"] += data.items[chosen].tolist()
            columns["score"] += values[k, : len(chosen)].tolist()
            columns["reason"] += why if why is not None else [POPULAR_REASON] * len(chosen)
        return pd.DataFrame(columns)

    def reason_similarity(self) -> sp.csr_matrix:
        """Item x item cosine of purchase co-occurrence, for "because you bought X" (computed once)."""
        if getattr(self, "_reason_sim", None) is None:
            from c360.recs.neighbours import cosine_neighbours

            self._reason_sim = cosine_neighbours(self._check().orders, top_k=50)
        return self._reason_sim


def recommend_with_consent(
    model: Recommender,
    fallback: Recommender,
    customer_ids: Sequence[str],
    consented: Iterable[str],
    n: int = 10,
    exclude_bought: bool = True,
    category: str | None = None,
) -> pd.DataFrame:
    """`model`'s lists for customers with personalisation consent; `fallback`'s (a non-personalised
    popularity list) for the others, flagged by their reason. Rows keep the order of `customer_ids`."""
    if fallback.personalized:
        raise RecsError(f"{fallback.name} personalises: it cannot serve customers without consent")
    yes, no = consented_split(customer_ids, consented)
    parts = []
    if yes:
        parts.append(model.recommend(yes, n, exclude_bought=exclude_bought, category=category))
    if no:
        # the popular list, without the customer's history: excluding their purchases would use it
        rows = fallback.recommend(no, n, exclude_bought=False, category=category)
        parts.append(rows.assign(reason=NO_CONSENT_REASON))
    if not parts:
        return pd.DataFrame(columns=RESULT_COLUMNS)
    out = pd.concat(parts, ignore_index=True)
    position = {c: k for k, c in enumerate(customer_ids)}
    out["_order"] = out["customer_id"].map(position)
    return out.sort_values(["_order", "rank"], kind="stable").drop(columns="_order").reset_index(drop=True)
