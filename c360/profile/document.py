"""The profile of each customer: one flat row (lake `profiles/`) and its JSON document (the store).

`assemble` joins the golden record with the aggregates (pure pandas, one partition at a time);
`render_documents` turns finished rows into JSON documents in the seed schema of ARCHITECTURE.md ("The
profile") with DuckDB, vectorised (a Python dict per customer cost more than the rest of the stage).
Values that nothing has produced yet (ML scores before any model ran, real-time signals before any event)
are null, never a made-up default.
"""

from __future__ import annotations

import json
from typing import Any

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa

from c360.identity.golden import GOLDEN_FIELDS
from c360.privacy.consent import latest_consent
from c360.profile.aggregates import first_seen

SEP = (",", ":")
CONSENT_INPUT_COLUMNS = ["customer_id", "purpose", "channel", "granted", "ts", "source"]
LIST_COLUMNS = ("emails", "phones", "device_ids", "cookie_ids", "favorite_categories")


def age_at(birth_date: pd.Series, as_of: pd.Timestamp) -> pd.Series:
    """Whole years between birth date and `as_of` (null when unknown or in the future)."""
    b = pd.to_datetime(birth_date, errors="coerce")
    years = (
        as_of.year
        - b.dt.year
        - ((b.dt.month > as_of.month) | ((b.dt.month == as_of.month) & (b.dt.day > as_of.day)))
    )
    return years.where(years >= 0).astype("Int64")


def consent_documents(records: pd.DataFrame) -> pd.Series:
    """customer_id -> the `consent` section (JSON text) from the records in force (latest wins)."""
    if records.empty:
        return pd.Series(dtype=object)
    ledger = latest_consent(records[CONSENT_INPUT_COLUMNS])
    ledger = ledger.sort_values(["customer_id", "purpose", "channel"], kind="mergesort")
    docs: dict[str, dict[str, dict[str, Any]]] = {}
    ts_iso = ledger["ts"].dt.strftime("%Y-%m-%dT%H:%M:%S%z").str.replace(r"\+0000$", "+00:00", regex=True)
    for cid, purpose, channel, granted, ts, source in zip(
        ledger["customer_id"],
        ledger["purpose"],
        ledger["channel"],
        ledger["granted"],
        ts_iso,
        ledger["source"],
        strict=True,
    ):
        docs.setdefault(cid, {}).setdefault(purpose, {})[channel] = {
            "granted": bool(granted),
            "ts": ts,
            "source": source,
        }
    return pd.Series({cid: json.dumps(doc, separators=(",", ":")) for cid, doc in docs.items()}, dtype=object)


def lineage_json(golden: pd.DataFrame) -> list[str]:
    """Per customer, `{golden field: "source:source_record_id"}` as JSON (fields with no value left out)."""
    fields = [f for f in GOLDEN_FIELDS if f"{f}__from" in golden]
    columns = [golden[f"{f}__from"].to_numpy(dtype=object) for f in fields]
    return [
        json.dumps({k: v for k, v in zip(fields, row, strict=True) if isinstance(v, str)}, separators=SEP)
        for row in zip(*columns, strict=True)
    ] if fields else ["{}"] * len(golden)  # fmt: skip


def assemble(
    golden: pd.DataFrame,
    tx_summary: pd.DataFrame,
    inter_summary: pd.DataFrame,
    sentiment: pd.DataFrame,
    engagement: pd.DataFrame,
    consent: pd.Series,
    as_of: pd.Timestamp,
    currency: str | None = None,
) -> pd.DataFrame:
    """One row per golden customer with every aggregate joined in (customers without activity get zeros);
    `first_seen` (aggregates.first_seen): the earliest of first_observed, first_line and first_interaction;
    `currency`: the reporting currency every money value is in."""
    out = pd.DataFrame({"customer_id": golden["customer_id"].to_numpy()})
    for field in ("first_name", "last_name", "gender", "city", "state", "country"):
        out[field] = golden[field].to_numpy() if field in golden else None
    out["birth_date"] = pd.to_datetime(golden["birth_date"], errors="coerce").to_numpy()
    out["age"] = age_at(out["birth_date"], as_of).to_numpy()
    out["first_observed"] = pd.to_datetime(golden["first_observed"], utc=True).to_numpy()
    for name in ("emails", "phones", "device_ids", "cookie_ids"):
        out[name] = golden[name].to_numpy() if name in golden else [[] for _ in range(len(golden))]
    out["lineage"] = lineage_json(golden)
    out = out.set_index("customer_id")
    zero_int = ("total_purchases", "orders_last_365d", "returns")
    for frame, ints, floats in (
        (tx_summary, zero_int, ("total_spend", "avg_order_value", "return_amount")),
        (
            inter_summary,
            ("interactions_last_90d", "support_tickets", "web_visits", "app_sessions", "email_opens",
             "email_clicks", "campaign_responses", "social_mentions"),
            (),
        ),
        (sentiment, ("open_tickets",), ()),
    ):  # fmt: skip
        joined = frame.set_index("customer_id").reindex(out.index) if not frame.empty else None
        for col in [c for c in frame.columns if c != "customer_id"]:
            out[col] = joined[col] if joined is not None else None
        for col in ints:
            out[col] = out[col].fillna(0).astype(int) if col in out else 0
        for col in floats:
            out[col] = out[col].astype(float).fillna(0.0) if col in out else 0.0
    for col in ("first_line", "first_purchase", "last_purchase", "first_interaction", "last_interaction"):
        out[col] = pd.to_datetime(out[col], utc=True) if col in out else pd.NaT
    out["first_seen"] = first_seen(out["first_observed"], out["first_line"], out["first_interaction"])
    favorite = out["favorite_categories"] if "favorite_categories" in out else [None] * len(out)
    out["favorite_categories"] = [list(v) if isinstance(v, list | np.ndarray) else [] for v in favorite]
    out["preferred_channel"] = out.get("preferred_channel")
    out["avg_sentiment"] = out["avg_sentiment"].astype(float) if "avg_sentiment" in out else np.nan
    eng = engagement.set_index("customer_id").reindex(out.index) if not engagement.empty else None
    out["engagement_score"] = eng["engagement_score"].fillna(0).astype(int) if eng is not None else 0
    out["consent"] = consent.reindex(out.index).fillna("{}") if len(consent) else "{}"
    out["currency"] = currency
    out["as_of"] = as_of
    return out.reset_index()


