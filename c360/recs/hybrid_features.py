"""The hybrid's features beside its generators' scores: the item's, the customer's and the pair's.

Every feature is a count, a share, a number of days or a ratio of two of them, so a ranker learnt on one
shop reads the same quantities on another (no catalogue-specific constants). Item features are learnt at
fit time and kept with a registered version; customer and pair features are read from the history the
scorer attaches.

Item: buyers (all time, last 30 and 90 days), repeat rate (share of buyers who bought it in two orders or
more), the 30-day trend, its age (days since anyone first bought it: a new line sells differently from a
staple) and its typical repurchase interval (the mean, over its repeat buyers, of their days between
orders). Customer: items, orders, tenure, order rate, days since the last purchase, and the share of their
item purchases that were repeats (a customer who restocks vs one who browses). Pair: orders of the item,
days since its last and first purchase, the pair's own interval and how due it is by it and by the item's
typical interval, days between the pair's last purchase and the customer's last order (0: in the last
basket), the item's share of the customer's orders and of their items in its category.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from c360.recs.baselines import recent_popularity
from c360.recs.data import Interactions

ITEM_FEATURES = [
    "item_customers", "item_customers_30d", "item_customers_90d", "item_repeat_rate", "item_age",
    "item_interval",
]  # fmt: skip
"""Columns of `item_features` (a registered version keeps the matrix)."""
FEATURES = [
    *ITEM_FEATURES, "item_trend",
    "user_items", "user_orders", "user_tenure", "user_order_rate", "user_days_since_last",
    "user_repeat_share",
    "pair_orders", "pair_days_since_last", "pair_days_since_first", "pair_interval", "pair_due",
    "pair_item_due", "pair_before_last_order", "pair_order_share", "pair_category_share",
]  # fmt: skip
"""Names of the columns `customer_features` returns, in order."""


def _column_max(m: sp.csr_matrix) -> np.ndarray:
    """Largest stored value per column (0 for an empty column); stored values are positive."""
    out = np.zeros(m.shape[1], dtype=np.float32)
    np.maximum.at(out, m.indices, m.data)
    return out


def item_features(data: Interactions) -> np.ndarray:
    """Items x ITEM_FEATURES (float32); NaN where a feature is undefined (no repeat buyer: no interval)."""
    buyers = np.asarray((data.orders > 0).sum(axis=0), dtype=np.float32).ravel()
    repeats = data.orders.multiply(data.orders > 1).tocsr()
    repeaters = np.asarray((repeats > 0).sum(axis=0), dtype=np.float32).ravel()
    # a repeat pair's interval: (first - last) / (orders - 1) days, summed per item over its repeat buyers
    per_gap = repeats.copy()
    per_gap.data = 1.0 / np.maximum(per_gap.data - 1.0, 1.0)
    gaps = (data.first_days - data.last_days).multiply(per_gap).tocsr()
    gap_sums = np.asarray(gaps.sum(axis=0), dtype=np.float32).ravel()
    age = _column_max(data.first_days)
    return np.stack(
        [
            buyers,
            recent_popularity(data, 30.0),
            recent_popularity(data, 90.0),
            np.divide(repeaters, buyers, out=np.zeros_like(buyers), where=buyers > 0),
            np.where(age > 0, age - 1.0, np.nan),
            np.divide(gap_sums, repeaters, out=np.full_like(buyers, np.nan), where=repeaters > 0),
        ],
        axis=1,
    ).astype(np.float32)


def customer_features(
    data: Interactions,
    items: np.ndarray,
    rows: np.ndarray,
    u: np.ndarray,
    i: np.ndarray,
    orders: np.ndarray,
    last: np.ndarray,
    first: np.ndarray,
    category_share: np.ndarray,
) -> list[np.ndarray]:
    """The FEATURES columns for candidates (u: position in `rows`, i: item), given the customers' dense
    `orders`, `last` and `first` day rows and the item features `items`."""
    known = rows >= 0
    safe = np.maximum(rows, 0)
    user_items = (orders > 0).sum(axis=1).astype(np.float32)
    item_orders = orders.sum(axis=1)
    user_orders = np.where(known, data.customer_orders[safe], 0.0)
    user_tenure = np.where(known, data.customer_days[safe], np.nan)
    user_rate = user_orders / np.maximum(user_tenure, 1.0)
    with np.errstate(invalid="ignore"):
        user_recency = np.where(last > 0, last, np.inf).min(axis=1) - 1.0
    user_recency[~np.isfinite(user_recency)] = np.nan
    repeat_share = np.divide(
        item_orders - user_items, item_orders, out=np.full_like(item_orders, np.nan), where=item_orders > 0
    )
    pair_last, pair_first, pair_orders = last[u, i], first[u, i], orders[u, i]
    since_last = np.where(pair_last > 0, pair_last - 1.0, np.nan)
    interval = np.where(
        pair_orders > 1, (pair_first - pair_last) / np.maximum(pair_orders - 1.0, 1.0), np.nan
    )
    item = items[i]
    return [
        *item.T,
        item[:, 1] / np.maximum(item[:, 2], 1.0),
        user_items[u],
        user_orders[u],
        user_tenure[u],
        user_rate[u],
        user_recency[u],
        repeat_share[u],
        pair_orders,
        since_last,
        np.where(pair_first > 0, pair_first - 1.0, np.nan),
        interval,
        since_last / np.maximum(interval, 1.0),
        since_last / np.maximum(item[:, 5], 1.0),
        since_last - user_recency[u],
        pair_orders / np.maximum(user_orders[u], 1.0),
        category_share,
    ]
