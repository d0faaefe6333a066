"""What the content writer is asked for and what it must answer: the four tasks, the offer terms a text must
repeat exactly, and the JSON schema (with its length limits) each answer is validated against.

The offer terms come from the next-best-action catalogue (`c360.nba.catalog.Action`): the discount is the
action's; the expiry is the decision's date plus the catalogue's `attribution_days` (a conversion later
than that no longer counts for the action, so the offer is not honoured past it either); with a product,
the price and the price after the discount are the product's. A text may state these and no others.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any, Literal, get_args

from c360.errors import NotFoundError, ValidationError
from c360.nba.catalog import NO_ACTION, Catalog

Task = Literal["product_description", "email", "chat", "offer"]
TASKS: tuple[str, ...] = get_args(Task)
CACHED_TASKS = frozenset({"product_description", "email", "offer"})
"""Chat replies depend on the conversation and are never cached."""

TASK_CHANNEL = {"product_description": "web", "chat": "web"}
"""Where each task's text is shown; email and offer copy go out on the chosen action's channel."""

LIMITS: dict[str, dict[str, int]] = {
    "product_description": {"title": 120, "body": 1200},
    "email": {"subject": 90, "preheader": 140, "text": 2000, "html": 4000},
    "chat": {"reply": 1200},
    "offer": {"headline": 90, "body": 600},
}
"""Task -> field -> most characters; the schema enforces them."""


@dataclass(frozen=True)
class Product:
    product_id: str
    title: str
    description: str = ""
    category: str = ""
    price: float | None = None
    currency: str | None = None


@dataclass(frozen=True)
class OfferTerms:
    """The one offer a text may speak of, as the catalogue defines it."""

    action_id: str
    offer: str
    channel: str
    discount_percent: int
    expires_on: date
    price: float | None = None
    offer_price: float | None = None
    currency: str | None = None

    def as_data(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "offer": self.offer,
            "discount_percent": self.discount_percent,
            "expires_on": self.expires_on.isoformat(),
        }
        if self.price is not None:
            data.update(price=self.price, offer_price=self.offer_price, currency=self.currency)
        return data


def offer_terms(
    catalog: Catalog, action_id: str, decided_at: datetime | None = None, product: Product | None = None
) -> OfferTerms:
    """The terms of catalogue action `action_id` decided at `decided_at` (default now, UTC)."""
    action = catalog.by_id().get(action_id)
    if action is None:
        raise NotFoundError(f"no action {action_id!r} in the catalogue")
    if action.id == NO_ACTION or action.channel is None:
        raise ValidationError("the chosen action is no_action: there is no offer to write about")
    when = decided_at or datetime.now(UTC)
    try:
        expires = (when + timedelta(days=catalog.attribution_days)).date()
    except OverflowError:
        raise ValidationError("decided_at is too far in the future") from None
    price = offer_price = None
    if product is not None and product.price is not None:
        price = round(float(product.price), 2)
        offer_price = round(price * (1.0 - action.discount), 2)
    return OfferTerms(
        action_id=action.id,
        offer=action.offer,
        channel=action.channel,
        discount_percent=round(action.discount * 100),
        expires_on=expires,
        price=price,
        offer_price=offer_price,
        currency=product.currency if product is not None and price is not None else None,
    )


@dataclass(frozen=True)
class ContentRequest:
    """One piece of content for one customer. `tickets` and `history` are text about the customer (open
    support tickets, earlier chat turns): they reach the model only as quoted data."""

    task: str
    customer_id: str
    product_id: str | None = None
    action_id: str | None = None
    message: str | None = None
    history: tuple[tuple[str, str], ...] = ()
    """(role, text) pairs, role `customer` or `agent`, oldest first."""
    tickets: tuple[str, ...] = ()
    tone: str | None = None
    decided_at: datetime | None = None

    def __post_init__(self) -> None:
        if self.task not in TASKS:
            raise ValidationError(f"unknown content task {self.task!r}; known: {', '.join(TASKS)}")
        if self.task in ("email", "offer") and not self.action_id:
            raise ValidationError(f"the {self.task} task needs the chosen action (action_id)")
        if self.task == "product_description" and not self.product_id:
            raise ValidationError("the product_description task needs a product_id")
        if self.task == "chat" and not (self.message or "").strip():
            raise ValidationError("the chat task needs the customer's message")


@dataclass
class Content:
    """What the writer answers: the fields of the task's schema and how they were made."""

    task: str
    fields: dict[str, str]
    source: Literal["model", "template", "cache"]
    personalized: bool
    offer: OfferTerms | None = None
    flags: list[str] = field(default_factory=list)
    """Why a template answered or what was noticed: breaker_open, budget_exhausted, backend_error,
    deadline (llm.request_deadline_seconds passed before an answer), offer_mismatch, invalid_output,
    refusal, moderation, pii, no_personalization_consent."""
    model: str = "template"
    prompt_version: str = ""
    tokens_in: int = 0
    tokens_out: int = 0
    latency_ms: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return {
            "task": self.task,
            "content": self.fields,
            "source": self.source,
            "personalized": self.personalized,
            "offer": self.offer.as_data() if self.offer else None,
            "flags": self.flags,
            "model": self.model,
            "promptVersion": self.prompt_version,
            "usage": {"promptTokens": self.tokens_in, "completionTokens": self.tokens_out},
            "latencyMs": round(self.latency_ms, 3),
        }


def _offer_schema() -> dict[str, Any]:
    return {
        "type": "object",
        "additionalProperties": False,
        "required": ["discount_percent", "expires_on"],
        "properties": {
            "discount_percent": {"type": "integer", "minimum": 0, "maximum": 100},
            "expires_on": {"type": "string", "pattern": r"^\d{4}-\d{2}-\d{2}$"},
        },
    }


def output_schema(task: str) -> dict[str, Any]:
    """The JSON schema of a task's answer: every field a non-empty string within its limit, plus the
    offer's terms as data for the tasks that carry an offer."""
    props: dict[str, Any] = {
        name: {"type": "string", "minLength": 1, "maxLength": limit} for name, limit in LIMITS[task].items()
    }
    if task in ("email", "offer"):
        props["offer"] = _offer_schema()
    return {
        "type": "object",
        "additionalProperties": False,
        "required": sorted(props),
        "properties": props,
    }
