"""What of a profile the model may see, decided before any prompt is built.

Consent comes first: `consent_for` says whether the task may use the profile at all (personalization
consent on the task's channel) and refuses an email, or offer copy, on a channel without marketing consent.
`minimized_view` then keeps only the fields a task needs; email addresses, phone numbers, street and birth
date stay out unless `llm.allow_pii_fields` names them. Free text (a first name, tickets, earlier chat
turns) is cleaned of markup and control characters and cut to a length, and goes into the prompt as quoted
data (`c360.genai.prompts`), never as instructions.
"""

from __future__ import annotations

import hashlib
import json
import re
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from c360.errors import ValidationError
from c360.genai.tasks import TASK_CHANNEL, ContentRequest, OfferTerms
from c360.privacy.consent import ConsentRequiredError, is_permitted

NAME_CHARS = 40
QUOTE_CHARS = 600
MAX_QUOTES = 5
_TAG = re.compile(r"<[^>]{0,200}>")
_NOT_NAME = re.compile(r"[^\w' .-]", re.UNICODE)


@dataclass(frozen=True)
class ConsentDecision:
    personalized: bool
    channel: str


def consent_for(
    request: ContentRequest, profile: Mapping[str, Any], offer: OfferTerms | None
) -> ConsentDecision:
    """Personalization consent on the channel decides whether the profile is used; an email needs marketing
    consent on email, offer copy marketing consent on the offer's channel (ConsentRequiredError, 403)."""
    consents = profile.get("consent") if isinstance(profile.get("consent"), Mapping) else None
    if request.task == "email":
        if offer is not None and offer.channel != "email":
            raise ValidationError(f"the chosen action goes out on {offer.channel}, not email")
        channel = "email"
    else:
        channel = offer.channel if offer is not None else TASK_CHANNEL.get(request.task, "web")
    if request.task in ("email", "offer") and not is_permitted(consents, "marketing", channel):
        raise ConsentRequiredError(f"no marketing consent on {channel} for this customer")
    return ConsentDecision(is_permitted(consents, "personalization", channel), channel)


def clean_text(value: object, limit: int = QUOTE_CHARS) -> str:
    """Text without markup tags or control characters, whitespace collapsed, at most `limit` characters."""
    text = unicodedata.normalize("NFKC", str(value))
    text = _TAG.sub(" ", text)
    text = "".join(ch if unicodedata.category(ch)[0] != "C" else " " for ch in text)
    return " ".join(text.split())[:limit]


def clean_name(value: object) -> str | None:
    """A first name as a greeting may use it: letters, spaces, apostrophes, dots and hyphens only."""
    if not isinstance(value, str):
        return None
    name = " ".join(_NOT_NAME.sub(" ", clean_text(value, NAME_CHARS * 2)).split())[:NAME_CHARS]
    return name or None


def _get(doc: Mapping[str, Any], *path: str) -> Any:
    node: Any = doc
    for part in path:
        if not isinstance(node, Mapping):
            return None
        node = node.get(part)
    return node


def minimized_view(
    profile: Mapping[str, Any],
    request: ContentRequest,
    personalized: bool,
    allow_pii: Sequence[str] = (),
) -> dict[str, Any]:
    """The customer as the prompt shows them: nothing without personalization consent; otherwise first
    name, age band, city and country, favourite categories, preferred channel, segment, open ticket count,
    and for chat the quoted tickets and earlier turns. PII fields only when `allow_pii` names them."""
    if not personalized:
        return {}
    view: dict[str, Any] = {}
    name = clean_name(_get(profile, "demographics", "firstName"))
    if name:
        view["first_name"] = name
    age = _get(profile, "demographics", "age")
    if isinstance(age, int) and age >= 18:
        view["age_band"] = f"{min(age // 10 * 10, 70)}s"
    for key, path in (
        ("city", ("demographics", "location", "city")),
        ("country", ("demographics", "location", "country")),
        ("preferred_channel", ("engagement", "preferredChannel")),
        ("segment", ("mlScores", "segment")),
    ):
        value = _get(profile, *path)
        if isinstance(value, str) and value.strip():
            view[key] = clean_text(value, 60)
    cats = _get(profile, "transactions", "favoriteCategories")
    if isinstance(cats, list) and cats:
        view["favorite_categories"] = [clean_text(c, 40) for c in cats[:5] if isinstance(c, str)]
    if request.task == "chat":
        open_tickets = _get(profile, "interactions", "openTickets")
        if isinstance(open_tickets, int):
            view["open_tickets"] = open_tickets
        if request.tickets:
            view["ticket_texts"] = [clean_text(t) for t in request.tickets[:MAX_QUOTES]]
        if request.history:
            view["history"] = [
                {"role": role if role in ("customer", "agent") else "customer", "text": clean_text(text)}
                for role, text in request.history[-MAX_QUOTES:]
            ]
    for field in allow_pii:
        if field == "email":
            view["email"] = (_get(profile, "identities", "email") or [None])[0]
        elif field == "phone":
            view["phone"] = (_get(profile, "identities", "phone") or [None])[0]
        elif field == "street":
            view["street"] = _get(profile, "demographics", "location", "street")
        elif field == "birth_date":
            view["birth_date"] = _get(profile, "demographics", "birthDate")
    return {k: v for k, v in view.items() if v not in (None, [], "")}


def view_version(view: Mapping[str, Any]) -> str:
    """The profile version a cached text depends on: a digest of exactly what the prompt showed."""
    text = json.dumps(view, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def pii_values(profile: Mapping[str, Any]) -> list[str]:
    """The profile's own PII values an output must never contain (emails, phones, last name, street, birth
    date), for the leak check."""
    values: list[str] = []
    for path in (("identities", "email"), ("identities", "phone")):
        found = _get(profile, *path)
        if isinstance(found, list):
            values += [v for v in found if isinstance(v, str) and len(v) >= 5]
    for text_path in (
        ("demographics", "lastName"),
        ("demographics", "location", "street"),
        ("demographics", "birthDate"),
    ):
        found = _get(profile, *text_path)
        if isinstance(found, str) and len(found) >= 3:
            values.append(found)
    return values
