"""`Recommender`: one customer's list and a product's similar items, online, from the production `recs`.

Loaded once per process: the champion `recs` version (item side, from the registry) and every customer's
purchase history (`recs/customers/`, the customer side), joined once (`RecsModel.attach`), so a request
scores one history row against state already in memory. Purchases made after the load are not seen until
the next load (a new process, or `reload`); a customer the load did not know gets the popular list.

Fallbacks, flagged by reason (`c360.inference.parts`): no production version (`not_trained`): the most
bought products of the histories, or an empty list when there are none either; no personalization consent
on the model's consent channel (`no_consent`) and no customer (`unknown_customer`): the version's popular
list, without the customer's history, as `c360.recs.base.recommend_with_consent` does in batch.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from c360.errors import NotFoundError
from c360.inference.parts import NO_CONSENT, NOT_TRAINED, UNKNOWN_CUSTOMER, Part
from c360.privacy.consent import is_permitted
from c360.recs.rules import NO_CONSENT_REASON, similar_items

if TYPE_CHECKING:
    from c360.recs.model import RecsModel
    from c360.workspace import Workspace

log = logging.getLogger("c360.inference")
POPULAR = "popular"


class Recommender:
    """Online recommendations over one loaded `recs` version (None: not trained) and the histories."""

    def __init__(self, model: RecsModel | None, lines: pd.DataFrame, version: str | None = None) -> None:
        from c360.recs.data import histories

        self.model = model
        self.version = version if model is not None else None
        self._lock = threading.Lock()  # `Recommender.recommend` swaps its rules for an `exclude` list
        customers = sorted(lines["customer_id"].unique().tolist()) if len(lines) else []
        if model is not None:
            data = histories(lines, customers)
            self._personal = model.attach(data)
            self._personal.warm()  # the hybrid compiles its ranker here, not at the first request
            self._popular = model.popular(data)
            self.consent_channel = model.consent_channel_
            self._category = dict(zip(model.items_.tolist(), model.category_.tolist(), strict=True))
        else:
            counts = lines.groupby("product_id")["order_id"].nunique() if len(lines) else pd.Series()
            self._counts = counts.sort_values(ascending=False, kind="stable")
            self.consent_channel = "web"
            self._category = {}

    @classmethod
    def for_workspace(cls, ws: Workspace) -> Recommender:
        """The workspace's champion `recs` and histories; a workspace without one serves the fallback."""
        from c360.models import registry
        from c360.recs.model import RecsModel
        from c360.recs.store import read_history

        version = registry.champion(ws, "recs")
        model = registry.load_champion(ws, "recs") if version is not None else None
        if model is not None and not isinstance(model, RecsModel):
            raise TypeError(f"recs: the champion is a {type(model).__name__}")
        return cls(model, read_history(ws), str(version.version) if version is not None else None)

    # ------------------------------------------------------------------------------------------ lists

    def recommend(
        self,
        customer_id: str | None,
        n: int = 10,
        category: str | None = None,
        exclude: Sequence[str] = (),
        consent: Mapping[str, Any] | None = None,
    ) -> Part:
        """The customer's top n (`items`: productId, score, reason, category), bought items left out; the
        popular list, flagged, without a customer or their personalization consent (`consent`: the
        profile's consent section)."""
        if self.model is None:
            return Part(self._counted(n, category, exclude), NOT_TRAINED)
        if customer_id is None:
            return self.popular(n, category, exclude, UNKNOWN_CUSTOMER)
        if not is_permitted(consent, "personalization", self.consent_channel):
            return self.popular(n, category, exclude, NO_CONSENT, NO_CONSENT_REASON)
        exclude_bought = bool(self.model.params["exclude_bought"])
        with self._lock:
            rows = self._personal.recommend([customer_id], n, exclude_bought, category, list(exclude))
        return Part(self._items(rows), None, self.version)

    def popular(
        self,
        n: int = 10,
        category: str | None = None,
        exclude: Sequence[str] = (),
        fallback: str | None = None,
        reason: str = POPULAR,
    ) -> Part:
        """The version's popular list (the same for everyone), flagged with `fallback`."""
        if self.model is None:
            return Part(self._counted(n, category, exclude), NOT_TRAINED)
        with self._lock:
            rows = self._popular.recommend([""], n, False, category, list(exclude))
        return Part(self._items(rows.assign(reason=reason)), fallback, self.version)

    def similar(self, product_id: str, n: int = 10) -> Part:
        """The product's nearest neighbours by co-purchase cosine (the "because you bought" similarity);
        NotFoundError for a product the version does not hold, an empty list flagged before training."""
        if self.model is None:
            return Part([], NOT_TRAINED)
        if product_id not in self.model.item_index():
            raise NotFoundError("no such product in the recommendation model's catalogue")
        pairs = similar_items(self.model.reason_sim_, self.model.items_, product_id, n)
        return Part(
            [{"productId": p, "score": s, "category": self._category.get(p)} for p, s in pairs],
            None,
            self.version,
        )

    def _items(self, rows: pd.DataFrame) -> list[dict[str, Any]]:
        return [
            {"productId": p, "score": float(s), "reason": r, "category": self._category.get(p)}
            for p, s, r in zip(rows["product_id"], rows["score"], rows["reason"], strict=True)
        ]

    def _counted(self, n: int, category: str | None, exclude: Sequence[str]) -> list[dict[str, Any]]:
        """Before training: the most bought products of the histories (no categories known)."""
        if category is not None:
            return []
        skip = set(exclude)
        top = [(p, c) for p, c in self._counts.items() if p not in skip][:n]
        return [{"productId": str(p), "score": float(c), "reason": POPULAR, "category": None} for p, c in top]

    def catalogue_size(self) -> int:
        return 0 if self.model is None else int(np.size(self.model.items_))
