"""The customer x product interaction matrix every recommender fits on, built from the fact tables.

Purchases come from `facts/transaction_lines` (kind == "purchase", a positive quantity); a customer's weight
for a product is the number of distinct orders that held it, so a bulk order of 500 mugs counts once and a
mug bought in five orders counts five times. Where a workspace has product-level web or app events in
`facts/interactions` (a `product_id` in the event's JSON attributes), they add a smaller weight per event
(`EVENT_WEIGHTS`: a view counts less than a cart). The matrix keeps, beside the weights, what the business
rules and the hybrid need per pair: purchase orders and the last purchase time.

A cutoff makes the matrix point-in-time: nothing at or after it is read, so a model fitted on it cannot see
its evaluation window.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import scipy.sparse as sp

if TYPE_CHECKING:
    from c360.io.lake import Lake

EVENT_WEIGHTS: dict[str, float] = {"view": 0.25, "product_view": 0.25, "cart": 0.5, "add_to_cart": 0.5}
"""Weight of one product event of each type (`event` or `type` in the interaction's attributes); a purchase
order weighs 1."""


@dataclass
class Interactions:
    """A customers x products matrix with its labels. Row and column order are `customers` and `items`."""

    customers: np.ndarray
    """customer_id per row (object array of str)."""
    items: np.ndarray
    """product_id per column."""
    weights: sp.csr_matrix
    """float32: purchase orders plus weighted product events."""
    orders: sp.csr_matrix
    """float32: distinct purchase orders holding the product (0 where only viewed or carted)."""
    last_days: sp.csr_matrix
    """float32: 1 + days from the last purchase of the product to `as_of` (stored only where bought)."""
    first_days: sp.csr_matrix
    """float32: 1 + days from the first purchase of the product to `as_of` (stored only where bought)."""
    customer_orders: np.ndarray
    """Distinct purchase orders per customer."""
    customer_days: np.ndarray
    """Days from each customer's first purchase to `as_of` (their tenure; NaN without a purchase)."""
    as_of: pd.Timestamp | None = None
    category: np.ndarray = field(default_factory=lambda: np.array([], dtype=object))
    """Category per item (None where unknown)."""
    segment: np.ndarray | None = None
    """Segment per customer (country, tier, ...), for popularity by segment; None when not given."""

    def __post_init__(self) -> None:
        self.customer_index = {c: i for i, c in enumerate(self.customers.tolist())}
        self.item_index = {p: i for i, p in enumerate(self.items.tolist())}
        if len(self.category) != len(self.items):
            self.category = np.full(len(self.items), None, dtype=object)

    @property
    def shape(self) -> tuple[int, int]:
        return (len(self.customers), len(self.items))

    def rows_of(self, customer_ids: list[str] | np.ndarray) -> np.ndarray:
        """Row index per customer; -1 for a customer the matrix does not know."""
        get = self.customer_index.get
        return np.array([get(c, -1) for c in customer_ids], dtype=np.int64)

    def bought_sets(self) -> list[set[int]]:
        """Item indices each customer bought (rows in order)."""
        indptr, indices = self.orders.indptr, self.orders.indices
        return [set(indices[indptr[u] : indptr[u + 1]].tolist()) for u in range(self.shape[0])]


def purchases(
    lines: pd.DataFrame, start: pd.Timestamp | None = None, end: pd.Timestamp | None = None
) -> pd.DataFrame:
    """Purchase lines (kind == purchase, quantity > 0, a product) with start <= ts < end."""
    keep = (lines["kind"] == "purchase") & (lines["quantity"] > 0) & lines["product_id"].notna()
    if start is not None:
        keep &= lines["ts"] >= start
    if end is not None:
        keep &= lines["ts"] < end
    return lines.loc[keep]


def product_events(interactions: pd.DataFrame, weights: dict[str, float] | None = None) -> pd.DataFrame:
    """customer_id, product_id, ts, weight: interactions whose JSON attributes name a `product_id` and an
    event type with a weight (`event`, else `type`, else the row's own type). Others are ignored."""
    weights = EVENT_WEIGHTS if weights is None else weights
    rows: list[tuple[str, str, object, float]] = []
    cols = zip(
        interactions["customer_id"],
        interactions["ts"],
        interactions["type"],
        interactions["attributes"],
        strict=True,
    )
    for customer, ts, kind, attributes in cols:
        if not attributes:
            continue
        try:
            doc = json.loads(attributes)
        except (TypeError, ValueError):
            continue
        if not isinstance(doc, dict) or not doc.get("product_id"):
            continue
        event = doc.get("event") or doc.get("type") or kind
        weight = weights.get(str(event))
        if weight:
            rows.append((customer, str(doc["product_id"]), ts, float(weight)))
    return pd.DataFrame(rows, columns=["customer_id", "product_id", "ts", "weight"])


def build_interactions(
    lines: pd.DataFrame,
    as_of: pd.Timestamp | None = None,
    events: pd.DataFrame | None = None,
    products: pd.DataFrame | None = None,
    segments: pd.Series | None = None,
    start: pd.Timestamp | None = None,
) -> Interactions:
    """The matrix of purchases (and weighted product `events`) with start <= ts < `as_of`.

    `lines`: transaction lines (customer_id, order_id, ts, product_id, quantity, kind); `products`: the
    catalogue (product_id, category), for the items' categories; `segments`: customer_id -> segment."""
    bought = purchases(lines, start, as_of)
    as_of = as_of if as_of is not None else (bought["ts"].max() + pd.Timedelta(seconds=1))
    pairs = bought.groupby(["customer_id", "product_id"], sort=False).agg(
        orders=("order_id", "nunique"), first=("ts", "min"), last=("ts", "max")
    )
    pairs = pairs.reset_index()
    if events is not None and len(events):
        in_window = events["ts"] < as_of
        if start is not None:
            in_window &= events["ts"] >= start
        ev = events.loc[in_window]
        ev = (
            ev.groupby(["customer_id", "product_id"], sort=False)["weight"]
            .sum()
            .rename("events")
            .reset_index()
        )
        pairs = pairs.merge(ev, on=["customer_id", "product_id"], how="outer")
    else:
        pairs["events"] = 0.0
    pairs["orders"] = pairs["orders"].fillna(0.0)
    pairs["events"] = pairs["events"].fillna(0.0)
    customers = np.array(sorted(pairs["customer_id"].unique()), dtype=object)
    items = np.array(sorted(pairs["product_id"].unique()), dtype=object)
    rows = pd.Index(customers).get_indexer(pairs["customer_id"])
    cols = pd.Index(items).get_indexer(pairs["product_id"])
    shape = (len(customers), len(items))

    def matrix(values: np.ndarray) -> sp.csr_matrix:
        keep = values != 0
        m = sp.csr_matrix((values[keep].astype(np.float32), (rows[keep], cols[keep])), shape=shape)
        m.sort_indices()
        return m

    def days_before(stamps: pd.Series) -> np.ndarray:
        days = ((as_of - stamps) / pd.Timedelta(days=1)).to_numpy(dtype=np.float64, na_value=np.nan)
        return np.where(np.isnan(days), 0.0, 1.0 + np.nan_to_num(days))

    per_customer = bought.groupby("customer_id").agg(orders=("order_id", "nunique"), first=("ts", "min"))
    per_customer = per_customer.reindex(customers)
    category = np.full(len(items), None, dtype=object)
    if products is not None and "category" in products:
        known = products.dropna(subset=["product_id"]).drop_duplicates("product_id").set_index("product_id")
        listed = known["category"].reindex(items).astype(object)
        category = listed.where(listed.notna(), None).to_numpy(dtype=object)
    segment = None
    if segments is not None:
        segment = segments.reindex(customers).astype(object).to_numpy()
    return Interactions(
        customers=customers,
        items=items,
        weights=matrix(pairs["orders"].to_numpy() + pairs["events"].to_numpy()),
        orders=matrix(pairs["orders"].to_numpy()),
        last_days=matrix(days_before(pairs["last"])),
        first_days=matrix(days_before(pairs["first"])),
        customer_orders=per_customer["orders"].fillna(0).to_numpy(dtype=np.float64),
        customer_days=((as_of - per_customer["first"]) / pd.Timedelta(days=1)).to_numpy(
            dtype=np.float64, na_value=np.nan
        ),
        as_of=as_of,
        category=category,
        segment=segment,
    )


def relevant_items(
    data: Interactions, lines: pd.DataFrame, start: pd.Timestamp, end: pd.Timestamp, new_only: bool
) -> dict[int, set[int]]:
    """Row index -> item indices bought in [start, end) by customers of `data` (items `data` knows). With
    `new_only`, items the customer had already bought before are left out, and customers left with nothing
    are dropped."""
    window = purchases(lines, start, end)
    rows = data.rows_of(window["customer_id"].to_numpy())
    cols = pd.Index(data.items).get_indexer(window["product_id"])
    keep = (rows >= 0) & (cols >= 0)
    out: dict[int, set[int]] = {}
    for u, i in zip(rows[keep].tolist(), cols[keep].tolist(), strict=True):
        out.setdefault(u, set()).add(i)
    if new_only:
        indptr, indices = data.orders.indptr, data.orders.indices
        out = {u: s - set(indices[indptr[u] : indptr[u + 1]].tolist()) for u, s in out.items()}
        out = {u: s for u, s in out.items() if s}
    return out


def read_lines(lake: Lake) -> pd.DataFrame:
    """The purchase-relevant columns of `facts/transaction_lines` as pandas (ts as UTC timestamps)."""
    from c360.facts.schemas import TRANSACTION_LINES
    from c360.facts.store import read_facts

    columns = ["customer_id", "order_id", "ts", "product_id", "category", "quantity", "kind"]
    frame = read_facts(lake, TRANSACTION_LINES, columns=columns).to_pandas()
    frame["ts"] = pd.to_datetime(frame["ts"], utc=True)
    return frame


def read_events(lake: Lake) -> pd.DataFrame:
    """Weighted product events from `facts/interactions` (empty when the workspace has none)."""
    from c360.facts.schemas import INTERACTIONS
    from c360.facts.store import read_facts

    frame = read_facts(lake, INTERACTIONS, columns=["customer_id", "ts", "type", "attributes"]).to_pandas()
    frame["ts"] = pd.to_datetime(frame["ts"], utc=True)
    return product_events(frame)


def read_products(lake: Lake) -> pd.DataFrame:
    from c360.facts.schemas import PRODUCTS
    from c360.facts.store import read_facts

    return read_facts(lake, PRODUCTS, columns=["product_id", "title", "category"]).to_pandas()


def read_similarity(lake: Lake) -> pd.DataFrame:
    from c360.facts.schemas import PRODUCT_SIMILARITY
    from c360.facts.store import read_facts

    return read_facts(lake, PRODUCT_SIMILARITY).to_pandas()


def read_segments(lake: Lake, column: str = "country") -> pd.Series:
    """customer_id -> a golden-record column (country by default), for popularity by segment."""
    from c360.identity.store import IdentityStore

    golden = IdentityStore(lake).read_arrow("golden", columns=["customer_id", column], sort=False)
    if golden is None:
        return pd.Series(dtype=object)
    frame = golden.to_pandas()
    return frame.set_index("customer_id")[column]


def _ranges(starts: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """The concatenation of arange(start, start + length) for each pair, without a Python loop."""
    total = int(lengths.sum())
    if not total:
        return np.zeros(0, dtype=np.int64)
    shift = np.repeat(starts - np.cumsum(lengths) + lengths, lengths)
    return shift + np.arange(total)


def csr_rows(m: sp.csr_matrix, rows: np.ndarray) -> sp.csr_matrix:
    """Rows of a CSR matrix (-1: an empty row), sliced through indptr: scipy's fancy indexing costs more
    than the work for the one-customer lists served online."""
    rows = np.asarray(rows, dtype=np.int64)
    safe = np.maximum(rows, 0)
    lo = np.where(rows >= 0, m.indptr[safe], 0)
    lengths = np.where(rows >= 0, m.indptr[safe + 1] - m.indptr[safe], 0)
    idx = _ranges(lo, lengths)
    indptr = np.concatenate([[0], np.cumsum(lengths)])
    return sp.csr_matrix((m.data[idx], m.indices[idx], indptr), shape=(len(rows), m.shape[1]))


def dense_rows(m: sp.csr_matrix, rows: np.ndarray) -> np.ndarray:
    """Rows of a CSR matrix as a dense float32 array (-1: a row of zeros)."""
    out = np.zeros((len(rows), m.shape[1]), dtype=np.float32)
    for k, r in enumerate(np.asarray(rows).tolist()):
        if r >= 0:
            lo, hi = m.indptr[r], m.indptr[r + 1]
            out[k, m.indices[lo:hi]] = m.data[lo:hi]
    return out


def binary(m: sp.csr_matrix) -> sp.csr_matrix:
    """The same sparsity pattern with every stored value 1 (float32)."""
    return sp.csr_matrix((np.ones(len(m.data), dtype=np.float32), m.indices, m.indptr), shape=m.shape)


def neighbour_sums(sim: sp.csr_matrix, history: sp.csr_matrix) -> np.ndarray:
    """Per history row, the sum of `sim`'s rows of the items in it (binary history): item-neighbour scores
    by bincount over the neighbour lists, no sparse product."""
    out = np.zeros((history.shape[0], sim.shape[1]), dtype=np.float32)
    for k in range(history.shape[0]):
        items = history.indices[history.indptr[k] : history.indptr[k + 1]]
        if not len(items):
            continue
        idx = _ranges(sim.indptr[items], sim.indptr[items + 1] - sim.indptr[items])
        out[k] = np.bincount(sim.indices[idx], weights=sim.data[idx], minlength=sim.shape[1])
    return out


def reindex_items(data: Interactions, items: np.ndarray, category: np.ndarray | None = None) -> Interactions:
    """The same customers on another item axis (a registered model's catalogue): columns of items the
    axis does not know are dropped, items nobody here bought get empty columns. Scoring attaches the
    lake's customer histories to a model's item-side state this way."""
    category = np.full(len(items), None, dtype=object) if category is None else category
    if data.items is items:  # already on this axis (an incremental update builds it so)
        return replace(data, category=category)
    cols = pd.Index(items).get_indexer(data.items)
    keep = cols >= 0

    def moved(m: sp.csr_matrix) -> sp.csr_matrix:
        coo = m.tocoo()
        mask = keep[coo.col]
        out = sp.csr_matrix(
            (coo.data[mask], (coo.row[mask], cols[coo.col[mask]])), shape=(len(data.customers), len(items))
        )
        out.sort_indices()
        return out

    return Interactions(
        customers=data.customers,
        items=np.asarray(items, dtype=object),
        weights=moved(data.weights),
        orders=moved(data.orders),
        last_days=moved(data.last_days),
        first_days=moved(data.first_days),
        customer_orders=data.customer_orders,
        customer_days=data.customer_days,
        as_of=data.as_of,
        category=category,
        segment=data.segment,
    )


def with_customers(data: Interactions, extra: list[str]) -> Interactions:
    """`data` with empty rows appended for `extra` customers (no history: they get the popular list)."""
    k = len(extra)

    def grown(m: sp.csr_matrix) -> sp.csr_matrix:
        return sp.vstack([m, sp.csr_matrix((k, m.shape[1]), dtype=m.dtype)]).tocsr()

    return Interactions(
        customers=np.concatenate([data.customers, np.asarray(list(extra), dtype=object)]),
        items=data.items,
        weights=grown(data.weights),
        orders=grown(data.orders),
        last_days=grown(data.last_days),
        first_days=grown(data.first_days),
        customer_orders=np.concatenate([data.customer_orders, np.zeros(k)]),
        customer_days=np.concatenate([data.customer_days, np.full(k, np.nan)]),
        as_of=data.as_of,
        category=data.category,
    )


def histories(lines: pd.DataFrame, customers: list[str] | np.ndarray) -> Interactions:
    """Interactions of the purchase `lines` (any customers), with an empty row for each of `customers` they
    do not hold: such a customer gets the popular list."""
    if lines.empty:
        lines = lines.assign(ts=pd.to_datetime(lines["ts"], utc=True))
        data = build_interactions(lines, as_of=pd.Timestamp.now(tz="UTC"))
    else:
        data = build_interactions(lines)
    missing = sorted(set(customers) - set(data.customers.tolist()))
    return with_customers(data, missing) if missing else data
