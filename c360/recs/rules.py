"""Business rules over recommendation lists: what may be shown, how often a category may appear, and why an
item is shown.

- Already-bought items are left out by default, except consumables (bought again: coffee, ink): the list of
  product ids is configuration, never guessed.
- Inactive products (discontinued, out of stock) and items a caller excludes are never shown.
- At most `max_per_category` items of one category in the top n (None: no cap).
- No personalisation without personalisation consent: `consented_split` tells which customers may get a
  personal list; the others get the popular list, flagged by its reason.
- "Because you bought X": the bought item most similar (by co-purchase cosine) to the recommended one.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

import numpy as np
import scipy.sparse as sp

if TYPE_CHECKING:
    from c360.recs.data import Interactions

NO_CONSENT_REASON = "popular (no personalisation consent)"
BOUGHT_BEFORE = "bought before"


@dataclass(frozen=True)
class Rules:
    """The rules a recommender applies to every list."""

    consumables: frozenset[str] = field(default_factory=frozenset)
    """Product ids recommended again after a purchase."""
    inactive: frozenset[str] = field(default_factory=frozenset)
    """Product ids never recommended."""
    max_per_category: int | None = None

    def __post_init__(self) -> None:
        if self.max_per_category is not None and self.max_per_category < 1:
            raise ValueError(f"max_per_category must be >= 1, got {self.max_per_category}")
        object.__setattr__(self, "consumables", frozenset(self.consumables))
        object.__setattr__(self, "inactive", frozenset(self.inactive))

    def excluding(self, product_ids: Iterable[str]) -> Rules:
        """The same rules with more products never shown."""
        return replace(self, inactive=self.inactive | frozenset(product_ids))

    def blocked_items(self, items: np.ndarray) -> np.ndarray:
        """Boolean per item: never shown."""
        return np.isin(items, list(self.inactive)) if self.inactive else np.zeros(len(items), dtype=bool)

    def repeatable_items(self, items: np.ndarray) -> np.ndarray:
        """Boolean per item: shown again after a purchase."""
        return (
            np.isin(items, list(self.consumables)) if self.consumables else np.zeros(len(items), dtype=bool)
        )


def reasons(data: Interactions, row: int, chosen: np.ndarray, similarity: sp.csr_matrix) -> list[str]:
    """One reason per chosen item for the customer of `row`: "bought before" for an item in their history,
    "because you bought <title or id>" for the most similar item they bought, else "popular"."""
    history = data.orders.indices[data.orders.indptr[row] : data.orders.indptr[row + 1]] if row >= 0 else []
    bought = np.zeros(data.shape[1], dtype=bool)
    bought[history] = True
    out: list[str] = []
    for i in chosen.tolist():
        if bought[i]:
            out.append(BOUGHT_BEFORE)
            continue
        # the most similar bought item, from the item's own similarity row (the first of equals by index)
        lo, hi = similarity.indptr[i], similarity.indptr[i + 1]
        neighbours, values = similarity.indices[lo:hi], similarity.data[lo:hi]
        mine = bought[neighbours]
        best = -1
        if mine.any():
            candidates, scores = neighbours[mine], values[mine]
            top = scores.max()
            best = int(candidates[scores == top].min()) if top > 0 else -1
        out.append(f"because you bought {data.items[best]}" if best >= 0 else "popular")
    return out


def consented_split(customer_ids: Sequence[str], consented: Iterable[str]) -> tuple[list[str], list[str]]:
    """(customers who may get a personal list, customers who get the popular list)."""
    allowed = set(consented)
    yes = [c for c in customer_ids if c in allowed]
    no = [c for c in customer_ids if c not in allowed]
    return yes, no


def similar_items(
    similarity: sp.csr_matrix, items: np.ndarray, product_id: str, n: int = 10
) -> list[tuple[str, float]]:
    """A product page's "similar items": the product's top n neighbours in an item x item similarity
    (co-purchase cosine or content), best first; empty for an unknown product."""
    where = np.flatnonzero(items == product_id)
    if not len(where):
        return []
    row = similarity.getrow(int(where[0]))
    order = np.argsort(-row.data, kind="stable")[:n]
    return [(str(items[row.indices[j]]), float(row.data[j])) for j in order if row.indices[j] != where[0]]
