"""`ContentWriter`: one piece of content for one customer, grounded, checked, cached and budgeted.

The order of a request is the order of the rules: read the profile, product and offer; check consent
(`grounding.consent_for`) before anything else sees the profile; minimize it; answer from the cache when the
same prompt inputs were answered before; otherwise ask the model (if one is configured, its circuit breaker
is closed and the day's budget has room), check the answer (`guardrails`), ask once more when the format or
the offer's terms were wrong, and fall back to the template writer when it still fails. The calls of one
request, retries and the regeneration included, end by `llm.request_deadline_seconds`. Every generation is
logged (logger `c360.genai`) with task, source, model, prompt version, token counts, latency and flags: no
customer id, no text.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Literal, TypeVar

from c360.errors import C360Error, NotFoundError
from c360.genai.backends import OpenAIBackend
from c360.genai.budget import Budget, TokenBudget
from c360.genai.cache import ContentCache, cache_key
from c360.genai.grounding import consent_for, minimized_view, pii_values, view_version
from c360.genai.guardrails import DENY_TERMS, check_answer, check_fields, suspect_input
from c360.genai.prompts import PROMPT_VERSION, build_messages, estimate_tokens, product_data
from c360.genai.resilience import (
    BackendError,
    CircuitBreaker,
    Pacer,
    Pacing,
    call_with_retries,
    failure_flag,
    paced,
)
from c360.genai.tasks import CACHED_TASKS, LIMITS, Content, ContentRequest, OfferTerms, Product, offer_terms
from c360.genai.templates import template_content
from c360.nba.catalog import Catalog
from c360.settings import LLMSettings

log = logging.getLogger("c360.genai")
T = TypeVar("T")
REGENERATE_ON = frozenset({"invalid_output", "offer_mismatch"})


@dataclass
class ChatEvent:
    """One server-sent event of a streamed chat reply: `delta` text as it arrives, then `done` with the
    checked reply, or `replace` with the template reply that supersedes every delta sent before it."""

    kind: Literal["delta", "done", "replace"]
    text: str = ""
    content: Content | None = None


@dataclass
class _Prepared:
    request: ContentRequest
    view: dict[str, Any]
    product: Product | None
    offer: OfferTerms | None
    personalized: bool
    pii: list[str]
    flags: list[str] = field(default_factory=list)
    suspects: list[str] = field(default_factory=list)
    """Input text that carries instructions (guardrails.suspect_input); the output may not repeat it."""


class ContentWriter:
    def __init__(
        self,
        settings: LLMSettings,
        catalog: Catalog,
        profiles: Callable[[str], Mapping[str, Any]],
        products: Callable[[str], Product | None],
        backend: OpenAIBackend | None = None,
        cache: ContentCache | None = None,
        budget: TokenBudget | None = None,
        sleep: Callable[[float], None] = time.sleep,
        open_tickets: Callable[[str], Sequence[str]] | None = None,
        pacer: Pacing | None = None,
    ) -> None:
        """`budget` and `pacer` default to in-memory ones for this process; a workspace's writer gets the
        shared ones of its ledger (service.writer_for_workspace)."""
        self.settings, self.catalog = settings, catalog
        self.profiles, self.products = profiles, products
        self.backend, self.cache = backend, cache
        self.budget: TokenBudget = budget or Budget(
            settings.daily_token_budget,
            settings.daily_cost_budget,
            settings.price_per_1k_input_tokens,
            settings.price_per_1k_output_tokens,
        )
        self.breaker = CircuitBreaker(settings.breaker_failures, settings.breaker_reset_seconds)
        self.pacer: Pacing = pacer or Pacer(
            settings.requests_per_second, burst=max(1.0, settings.requests_per_second / 10)
        )
        self.deny_terms = (*DENY_TERMS, *settings.deny_terms)
        self.open_tickets = open_tickets
        """customer_id -> open ticket texts, for chat requests that bring none (service.lake_open_tickets)."""
        self._sleep = sleep

    @property
    def model_name(self) -> str:
        return self.backend.model if self.backend is not None else "template"

    # ------------------------------------------------------------------ one request

    def prepare(self, request: ContentRequest) -> _Prepared:
        """Profile, product and offer read; consent checked (ConsentRequiredError); profile minimized."""
        profile = self.profiles(request.customer_id)
        product = None
        if request.product_id:
            product = self.products(request.product_id)
            if product is None:
                raise NotFoundError("no product with this product_id")
            product, product_suspect = self._screened(product)
        offer = None
        if request.task in ("email", "offer") and request.action_id:
            offer = offer_terms(self.catalog, request.action_id, request.decided_at, product)
        decision = consent_for(request, profile, offer)
        flags = [] if decision.personalized else ["no_personalization_consent"]
        if request.task == "chat" and decision.personalized and not request.tickets and self.open_tickets:
            try:
                request = replace(request, tickets=tuple(self.open_tickets(request.customer_id)))
            except (C360Error, OSError) as exc:  # the reply goes out without them
                log.warning("open tickets unavailable: %s", type(exc).__name__)
                flags.append("tickets_unavailable")
        view = minimized_view(profile, request, decision.personalized, self.settings.allow_pii_fields)
        quoted = [
            request.message or "",
            request.tone or "",
            *request.tickets,
            *(t for _, t in request.history),
        ]
        quoted.append(str((profile.get("demographics") or {}).get("firstName") or ""))
        suspects = [t for t in quoted if t and suspect_input(t, self.deny_terms)]
        if request.product_id and product_suspect:
            flags.append("product_text_withheld")
        p = _Prepared(request, view, product, offer, decision.personalized, pii_values(profile), flags)
        p.suspects = suspects
        return p

    def _screened(self, product: Product) -> tuple[Product, bool]:
        """The product with a title or description that carries instructions or an offer of its own
        replaced by neutral wording: product data is not trusted to speak for the catalogue's offers."""
        title_bad = suspect_input(product.title, self.deny_terms)
        desc_bad = suspect_input(product.description, self.deny_terms)
        if not (title_bad or desc_bad):
            return product, False
        title = (
            f"Our {product.category} pick".replace("Our  pick", "Our pick") if title_bad else product.title
        )
        return replace(product, title=title, description="" if desc_bad else product.description), True

    def write(self, request: ContentRequest) -> Content:
        """The content for one request (chat included, unstreamed)."""
        started = time.perf_counter()
        p = self.prepare(request)
        key = None
        if self.cache is not None and request.task in CACHED_TASKS:
            key = cache_key(
                request.task,
                request.customer_id,
                view_version(p.view),
                request.product_id,
                json.dumps(product_data(p.product), sort_keys=True) if p.product else None,
                sorted(p.offer.as_data().items()) if p.offer else None,
                PROMPT_VERSION,
                self.model_name,
            )
            hit = self.cache.get(key)
            if hit is not None:
                content = self._content(p, hit["fields"], "cache", hit["model"])
                return self._logged(content, started)
        content = self._generate(p)
        if key is not None and content.source == "model" and self.cache is not None:
            self.cache.put(key, request.customer_id, {"fields": content.fields, "model": content.model})
        return self._logged(content, started)

    def _content(
        self, p: _Prepared, fields: dict[str, Any], source: Any, model: str, flags: Sequence[str] = ()
    ) -> Content:
        return Content(
            task=p.request.task,
            fields=fields,
            source=source,
            personalized=p.personalized,
            offer=p.offer,
            flags=[*p.flags, *flags],
            model=model,
            prompt_version=PROMPT_VERSION,
        )

    def template(self, p: _Prepared, flags: Sequence[str] = ()) -> Content:
        """The offline writer's answer; `flags` say why it answers (each once)."""
        fields = template_content(p.request.task, p.view, p.product, p.offer, p.request.message)
        return self._content(p, fields, "template", "template", list(dict.fromkeys(flags)))

    def _generate(self, p: _Prepared) -> Content:
        backend = self.backend
        if backend is None:
            return self.template(p)
        if not self.breaker.allow():
            return self.template(p, ["breaker_open"])
        messages = build_messages(p.request, p.view, p.product, p.offer)
        estimate = (estimate_tokens(messages), self.settings.max_output_tokens)
        flags: list[str] = []
        tokens = [0, 0]
        deadline = time.monotonic() + self.settings.request_deadline_seconds
        for _attempt in range(2):
            if not self.budget.reserve(*estimate):
                self.breaker.record(True)  # not the backend's fault; release a half-open trial
                return self._with_usage(self.template(p, [*flags, "budget_exhausted"]), tokens)
            try:
                answer = self._call(
                    lambda t: backend.complete(messages, p.request.task, estimate[1], t), deadline
                )
            except BackendError as exc:
                self.budget.settle(estimate, (0, 0))
                flag, blameless = failure_flag(exc)
                self.breaker.record(blameless)
                return self._with_usage(self.template(p, [*flags, flag]), tokens)
            self.breaker.record(True)
            self.budget.settle(estimate, (answer.tokens_in, answer.tokens_out))
            tokens[0] += answer.tokens_in
            tokens[1] += answer.tokens_out
            verdict = check_answer(
                p.request.task, answer.text, p.offer, p.product, p.pii, self.deny_terms, p.suspects
            )
            if verdict.ok and verdict.fields is not None:
                content = self._content(p, verdict.fields, "model", answer.model, flags)
                return self._with_usage(content, tokens)
            flags += verdict.problems
            if not REGENERATE_ON.issuperset(verdict.problems):
                break
        return self._with_usage(self.template(p, flags), tokens)

    def _call(self, call: Callable[[float], T], deadline: float) -> T:
        """`call(timeout)`, paced and retried, all of it by `deadline`."""
        return call_with_retries(
            lambda: paced(self.pacer, call, deadline, self.settings.timeout_seconds),
            self.settings.max_retries,
            self.settings.max_retry_wait_seconds,
            sleep=self._sleep,
            deadline=deadline,
        )

    @staticmethod
    def _with_usage(content: Content, tokens: list[int]) -> Content:
        content.tokens_in, content.tokens_out = tokens
        return content

    def _logged(self, content: Content, started: float) -> Content:
        content.latency_ms = (time.perf_counter() - started) * 1000.0
        log.info(
            "generation task=%s source=%s model=%s prompt=%s tokens_in=%d tokens_out=%d latency_ms=%.1f "
            "flags=%s",
            content.task,
            content.source,
            content.model,
            content.prompt_version,
            content.tokens_in,
            content.tokens_out,
            content.latency_ms,
            ",".join(content.flags) or "-",
        )
        return content

    # ------------------------------------------------------------------ streamed chat

    def stream_chat(self, request: ContentRequest) -> Iterator[ChatEvent]:
        """A chat reply as events. Every delta is checked with the text before it; a reply that fails a check
        (or a stream that stalls) ends with `replace` and the template reply. The request's deadline bounds
        the tries until the answer starts; once it streams, a stall ends at the per-read timeout (the time
        that was left at its start when that was shorter than `timeout_seconds`)."""
        started = time.perf_counter()
        p = self.prepare(request)
        backend = self.backend
        if backend is None or not self.breaker.allow():
            content = self._logged(self.template(p, [] if backend is None else ["breaker_open"]), started)
            yield ChatEvent("done", content.fields["reply"], content)
            return
        messages = build_messages(p.request, p.view, p.product, p.offer)
        estimate = (estimate_tokens(messages), self.settings.max_output_tokens)
        if not self.budget.reserve(*estimate):
            content = self._logged(self.template(p, ["budget_exhausted"]), started)
            yield ChatEvent("done", content.fields["reply"], content)
            return
        text, problem, stream, blameless = "", None, None, True
        deadline = time.monotonic() + self.settings.request_deadline_seconds
        try:
            stream = self._call(lambda t: backend.stream(messages, estimate[1], t), deadline)
            for delta in stream:
                text += delta
                verdict = check_fields({"reply": text}, None, None, p.pii, self.deny_terms, p.suspects)
                if len(text) > LIMITS["chat"]["reply"]:
                    problem = "invalid_output"
                elif verdict.problems:
                    problem = verdict.problems[0]
                if problem:
                    break
                yield ChatEvent("delta", delta)
        except BackendError as exc:
            problem, blameless = failure_flag(exc)
        self.breaker.record(blameless)
        used = (stream.tokens_in, stream.tokens_out) if stream is not None else (0, 0)
        self.budget.settle(estimate, used)
        if problem is None and not text.strip():
            problem = "invalid_output"
        if problem is None:
            content = self._content(p, {"reply": text.strip()}, "model", backend.model)
            kind: Literal["done", "replace"] = "done"
        else:
            content = self.template(p, [problem])
            kind = "replace" if text else "done"
        content = self._logged(self._with_usage(content, list(used)), started)
        yield ChatEvent(kind, content.fields["reply"], content)

    def close(self) -> None:
        """The cache, the backend's client and a shared budget's or pacer's ledger connection."""
        if self.cache is not None:
            self.cache.close()
        if self.backend is not None:
            self.backend.close()
        for part in (self.budget, self.pacer):
            close = getattr(part, "close", None)
            if callable(close):
                close()
