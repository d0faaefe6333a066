"""Per-customer aggregates behind the profile document, as pure pandas functions (tested without Ray).

Every function takes rows already keyed by `customer_id` (the fact tables; consent keyed by
`attach_customer_ids`) and an `as_of` timestamp, so a profile built for a past date sees only what was known
then. Money (`amount`) is whatever one currency the caller passes: profiles pass the facts' `amount_rc`.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd

# Interaction types that count as a customer responding on a channel (for preferredChannel).
RESPONSE_TYPES = {"email_open", "email_click", "campaign_response", "web_visit", "app_session"}
RESPONSE_WEIGHT = {
    "email_click": 3.0,
    "campaign_response": 3.0,
    "email_open": 1.0,
    "web_visit": 1.0,
    "app_session": 1.0,
}

ENGAGEMENT_FORMULA = (
    "engagementScore = round(100 * (0.4 * exp(-days_since_last_activity / 90) "
    "+ 0.3 * min(1, orders_last_365d / 12) + 0.3 * min(1, log1p(interactions_last_90d) / log1p(30))))"
)


def attach_customer_ids(records: pd.DataFrame, id_map: pd.DataFrame) -> pd.DataFrame:
    """Key behaviour records by customer.

    `(source, customer_ref)` is the identity record `(source, source_record_id)`.

    Records whose reference resolves to no identity record are kept aside by the caller (returned with a null
    customer_id), never silently dropped.
    """
    keys = id_map[["source", "source_record_id", "customer_id"]].rename(
        columns={"source_record_id": "customer_ref"}
    )
    return records.merge(keys, on=["source", "customer_ref"], how="left")


def transaction_summary(tx: pd.DataFrame, as_of: pd.Timestamp) -> pd.DataFrame:
    """totalPurchases, totalSpend, avgOrderValue, lastPurchase, returns, favourite categories per customer.

    One row per customer with a line of any kind at or before `as_of` (a customer whose orders were all
    cancelled has zeros); `first_line` is the earliest of those lines, whatever their kind, and
    `first_purchase` the earliest purchase order (an order's time is that of its last line)."""
    tx = tx[tx["ts"] <= as_of]
    cols = [
        "customer_id",
        "total_purchases",
        "total_spend",
        "avg_order_value",
        "first_line",
        "first_purchase",
        "last_purchase",
        "orders_last_365d",
        "returns",
        "return_amount",
        "favorite_categories",
    ]
    if tx.empty:
        return pd.DataFrame(columns=cols)
    amount = tx["amount"].astype("float64")
    purchases = tx[tx["kind"] == "purchase"].assign(amount=amount[tx["kind"] == "purchase"])
    returns = tx[tx["kind"] == "return"].assign(amount=amount[tx["kind"] == "return"].abs())
    orders = purchases.groupby(["customer_id", "order_id"], as_index=False).agg(
        amount=("amount", "sum"), ts=("ts", "max")
    )
    year_ago = as_of - pd.Timedelta(days=365)
    orders["recent"] = (orders["ts"] > year_ago).astype(int)
    per = orders.groupby("customer_id").agg(
        total_purchases=("order_id", "nunique"),
        gross=("amount", "sum"),
        first_purchase=("ts", "min"),
        last_purchase=("ts", "max"),
        orders_last_365d=("recent", "sum"),
    )
    ret = returns.groupby("customer_id").agg(returns=("order_id", "nunique"), return_amount=("amount", "sum"))
    first_line = tx.groupby("customer_id")["ts"].min().rename("first_line")
    per = per.join(ret, how="outer").join(first_line, how="outer")
    per = per.fillna(
        {"returns": 0, "return_amount": 0.0, "gross": 0.0, "total_purchases": 0, "orders_last_365d": 0}
    )
    per["total_spend"] = (per["gross"] - per["return_amount"]).round(2)
    per["avg_order_value"] = np.where(
        per["total_purchases"] > 0, per["gross"] / per["total_purchases"].clip(lower=1), 0.0
    )
    per["avg_order_value"] = per["avg_order_value"].round(2)
    cats = (
        purchases.dropna(subset=["category"])
        .groupby(["customer_id", "category"])["amount"]
        .sum()
        .reset_index()
        .sort_values(["customer_id", "amount", "category"], ascending=[True, False, True])
    )
    cats = cats[cats.groupby("customer_id").cumcount() < 3].groupby("customer_id")["category"].agg(list)
    per["favorite_categories"] = cats.reindex(per.index)
    per["favorite_categories"] = per["favorite_categories"].apply(lambda v: v if isinstance(v, list) else [])
    per[["total_purchases", "orders_last_365d", "returns"]] = per[
        ["total_purchases", "orders_last_365d", "returns"]
    ].astype(int)
    return per.reset_index()[cols]


def first_seen(first_observed: pd.Series, *first_facts: pd.Series) -> pd.Series:
    """When each customer was first seen, as UTC timestamps (ns): the earliest of the golden record's
    `first_observed` (the earliest observation time of their identity records, a record without one
    counting from the day it was ingested) and their first facts (`first_line`, `first_interaction`;
    feature history passes the two as one). Data that maps no observation time, a shop's order history,
    would otherwise date every customer from the day it was ingested. Aligned by index; nulls are ignored
    (null only where all are)."""
    out = pd.to_datetime(first_observed, utc=True).dt.as_unit("ns")
    for fact in first_facts:
        t = pd.to_datetime(fact, utc=True).dt.as_unit("ns")
        out = out.where(out.notna() & ~(t < out), t)
    return out


def rfm_scores(summary: pd.DataFrame, as_of: pd.Timestamp) -> pd.DataFrame:
    """R, F and M scores 1..5 by population quintile (5 = most recent/frequent/valuable) and the rfmScore."""
    out = summary[["customer_id"]].copy()
    if summary.empty:
        return out.assign(
            r=pd.Series(dtype=int), f=pd.Series(dtype=int), m=pd.Series(dtype=int), rfm_score=""
        )
    recency_days = (as_of - pd.to_datetime(summary["last_purchase"], utc=True)).dt.days.fillna(10**6)
    out["r"] = _quintile(-recency_days)
    out["f"] = _quintile(summary["total_purchases"].astype(float))
    out["m"] = _quintile(summary["total_spend"].astype(float))
    out["rfm_score"] = out["r"].astype(str) + out["f"].astype(str) + out["m"].astype(str)
    return out


RFM_METRICS = ("recency", "frequency", "monetary")


def rfm_inputs(summary: pd.DataFrame, as_of: pd.Timestamp) -> pd.DataFrame:
    """customer_id, recency (days since last purchase), frequency (orders), monetary (net spend)."""
    last = pd.to_datetime(summary["last_purchase"], utc=True)
    return pd.DataFrame(
        {
            "customer_id": summary["customer_id"].to_numpy(),
            "recency": (as_of - last).dt.total_seconds().div(86400).to_numpy(),
            "frequency": summary["total_purchases"].astype(float).to_numpy(),
            "monetary": summary["total_spend"].astype(float).to_numpy(),
        }
    )


def rfm_thresholds(inputs: pd.DataFrame) -> dict[str, list[float]]:
    """Global quintile edges (20/40/60/80th percentiles) of each RFM metric over customers who bought.

    Computed once over the whole population so every partition scores against the same edges; recency is
    negated so that a higher score always means better (more recent).
    """
    buyers = inputs[inputs["frequency"] > 0]
    if buyers.empty:
        return {m: [0.0, 0.0, 0.0, 0.0] for m in RFM_METRICS}
    out = {}
    for metric in RFM_METRICS:
        values = -buyers[metric] if metric == "recency" else buyers[metric]
        out[metric] = [float(v) for v in np.quantile(values.to_numpy(dtype=float), [0.2, 0.4, 0.6, 0.8])]
    return out


def rfm_scores_global(inputs: pd.DataFrame, thresholds: dict[str, list[float]]) -> pd.DataFrame:
    """R, F, M 1..5 against global edges: 1 + the number of edges a value exceeds; non-buyers score 111."""
    out = inputs[["customer_id"]].copy()
    buyer = inputs["frequency"].to_numpy(dtype=float) > 0
    for metric, col in zip(RFM_METRICS, ("r", "f", "m"), strict=True):
        values = inputs[metric].to_numpy(dtype=float)
        values = -values if metric == "recency" else values
        score = 1 + np.searchsorted(np.asarray(thresholds[metric]), values, side="left")
        out[col] = np.where(buyer, np.clip(score, 1, 5), 1).astype(int)
    out["rfm_score"] = out["r"].astype(str) + out["f"].astype(str) + out["m"].astype(str)
    return out


def input_hash(frame: pd.DataFrame, columns: list[str], salt: int) -> pd.Series:
    """An order-independent uint64 digest per customer of the given rows (sum of row hashes, wrapping).

    Two runs over the same rows give the same digest whatever the file or row order, so a profile is rebuilt
    only when something about that customer changed.
    """
    if frame.empty:
        return pd.Series(dtype="uint64")
    rows = pd.util.hash_pandas_object(frame[columns], index=False, hash_key=f"c360input{salt:07d}")
    salted = pd.util.hash_array(rows.to_numpy() + np.uint64(salt))  # numeric columns ignore hash_key
    return pd.Series(salted, dtype="uint64").groupby(frame["customer_id"].to_numpy()).sum()


def _quintile(values: pd.Series) -> pd.Series:
    """1..5 by rank percentile; ties share a score, so equal behaviour never gets different scores."""
    pct = values.rank(method="average", pct=True)
    return np.ceil(pct * 5).clip(1, 5).astype(int)


def interaction_summary(inter: pd.DataFrame, as_of: pd.Timestamp) -> pd.DataFrame:
    """Counts per interaction type, first and last interaction, preferred channel.

    One row per customer with an interaction at or before `as_of`, of any type (a row without one counts
    in no type, but in the times and the 90-day count)."""
    inter = inter[inter["ts"] <= as_of]
    cols = [
        "customer_id",
        "first_interaction",
        "last_interaction",
        "interactions_last_90d",
        "support_tickets",
        "web_visits",
        "app_sessions",
        "email_opens",
        "email_clicks",
        "campaign_responses",
        "social_mentions",
        "preferred_channel",
    ]
    if inter.empty:
        return pd.DataFrame(columns=cols)
    q = inter.assign(one=1)
    first = q.groupby("customer_id")["ts"].min()
    counts = q.pivot_table(index="customer_id", columns="type", values="one", aggfunc="sum", fill_value=0)
    counts = counts.reindex(first.index, fill_value=0)
    per = pd.DataFrame(index=first.index)
    for out_col, typ in [
        ("support_tickets", "support_ticket"),
        ("web_visits", "web_visit"),
        ("app_sessions", "app_session"),
        ("email_opens", "email_open"),
        ("email_clicks", "email_click"),
        ("campaign_responses", "campaign_response"),
        ("social_mentions", "social_mention"),
    ]:
        per[out_col] = counts[typ].astype(int) if typ in counts else 0
    per["first_interaction"] = first
    per["last_interaction"] = q.groupby("customer_id")["ts"].max()
    recent = q[q["ts"] > as_of - pd.Timedelta(days=90)]
    per["interactions_last_90d"] = (
        recent.groupby("customer_id").size().reindex(per.index).fillna(0).astype(int)
    )
    per["preferred_channel"] = preferred_channel(q).reindex(per.index)
    return per.reset_index()[cols]


def preferred_channel(inter: pd.DataFrame) -> pd.Series:
    """The channel a customer responds on most (clicks weigh 3, opens and visits 1); ties: the most recent."""
    resp = inter[inter["type"].isin(RESPONSE_TYPES) & inter["channel"].notna()]
    if resp.empty:
        return pd.Series(dtype=object)
    resp = resp.assign(w=resp["type"].map(RESPONSE_WEIGHT).fillna(1.0))
    per = resp.groupby(["customer_id", "channel"]).agg(w=("w", "sum"), last=("ts", "max")).reset_index()
    per = per.sort_values(["customer_id", "w", "last"], ascending=[True, False, False])
    return per.drop_duplicates("customer_id").set_index("customer_id")["channel"]


def engagement_score(
    tx_summary: pd.DataFrame, inter_summary: pd.DataFrame, as_of: pd.Timestamp
) -> pd.DataFrame:
    """engagementScore 0..100 by ENGAGEMENT_FORMULA.

    Recency 40%, purchase frequency 30%, interactions 30%.
    """
    t = (
        tx_summary.set_index("customer_id")[["last_purchase", "orders_last_365d"]]
        if not tx_summary.empty
        else None
    )
    i = (
        inter_summary.set_index("customer_id")[["last_interaction", "interactions_last_90d"]]
        if not inter_summary.empty
        else None
    )
    frames = [f for f in (t, i) if f is not None]
    if not frames:
        return pd.DataFrame(columns=["customer_id", "engagement_score", "last_activity"])
    both = pd.concat(frames, axis=1)
    for c in ("last_purchase", "last_interaction"):
        if c not in both:
            both[c] = pd.NaT
    for c in ("orders_last_365d", "interactions_last_90d"):
        both[c] = both[c].fillna(0) if c in both else 0
    last = pd.concat(
        [pd.to_datetime(both["last_purchase"], utc=True), pd.to_datetime(both["last_interaction"], utc=True)],
        axis=1,
    ).max(axis=1)
    days = (as_of - last).dt.total_seconds().div(86400).fillna(10**6).clip(lower=0)
    score = 100 * (
        0.4 * np.exp(-days / 90)
        + 0.3 * np.minimum(1.0, both["orders_last_365d"].astype(float) / 12)
        + 0.3 * np.minimum(1.0, np.log1p(both["interactions_last_90d"].astype(float)) / np.log1p(30))
    )
    return pd.DataFrame(
        {
            "customer_id": both.index,
            "engagement_score": score.round().astype(int).values,
            "last_activity": last.values,
        }
    )


def support_sentiment(inter: pd.DataFrame, scores: pd.Series | None = None) -> pd.DataFrame:
    """Tickets and mentions with their sentiment; `scores` (by interaction index): the sentiment model's."""
    text = inter[inter["type"].isin({"support_ticket", "social_mention"})]
    if text.empty:
        return pd.DataFrame(columns=["customer_id", "open_tickets", "avg_sentiment"])
    text = text.assign(sentiment=scores.reindex(text.index) if scores is not None else np.nan)
    attrs = text["attributes"].fillna("{}").map(_status)
    per = (
        text.assign(open=(text["type"].eq("support_ticket") & attrs.eq("open")).astype(int))
        .groupby("customer_id")
        .agg(open_tickets=("open", "sum"), avg_sentiment=("sentiment", "mean"))
    )
    return per.reset_index()


def _status(attributes: str) -> str | None:
    try:
        value = json.loads(attributes)
    except (TypeError, ValueError):
        return None
    return value.get("status") if isinstance(value, dict) else None
