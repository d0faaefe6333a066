"""The fact tables under `facts/`: their arrow schemas are the contract between the facts stage and every
reader (profiles, feature backfill, labels, training sets, the model issues).

Layout: `facts/<table>/part-<p:05d>.parquet`, p = `c360.profile.staging.partition_of(customer_id,
facts.partitions)`, rows sorted by (customer_id, ts). `products` and `product_similarity` are not keyed by
customer and live in one file each. `facts/_state/facts.json` records the partitions, the reporting currency
and each partition's digest, so a run rewrites only the partitions whose rows changed.

Money: `amount`, `unit_price` and `price` are as delivered, in `currency`; the `*_rc` columns are in the
workspace's reporting currency, converted at the rate of the row's date (`fx_rate`: reporting units per unit).
"""

from __future__ import annotations

import pyarrow as pa

from c360.schemas import TS

FACTS = "facts"
TRANSACTION_LINES = "transaction_lines"
INTERACTIONS = "interactions"
EXPOSURES = "exposures"
PRODUCTS = "products"
PRODUCT_SIMILARITY = "product_similarity"
CUSTOMER_TABLES: tuple[str, ...] = (TRANSACTION_LINES, INTERACTIONS, EXPOSURES)

LINEAGE: list[pa.Field] = [
    pa.field("source", pa.string()),
    pa.field("source_record_id", pa.string()),
    pa.field("_file", pa.string()),
    pa.field("_row", pa.int64()),
]

TRANSACTION_LINE_FIELDS: list[pa.Field] = [
    pa.field("customer_id", pa.string(), nullable=False),
    pa.field("order_id", pa.string()),
    pa.field("line", pa.int32()),  # 1-based within the order, by source record id
    pa.field("ts", TS),
    pa.field("product_id", pa.string()),
    pa.field("category", pa.string()),
    pa.field("quantity", pa.int64()),
    pa.field("unit_price", pa.float64()),
    pa.field("amount", pa.float64()),
    pa.field("currency", pa.string()),
    pa.field("fx_rate", pa.float64()),
    pa.field("unit_price_rc", pa.float64()),
    pa.field("amount_rc", pa.float64()),
    pa.field("kind", pa.string()),  # purchase | return | cancel
    pa.field("channel", pa.string()),
    pa.field("campaign_id", pa.string()),
    *LINEAGE,
]

# Attributes a type defines, parsed out of the interaction's JSON `attributes` into typed columns (null where
# the row's type does not define them or the value is missing or of another type). The JSON stays beside.
INTERACTION_ATTRIBUTES: dict[str, tuple[pa.DataType, tuple[str, ...]]] = {
    "status": (pa.string(), ("support_ticket",)),
    "priority": (pa.string(), ("support_ticket",)),
    "topic": (pa.string(), ("support_ticket",)),
    "csat": (pa.int64(), ("support_ticket",)),
    "pages": (pa.int64(), ("web_visit", "app_session")),
    "page_category": (pa.string(), ("web_visit", "app_session")),  # JSON key "category"
    "cart_items": (pa.int64(), ("web_visit", "app_session")),
    "cart_value": (pa.float64(), ("web_visit", "app_session")),
    "purchased": (pa.bool_(), ("web_visit", "app_session")),
    "subject": (pa.string(), ("email_send", "email_open", "email_click", "campaign_response")),
    "likes": (pa.int64(), ("social_mention",)),
    "shares": (pa.int64(), ("social_mention",)),
    "lang": (pa.string(), ("social_mention",)),
    "metric": (pa.string(), ("iot_reading",)),
    "value": (pa.float64(), ("iot_reading",)),
    "unit": (pa.string(), ("iot_reading",)),
}

INTERACTION_FIELDS: list[pa.Field] = [
    pa.field("customer_id", pa.string(), nullable=False),
    pa.field("ts", TS),
    pa.field("type", pa.string()),
    pa.field("channel", pa.string()),
    pa.field("campaign_id", pa.string()),
    pa.field("offer_id", pa.string()),
    pa.field("variant", pa.string()),
    pa.field("text", pa.string()),
    pa.field("sentiment", pa.float64()),  # -1..1 from c360.facts.sentiment; null where there is no text
    pa.field("sentiment_label", pa.string()),  # negative | neutral | positive
    *(pa.field(name, typ) for name, (typ, _) in INTERACTION_ATTRIBUTES.items()),
    pa.field("attributes", pa.string()),
    *LINEAGE,
]

# Interaction types that expose a customer to a campaign or offer, and those that are its outcomes.
EXPOSURE_TYPES: tuple[str, ...] = ("email_send",)
OUTCOME_TYPES: dict[str, str] = {
    "email_open": "opened",
    "email_click": "clicked",
    "campaign_response": "converted",
}

EXPOSURE_FIELDS: list[pa.Field] = [
    pa.field("customer_id", pa.string(), nullable=False),
    pa.field("exposure_id", pa.string()),  # source:source_record_id of the send (or the decision id)
    pa.field("ts", TS),
    pa.field("type", pa.string()),  # email_send | offer_shown
    pa.field("channel", pa.string()),
    pa.field("campaign_id", pa.string()),
    pa.field("offer_id", pa.string()),
    pa.field("variant", pa.string()),
    pa.field("opened", pa.bool_()),
    pa.field("clicked", pa.bool_()),
    pa.field("converted", pa.bool_()),  # a campaign_response or an order carrying the campaign, in the window
    pa.field("first_open_ts", TS),
    pa.field("first_click_ts", TS),
    pa.field("conversion_ts", TS),
    pa.field("orders", pa.int64()),  # orders carrying the campaign_id within the window
    pa.field("revenue_rc", pa.float64()),  # their net amount in the reporting currency
    pa.field("window_end", TS),  # ts + facts.attribution_days: outcomes after it are not credited
    pa.field("source", pa.string()),
]

PRODUCT_FIELDS: list[pa.Field] = [
    pa.field("product_id", pa.string(), nullable=False),
    pa.field("title", pa.string()),
    pa.field("description", pa.string()),
    pa.field("category", pa.string()),
    pa.field("price", pa.float64()),
    pa.field("currency", pa.string()),
    pa.field("price_rc", pa.float64()),
    pa.field("attributes", pa.string()),
    pa.field("updated_at", TS),  # when the kept version was ingested
    pa.field("source", pa.string()),
    pa.field("source_record_id", pa.string()),
]

PRODUCT_SIMILARITY_FIELDS: list[pa.Field] = [
    pa.field("product_id", pa.string(), nullable=False),
    pa.field("similar_product_id", pa.string(), nullable=False),
    pa.field("rank", pa.int32()),  # 1 = most similar
    pa.field("score", pa.float64()),  # cosine similarity of title, description, category and attributes
]

SCHEMAS: dict[str, pa.Schema] = {
    TRANSACTION_LINES: pa.schema(TRANSACTION_LINE_FIELDS),
    INTERACTIONS: pa.schema(INTERACTION_FIELDS),
    EXPOSURES: pa.schema(EXPOSURE_FIELDS),
    PRODUCTS: pa.schema(PRODUCT_FIELDS),
    PRODUCT_SIMILARITY: pa.schema(PRODUCT_SIMILARITY_FIELDS),
}
