"""The Feast offline sources written by `profiles`: which profile columns feed which feature view.

`FEATURE_COLUMNS` must name exactly the fields of the views in feature_repo/feature_views.py (a feast test
compares them); `feature_frames` cuts a finished profile frame into one table per view, stamped with the
time the values were computed (`as_of`), which is what makes training sets point-in-time correct.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd

from c360.schemas import CONSENT_CHANNELS, CONSENT_PURPOSES

CONSENT_FEATURES: tuple[str, ...] = tuple(f"{p}_{c}" for p in CONSENT_PURPOSES for c in CONSENT_CHANNELS)

FEATURE_COLUMNS: dict[str, tuple[str, ...]] = {
    "profile": ("age", "gender", "country", "tenure_days"),
    "transactions": (
        "total_purchases", "total_spend", "avg_order_value", "orders_last_365d", "returns", "return_amount",
        "days_since_last_purchase", "favorite_category",
    ),
    "engagement_rfm": (
        "r_score", "f_score", "m_score", "rfm_score", "engagement_score", "interactions_last_90d",
        "web_visits",
        "app_sessions", "email_opens", "email_clicks", "campaign_responses", "days_since_last_interaction",
        "preferred_channel",
    ),
    "support_sentiment": ("support_tickets", "open_tickets", "social_mentions", "avg_sentiment"),
    "consent": CONSENT_FEATURES,
}  # fmt: skip
"""Views `profiles` writes; ml_scores (models) and realtime_signals (events) come from other stages."""


def _days_since(ts: pd.Series, as_of: pd.Series) -> pd.Series:
    days = (as_of - pd.to_datetime(ts, utc=True)).dt.days
    return days.astype("Int64")


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


def feature_frames(profiles: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """view -> customer_id, event_timestamp and exactly the view's columns, from finished profile rows."""
    as_of = pd.to_datetime(profiles["as_of"], utc=True)
    derived = pd.DataFrame(
        {
            "customer_id": profiles["customer_id"].to_numpy(),
            "event_timestamp": as_of.to_numpy(),
            "tenure_days": _days_since(profiles["first_observed"], as_of)
            .fillna(0)
            .astype("int64")
            .to_numpy(),
            "days_since_last_purchase": _days_since(profiles["last_purchase"], as_of).to_numpy(),
            "days_since_last_interaction": _days_since(profiles["last_interaction"], as_of).to_numpy(),
            "favorite_category": [v[0] if len(v) else None for v in profiles["favorite_categories"]],
            "r_score": profiles["r"].to_numpy(),
            "f_score": profiles["f"].to_numpy(),
            "m_score": profiles["m"].to_numpy(),
        }
    )
    base = pd.concat([profiles.reset_index(drop=True), derived.drop(columns=["customer_id"])], axis=1)
    base = pd.concat([base, consent_flags(profiles["consent"].reset_index(drop=True))], axis=1)
    base["age"] = base["age"].astype("Int64")
    return {
        view: base[["customer_id", "event_timestamp", *cols]].reset_index(drop=True)
        for view, cols in FEATURE_COLUMNS.items()
    }