TIME_COLUMNS = ("last_purchase", "last_interaction", "as_of")

DOCUMENT_SQL = """
SELECT to_json({
  'customerId': customer_id,
  'identities': {'email': emails, 'phone': phones, 'deviceIds': device_ids, 'cookieIds': cookie_ids},
  'demographics': {
    'firstName': first_name, 'lastName': last_name, 'age': CAST(age AS BIGINT), 'gender': gender,
    'location': {'city': city, 'state': state, 'country': country}},
  'transactions': {
    'currency': CAST(currency AS VARCHAR),
    'totalPurchases': total_purchases, 'totalSpend': total_spend, 'avgOrderValue': avg_order_value,
    'lastPurchase': last_purchase, 'favoriteCategories': favorite_categories, 'returns': "returns",
    'returnAmount': return_amount},
  'engagement': {
    'rfmScore': rfm_score, 'recency': r, 'frequency': f, 'monetary': m,
    'engagementScore': engagement_score, 'preferredChannel': preferred_channel,
    'lastInteraction': last_interaction, 'asOf': as_of},
  'interactions': {
    'supportTickets': support_tickets, 'openTickets': open_tickets, 'sentiment': avg_sentiment,
    'webVisits': web_visits, 'appSessions': app_sessions, 'emailOpens': email_opens,
    'emailClicks': email_clicks, 'campaignResponses': campaign_responses, 'socialMentions': social_mentions},
  'preferences': {
    'categories': favorite_categories, 'channel': preferred_channel,
    'marketingChannels': coalesce(list_sort(list_filter(
      json_keys(consent::JSON, '$.marketing'),
      lambda k: json_extract(consent::JSON, '$.marketing."' || k || '".granted')::BOOLEAN)), []::VARCHAR[])},
  'consent': consent::JSON,
  'mlScores': {'churnRisk': churn_risk::DOUBLE, 'clv': clv::DOUBLE,
               'nextProductPropensity': next_product_propensity::DOUBLE, 'segment': segment::VARCHAR},
  'realtime': {'session': NULL::JSON, 'cart': NULL::JSON},
  'lineage': lineage::JSON
}) AS document
FROM profiles
"""
"""The seed-schema document of one finished profile row. Values nothing has produced yet are null;
`transactions.currency` is the reporting currency of every money value (totalSpend, avgOrderValue,
returnAmount, the RFM monetary score's input); `interactions.sentiment` the mean sentiment (-1..1) of the
customer's tickets and social mentions; `marketingChannels` lists the channels with a granted marketing
consent, sorted."""

ML_COLUMNS = ("churn_risk", "clv", "next_product_propensity", "segment")
"""The scores of the last `c360 score` run (the lake's `features/ml_scores`), null where none was made."""

DOCUMENT_INPUTS = (
    "customer_id", "emails", "phones", "device_ids", "cookie_ids", "first_name", "last_name", "age", "gender",
    "city", "state", "country", "total_purchases", "total_spend", "avg_order_value", "last_purchase",
    "favorite_categories", "returns", "return_amount", "rfm_score", "r", "f", "m", "engagement_score",
    "preferred_channel", "last_interaction", "as_of", "support_tickets", "open_tickets", "avg_sentiment",
    "web_visits", "app_sessions", "email_opens", "email_clicks", "campaign_responses", "social_mentions",
    "consent", "lineage", "currency", *ML_COLUMNS,
)  # fmt: skip


def iso_column(values: pd.Series) -> pd.Series:
    """Timestamps as ISO 8601 text (`+00:00`), vectorised; missing values become None."""
    ts = pd.to_datetime(values, utc=True)
    text = ts.dt.strftime("%Y-%m-%dT%H:%M:%S.%f+00:00").str.replace(".000000+", "+", regex=False)
    return text.astype(object).where(ts.notna(), None)


def render_documents(frame: pd.DataFrame) -> list[str]:
    """The compact JSON document of every row of a finished profile frame (rfm columns included), in
    row order, rendered by DuckDB in one vectorised pass (`DOCUMENT_SQL`)."""
    if frame.empty:
        return []
    frame = frame.assign(**{c: None for c in ML_COLUMNS if c not in frame.columns})
    inputs = frame[list(DOCUMENT_INPUTS)].assign(**{c: iso_column(frame[c]) for c in TIME_COLUMNS})
    table = pa.Table.from_pandas(inputs, preserve_index=False)
    con = duckdb.connect(config={"threads": 1})
    try:
        con.register("profiles", table)
        return con.sql(DOCUMENT_SQL).to_arrow_table().column("document").to_pylist()
    finally:
        con.close()
