"""The LightGBM hybrid (`c360.recs.hybrid`) as a registered method (`method: hybrid`): how it is fitted from
purchase lines, which item-side state a version keeps, and how that state is joined to customers' histories.

Fitting: the ranker learns from the last `ranker_days` before the fit's end (its generators fitted on the
purchases before them, its labels the purchases in them), then the generators are refitted on everything.
A version keeps each generator's item side (popularity counts, the repeat baseline's counts, item-kNN's
neighbour lists, EASE's weights, ALS's item factors), the hybrid's item features and the ranker as text;
the customer features the ranker reads (the pair's history, tenure, order rate) come from the history the
scorer attaches, as every method's do, and so do the customer-neighbour generators where a version has them
(opt-in, `generators`: user-kNN for new items, TIFU-kNN for all purchases), whose neighbours are the
attached customers.
`RecsModel` falls back to EASE when the window teaches the ranker nothing (no buyer among the candidates,
too few customers to hold a fifth out): a small workspace.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import scipy.sparse as sp

from c360.recs.base import Recommender, RecsError
from c360.recs.data import Interactions, build_interactions, relevant_items
from c360.recs.hybrid import Hybrid
from c360.recs.hybrid_features import ITEM_FEATURES

if TYPE_CHECKING:
    from c360.recs.model import RecsModel

PREFIX = "hybrid_"
MIN_RANKER_CUSTOMERS = 50
"""Customers who must buy in the ranker's window for it to learn anything worth ranking with."""


CUSTOMER_SIDE = ("uknn", "tifu")
"""Generators whose state is the customers' rows: refitted on the attached histories, nothing registered."""


def generators(model: RecsModel, ease: bool, neighbours: bool) -> dict[str, Recommender]:
    """The candidate generators; EASE only when asked (up to `ease_max_items`: its weights are items x
    items); with `neighbours`, user-kNN for new items or TIFU-kNN for all purchases
    (`c360.recs.user_neighbours`: each helped its task on validation, not the other).

    The customer-neighbour generators are off unless `customer_neighbours` is set, and then only up to
    `neighbours_max_customers`. Their neighbours are the customers attached beside the one scored: right
    where the whole population is attached (the online recommender, a full `score` run), not where one
    customer is (an incremental update, `predict`), which would rank with an empty neighbourhood. Both find
    every customer's neighbours at fit, which grows with their square (about 1 s at 5,900 customers, 290 s
    at 105,000: `c360.recs.user_neighbours`)."""
    from c360.recs.baselines import Popularity, RepeatPopularity
    from c360.recs.ease import Ease
    from c360.recs.neighbours import ItemKNN
    from c360.recs.user_neighbours import TifuKNN, UserKNN

    days = float(model.params["popularity_days"])
    out: dict[str, Recommender] = {
        "pop": Popularity(window_days=days),
        "repeat": RepeatPopularity(window_days=days),
        "knn": ItemKNN(top_k=100),
        "ease": Ease(lambda_=float(model.params["lambda_"])),
        "als": model._recommender("als"),
    }
    if not ease:
        del out["ease"]
    if neighbours and bool(model.params["exclude_bought"]):
        out["uknn"] = UserKNN()
    elif neighbours:
        out["tifu"] = TifuKNN()
    return out


def new_hybrid(model: RecsModel, ease: bool, neighbours: bool) -> Hybrid:
    return Hybrid(
        generators(model, ease, neighbours),
        new_items=bool(model.params["exclude_bought"]),
        candidates=int(model.params["candidates"]),
        params={"seed": int(model.params["seed"])},
        rules=model.rules,
    )


