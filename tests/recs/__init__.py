"""Recommendation tests. `make_world` is a seeded shop whose right answers are known: each customer shops
mostly in one home category, so a good recommender fills a customer's list from that category, and a
popularity list (the same for everyone) cannot."""

from __future__ import annotations

import numpy as np
import pandas as pd

START = pd.Timestamp("2011-01-01", tz="UTC")
SPLIT = pd.Timestamp("2011-05-01", tz="UTC")
END = pd.Timestamp("2011-07-01", tz="UTC")
CATEGORIES = 6
ITEMS_PER_CATEGORY = 10


def item_id(category: int, k: int) -> str:
    return f"p{category}_{k:02d}"


def make_world(customers: int = 240, seed: int = 0, home_share: float = 0.9) -> pd.DataFrame:
    """Transaction lines (customer_id, order_id, ts, product_id, category, quantity, kind) over six months:
    each customer places 3-8 orders of 2-4 items, `home_share` of them from their home category (popular
    items of the category more often), the rest anywhere; one cancelled line per ten customers."""
    rng = np.random.default_rng(seed)
    within = 1.0 / np.arange(1, ITEMS_PER_CATEGORY + 1) ** 0.7
    within /= within.sum()
    rows = []
    span = (END - START) / pd.Timedelta(seconds=1)
    order = 0
    for c in range(customers):
        home = c % CATEGORIES
        for _ in range(rng.integers(3, 9)):
            order += 1
            ts = START + pd.Timedelta(seconds=float(rng.uniform(0, span)))
            for _ in range(rng.integers(2, 5)):
                cat = home if rng.random() < home_share else int(rng.integers(CATEGORIES))
                k = int(rng.choice(ITEMS_PER_CATEGORY, p=within))
                rows.append(
                    (
                        f"c{c:04d}",
                        f"o{order}",
                        ts,
                        item_id(cat, k),
                        f"cat{cat}",
                        int(rng.integers(1, 6)),
                        "purchase",
                    )
                )
        if c % 10 == 0:
            rows.append((f"c{c:04d}", f"x{c}", START, item_id(home, 9), f"cat{home}", -1, "cancel"))
    return pd.DataFrame(
        rows, columns=["customer_id", "order_id", "ts", "product_id", "category", "quantity", "kind"]
    )


def products_of(lines: pd.DataFrame) -> pd.DataFrame:
    return lines[["product_id", "category"]].drop_duplicates("product_id").reset_index(drop=True)


def similarity_of(lines: pd.DataFrame) -> pd.DataFrame:
    """Content neighbours as `facts/product_similarity` would hold them: items of one category, 0.5."""
    products = products_of(lines)
    pairs = products.merge(products, on="category", suffixes=("", "_other"))
    pairs = pairs[pairs["product_id"] != pairs["product_id_other"]]
    out = pairs.rename(columns={"product_id_other": "similar_product_id"})[
        ["product_id", "similar_product_id"]
    ]
    out["score"] = 0.5
    out["rank"] = out.groupby("product_id").cumcount() + 1
    return out.reset_index(drop=True)


def held_out_ndcg(model: object, data: object, lines: pd.DataFrame, new: bool) -> float:
    """NDCG@10 of `model`'s top 10 on the window SPLIT..END of `lines` (new items only when `new`)."""
    from c360.recs.data import relevant_items
    from c360.recs.metrics import evaluate_model

    relevant = relevant_items(data, lines, SPLIT, END, new_only=new)  # type: ignore[arg-type]
    return evaluate_model(model, relevant, 10, exclude_bought=new)["ndcg"]  # type: ignore[arg-type]
