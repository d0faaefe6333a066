"""What the routes of the API share: the workspace's stores (opened on first use), key checks with scopes and
rate limits, and the metrics. Each group of routes (`profiles`, `events`, ...) is a function
`routes(ctx: ApiContext) -> APIRouter`; `create_api` includes them all.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated, Any, TypeVar

from fastapi import Request, Security
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer

from c360.api.http import ForbiddenError, RateLimitedError, UnauthorizedError
from c360.api.keys import ApiKey, KeyStore
from c360.api.metrics import ApiMetrics
from c360.profile.store import ProfileStore, open_profile_store
from c360.workspace import Workspace

KEY_HEADER = APIKeyHeader(name="X-API-Key", auto_error=False, scheme_name="ApiKeyHeader")
BEARER = HTTPBearer(auto_error=False, scheme_name="Bearer")
T = TypeVar("T")


class Services:
    """The stores the API reads, opened on first use so the app starts (and `/healthz` answers) while a
    store is still down; `/readyz` says when they answer.

    Route groups keep their own long-lived objects here too (`component(name, factory)`): built once per
    process on first use, closed with the app.
    """

    def __init__(
        self, ws: Workspace, profile_store: ProfileStore | None = None, keys: KeyStore | None = None
    ):
        self.ws = ws
        self.keys = keys if keys is not None else KeyStore.for_workspace(ws)
        self._profiles = profile_store
        self._owns_profiles = profile_store is None
        self._components: dict[str, Any] = {}
        # Re-entrant: a component's factory may open the profile store (or another component) under it.
        self._lock = threading.RLock()

    def profiles(self) -> ProfileStore:
        if self._profiles is None:
            with self._lock:
                if self._profiles is None:
                    self._profiles = open_profile_store(self.ws)
        return self._profiles

    def component(self, name: str, factory: Callable[[Workspace], T]) -> T:
        """The process's one `name`, built by `factory(ws)` on first use (a failed build is retried next
        time). Anything with a `close()` is closed when the app stops."""
        found = self._components.get(name)
        if found is None:
            with self._lock:
                found = self._components.get(name)
                if found is None:
                    found = self._components[name] = factory(self.ws)
        return found

    def provided(self, name: str) -> Any | None:
        """The component `name` if it was put in place or built already; None otherwise (nothing built)."""
        return self._components.get(name)

    def provide(self, name: str, component: Any) -> None:
        """Put a ready component in place (tests, benchmarks); the app still closes it."""
        self._components[name] = component

    def check(self) -> None:
        """Raise when a store does not answer: one cheap read of each."""
        self.profiles().resolve("readyz-probe")
        self.keys.list()

    def close(self) -> None:
        for component in reversed(list(self._components.values())):
            close = getattr(component, "close", None)
            if callable(close):
                close()
        self._components.clear()
        if self._profiles is not None and self._owns_profiles:
            self._profiles.close()
            self._profiles = None


class RateLimiter:
    """A token bucket per key id: `rate` requests a second on average, `burst` at once. Per process: with N
    replicas a key may make N times the rate, which the limit's purpose (no one key starves the others)
    allows."""

    def __init__(self, rate: float, burst: int) -> None:
        self.rate, self.burst = float(rate), float(burst)
        self._buckets: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()

    def take(self, key_id: str, rate: float | None = None) -> float:
        """0.0 when the request may pass (a token is taken), else the seconds until one would. A key with a
        rate of its own gets a bucket holding as many seconds of its traffic as the default one does."""
        rate = rate or self.rate
        burst = max(1.0, self.burst * rate / self.rate)
        now = time.monotonic()
        with self._lock:
            tokens, since = self._buckets.get(key_id, (burst, now))
            tokens = min(burst, tokens + (now - since) * rate)
            if tokens >= 1.0:
                self._buckets[key_id] = (tokens - 1.0, now)
                return 0.0
            self._buckets[key_id] = (tokens, now)
            return (1.0 - tokens) / rate


@dataclass(frozen=True)
class ApiContext:
    services: Services
    metrics: ApiMetrics
    limiter: RateLimiter

    @property
    def ws(self) -> Workspace:
        return self.services.ws

    def require(self, scope: str) -> Callable[..., Awaitable[ApiKey]]:
        """A FastAPI dependency: a known, unrevoked key (401), with `scope` (403), within its rate (429)."""
        services, limiter = self.services, self.limiter

        async def authorized(
            request: Request,
            header_key: Annotated[str | None, Security(KEY_HEADER)],
            bearer_key: Annotated[HTTPAuthorizationCredentials | None, Security(BEARER)],
        ) -> ApiKey:
            presented = header_key or (bearer_key.credentials if bearer_key else None)
            key = services.keys.authenticate(presented)
            if key is None:
                raise UnauthorizedError(
                    "a valid API key is required: header X-API-Key or Authorization: Bearer"
                )
            request.state.key_id = key.key_id
            if not key.allows(scope):
                raise ForbiddenError(f"this API key lacks the scope {scope}")
            wait = limiter.take(key.key_id, key.rate_limit)
            if wait > 0:
                raise RateLimitedError("this API key is past its request rate; retry later", wait)
            return key

        return authorized
