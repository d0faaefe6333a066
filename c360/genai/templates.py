"""The offline writer: every task's answer filled from templates with the profile view, product and offer.

It is the default backend (`llm.provider: offline`, no network) and the answer of last resort whenever a
model cannot be used or its output fails a check. It states the offer's terms verbatim, uses only the
minimized view (so without personalization consent it greets no one), and escapes everything it puts in
HTML, so its output passes the same guardrails a model's must.
"""

from __future__ import annotations

import html
from typing import Any

from c360.genai.tasks import LIMITS, OfferTerms, Product

OFFER_WORDS = {
    "discount_10": "a discount",
    "discount_25": "a discount",
    "free_shipping": "free shipping",
    "new_arrivals": "our new arrivals",
    "loyalty_points": "bonus loyalty points",
    "bundle": "a bundle saving",
}


def _money(value: float, currency: str | None) -> str:
    return f"{value:.2f} {currency}" if currency else f"{value:.2f}"


def offer_sentence(offer: OfferTerms) -> str:
    """The offer in one sentence, stating its discount (if any), its prices (if any) and its expiry."""
    what = OFFER_WORDS.get(offer.offer, offer.offer.replace("_", " "))
    parts = [f"{offer.discount_percent}% off" if offer.discount_percent else what]
    if offer.price is not None and offer.offer_price is not None and offer.discount_percent:
        now, before = _money(offer.offer_price, offer.currency), _money(offer.price, offer.currency)
        parts.append(f"now {now} instead of {before}")
    return f"Your offer: {', '.join(parts)}, valid until {offer.expires_on.isoformat()}."


def _greeting(view: dict[str, Any]) -> str:
    name = view.get("first_name")
    return f"Hi {name}," if name else "Hello,"


def _cut(fields: dict[str, str], task: str) -> dict[str, str]:
    return {k: v[: LIMITS[task][k]] for k, v in fields.items()}


def template_content(
    task: str,
    view: dict[str, Any],
    product: Product | None = None,
    offer: OfferTerms | None = None,
    message: str | None = None,
) -> dict[str, Any]:
    """The task's answer (the fields of `output_schema(task)`), built without a model."""
    cats = view.get("favorite_categories") or []
    liked = f" You often shop {cats[0]}." if cats else ""
    if task == "product_description":
        title = product.title if product else "Our product"
        body = (product.description if product and product.description else f"Discover {title}.") + liked
        return _cut({"title": title, "body": body}, task)
    if task == "chat":
        tickets = view.get("open_tickets")
        follow = " We are working on your open request and will update you soon." if tickets else ""
        reply = f"{_greeting(view)} thank you for your message.{follow} How else can we help?"
        return _cut({"reply": reply}, task)
    if offer is None:
        raise ValueError(f"the {task} task needs an offer")
    sentence = offer_sentence(offer)
    terms = {"discount_percent": offer.discount_percent, "expires_on": offer.expires_on.isoformat()}
    if task == "offer":
        headline = f"{offer.discount_percent}% off for you" if offer.discount_percent else "An offer for you"
        return {**_cut({"headline": headline, "body": sentence + liked}, task), "offer": terms}
    subject = (
        f"{offer.discount_percent}% off, just for you" if offer.discount_percent else "Something for you"
    )
    product_line = f" It applies to {product.title}." if product else ""
    text = f"{_greeting(view)}\n\n{sentence}{product_line}{liked}\n\nThank you for shopping with us."
    body_html = "".join(f"<p>{html.escape(p)}</p>" for p in text.split("\n\n"))
    fields = {"subject": subject, "preheader": sentence, "text": text, "html": body_html}
    return {**_cut(fields, task), "offer": terms}
