"""Real-time events in the spirit of the Segment tracking spec: track, identify and page.

Field names are accepted in either style (`message_id` or Segment's `messageId`); fields the spec has and
c360 does not use (`sentAt`, `integrations`, `channel`, ...) are ignored, not refused. A batch is checked
event by event: each invalid event becomes one `EventError` with its index, a stable code and a message
that names the field and the rule, never the value (an email in `traits` must not come back in a response
or reach a log).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal

from pydantic import (
    AliasChoices,
    BaseModel,
    ConfigDict,
    Field,
    TypeAdapter,
    field_validator,
    model_validator,
)
from pydantic import ValidationError as PydanticValidationError

MAX_BATCH = 500
MAX_ID_CHARS = 256
MAX_EVENT_JSON_BYTES = 32_000
"""Segment's own limit for one event."""
FUTURE_SKEW = timedelta(minutes=5)
DEFAULT_MAX_AGE = timedelta(days=30)
"""The oldest event accepted when `privacy.retention_days["event"]` is shorter or unset (the seen-id store
must remember ids this long, so it is bounded even when retention is years)."""

LINE_EVENTS = frozenset({"Product Added", "Product Removed"})
"""Track events whose properties are one cart line (product_id, price, quantity)."""
CART_EVENTS = frozenset({"Cart Viewed", "Order Completed"})
"""Track events whose `properties.products` list the whole cart (or order)."""
PRODUCT_VIEWED = "Product Viewed"
"""The track event whose `properties.product_id` becomes the customer's last viewed product."""
MAX_PRODUCT_ID = 200
MAX_QUANTITY = 10_000
MAX_PRICE = 1e9

Id = Annotated[str, Field(min_length=1, max_length=MAX_ID_CHARS)]
OptId = Annotated[str | None, Field(default=None, min_length=1, max_length=MAX_ID_CHARS)]


def _alias(snake: str, camel: str) -> Any:
    return Field(default=None, validation_alias=AliasChoices(snake, camel))


def viewed_product(properties: dict[str, Any]) -> str | None:
    """The `product_id` of a Product Viewed event (a number is taken as its text); None when absent."""
    value = properties.get("product_id")
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise ValueError("properties.product_id must be a string")
    text = str(value).strip()
    if not text or len(text) > MAX_PRODUCT_ID:
        raise ValueError(f"properties.product_id must be 1 to {MAX_PRODUCT_ID} characters")
    return text


def cart_line(properties: dict[str, Any]) -> tuple[int, float]:
    """(quantity, unit price) of one cart line; quantity defaults to 1, price to 0 (unknown)."""
    qty, price = properties.get("quantity", 1), properties.get("price", 0.0)
    if isinstance(qty, bool) or not isinstance(qty, int) or not 1 <= qty <= MAX_QUANTITY:
        raise ValueError(f"properties.quantity must be a whole number from 1 to {MAX_QUANTITY}")
    if isinstance(price, bool) or not isinstance(price, int | float) or not 0 <= price <= MAX_PRICE:
        raise ValueError("properties.price must be a number from 0 up")
    return qty, float(price)


class _Event(BaseModel):
    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True, frozen=True)

    message_id: Id = Field(validation_alias=AliasChoices("message_id", "messageId"))
    anonymous_id: OptId = _alias("anonymous_id", "anonymousId")
    user_id: OptId = _alias("user_id", "userId")
    timestamp: datetime | None = None
    """When it happened, as the client says; absent means when it was received."""
    context: dict[str, Any] = Field(default_factory=dict)

    @field_validator("timestamp")
    @classmethod
    def _utc(cls, v: datetime | None) -> datetime | None:
        if v is None:
            return None
        return v.replace(tzinfo=UTC) if v.tzinfo is None else v.astimezone(UTC)

    def check_ids(self) -> None:
        if not self.anonymous_id and not self.user_id:
            raise ValueError("an event needs anonymous_id or user_id")


