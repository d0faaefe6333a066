"""`Personalizer`: one personalization answer from the profile and every model, within a time budget.

The profile lookup comes first (its consent and scores are the models' input), then recommendations,
next-best-action, scores and real-time signals are asked for at once (`asyncio.gather`), each under its own
timeout, capped by what is left of the route's budget. A part that is late, fails or has no model answers
its documented fallback, and the answer lists it in `fallbacks` with a reason code (`c360.inference.parts`):

- profile: `unknown_customer` (no profile for the id, an anonymous id no profile holds), `timeout`,
  `store_unavailable`: every model then answers non-personalized;
- recommendations: the popular list (cached here from the model, so a late recommender still has one);
- nextBestAction: the default action, `no_action`, without a decision id;
- scores, segment, signals: null.

A part that times out keeps running in its worker or replica; its result is dropped (a decision made after
the deadline is not logged: `NextBestActionPolicy.decide`).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from c360.errors import C360Error, NotFoundError
from c360.inference.clients import ModelClients
from c360.inference.nba import default_action
from c360.inference.parts import (
    MODEL_ERROR,
    NBA,
    PROFILE,
    RECS,
    SCORES,
    SIGNALS,
    STORE_UNAVAILABLE,
    TIMEOUT,
    UNKNOWN_CUSTOMER,
    Part,
)
from c360.profile.store.base import ProfileStore

if TYPE_CHECKING:
    from c360.settings import ServingSettings

log = logging.getLogger("c360.inference")
ANONYMOUS_KINDS = ("cookie", "device")
"""Identifier kinds an anonymous_id is looked up as in the profile store's index, in order."""
POPULAR_CACHE = 100
"""Items of the cached popular list the recommendations fallback is cut from."""


@dataclass(frozen=True)
class Budget:
    """Seconds. The parts run at once, so the route takes about profile + the slowest part."""

    route: float = 0.050
    profile: float = 0.010
    part: float = 0.030
    popular_ttl: float = 300.0

    @classmethod
    def of(cls, serving: ServingSettings) -> Budget:
        """The workspace's `serving` budgets (milliseconds there)."""
        return cls(
            route=serving.route_budget_ms / 1000,
            profile=serving.profile_budget_ms / 1000,
            part=serving.part_budget_ms / 1000,
        )


PROFILE_THREADS = 8


