"""Scoring recommendations: every current customer's top n with reasons to the lake's `recommendations/`,
and each one's `nextProductPropensity` for the profiles' mlScores (`c360.models.score` writes it there).

The champion `recs` version brings the item side; the customer side is each customer's purchase history
from `recs/customers/`, refreshed from the facts first, so purchases made since training already count
(EASE scores the history as it is, ALS solves the customer's factors from it). Customers without a
personalization consent on the model's channel (the profile's `consent` section; no entry is no consent)
get the popular list, without their history, flagged by its reason and `personalized = false`; so do
customers without any purchase. `nextProductPropensity` is the calibrated probability of buying the top
item within the model's held-out window length (`c360.recs.model`).
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from c360.recs.base import recommend_with_consent
from c360.recs.data import Interactions, histories
from c360.recs.model import RecsModel
from c360.workspace import Workspace

NAME = "recs"
PROPENSITY_COLUMNS = ["customer_id", "next_product_propensity", "product_id"]


@dataclass
class RecsScores:
    version: str
    propensity: pd.DataFrame
    """customer_id, next_product_propensity, product_id (the top item)."""
    lists_path: str | None = None
    customers: int = 0
    personalized: int = 0
    seconds: dict[str, float] = field(default_factory=dict)


def consented_customers(ws: Workspace, channel: str, customers: Sequence[str] | None = None) -> set[str]:
    """Customers (of `customers`, when given) whose profile grants `personalization` on `channel` (the
    lake's `profiles/`)."""
    import pyarrow.compute as pc

    from c360.privacy.consent import is_permitted

    out: set[str] = set()
    for path in ws.lake.glob("profiles/*.parquet"):
        table = ws.lake.read_table(path, columns=["customer_id", "consent"])
        if customers is not None:
            table = table.filter(pc.is_in(table["customer_id"], pa.array(list(customers), pa.string())))
        for customer, text in zip(
            table["customer_id"].to_pylist(), table["consent"].to_pylist(), strict=True
        ):
            try:
                doc = json.loads(text) if text else None
            except ValueError:
                continue
            if isinstance(doc, dict) and is_permitted(doc, "personalization", channel):
                out.add(customer)
    return out


def recommend_for(
    model: RecsModel,
    data: Interactions,
    customers: Sequence[str],
    consented: Iterable[str],
    n: int | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(lists: customer_id, rank, product_id, score, reason, personalized; propensity: PROPENSITY_COLUMNS)
    for `customers` from their histories `data` (`histories(lines, customers)`), by the model's method
    and rules."""
    n = int(model.params["n"]) if n is None else n
    exclude = bool(model.params["exclude_bought"])
    allowed = set(consented)
    lists = recommend_with_consent(
        model.attach(data), model.popular(data), list(customers), allowed, n, exclude
    )
    has_history = np.diff(data.weights.indptr) > 0
    personal = {c for c in customers if c in allowed and has_history[data.customer_index[c]]}
    lists["personalized"] = lists["customer_id"].isin(personal)
    top = lists[lists["rank"] == 1].set_index("customer_id")
    ids = list(customers)
    scores = top["score"].reindex(ids).to_numpy(dtype=float)
    known = ~np.isnan(scores)
    flags = np.array([c in personal for c in ids], dtype=bool)
    propensity = pd.DataFrame(
        {
            "customer_id": ids,
            "next_product_propensity": model.top_propensity(scores, known, flags),
            "product_id": top["product_id"].reindex(ids).to_numpy(dtype=object),
        }
    )
    return lists, propensity


def scored_customers(ws: Workspace, lines: pd.DataFrame) -> list[str]:
    """The golden records' customers; a workspace without an identity graph: those with purchases."""
    from c360.models.score import current_customers

    return current_customers(ws) or sorted(lines["customer_id"].unique().tolist())


def score_recs(
    ws: Workspace,
    customers: Sequence[str] | None = None,
    now: datetime | None = None,
    replace: bool | None = None,
) -> RecsScores | None:
    """Recommend for every current customer (or `customers`) with the champion; None without a champion.
    `replace` (default: when scoring everyone): the run's lists replace every earlier file of
    `recommendations/`; else they are added as an update."""
    from c360.models import registry
    from c360.recs.store import append_lists, read_history, write_history, write_lists
    from c360.recs.train import read_purchases

    version = registry.champion(ws, NAME)
    model = registry.load_champion(ws, NAME) if version is not None else None
    if model is None or version is None:
        return None
    if not isinstance(model, RecsModel):
        raise TypeError(f"{NAME}: the champion is a {type(model).__name__}")
    now = now or datetime.now(UTC).replace(microsecond=0)
    t0 = time.perf_counter()
    facts, _ = read_purchases(ws)
    write_history(ws, facts)  # the customer side, as of the facts now (incremental updates kept)
    lines = read_history(ws)
    ids = list(customers) if customers is not None else scored_customers(ws, lines)
    out = RecsScores(version=str(version.version), propensity=pd.DataFrame(columns=PROPENSITY_COLUMNS))
    out.seconds["inputs"] = time.perf_counter() - t0
    if not ids:
        return out
    t0 = time.perf_counter()
    consented = consented_customers(ws, model.consent_channel_)
    lists, out.propensity = recommend_for(model, histories(lines, ids), ids, consented)
    out.seconds["recommend"] = time.perf_counter() - t0
    lists["model_version"] = out.version
    lists["scored_at"] = pd.Timestamp(now)
    if replace if replace is not None else customers is None:
        path = write_lists(ws, lists, now.strftime("%Y%m%dT%H%M%SZ"))
    else:
        path = append_lists(ws, lists)
    out.lists_path = ws.lake.relative(path)
    out.customers = len(ids)
    out.personalized = int(lists.loc[lists["personalized"], "customer_id"].nunique())
    return out


def fill_next_product(ws: Workspace, scores: pa.Table, now: datetime, report: Any) -> pa.Table:
    """The ml_scores table of a `c360 score` run with `next_product_propensity` filled by the recs champion
    for its customers; the run's report names the version and the lists written."""
    t0 = time.perf_counter()
    ids = scores.column("customer_id").to_pylist()
    done = score_recs(ws, ids, now, replace=True)  # a score run covers every current customer
    if done is None:
        return scores
    values = done.propensity.set_index("customer_id")["next_product_propensity"].reindex(ids)
    column = pa.array(values.to_numpy(dtype=float), pa.float64(), from_pandas=True)
    at = scores.schema.get_field_index("next_product_propensity")
    scores = scores.set_column(at, "next_product_propensity", column)
    report.models["nextProductPropensity"] = f"{NAME} v{done.version}"
    report.unscored = [s for s in report.unscored if s != "nextProductPropensity"]
    report.recommendations_path = done.lists_path
    report.seconds["recs"] = time.perf_counter() - t0
    return scores