class TrackEvent(_Event):
    type: Literal["track"]
    event: Annotated[str, Field(min_length=1, max_length=200)]
    properties: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _cart_lines(self) -> TrackEvent:
        """The cart events' lines must have a usable price and quantity, or the signal would be wrong."""
        if self.event in LINE_EVENTS:
            cart_line(self.properties)
        elif self.event == PRODUCT_VIEWED:
            viewed_product(self.properties)
        elif self.event in CART_EVENTS:
            products = self.properties.get("products", [])
            if not isinstance(products, list) or not all(isinstance(p, dict) for p in products):
                raise ValueError("properties.products must be a list of objects")
            for p in products:
                cart_line(p)
        return self


class PageEvent(_Event):
    type: Literal["page"]
    name: Annotated[str | None, Field(default=None, max_length=200)] = None
    properties: dict[str, Any] = Field(default_factory=dict)


class IdentifyEvent(_Event):
    type: Literal["identify"]
    traits: dict[str, Any] = Field(default_factory=dict)


Event = Annotated[TrackEvent | PageEvent | IdentifyEvent, Field(discriminator="type")]
EVENT = TypeAdapter(Event)


@dataclass(frozen=True)
class EventError:
    """Why the event at `index` of a batch was not accepted."""

    index: int
    code: str
    message: str

    def as_dict(self) -> dict[str, Any]:
        return {"index": self.index, "code": self.code, "message": self.message}


@dataclass(frozen=True)
class Received:
    """A valid event, its batch index and its time (the client's timestamp, else the time received)."""

    index: int
    event: TrackEvent | PageEvent | IdentifyEvent
    ts: datetime


def _describe(exc: PydanticValidationError) -> str:
    # Location and rule only: pydantic's `input` would echo the value.
    parts = [".".join(str(p) for p in e.get("loc", ())) + ": " + str(e.get("msg", "")) for e in exc.errors()]
    return "; ".join(parts)[:500] or "invalid event"


def parse_event(
    index: int, raw: Any, now: datetime, max_age: timedelta, check_size: bool = True
) -> tuple[Received | None, EventError | None]:
    """One event of a batch: a `Received`, or the error that refuses it. `check_size=False` when the
    whole request was smaller than one event may be (measuring each event costs a JSON encoding)."""
    if not isinstance(raw, dict):
        return None, EventError(index, "invalid_event", "an event must be a JSON object")
    kind = raw.get("type")
    if kind not in ("track", "page", "identify"):
        return None, EventError(index, "invalid_event", "type: must be one of track, page, identify")
    try:
        event = EVENT.validate_python(raw)
        event.check_ids()
    except PydanticValidationError as exc:
        return None, EventError(index, "invalid_event", _describe(exc))
    except ValueError as exc:
        return None, EventError(index, "invalid_event", str(exc))
    size = len(json.dumps(raw, separators=(",", ":"), default=str)) if check_size else 0
    if size > MAX_EVENT_JSON_BYTES:
        return None, EventError(
            index, "event_too_large", f"an event is at most {MAX_EVENT_JSON_BYTES} bytes of JSON ({size})"
        )
    ts = event.timestamp or now
    if ts > now + FUTURE_SKEW:
        return None, EventError(
            index, "timestamp_in_future", f"timestamp is more than {FUTURE_SKEW} ahead of the server clock"
        )
    if ts < now - max_age:
        return None, EventError(
            index, "timestamp_too_old", f"timestamp is older than the {max_age.days} days events are kept"
        )
    return Received(index, event, ts), None


def max_event_age(retention_days: dict[str, int]) -> timedelta:
    """The oldest event accepted: the event retention window, bounded by DEFAULT_MAX_AGE."""
    days = retention_days.get("event")
    return min(timedelta(days=days), DEFAULT_MAX_AGE) if days else DEFAULT_MAX_AGE