def fit_hybrid(model: RecsModel, lines: pd.DataFrame, products: pd.DataFrame | None) -> Hybrid:
    """The hybrid fitted on `lines` (module docstring); raises when the ranker's window teaches nothing."""
    data = build_interactions(lines, products=products)
    start = data.as_of - pd.Timedelta(days=float(model.params["ranker_days"]))
    history = build_interactions(lines, start, products=products)
    labels = relevant_items(history, lines, start, data.as_of, new_only=bool(model.params["exclude_bought"]))
    if len(labels) < MIN_RANKER_CUSTOMERS:
        raise RecsError(
            f"{len(labels)} customer(s) bought in the ranker's {model.params['ranker_days']:g}-day window; "
            f"it needs at least {MIN_RANKER_CUSTOMERS}"
        )
    hybrid = new_hybrid(
        model,
        ease=data.shape[1] <= int(model.params["ease_max_items"]),
        neighbours=bool(model.params["customer_neighbours"])
        and data.shape[0] <= int(model.params["neighbours_max_customers"]),
    )
    hybrid.train_ranker([(history, labels)])
    hybrid.fit(data)
    return hybrid


def state_of(hybrid: Hybrid) -> dict[str, np.ndarray]:
    """The hybrid's item side as named arrays (an `.npz`, no pickle)."""
    g = hybrid.generators
    knn = g["knn"].sim_.tocsr()
    state = {
        "pop": g["pop"].counts_,
        "repeat": g["repeat"].counts_,
        "knn_data": knn.data,
        "knn_indices": knn.indices,
        "knn_indptr": knn.indptr,
        "als": np.asarray(g["als"].model_.item_factors),
        "item_features": hybrid.item_features_,
        "category_codes": hybrid.category_codes_,
        "ranker": np.array([r.model_to_string() for r in hybrid.rankers_]),
    }
    if "ease" in g:
        state["ease"] = g["ease"].weights_
    # which customer-side generator the ranker reads (none: a version of a larger shop, or an older one)
    state["customer_side"] = np.array([name for name in CUSTOMER_SIDE if name in g], dtype=str)
    return {PREFIX + k: v for k, v in state.items()}


def attach_hybrid(model: RecsModel, state: dict[str, np.ndarray], data: Interactions) -> Hybrid:
    """A version's hybrid over `data` (customers on the version's item axis)."""
    s = {k.removeprefix(PREFIX): v for k, v in state.items() if k.startswith(PREFIX)}
    n = len(model.items_)
    hybrid = new_hybrid(model, ease="ease" in s, neighbours=len(s.get("customer_side", ())) > 0)
    g = hybrid.generators
    for generator in g.values():
        generator.data_, generator.popularity_ = data, model.popularity_
    g["pop"].counts_, g["pop"].segment_counts_ = s["pop"], {}
    g["repeat"].counts_ = s["repeat"]
    g["knn"].sim_ = sp.csr_matrix((s["knn_data"], s["knn_indices"], s["knn_indptr"]), shape=(n, n))
    if "ease" in g:
        g["ease"].weights_ = s["ease"]
    g["als"].model_ = model.als_for(data, s["als"])
    for name in CUSTOMER_SIDE:
        if name in g:
            g[name]._fit(data)
    hybrid.data_, hybrid.popularity_, hybrid._reason_sim = data, model.popularity_, model.reason_sim_
    if s["item_features"].shape[1] != len(ITEM_FEATURES):
        raise RecsError(
            f"hybrid: this version keeps {s['item_features'].shape[1]} item features, the code reads "
            f"{len(ITEM_FEATURES)}: it was registered by an older c360; retrain (c360 train recs)"
        )
    hybrid.item_features_ = s["item_features"]
    codes = s["category_codes"]
    hybrid.category_codes_ = codes
    known = codes >= 0
    width = int(codes.max()) + 1 if len(codes) else 0
    hybrid.category_onehot_ = (
        sp.csr_matrix(
            (np.ones(int(known.sum()), dtype=np.float32), (np.flatnonzero(known), codes[known])),
            shape=(n, width),
        )
        if width
        else None
    )
    hybrid.rankers_ = model.rankers()
    return hybrid
