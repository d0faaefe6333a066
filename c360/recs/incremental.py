"""Incremental recommendations: a customer's new purchases update their list without a refit.

The registered version's item side stays as it is; only the customer's side moves. Their new lines are
appended to `recs/customers/` and their list is recomputed from their whole history: EASE scores the
history against its item weights as they are, ALS solves the customer's factors afresh against the item
factors (implicit's `recalculate_user`, one least-squares solve of `factors` unknowns). The cost is one
customer's arithmetic, not a pass over everyone: `tests/recs/test_incremental.py` measures it against a
refit. The new list is appended to `recommendations/` (readers take each customer's latest); the profile's
`nextProductPropensity` follows at the next `c360 score`.
"""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pandas as pd
import scipy.sparse as sp

from c360.errors import NotFoundError
from c360.recs.data import Interactions
from c360.recs.model import RecsModel
from c360.recs.score import NAME, consented_customers, recommend_for
from c360.workspace import Workspace


def history_row(model: RecsModel, lines: pd.DataFrame, customer_id: str) -> Interactions:
    """One customer's purchase `lines` as a one-row matrix on the model's item axis, built directly (a
    pandas group-by costs more than the whole update). Items the model does not know are left out."""
    index = model.item_index()
    purchases = lines[(lines["kind"] == "purchase") & (lines["quantity"] > 0)]
    stamps = pd.to_datetime(purchases["ts"], utc=True)
    as_of = stamps.max() + pd.Timedelta(seconds=1) if len(stamps) else pd.Timestamp.now(tz="UTC")
    orders: dict[int, set[str]] = {}
    first: dict[int, pd.Timestamp] = {}
    last: dict[int, pd.Timestamp] = {}
    for product, order, ts in zip(purchases["product_id"], purchases["order_id"], stamps, strict=True):
        i = index.get(product)
        if i is None:
            continue
        orders.setdefault(i, set()).add(order)
        first[i] = min(first.get(i, ts), ts)
        last[i] = max(last.get(i, ts), ts)
    cols = np.array(sorted(orders), dtype=np.int64)
    shape = (1, len(model.items_))

    def row(values: list[float]) -> sp.csr_matrix:
        return sp.csr_matrix(
            (np.asarray(values, dtype=np.float32), cols, np.array([0, len(cols)])), shape=shape
        )

    def days(stamps_of: dict[int, pd.Timestamp]) -> list[float]:
        return [1.0 + (as_of - stamps_of[i]) / pd.Timedelta(days=1) for i in cols.tolist()]

    counts = row([float(len(orders[i])) for i in cols.tolist()])
    return Interactions(
        customers=np.array([customer_id], dtype=object),
        items=model.items_,
        weights=counts,
        orders=counts.copy(),
        last_days=row(days(last)),
        first_days=row(days(first)),
        customer_orders=np.array([float(purchases["order_id"].nunique())]),
        customer_days=np.array([(as_of - stamps.min()) / pd.Timedelta(days=1) if len(stamps) else np.nan]),
        as_of=as_of,
        category=model.category_,
    )


def updated_list(
    model: RecsModel, lines: pd.DataFrame, customer_id: str, consented: bool, n: int | None = None
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(list, propensity) of one customer from their purchase `lines` (their whole history, new lines
    included): the pure step of an update, nothing read or written."""
    own = lines[lines["customer_id"] == customer_id]
    data = history_row(model, own, customer_id)
    return recommend_for(model, data, [customer_id], [customer_id] if consented else [], n)


def update_customer(
    ws: Workspace,
    customer_id: str,
    new_lines: pd.DataFrame,
    model: RecsModel | None = None,
    version: str | None = None,
) -> pd.DataFrame:
    """Record `new_lines` (customer_id, order_id, ts, product_id, quantity, kind) of `customer_id` and
    write their new list; returns it. `model` / `version`: the champion when not given."""
    from c360.models import registry
    from c360.recs.store import append_history, append_lists, read_history

    if model is None:
        found = registry.champion(ws, NAME)
        loaded = registry.load_champion(ws, NAME)
        if found is None or not isinstance(loaded, RecsModel):
            raise NotFoundError(f"{NAME}: no champion to update lists with (`c360 train recs`)")
        model, version = loaded, str(found.version)
    own = new_lines[new_lines["customer_id"] == customer_id]
    if len(own):
        append_history(ws, own)
    history = read_history(ws, [customer_id])
    consented = customer_id in consented_customers(ws, model.consent_channel_, [customer_id])
    lists, _ = updated_list(model, history, customer_id, consented)
    lists["model_version"] = version or ""
    lists["scored_at"] = pd.Timestamp(datetime.now(UTC))
    append_lists(ws, lists)
    return lists
