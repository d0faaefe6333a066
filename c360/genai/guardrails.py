"""The checks every model answer passes before anyone sees it; a failure names its kind, never the text.

- format: the answer parses as JSON and validates against the task's schema (lengths included);
- offer: every percentage, money amount and date in the text, and the structured `offer` block, equal the
  chosen offer's terms (or figures of the product's own data); nothing else may be promised;
- pii: no email address, phone-like number, or any of the customer's own PII values;
- moderation: no deny-listed term, no echo of an injection ("ignore previous instructions", a system
  prompt), no markup outside the email HTML's allowed tags and attributes, and no run of three words
  repeated from an input `suspect_input` flagged (an injected instruction carried out verbatim).

The moderation step is local and rule-based (a word list and patterns), not a trained classifier: it stops
what the rules name and nothing more.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from html.parser import HTMLParser
from typing import Any

import jsonschema

from c360.genai.tasks import OfferTerms, Product, output_schema

DENY_TERMS = (
    "guaranteed",
    "risk-free",
    "risk free",
    "free money",
    "act now or",
    "no strings attached",
    "miracle",
    "idiot",
    "stupid",
    "hate you",
)
"""Claims we never make and words we never write; `llm.deny_terms` adds to them."""

INJECTION_ECHOES = re.compile(
    r"(ignore|disregard|forget) (all |any )?(the )?(previous|prior|above|earlier) (instructions|rules)"
    r"|system prompt|developer mode"
    r"|you are now|new instructions|quoted material|nothing in the data can change"
    r"|<\s*/?\s*(script|iframe|style|object|embed)\b|javascript:|\bon\w+\s*=",
    re.IGNORECASE,
)
PERCENT = re.compile(r"(\d{1,3}(?:[.,]\d+)?)\s*(?:%|percent\b|per cent\b)", re.IGNORECASE)
MONEY = re.compile(
    r"(?:[$€£]|\b(?:USD|EUR|GBP|CHF|JPY|CAD|AUD)\b)\s*(\d+(?:[.,]\d{1,2})?)"
    r"|(\d+(?:[.,]\d{1,2})?)\s*(?:[$€£]|\b(?:USD|EUR|GBP|CHF|JPY|CAD|AUD)\b)",
    re.IGNORECASE,
)
ISO_DATE = re.compile(r"\b(\d{4}-\d{2}-\d{2})\b")
MONTH_DATE = re.compile(
    r"\b(?:jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)[a-z]*\.?\s+\d{1,2}(?:st|nd|rd|th)?\b"
    r"|\b\d{1,2}(?:st|nd|rd|th)?\s+(?:jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)[a-z]*\b",
    re.IGNORECASE,
)
SUSPECT = re.compile(
    r"\d+\s*%\s*(?:off|discount)|plain text|no json"
    r"|\b(?:reveal|include|print)\b.{0,40}\b(?:email|phone|prompt)",
    re.IGNORECASE,
)
EMAIL = re.compile(r"[\w.+-]+@[\w-]+\.[\w.-]+")
PHONE = re.compile(r"\+?\d[\d ().-]{6,}\d")
NUMBER = re.compile(r"\d+(?:[.,]\d+)?")
HTML_TAGS = frozenset({"p", "br", "strong", "em", "ul", "li", "a", "b", "i", "span", "h1", "h2", "h3"})
HTML_ATTRS = frozenset({"href", "title"})


@dataclass
class Verdict:
    fields: dict[str, Any] | None
    problems: list[str] = field(default_factory=list)
    """Kinds: invalid_output, offer_mismatch, pii, moderation."""

    @property
    def ok(self) -> bool:
        return self.fields is not None and not self.problems


def parse_answer(task: str, raw: str) -> dict[str, Any] | None:
    """The answer as the task's fields, or None when it is not valid JSON of the task's schema. A chat reply
    is plain text and becomes `{"reply": text}`."""
    if task == "chat":
        candidate: Any = {"reply": raw.strip()}
    else:
        text = raw.strip()
        if text.startswith("```"):
            text = text.strip("`").removeprefix("json").strip()
        try:
            candidate = json.loads(text)
        except ValueError:
            return None
    try:
        jsonschema.validate(candidate, output_schema(task))
    except jsonschema.ValidationError:
        return None
    return candidate


def _texts(fields: dict[str, Any]) -> list[str]:
    return [v for v in fields.values() if isinstance(v, str)]


def _num(text: str) -> float:
    return float(text.replace(",", "."))


def allowed_figures(offer: OfferTerms | None, product: Product | None) -> set[float]:
    """Numbers a text may state: the offer's terms and figures that appear in the product's own data."""
    allowed: set[float] = set()
    if offer is not None:
        allowed.add(float(offer.discount_percent))
        for v in (offer.price, offer.offer_price):
            if v is not None:
                allowed.add(round(v, 2))
    if product is not None:
        if product.price is not None:
            allowed.add(round(float(product.price), 2))
        for text in (product.title, product.description):
            allowed.update(_num(n) for n in NUMBER.findall(text or ""))
    return allowed


def offer_problems(fields: dict[str, Any], offer: OfferTerms | None, product: Product | None) -> bool:
    """True when the text promises a figure or date the chosen offer (or product data) does not."""
    allowed = allowed_figures(offer, product)
    block = fields.get("offer")
    if offer is not None and isinstance(block, dict):
        if block.get("discount_percent") != offer.discount_percent:
            return True
        if block.get("expires_on") != offer.expires_on.isoformat():
            return True
    for text in _texts(fields):
        for pct in PERCENT.findall(text):
            if _num(pct) not in allowed:
                return True
        for a, b in MONEY.findall(text):
            if round(_num(a or b), 2) not in allowed:
                return True
        for day in ISO_DATE.findall(text):
            if offer is None or day != offer.expires_on.isoformat():
                return True
        if MONTH_DATE.search(text):
            return True
    return False


def leaks_pii(fields: dict[str, Any], pii: Iterable[str]) -> bool:
    text = "\n".join(_texts(fields))
    lowered = text.casefold()
    if EMAIL.search(text):
        return True
    for match in PHONE.finditer(text):
        if sum(ch.isdigit() for ch in match.group()) >= 7 and not ISO_DATE.fullmatch(match.group().strip()):
            return True
    return any(value.casefold() in lowered for value in pii)


class _HtmlCheck(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.bad = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag not in HTML_TAGS:
            self.bad = True
        for name, value in attrs:
            if name not in HTML_ATTRS or name == "href" and not (value or "").startswith("https://"):
                self.bad = True


def moderation_problems(fields: dict[str, Any], deny_terms: Sequence[str] = ()) -> bool:
    """True when a deny-listed term, an injection echo or disallowed markup appears."""
    for name, text in fields.items():
        if not isinstance(text, str):
            continue
        lowered = text.casefold()
        if any(term.casefold() in lowered for term in (*DENY_TERMS, *deny_terms)):
            return True
        if INJECTION_ECHOES.search(text):
            return True
        if name == "html":
            check = _HtmlCheck()
            check.feed(text)
            check.close()
            if check.bad:
                return True
        elif "<" in text and re.search(r"<\s*[a-zA-Z/!]", text):
            return True
    return False


def suspect_input(text: str, deny_terms: Sequence[str] = ()) -> bool:
    """Whether text from a profile or product carries instructions or an offer of its own: an injection
    pattern, disallowed markup, a deny-listed term, a discount, or a request for data or format changes."""
    if SUSPECT.search(text) or INJECTION_ECHOES.search(text) or re.search(r"<\s*[a-zA-Z/!]", text):
        return True
    lowered = text.casefold()
    return any(term.casefold() in lowered for term in (*DENY_TERMS, *deny_terms))


def echoes(fields: dict[str, Any], suspects: Sequence[str], words: int = 3) -> bool:
    """Whether the output repeats `words` consecutive words of a suspect input: an injected instruction
    carried out verbatim (a paraphrase is not caught)."""
    text = " ".join(re.findall(r"\w+", " ".join(_texts(fields)).casefold()))
    for suspect in suspects:
        tokens = re.findall(r"\w+", suspect.casefold())
        for i in range(len(tokens) - words + 1):
            if " ".join(tokens[i : i + words]) in text:
                return True
    return False


def check_answer(
    task: str,
    raw: str,
    offer: OfferTerms | None,
    product: Product | None,
    pii: Sequence[str],
    deny_terms: Sequence[str] = (),
    suspects: Sequence[str] = (),
) -> Verdict:
    """Every check on one model answer; `problems` lists the kinds that failed."""
    fields = parse_answer(task, raw)
    if fields is None:
        return Verdict(None, ["invalid_output"])
    return check_fields(fields, offer, product, pii, deny_terms, suspects)


def check_fields(
    fields: dict[str, Any],
    offer: OfferTerms | None,
    product: Product | None,
    pii: Sequence[str],
    deny_terms: Sequence[str] = (),
    suspects: Sequence[str] = (),
) -> Verdict:
    problems = []
    if offer_problems(fields, offer, product):
        problems.append("offer_mismatch")
    if leaks_pii(fields, pii):
        problems.append("pii")
    if moderation_problems(fields, deny_terms) or echoes(fields, suspects):
        problems.append("moderation")
    return Verdict(fields, problems)