class Personalizer:
    def __init__(
        self,
        models: ModelClients,
        profiles: Callable[[], ProfileStore],
        signals: Callable[[str | None], Part] | None = None,
        budget: Budget | None = None,
        observe: Callable[[str, Part], None] | None = None,
        stitched: Callable[[str], str | None] | None = None,
    ) -> None:
        """`signals(customer_id)`: the real-time signals part (a blocking read, run in a thread);
        `observe(part, answer)`: called once per part answered (metrics); `stitched(anonymous_id)`: the
        customer an identify event stitched the anonymous id to, or None (a blocking read)."""
        self.models = models
        self.profiles = profiles
        self.signals = signals
        self.stitched = stitched
        self.budget = budget or Budget()
        self.observe = observe
        self._popular: tuple[float, Part] | None = None
        self._refreshing: asyncio.Task[None] | None = None
        # The profile lookup has threads of its own: in the loop's shared pool it would queue behind model
        # calls and signal reads, and miss its 10 ms whenever they are slow.
        self._profile_pool = ThreadPoolExecutor(PROFILE_THREADS, thread_name_prefix="c360-profile")

    # ------------------------------------------------------------------------------------------ profile

    async def profile_of(
        self, customer_id: str | None, anonymous_id: str | None
    ) -> tuple[str | None, dict[str, Any] | None, Part]:
        """(the customer id the profile answers as, its document, the profile part)."""
        store = self.profiles

        def lookup() -> tuple[str | None, dict[str, Any] | None]:
            if customer_id is not None:
                doc = store().get(customer_id)
                return str(doc.get("customerId") or customer_id), doc
            stitched = self.stitched(str(anonymous_id)) if self.stitched is not None else None
            if stitched is not None:  # stitched in real time, before any batch run saw the link
                doc = store().get(stitched)
                return str(doc.get("customerId") or stitched), doc
            for kind in ANONYMOUS_KINDS:
                try:
                    found = store().lookup(kind, str(anonymous_id))
                except NotFoundError:
                    continue
                return found, store().get(found)
            raise NotFoundError("no profile holds this anonymous id")

        try:
            running = asyncio.get_running_loop().run_in_executor(self._profile_pool, lookup)
            found, doc = await asyncio.wait_for(running, self.budget.profile)
        except NotFoundError:
            return None, None, Part(None, UNKNOWN_CUSTOMER)
        except TimeoutError:
            return None, None, Part(None, TIMEOUT)
        except C360Error as exc:
            log.warning("profile lookup failed: %s", type(exc).__name__)
            return None, None, Part(None, STORE_UNAVAILABLE)
        return found, doc, Part(None)

    # ------------------------------------------------------------------------------------------ parts

    async def part(self, name: str, call: Awaitable[dict[str, Any]], timeout: float, fallback: Part) -> Part:
        """`call`'s answer within `timeout`, else `fallback`'s value flagged with why."""
        try:
            answer = Part.from_dict(await asyncio.wait_for(call, max(timeout, 0.0)))
        except TimeoutError:
            answer = Part(fallback.value, TIMEOUT, fallback.version)
        except Exception as exc:  # noqa: BLE001 - a failing model degrades to its fallback, never a 500
            log.warning("%s failed: %s", name, type(exc).__name__)
            reason = (
                STORE_UNAVAILABLE if isinstance(exc, C360Error) and exc.status_code == 503 else MODEL_ERROR
            )
            answer = Part(fallback.value, reason, fallback.version)
        if self.observe is not None:
            self.observe(name, answer)
        return answer

    async def popular(self, n: int, category: str | None = None, exclude: Sequence[str] = ()) -> Part:
        """The cached popular list cut to `category`, `exclude` and n (empty before the first fetch); a
        stale or missing cache is refreshed in the background, never on the request's time."""
        now = time.monotonic()
        if (self._popular is None or now - self._popular[0] > self.budget.popular_ttl) and (
            self._refreshing is None or self._refreshing.done()
        ):
            self._refreshing = asyncio.create_task(self._refresh_popular())
        if self._popular is None:
            return Part([])
        cached = self._popular[1]
        skip = set(exclude)
        items = [
            i
            for i in cached.value or []
            if i["productId"] not in skip and (category is None or i.get("category") == category)
        ]
        return Part(items[:n], cached.fallback, cached.version)

    async def _refresh_popular(self) -> None:
        try:
            answer = Part.from_dict(await self.models.popular(POPULAR_CACHE, None))
        except Exception as exc:  # noqa: BLE001 - the next request tries again
            log.warning("popular list refresh failed: %s", type(exc).__name__)
            return
        self._popular = (time.monotonic(), answer)

    async def warm(self) -> None:
        """Fill the popular cache now (the first fallback would otherwise be an empty list)."""
        await self.popular(1)
        if self._refreshing is not None:
            await self._refreshing

    # ------------------------------------------------------------------------------------------ answer

    async def personalize(
        self,
        customer_id: str | None,
        anonymous_id: str | None,
        context: Mapping[str, Any],
        n: int = 10,
        category: str | None = None,
    ) -> dict[str, Any]:
        """The personalization answer (module docstring) for a customer_id or an anonymous_id."""
        started = time.monotonic()
        found, doc, profile = await self.profile_of(customer_id, anonymous_id)
        if self.observe is not None:
            self.observe(PROFILE, profile)
        left = self.budget.route - (time.monotonic() - started)
        timeout = min(self.budget.part, left)
        deadline = time.time() + timeout
        exclude = [str(p) for p in context.get("cart") or ()]
        popular = await self.popular(n, category, exclude)
        recs, nba, scores, signals = await asyncio.gather(
            self.part(
                RECS, self.models.recommend(found, n, category, exclude, _consent(doc)), timeout, popular
            ),
            self.part(
                NBA, self.models.decide(found, doc, context, deadline), timeout, Part(default_action())
            ),
            self.part(SCORES, self.models.scores(found, doc), timeout, Part(None)),
            self._signals(found, timeout),
        )
        fallbacks = [
            {"part": name, "reason": part.fallback}
            for name, part in (
                (PROFILE, profile),
                (RECS, recs),
                (NBA, nba),
                (SCORES, scores),
                (SIGNALS, signals),
            )
            if part.fallback is not None
        ]
        scored = scores.value or {}
        return {
            "customerId": found,
            "recommendations": recs.value,
            "nextBestAction": nba.value,
            "scores": scored.get("scores"),
            "segment": scored.get("segment"),
            "signals": signals.value,
            "fallbacks": fallbacks,
            "modelVersions": {RECS: recs.version, NBA: nba.version, SCORES: scores.version},
        }

    async def _signals(self, customer_id: str | None, timeout: float) -> Part:
        if self.signals is None:
            return Part(None, STORE_UNAVAILABLE)
        return await self.part(
            SIGNALS, _as_dict(asyncio.to_thread(self.signals, customer_id)), timeout, Part(None)
        )


def _consent(doc: Mapping[str, Any] | None) -> Mapping[str, Any] | None:
    return None if doc is None else doc.get("consent")


async def _as_dict(call: Awaitable[Part]) -> dict[str, Any]:
    return (await call).to_dict()
