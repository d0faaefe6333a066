"""The raw file sets the demo writes: where, in which format, mapped onto which record, and which deliberate
defects each may carry. `c360/templates/c360.yaml` declares exactly these file sets (a unit test holds the two
together), so ingest reads them with no code.
"""

from __future__ import annotations

from dataclasses import dataclass

from c360.schemas import QUARANTINE_REASONS

EXTENSIONS = {"csv": "csv", "jsonl": "jsonl", "parquet": "parquet"}

# Raw spellings of vocabulary fields (the template's value_maps translate them).
ORDER_STATUS = ("SALE", "RETURN", "CANCELLED")  # purchase, return, cancel
EMAIL_EVENTS = (
    "sent",
    "opened",
    "clicked",
    "converted",
)  # email_send, email_open, email_click, campaign_response
CRM_PURPOSES = ("MARKETING", "ANALYTICS", "PERSONALISATION", "THIRD_PARTY")
CRM_CHANNELS = ("EMAIL", "SMS", "PUSH", "ADS", "WEB")
CRM_STATUS = ("N", "Y")
MKT_PURPOSES = ("promotional", "tracking", "personalisation", "partners")
MKT_CHANNELS = ("email", "sms", "push", "ads", "web")
SESSION_KINDS = ("web", "app")  # web_visit, app_session

CRM_TS = "%Y-%m-%d %H:%M:%S"
CRM_DATE = "%d/%m/%Y"
SUPPORT_TS = "%d/%m/%Y %H:%M"
ISO_Z = "%Y-%m-%dT%H:%M:%SZ"
ISO_OFFSET = "%Y-%m-%dT%H:%M:%S+00:00"


@dataclass(frozen=True)
class Defect:
    """One way to spoil a row: `column` (canonical `field`) gets `value`; None empties / omits / nulls it."""

    field: str
    column: str
    reason: str
    value: str | None

    def __post_init__(self) -> None:
        if self.reason not in QUARANTINE_REASONS:
            raise ValueError(f"unknown quarantine reason {self.reason!r}")


@dataclass(frozen=True)
class FileSet:
    source: str
    name: str
    format: str
    record: str
    id_column: str | None  # None: the file has no record id (rows are keyed by file and row number)
    delimiter: str = ","
    json_types: tuple[tuple[str, str], ...] = ()  # jsonl columns written as numbers or booleans
    defects: tuple[Defect, ...] = ()
    kind: str | None = None  # the source kind, when it is not the source's name

    @property
    def source_kind(self) -> str:
        return self.kind or self.source

    @property
    def ext(self) -> str:
        return EXTENSIONS[self.format]

    def part_path(self, part: int) -> str:
        """Path of one part file relative to the lake root."""
        return f"raw/{self.source}/{self.name}/part-{part:05d}.{self.ext}"

    @property
    def glob(self) -> str:
        return f"raw/{self.source}/{self.name}/*.{self.ext}"


def _missing(field: str, column: str) -> Defect:
    return Defect(field, column, "missing_required", None)


def _bad_ts(column: str, *values: str) -> tuple[Defect, ...]:
    return tuple(Defect("ts", column, "invalid_timestamp", v) for v in values)


FILE_SETS: tuple[FileSet, ...] = (
    FileSet("crm", "customers", "csv", "identity", "customer_no", delimiter=";"),
    FileSet(
        "crm",
        "consent",
        "csv",
        "consent",
        "consent_id",
        delimiter=";",
        defects=(
            _missing("customer_ref", "customer_no"),
            *_bad_ts("recorded_at", "not-a-date", "2025-02-30 10:00:00"),
            Defect("purpose", "purpose", "invalid_enum", "LEGITIMATE_INTEREST"),
            Defect("channel", "channel", "invalid_enum", "FAX"),
            Defect("granted", "status", "invalid_bool", "maybe"),
        ),
    ),
    FileSet(
        "ecommerce",
        "customers",
        "jsonl",
        "identity",
        "customer_id",
        json_types=(("accepts_marketing", "bool"), ("guest", "bool")),
    ),
    FileSet(
        "ecommerce",
        "orders",
        "csv",
        "transaction",
        "line_id",
        defects=(
            _missing("order_id", "order_id"),
            _missing("customer_ref", "customer_id"),
            _missing("product_id", "sku"),
            _missing("ts", "created_at"),
            *_bad_ts("created_at", "not-a-date", "2025-13-45T25:61:00Z"),
            Defect("quantity", "qty", "invalid_number", "abc"),
            Defect("quantity", "qty", "invalid_number", "1.5"),
            Defect("kind", "status", "invalid_enum", "ADJUSTMENT"),
        ),
    ),
    FileSet("ecommerce", "products", "jsonl", "product", "sku"),
    FileSet("support", "contacts", "csv", "identity", "contact_id"),
    FileSet(
        "support",
        "tickets",
        "csv",
        "interaction",
        "ticket_id",
        defects=(
            _missing("customer_ref", "contact_id"),
            _missing("ts", "opened_at"),
            *_bad_ts("opened_at", "31/02/2025 10:00", "not-a-date"),
        ),
    ),
    FileSet("marketing", "contacts", "csv", "identity", "subscriber_id"),
    FileSet(
        "marketing",
        "events",
        "jsonl",
        "interaction",
        "event_id",
        defects=(
            _missing("customer_ref", "subscriber_id"),
            *_bad_ts("event_time", "not-a-date"),
            Defect("type", "event", "invalid_enum", "bounced"),
        ),
    ),
    FileSet(
        "marketing",
        "consent",
        "jsonl",
        "consent",
        "consent_id",
        json_types=(("opted_in", "bool"),),
        defects=(
            _missing("customer_ref", "subscriber_id"),
            *_bad_ts("updated_at", "yesterday"),
            Defect("purpose", "purpose", "invalid_enum", "profiling"),
            Defect("granted", "opted_in", "invalid_bool", "maybe"),
        ),
    ),
    FileSet("web", "visitors", "parquet", "identity", "visitor_id"),
    FileSet(
        "web",
        "sessions",
        "jsonl",
        "interaction",
        "session_id",
        defects=(
            _missing("customer_ref", "visitor_id"),
            *_bad_ts("started_at", "not-a-date"),
            Defect("type", "kind", "invalid_enum", "bot"),
        ),
    ),
    FileSet("iot", "devices", "csv", "identity", "registration_id"),
    FileSet(
        "iot",
        "readings",
        "parquet",
        "interaction",
        "reading_id",
        defects=(_missing("customer_ref", "registration_id"), _missing("ts", "ts")),
    ),
    FileSet("social", "profiles", "jsonl", "identity", "profile_id", json_types=(("followers", "num"),)),
    FileSet(
        "social",
        "mentions",
        "jsonl",
        "interaction",
        "mention_id",
        json_types=(("likes", "num"), ("shares", "num")),
        defects=(
            _missing("customer_ref", "profile_id"),
            *_bad_ts("posted_at", "not-a-date", "2025-06-31T12:00:00Z"),
        ),
    ),
    FileSet("thirdparty", "enrichment", "parquet", "identity", "record_id"),
    # One file of dated exchange rates for the whole history (c360/demo/rates.py), not per chunk.
    FileSet("fx", "rates", "csv", "fx_rate", None, kind="reference"),
)

FILE_SET_INDEX: dict[tuple[str, str], FileSet] = {(f.source, f.name): f for f in FILE_SETS}
