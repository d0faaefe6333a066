"""The Feast offline sources written by `profiles`: which profile columns feed which feature view.

`FEATURE_COLUMNS` must name exactly the fields of the views in feature_repo/feature_views.py (a feast test
compares them); `feature_frames` cuts a finished profile frame into one table per view, stamped with the
time the values were computed (`as_of`), which is what makes training sets point-in-time correct.
`c360 features backfill` (c360/features/history.py) cuts its rows at each cutoff with the same function.

Nothing stored depends on when it is read: the profile's times are stored as timestamps (`first_seen_at`,
the profile's `first_seen`; `last_purchase_at`, `last_interaction_at`) and the day counts are computed at
read time by the on-demand view `elapsed_days` (feature_repo/on_demand.py).
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pyarrow as pa

from c360.schemas import CONSENT_CHANNELS, CONSENT_PURPOSES

CONSENT_FEATURES: tuple[str, ...] = tuple(f"{p}_{c}" for p in CONSENT_PURPOSES for c in CONSENT_CHANNELS)

FEATURE_COLUMNS: dict[str, tuple[str, ...]] = {
    "profile": ("age", "gender", "country", "first_seen_at"),
    "transactions": (
        "total_purchases", "total_spend", "avg_order_value", "orders_last_365d", "returns", "return_amount",
        "last_purchase_at", "favorite_category",
    ),
    "engagement_rfm": (
        "r_score", "f_score", "m_score", "rfm_score", "engagement_score", "interactions_last_90d",
        "web_visits",
        "app_sessions", "email_opens", "email_clicks", "campaign_responses", "last_interaction_at",
        "preferred_channel",
    ),
    "support_sentiment": ("support_tickets", "open_tickets", "social_mentions", "avg_sentiment"),
    "consent": CONSENT_FEATURES,
}  # fmt: skip
"""Views `profiles` writes; ml_scores (models) and realtime_signals (events) come from other stages."""
CUSTOMER_VIEWS: tuple[str, ...] = ("profile", "transactions", "engagement_rfm", "support_sentiment")
"""The views `c360 features backfill` computes at past cutoffs (consent has its own ledger)."""


TIMESTAMP = pa.timestamp("ns", tz="UTC")
_STRINGS = {"gender", "country", "favorite_category", "rfm_score", "preferred_channel"}
_FLOATS = {"total_spend", "avg_order_value", "return_amount", "avg_sentiment"}
_TIMES = {"first_seen_at", "last_purchase_at", "last_interaction_at"}


def _arrow_type(column: str) -> pa.DataType:
    if column in _STRINGS:
        return pa.string()
    if column in _FLOATS:
        return pa.float64()
    return TIMESTAMP if column in _TIMES else pa.int64()


VIEW_SCHEMAS: dict[str, pa.Schema] = {
    view: pa.schema(
        [("customer_id", pa.string()), ("event_timestamp", TIMESTAMP), *((c, _arrow_type(c)) for c in cols)]
    )
    for view, cols in FEATURE_COLUMNS.items()
}
"""Arrow types of each view's file (the Feast types of feature_repo/feature_views.py: String, Int64, Float64,
UnixTimestamp), so every file of a view has one schema whoever wrote it and whatever its rows hold."""


def feature_table(view: str, frame: pd.DataFrame) -> pa.Table:
    """A view's frame (from `feature_frames`) as Arrow in the view's schema."""
    schema = VIEW_SCHEMAS[view]
    return pa.Table.from_pandas(
        frame[schema.names], schema=schema, preserve_index=False
    ).replace_schema_metadata()


def consent_flags(consent_json: pd.Series) -> pd.DataFrame:
    """One 0/1 column per purpose_channel from the profile's `consent` section (no entry: 0, deny)."""
    parsed = consent_json.map(json.loads)
    rows = {name: np.zeros(len(consent_json), dtype=np.int64) for name in CONSENT_FEATURES}
    for i, doc in enumerate(parsed):
        for purpose, channels in doc.items():
            for channel, entry in channels.items():
                name = f"{purpose}_{channel}"
                if name in rows and entry.get("granted") is True:
                    rows[name][i] = 1
    return pd.DataFrame(rows, index=consent_json.index)


def _utc(values: pd.Series) -> pd.Series:
    return pd.to_datetime(values, utc=True)


def feature_frames(profiles: pd.DataFrame, views: tuple[str, ...] | None = None) -> dict[str, pd.DataFrame]:
    """view -> customer_id, event_timestamp and exactly the view's columns, from finished profile rows
    (every view of FEATURE_COLUMNS, or those named)."""
    as_of = pd.to_datetime(profiles["as_of"], utc=True)
    views = tuple(FEATURE_COLUMNS) if views is None else views
    derived = pd.DataFrame(
        {
            "customer_id": profiles["customer_id"].to_numpy(),
            # `.array`, not `.to_numpy()`: a zoned timestamp column would become Timestamp objects
            "event_timestamp": as_of.array,
            "first_seen_at": _utc(profiles["first_seen"]).array,
            "last_purchase_at": _utc(profiles["last_purchase"]).array,
            "last_interaction_at": _utc(profiles["last_interaction"]).array,
            "favorite_category": [v[0] if len(v) else None for v in profiles["favorite_categories"]],
            "r_score": profiles["r"].to_numpy(),
            "f_score": profiles["f"].to_numpy(),
            "m_score": profiles["m"].to_numpy(),
        }
    )
    base = pd.concat([profiles.reset_index(drop=True), derived.drop(columns=["customer_id"])], axis=1)
    if "consent" in views:
        base = pd.concat([base, consent_flags(profiles["consent"].reset_index(drop=True))], axis=1)
    base["age"] = base["age"].astype("Int64")
    return {
        view: base[["customer_id", "event_timestamp", *FEATURE_COLUMNS[view]]].reset_index(drop=True)
        for view in views
    }
