"""Calling a model that may be slow, busy or down: retries, pacing and a circuit breaker.

- `call_with_retries` retries a call that failed with a `RetryableError` (429, 5xx, timeout, refused
  connection): after a 429 it waits the server's Retry-After, otherwise exponential backoff with jitter; it
  gives up when the retries are spent or a Retry-After is longer than the caller will wait. With a
  `deadline` (a time.monotonic() instant, `llm.request_deadline_seconds` after the request began) a retry
  whose wait would end past it is not made: `DeadlineExceeded` carries the last failure.
- `Pacer` spaces calls out to at most `rate` a second, so a burst stays within the backend's rate limit
  instead of collecting 429s. A 429 halves its rate and holds every caller for the Retry-After (the limit
  is the backend's, shared by all callers); each success wins back 1% of the configured rate. `Pacer`
  counts one process's threads; `c360.genai.ledger.SharedPacer` keeps the same rules for every process of
  a workspace.
- `CircuitBreaker` opens after `failures` consecutive failed calls; while open, the writer answers from its
  templates without calling; after `reset_seconds` one trial call decides whether it closes again.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable
from typing import Protocol, TypeVar

from c360.errors import C360Error

T = TypeVar("T")


class BackendError(C360Error):
    """The model could not give an answer (the writer falls back to its template)."""

    status_code = 502


class RetryableError(BackendError):
    """A failure worth another try: 429, 5xx, timeout, connection refused. `retry_after` in seconds when
    the server said how long to wait."""

    def __init__(self, message: str, retry_after: float | None = None, rate_limited: bool = False) -> None:
        super().__init__(message)
        self.retry_after = retry_after
        self.rate_limited = rate_limited


class RefusalError(BackendError):
    """The model refused to answer."""


class DeadlineExceeded(BackendError):
    """The request's deadline came before an answer. `cause` is the last failed attempt; None when no
    call could start in time (the pacer's queue was longer than the time left)."""

    def __init__(self, message: str, cause: BackendError | None = None) -> None:
        super().__init__(message)
        self.cause = cause


def remaining(deadline: float | None, clock: Callable[[], float] = time.monotonic) -> float | None:
    """Seconds left before `deadline`; DeadlineExceeded when none are (None: no deadline)."""
    if deadline is None:
        return None
    left = deadline - clock()
    if left <= 0:
        raise DeadlineExceeded("the request's deadline has passed")
    return left


def call_with_retries(
    call: Callable[[], T],
    retries: int,
    max_wait: float,
    base_delay: float = 0.2,
    sleep: Callable[[float], None] = time.sleep,
    deadline: float | None = None,
    clock: Callable[[], float] = time.monotonic,
) -> T:
    """`call()`, retried up to `retries` times on RetryableError. Raises the last error when giving up, or
    DeadlineExceeded (from it) when the wait before the next try would end past `deadline`. The call
    itself should bound its attempt by the time left (`remaining(deadline)`)."""
    attempt = 0
    while True:
        try:
            return call()
        except RetryableError as exc:
            if attempt >= retries:
                raise
            if exc.retry_after is not None:
                wait = exc.retry_after
            else:
                wait = base_delay * (2**attempt) * (0.5 + random.random() / 2)
            if wait > max_wait:
                raise
            if deadline is not None and clock() + wait >= deadline:
                raise DeadlineExceeded("the request's deadline comes before the next try", exc) from exc
            attempt += 1
            sleep(wait)


def failure_flag(exc: BackendError) -> tuple[str, bool]:
    """The flag a failed call leaves on the template's answer, and whether the backend is blameless (for
    the circuit breaker): a refusal is an answer, and a deadline that came before any call could start is
    the pacer's queue, not the backend."""
    if isinstance(exc, RefusalError):
        return "refusal", True
    if isinstance(exc, DeadlineExceeded):
        return "deadline", exc.cause is None
    return "backend_error", False


class Pacing(Protocol):
    """What the writer asks of a pacer: `Pacer` (one process) or `ledger.SharedPacer` (the workspace)."""

    def wait(self, deadline: float | None = None) -> None: ...

    def rate_limited(self, retry_after: float | None) -> None: ...

    def succeeded(self) -> None: ...


class Pacer:
    """At most `rate` calls a second (a token bucket of `burst`), shared by the process's threads; `wait()`
    blocks until the next call may go."""

    def __init__(self, rate: float, burst: float = 1.0) -> None:
        self.max_rate = self.rate = float(rate)
        self.burst = max(1.0, float(burst))
        self._tokens = self.burst
        self._since = time.monotonic()
        self._hold_until = 0.0
        self._lock = threading.Lock()

    def wait(self, deadline: float | None = None) -> None:
        """Block until the next call may go; DeadlineExceeded at once when that is past `deadline` (a
        time.monotonic() instant)."""
        while True:
            with self._lock:
                now = time.monotonic()
                if now < self._hold_until:
                    pause = self._hold_until - now
                else:
                    self._tokens = min(self.burst, self._tokens + (now - self._since) * self.rate)
                    self._since = now
                    if self._tokens >= 1.0:
                        self._tokens -= 1.0
                        return
                    pause = (1.0 - self._tokens) / self.rate
            if deadline is not None and now + pause > deadline:
                raise DeadlineExceeded("no call to the model's endpoint fits before the request's deadline")
            time.sleep(pause)

    def rate_limited(self, retry_after: float | None) -> None:
        """The backend answered 429: half the rate (at least 1/64 of the configured one), no saved-up
        burst, and no call from any thread before its Retry-After has passed."""
        with self._lock:
            self.rate = max(self.max_rate / 64, self.rate / 2)
            self._tokens = 0.0
            if retry_after:
                self._hold_until = max(self._hold_until, time.monotonic() + retry_after)

    def succeeded(self) -> None:
        with self._lock:
            self.rate = min(self.max_rate, self.rate + self.max_rate / 100)


def paced(pacer: Pacing, call: Callable[[float], T], deadline: float | None, timeout: float) -> T:
    """`call(timeout)` in its turn, `timeout` cut to the time left before `deadline`; the answer (a 429, a
    success) adjusts the pacer."""
    pacer.wait(deadline)
    left = remaining(deadline)
    try:
        answer = call(timeout if left is None else min(timeout, left))
    except RetryableError as exc:
        if exc.rate_limited:
            pacer.rate_limited(exc.retry_after)
        raise
    pacer.succeeded()
    return answer


class CircuitBreaker:
    """closed -> (failures in a row) -> open -> (reset_seconds) -> half-open: one trial call -> closed or
    open again."""

    def __init__(self, failures: int, reset_seconds: float, clock: Callable[[], float] = time.monotonic):
        self.failures, self.reset_seconds, self._clock = failures, reset_seconds, clock
        self._failed = 0
        self._opened_at: float | None = None
        self._trial = False
        self._lock = threading.Lock()

    @property
    def state(self) -> str:
        with self._lock:
            if self._opened_at is None:
                return "closed"
            return "half_open" if self._clock() - self._opened_at >= self.reset_seconds else "open"

    def allow(self) -> bool:
        """Whether a call may go now (in half-open state, only one trial at a time)."""
        with self._lock:
            if self._opened_at is None:
                return True
            if self._clock() - self._opened_at < self.reset_seconds or self._trial:
                return False
            self._trial = True
            return True

    def record(self, ok: bool) -> None:
        with self._lock:
            self._trial = False
            if ok:
                self._failed, self._opened_at = 0, None
                return
            self._failed += 1
            if self._opened_at is not None or self._failed >= self.failures:
                self._opened_at = self._clock()
