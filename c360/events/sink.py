"""`EventSink`: a batch of track / identify / page events -> validated, deduplicated, kept, signalled.

`accept(batch)` checks every event on its own (c360.events.schema), resolves its customer, claims its
message id in the shared state (c360.events.state), appends it to the lake's `events/` (c360.events.log)
and folds it into the customer's real-time signals, which a background thread pushes to the Feast online
store (c360.events.signals). The valid events of a mixed batch are accepted; each invalid one is reported
by its index, with a code:

    invalid_event         the event breaks the schema (the message names the field and the rule)
    event_too_large       more than 32 KB of JSON
    timestamp_in_future   more than 5 minutes ahead of the server clock
    timestamp_too_old     older than the events retention window (at most 30 days)
    unknown_customer      a user_id (or an identify's traits) that no customer holds
    duplicate             a message id already accepted (by any replica, before any restart)

Customers: a `user_id` is a customer id (a merged-away id answers as its survivor), else a source record key
or loyalty id known to the identity stage (`IdentityIndex`). An event with only an anonymous id belongs to
the customer an identify event stitched that id to, or, until then, to the anonymous visitor, whose signals
move to the customer at the stitch. Stitches live in the shared state, so every replica sees them and a
restart keeps them.

Replicas share the state and the online store, not a lock: two replicas changing one customer's signals in
the same ~50 ms may lose one change to the other (the next event of that customer corrects the counts that
are recomputed, such as `Cart Viewed`). Sending a visitor's events to one replica avoids it.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from c360.errors import NotFoundError, StoreUnavailableError, ValidationError
from c360.events.log import EventLog, event_row
from c360.events.schema import (
    FUTURE_SKEW,
    MAX_BATCH,
    MAX_EVENT_JSON_BYTES,
    EventError,
    IdentifyEvent,
    Received,
    max_event_age,
    parse_event,
)
from c360.events.signals import ANONYMOUS, SignalPusher, Signals, online_signals
from c360.events.state import EventState, event_state_ttl, open_event_state
from c360.io.outages import online_store_call
from c360.profile.store import ProfileStore
from c360.workspace import Workspace

log = logging.getLogger("c360.events")
KNOWN_TTL = 30.0
"""Seconds a customer id found in the profile store is trusted without asking again (an erased customer's
events may be accepted for this long after the erasure)."""
KNOWN_MAX = 100_000
"""Customer ids remembered at most; the memory is emptied when it is full."""


class BatchTooLargeError(ValidationError):
    """More events in one batch than `MAX_BATCH`."""

    status_code = 413


@dataclass
class AcceptResult:
    accepted: int = 0
    duplicates: int = 0
    errors: list[EventError] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "accepted": self.accepted,
            "duplicates": self.duplicates,
            "errors": [e.as_dict() for e in sorted(self.errors, key=lambda e: e.index)],
        }


@dataclass
class _Resolved:
    received: Received
    key: str  # customer id, or ANONYMOUS + anonymous id
    customer_id: str | None
    stitch: str | None = None  # for an identify: the anonymous id it stitches to customer_id


class EventSink:
    """One per process; thread-safe. `close()` flushes the lake buffer and the pending signals."""

    def __init__(
        self,
        ws: Workspace,
        profiles: ProfileStore,
        feature_store: Any,
        state: EventState | None = None,
        *,
        push_interval: float = 0.05,
        flush_seconds: float = 5.0,
        max_batch: int = MAX_BATCH,
    ) -> None:
        self.ws = ws
        self.profiles = profiles
        self.feature_store = feature_store
        self.max_batch = max_batch
        self.max_age = max_event_age(ws.settings.privacy.retention_days)
        ttl = event_state_ttl(self.max_age.total_seconds(), FUTURE_SKEW.total_seconds())
        self._owns_state = state is None
        self.state = state if state is not None else open_event_state(ws, ttl)
        self.log = EventLog(ws.lake, flush_seconds=flush_seconds)
        self.pusher = SignalPusher(feature_store, interval=push_interval)
        self._known: dict[str, tuple[str, float]] = {}
        self._index: Any = None
        self._signals_lock = threading.Lock()
        self._stop = threading.Event()
        self._ticker = threading.Thread(target=self._tick, name="c360-event-log", daemon=True)
        self._ticker.start()

    # ------------------------------------------------------------------ accepting a batch

    def accept(
        self, batch: Sequence[Any], now: datetime | None = None, body_bytes: int | None = None
    ) -> AcceptResult:
        """Accept the valid events of one batch; StoreUnavailableError when a store fails (nothing is kept,
        and the batch can be sent again). `body_bytes`, the size of the request the batch came in, spares
        measuring each event when the whole request is within one event's limit."""
        if len(batch) > self.max_batch:
            raise BatchTooLargeError(
                f"a batch holds at most {self.max_batch} events; this one has {len(batch)}"
            )
        now = now or datetime.now(UTC)
        result = AcceptResult()
        received: list[Received] = []
        check_size = body_bytes is None or body_bytes > MAX_EVENT_JSON_BYTES
        for i, raw in enumerate(batch):
            ok, err = parse_event(i, raw, now, self.max_age, check_size)
            if err is not None:
                result.errors.append(err)
            elif ok is not None:
                received.append(ok)
        resolved = self._resolve(received, result)
        if not resolved:
            return result
        claimed = self.state.claim([r.received.event.message_id for r in resolved])
        kept = [r for r, new in zip(resolved, claimed, strict=True) if new]
        for r, new in zip(resolved, claimed, strict=True):
            if not new:
                result.duplicates += 1
                result.errors.append(
                    EventError(r.received.index, "duplicate", "this message_id was already accepted")
                )
        try:
            self._keep(kept, now)
        except BaseException:
            self.state.release([r.received.event.message_id for r in kept])
            raise
        result.accepted = len(kept)
        return result

    def _resolve(self, received: list[Received], result: AcceptResult) -> list[_Resolved]:
        anonymous = {r.event.anonymous_id for r in received if r.event.anonymous_id}
        stitched = self.state.stitched(anonymous) if anonymous else {}
        out: list[_Resolved] = []
        for r in received:
            e = r.event
            if isinstance(e, IdentifyEvent):
                cid = self._customer(e.user_id) if e.user_id else self._by_traits(e.traits)
            elif e.user_id:
                cid = self._customer(e.user_id)
            else:
                cid = stitched.get(e.anonymous_id or "")
                out.append(_Resolved(r, cid or ANONYMOUS + (e.anonymous_id or ""), cid))
                continue
            if cid is None:
                result.errors.append(EventError(r.index, "unknown_customer", "no customer holds this id"))
                continue
            stitch = None
            if isinstance(e, IdentifyEvent) and e.anonymous_id and stitched.get(e.anonymous_id) != cid:
                stitch = e.anonymous_id
                stitched[e.anonymous_id] = cid  # later events of the batch follow it
            out.append(_Resolved(r, cid, cid, stitch))
        return out

    def _customer(self, user_id: str) -> str | None:
        hit = self._known.get(user_id)
        if hit is not None and time.monotonic() - hit[1] < KNOWN_TTL:
            return hit[0]
        try:
            cid = str(self.profiles.get(user_id)["customerId"])
        except NotFoundError:
            cid = self._from_index(user_id=user_id)
        if cid is not None:
            if len(self._known) >= KNOWN_MAX:
                self._known = {}
            self._known[user_id] = (cid, time.monotonic())
        return cid

    def _by_traits(self, traits: dict[str, Any]) -> str | None:
        for kind in ("email", "phone"):
            value = traits.get(kind)
            if isinstance(value, str) and value.strip():
                try:
                    return self.profiles.lookup(kind, value)
                except (NotFoundError, ValidationError):
                    pass
        given = {k: v for k in ("email", "phone") if isinstance(v := traits.get(k), str) and v.strip()}
        return self._from_index(**given) if given else None

    def _from_index(self, **identifiers: str) -> str | None:
        """The identity stage's index (source record keys, loyalty ids, identifiers), loaded on first use."""
        if self._index is None:
            from c360.identity.realtime import IdentityIndex

            self._index = IdentityIndex.load(self.ws)
        # No anonymous id here: the index would remember it in this process only; stitches go to the state.
        found = self._index.resolve_identify(**identifiers)
        return None if found.provisional else found.customer_id

    def _keep(self, kept: list[_Resolved], now: datetime) -> None:
        if not kept:
            return
        stitches = {r.stitch: r.key for r in kept if r.stitch}
        if stitches:
            self.state.stitch(stitches)
        self.log.append([event_row(r.received, r.customer_id, now) for r in kept])
        with self._signals_lock:
            self._update_signals(kept, stitches)

    def _update_signals(self, kept: list[_Resolved], stitches: dict[str, str]) -> None:
        keys = {r.key for r in kept} | {ANONYMOUS + a for a in stitches} | set(stitches.values())
        rows = self.pusher.pending(keys)
        missing = keys - rows.keys()
        if missing:
            with online_store_call(self.ws.settings):
                rows.update(online_signals(self.feature_store, missing))
        changed: dict[str, Signals] = {}
        for r in sorted(kept, key=lambda r: r.received.ts):
            if r.stitch:
                visitor = ANONYMOUS + r.stitch
                if visitor in rows:  # the visitor's session and cart become the customer's
                    changed[r.key] = rows[r.key] = rows.get(r.key, Signals()).absorb(rows[visitor])
                    changed[visitor] = rows[visitor] = Signals(last_event_time=r.received.ts)
            changed[r.key] = rows[r.key] = rows.get(r.key, Signals()).apply(r.received)
        self.pusher.offer(changed)

    # ------------------------------------------------------------------ lifecycle

    def _tick(self) -> None:
        while not self._stop.wait(0.5):
            try:
                self.log.flush_if_due()
            except Exception as exc:  # noqa: BLE001 - rows stay buffered; the next tick tries again
                log.warning("event log flush failed: %s", type(exc).__name__)

    def flush(self) -> None:
        """Write buffered events to the lake and push pending signals now (tests, benchmarks, shutdown)."""
        self.log.flush()
        self.pusher.push_now()

    def close(self) -> None:
        self._stop.set()
        self._ticker.join(timeout=5)
        try:
            self.log.close()
        finally:
            self.pusher.close()
            if self._owns_state:
                self.state.close()


def open_event_sink(ws: Workspace, profiles: ProfileStore | None = None) -> EventSink:
    """The workspace's sink on its profile store (the caller closes it) and Feast online store.

    StoreUnavailableError when the Feast repo was never applied: the signals would have nowhere to go.
    """
    from c360.features.store import open_feature_store
    from c360.profile.store import open_profile_store

    feast = ws.settings.stores.feast
    if feast.registry == "file" and not ws.resolve_path(feast.registry_path).exists():
        raise StoreUnavailableError(
            "the Feast registry does not exist yet, so real-time signals cannot be pushed; "
            "run `c360 features apply` (or `c360 run`) first"
        )
    return EventSink(ws, profiles or open_profile_store(ws), open_feature_store(ws))
