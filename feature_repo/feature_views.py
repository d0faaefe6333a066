"""Feature views: what each lake table contributes, with its types and how long a value stays servable."""

from datetime import timedelta

from data_sources import (
    consent_push,
    engagement_rfm_source,
    ml_scores_source,
    product_stats_source,
    profile_source,
    realtime_signals_push,
    support_sentiment_source,
    transactions_source,
)
from entities import customer, product
from feast import FeatureView, Field, StreamFeatureView
from feast.types import Float64, Int64, String, UnixTimestamp

# Batch views are rebuilt only for customers whose inputs changed, so a quiet customer's latest row can be
# old: values stay servable for years. Real-time signals describe the current session and go stale in a day.
# Nothing stored depends on when it is read: time-relative features (days since the last purchase, tenure)
# are stored as timestamps (`*_at`) and turned into day counts at read time by the on-demand view in
# on_demand.py, so a quiet customer's value does not freeze and online equals offline at the same instant.
BATCH_TTL = timedelta(days=3650)

profile = FeatureView(
    name="profile",
    entities=[customer],
    ttl=BATCH_TTL,
    schema=[
        Field(name="age", dtype=Int64),
        Field(name="gender", dtype=String),
        Field(name="country", dtype=String),
        Field(name="first_seen_at", dtype=UnixTimestamp),
    ],
    source=profile_source,
    online=True,
    tags={"stage": "profile"},
)

transactions = FeatureView(
    name="transactions",
    entities=[customer],
    ttl=BATCH_TTL,
    schema=[
        Field(name="total_purchases", dtype=Int64),
        Field(name="total_spend", dtype=Float64),
        Field(name="avg_order_value", dtype=Float64),
        Field(name="orders_last_365d", dtype=Int64),
        Field(name="returns", dtype=Int64),
        Field(name="return_amount", dtype=Float64),
        Field(name="last_purchase_at", dtype=UnixTimestamp),
        Field(name="favorite_category", dtype=String),
    ],
    source=transactions_source,
    online=True,
    tags={"stage": "profile"},
)

engagement_rfm = FeatureView(
    name="engagement_rfm",
    entities=[customer],
    ttl=BATCH_TTL,
    schema=[
        Field(name="r_score", dtype=Int64),
        Field(name="f_score", dtype=Int64),
        Field(name="m_score", dtype=Int64),
        Field(name="rfm_score", dtype=String),
        Field(name="engagement_score", dtype=Int64),
        Field(name="interactions_last_90d", dtype=Int64),
        Field(name="web_visits", dtype=Int64),
        Field(name="app_sessions", dtype=Int64),
        Field(name="email_opens", dtype=Int64),
        Field(name="email_clicks", dtype=Int64),
        Field(name="campaign_responses", dtype=Int64),
        Field(name="last_interaction_at", dtype=UnixTimestamp),
        Field(name="preferred_channel", dtype=String),
    ],
    source=engagement_rfm_source,
    online=True,
    tags={"stage": "profile"},
)

support_sentiment = FeatureView(
    name="support_sentiment",
    entities=[customer],
    ttl=BATCH_TTL,
    schema=[
        Field(name="support_tickets", dtype=Int64),
        Field(name="open_tickets", dtype=Int64),
        Field(name="social_mentions", dtype=Int64),
        Field(name="avg_sentiment", dtype=Float64),
    ],
    source=support_sentiment_source,
    online=True,
    tags={"stage": "profile"},
)

ml_scores = FeatureView(
    name="ml_scores",
    entities=[customer],
    ttl=BATCH_TTL,
    schema=[
        Field(name="churn_risk", dtype=Float64),
        Field(name="clv", dtype=Float64),
        Field(name="next_product_propensity", dtype=Float64),
        Field(name="segment", dtype=String),
    ],
    source=ml_scores_source,
    online=True,
    tags={"stage": "models"},
)

# Item features for recommendations and ranking: written per cutoff by `c360 features backfill` from
# facts/products and facts/transaction_lines (popularity in the 7/30/90 days up to the cutoff).
product_stats = FeatureView(
    name="product_stats",
    entities=[product],
    ttl=BATCH_TTL,
    schema=[
        Field(name="category", dtype=String),
        Field(name="price_band", dtype=String),
        Field(name="price_rc", dtype=Float64),
        Field(name="purchases_7d", dtype=Int64),
        Field(name="purchases_30d", dtype=Int64),
        Field(name="purchases_90d", dtype=Int64),
        Field(name="buyers_30d", dtype=Int64),
    ],
    source=product_stats_source,
    online=True,
    tags={"stage": "features"},
)

realtime_signals = StreamFeatureView(
    name="realtime_signals",
    entities=[customer],
    ttl=timedelta(days=1),
    schema=[
        Field(name="session_page_views", dtype=Int64),
        Field(name="cart_items", dtype=Int64),
        Field(name="cart_value", dtype=Float64),
        Field(name="last_viewed_product_id", dtype=String),
        Field(name="last_event_time", dtype=UnixTimestamp),
    ],
    source=realtime_signals_push,
    online=True,
    timestamp_field="event_timestamp",
    tags={"stage": "events"},
)

CONSENT_PURPOSES = ("marketing", "analytics", "personalization", "third_party")
CONSENT_CHANNELS = ("email", "sms", "push", "ads", "web")

# Batch-built by `profiles` and pushed on every recorded change; a flag never expires (no consent = 0, deny).
consent = FeatureView(
    name="consent",
    entities=[customer],
    ttl=BATCH_TTL,
    schema=[Field(name=f"{p}_{c}", dtype=Int64) for p in CONSENT_PURPOSES for c in CONSENT_CHANNELS],
    source=consent_push,
    online=True,
    tags={"stage": "profile"},
)
