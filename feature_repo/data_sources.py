"""Offline sources: one parquet folder per feature view in the lake, and a push source for real-time signals.

`C360_FEATURES_URI` names the lake's `features/` folder (a local path or `abfs://container/prefix/features`);
c360 sets it from the workspace (c360/features/store.py). Every folder holds the view's entity key
(`customer_id`, or `product_id` for product_stats), `event_timestamp` (when the values became true) and the
view's feature columns. `profiles` writes `part-*` files (values at its run time), `c360 features backfill`
writes `backfill-<cutoff>-part-*` files (values as of each cutoff, from the fact tables truncated there).
"""

import os

from feast import FileSource, PushSource
from feast.data_format import ParquetFormat

FEATURES_URI = os.environ.get("C360_FEATURES_URI", "data/lake/features").rstrip("/")


def lake_source(view: str, description: str) -> FileSource:
    return FileSource(
        name=f"{view}_source",
        path=f"{FEATURES_URI}/{view}/",
        file_format=ParquetFormat(),
        timestamp_field="event_timestamp",
        description=description,
    )


profile_source = lake_source("profile", "Demographics and tenure from the golden record.")
transactions_source = lake_source("transactions", "Purchase, spend and return aggregates per customer.")
engagement_rfm_source = lake_source(
    "engagement_rfm", "RFM quintile scores, engagement score, channel activity."
)
support_sentiment_source = lake_source(
    "support_sentiment", "Support tickets, social mentions and their sentiment."
)
ml_scores_source = lake_source("ml_scores", "Batch model scores written back by the models stage.")
product_stats_source = lake_source(
    "product_stats", "Per product: catalogue category and price, purchases and buyers in trailing windows."
)

# Real-time signals: a push source for a writer that pushes them online as they happen (none in c360 yet);
# the batch source keeps their history for training sets.
realtime_signals_push = PushSource(
    name="realtime_signals_push",
    batch_source=lake_source("realtime_signals", "Session and cart signals from accepted real-time events."),
    description="Session page views and cart state pushed by the event sink.",
)

# Consent flags: rebuilt by `profiles` into the lake, and pushed online the moment a change is recorded
# through the API (c360.profile.consent.record_consent), so a withdrawal is served within seconds.
consent_push = PushSource(
    name="consent_push",
    batch_source=lake_source("consent", "Consent flags per purpose and channel (1 granted, 0 not)."),
    description="Consent changes pushed when they are recorded.",
)
