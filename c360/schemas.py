"""Canonical records: the shapes every source is mapped onto (ARCHITECTURE.md, "Canonical records").

The arrow schemas here are the contract between ingest and every later stage: `standardized/<record type>/`
holds exactly these columns plus the lineage columns. Later stages import these names rather than spelling
column names again.
"""

from __future__ import annotations

from typing import Literal, get_args

import pyarrow as pa

RecordType = Literal["identity", "transaction", "interaction", "consent", "product", "fx_rate"]
SourceKind = Literal[
    "crm", "ecommerce", "support", "marketing", "web", "iot", "social", "thirdparty", "reference"
]
FileFormat = Literal["csv", "jsonl", "parquet"]

RECORD_TYPES: tuple[str, ...] = get_args(RecordType)
SOURCE_KINDS: tuple[str, ...] = get_args(SourceKind)

# Identifiers that name one person on their own: equal normalized values link records deterministically.
STRONG_IDENTIFIERS: tuple[str, ...] = (
    "email",
    "phone",
    "device_id",
    "cookie_id",
    "social_handle",
    "loyalty_id",
)

TransactionKind = Literal["purchase", "return", "cancel"]
InteractionType = Literal[
    "support_ticket",
    "web_visit",
    "app_session",
    "email_send",
    "email_open",
    "email_click",
    "campaign_response",
    "social_mention",
    "iot_reading",
]
ConsentPurpose = Literal["marketing", "analytics", "personalization", "third_party"]
ConsentChannel = Literal["email", "sms", "push", "ads", "web"]

TRANSACTION_KINDS: tuple[str, ...] = get_args(TransactionKind)
INTERACTION_TYPES: tuple[str, ...] = get_args(InteractionType)
CONSENT_PURPOSES: tuple[str, ...] = get_args(ConsentPurpose)
CONSENT_CHANNELS: tuple[str, ...] = get_args(ConsentChannel)

MONEY = pa.decimal128(18, 4)
TS = pa.timestamp("us", tz="UTC")

# Every standardized row keeps where it came from: the source system, its own record id, the file and row.
LINEAGE_FIELDS: list[pa.Field] = [
    pa.field("source", pa.string(), nullable=False),
    pa.field("source_record_id", pa.string(), nullable=False),
    pa.field("_file", pa.string()),
    pa.field("_row", pa.int64()),
    pa.field("_ingested_at", TS),
]

RECORD_FIELDS: dict[str, list[pa.Field]] = {
    "identity": [
        pa.field("email", pa.string()),
        pa.field("phone", pa.string()),
        # True where the phone is well-formed for its country but not a number libphonenumber knows to be
        # assigned (an unassigned area code): kept and compared as digits, flagged. Set by ingest, not mapped.
        pa.field("phone_possible_only", pa.bool_()),
        pa.field("device_id", pa.string()),
        pa.field("cookie_id", pa.string()),
        pa.field("social_handle", pa.string()),
        pa.field("loyalty_id", pa.string()),
        pa.field("first_name", pa.string()),
        pa.field("last_name", pa.string()),
        pa.field("name_suffix", pa.string()),  # generational: Jr, Sr, II, III, IV (titles are dropped)
        pa.field("birth_date", pa.date32()),
        pa.field("gender", pa.string()),
        pa.field("street", pa.string()),
        pa.field("city", pa.string()),
        pa.field("postcode", pa.string()),
        pa.field("state", pa.string()),
        pa.field("country", pa.string()),
        pa.field("observed_at", TS),
    ],
    "transaction": [
        pa.field("order_id", pa.string()),
        pa.field("customer_ref", pa.string()),
        pa.field("ts", TS),
        pa.field("product_id", pa.string()),
        pa.field("category", pa.string()),
        pa.field("quantity", pa.int64()),
        pa.field("unit_price", MONEY),
        pa.field("amount", MONEY),
        pa.field("currency", pa.string()),
        pa.field("kind", pa.string()),
        pa.field("channel", pa.string()),
        pa.field("campaign_id", pa.string()),  # the campaign an order is attributed to, if any
    ],
    "interaction": [
        pa.field("customer_ref", pa.string()),
        pa.field("ts", TS),
        pa.field("type", pa.string()),
        pa.field("channel", pa.string()),
        pa.field("text", pa.string()),
        pa.field("attributes", pa.string()),  # JSON object, kept as text so any source fits
        # What the customer was shown: filled from `attributes` (campaign_id, offer_id or offer, variant)
        # by the facts stage when a source does not map them as columns.
        pa.field("campaign_id", pa.string()),
        pa.field("offer_id", pa.string()),
        pa.field("variant", pa.string()),
    ],
    "consent": [
        pa.field("customer_ref", pa.string()),
        pa.field("ts", TS),
        pa.field("purpose", pa.string()),
        pa.field("channel", pa.string()),
        pa.field("granted", pa.bool_()),
    ],
    "product": [
        pa.field("product_id", pa.string()),
        pa.field("title", pa.string()),
        pa.field("description", pa.string()),
        pa.field("category", pa.string()),
        pa.field("price", MONEY),
        pa.field("currency", pa.string()),
        pa.field("attributes", pa.string()),
    ],
    # A dated exchange rate: `rate` units of `currency` buy one unit of `base` on `date` (ECB style when
    # base is EUR). The facts stage converts every transaction into the reporting currency with these.
    "fx_rate": [
        pa.field("date", pa.date32()),
        pa.field("base", pa.string()),
        pa.field("currency", pa.string()),
        pa.field("rate", pa.float64()),
    ],
}

# Fields a row must carry (after mapping and normalization) to be accepted; otherwise it is quarantined.
REQUIRED_FIELDS: dict[str, tuple[str, ...]] = {
    "identity": (),
    "transaction": ("order_id", "customer_ref", "ts", "product_id", "quantity", "amount", "kind"),
    "interaction": ("customer_ref", "ts", "type"),
    "consent": ("customer_ref", "ts", "purpose", "channel", "granted"),
    "product": ("product_id", "title"),
    "fx_rate": ("date", "base", "currency", "rate"),
}

# Fields whose values must come from a closed vocabulary.
ENUM_FIELDS: dict[str, dict[str, tuple[str, ...]]] = {
    "transaction": {"kind": TRANSACTION_KINDS},
    "interaction": {"type": INTERACTION_TYPES},
    "consent": {"purpose": CONSENT_PURPOSES, "channel": CONSENT_CHANNELS},
}

# Reason codes a quarantine row carries (the generator's ground truth uses the same codes).
QUARANTINE_REASONS: tuple[str, ...] = (
    "missing_required",  # a required field is absent or empty
    "invalid_timestamp",  # present but not a timestamp in any accepted form
    "invalid_date",
    "invalid_number",  # quantity, price or amount not a number (or quantity not a whole number)
    "invalid_bool",
    "invalid_enum",  # outside the closed vocabulary of the field
    "invalid_email",  # optional identifier that cannot be normalized: the field is nulled, the row kept
    "invalid_phone",
    "malformed_row",  # the row itself cannot be parsed (wrong number of columns, broken JSON line)
    "field_too_large",  # one value over ingest.max_field_bytes (the value is not kept in quarantine)
    "row_too_large",  # the row over ingest.max_row_bytes
    "duplicate_id",  # another row of the same file has this source record id and other contents
    "negative_quantity",  # a purchase (not a return or cancel) with a negative quantity
    "negative_unit_price",
    "negative_amount",
    "invalid_currency",  # not an ISO 4217 code (a transaction, product price or exchange rate)
    "invalid_rate",  # an exchange rate that is not a positive number
    "no_fx_rate",  # (facts) no rate for the transaction's currency within fx_max_age_days of its date
)

QUARANTINE_SCHEMA = pa.schema(
    [
        pa.field("source", pa.string()),
        pa.field("file_set", pa.string()),
        pa.field("file", pa.string()),  # path relative to the lake root
        pa.field("row", pa.int64()),  # 1-based data row (header excluded); the line number for jsonl
        pa.field("field", pa.string()),  # canonical field at fault; null for malformed_row and row_too_large
        pa.field("reason", pa.string()),  # one of QUARANTINE_REASONS
        pa.field("message", pa.string()),  # for people: what was wrong, without the value when it is PII
        pa.field("action", pa.string()),  # "row_rejected" or "field_nulled" (the row was kept)
        pa.field("raw", pa.string()),  # the row as delivered, JSON-encoded
        pa.field("_ingested_at", TS),
    ]
)


# Stored fields ingest derives itself (a mapping may not target them).
DERIVED_FIELDS: dict[str, tuple[str, ...]] = {"identity": ("phone_possible_only",)}
# Mapping targets that are not stored as they are: a full name is split into first, last name and suffix.
MAPPING_ONLY_FIELDS: dict[str, tuple[str, ...]] = {"identity": ("full_name",)}


def canonical_fields(record: str) -> list[str]:
    """The stored fields of this record type (its standardized columns, lineage aside)."""
    return [f.name for f in RECORD_FIELDS[record]]


def mapping_targets(record: str) -> list[str]:
    """Names a source mapping may target for this record type."""
    derived = DERIVED_FIELDS.get(record, ())
    return [f for f in canonical_fields(record) if f not in derived] + list(
        MAPPING_ONLY_FIELDS.get(record, ())
    )


def standardized_schema(record: str) -> pa.Schema:
    """The full arrow schema of `standardized/<record>/` files."""
    return pa.schema(LINEAGE_FIELDS + RECORD_FIELDS[record])
