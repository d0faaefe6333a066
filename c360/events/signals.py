"""Real-time signals per customer (session page views, cart items and value) and their push to Feast.

The rules, in the Segment e-commerce spec's terms:

- a page event counts one page view of the current session; a session ends after 30 minutes without an
  event, and the next event starts a new one at zero;
- `Product Added` / `Product Removed` add or take away one line (`quantity`, default 1, times `price`);
- `Product Viewed` makes its `product_id` the last viewed product;
- `Cart Viewed` lists the whole cart in `properties.products`, so it replaces the cart; `Order Completed`
  empties it (the order is the cart bought);
- every event moves `last_event_time` forward (never back: a late event does not reopen an old session).

The Feast online store is where every replica finds a customer's current row, so a replica reads it before
changing it. A write costs milliseconds per call whatever the row count, so `SignalPusher` coalesces: the
sink hands it changed rows, a background thread pushes what is pending every `interval` seconds in one
call (one row per customer), and a row leaves the pending set only once a push holding its latest version
has returned. Until then the sink reads the pending row, not Feast's older one.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pandas as pd

from c360.events.schema import (
    CART_EVENTS,
    LINE_EVENTS,
    PRODUCT_VIEWED,
    IdentifyEvent,
    PageEvent,
    Received,
    TrackEvent,
    cart_line,
    viewed_product,
)

log = logging.getLogger("c360.events")
VIEW = "realtime_signals"
PUSH_SOURCE = "realtime_signals_push"
FIELDS = ("session_page_views", "cart_items", "cart_value", "last_viewed_product_id", "last_event_time")
SESSION_GAP = timedelta(minutes=30)
VIEW_REFRESH_SECONDS = 60.0
ANONYMOUS = "anon:"
"""Signals of an anonymous id not stitched yet live under `anon:<anonymous id>` until an identify event
moves them to the customer."""


@dataclass(frozen=True)
class Signals:
    session_page_views: int = 0
    cart_items: int = 0
    cart_value: float = 0.0
    last_event_time: datetime | None = None
    last_viewed_product_id: str | None = None

    def apply(self, received: Received) -> Signals:
        """These signals after one more event."""
        event, ts = received.event, received.ts
        views, items, value = self.session_page_views, self.cart_items, self.cart_value
        last, viewed = self.last_event_time, self.last_viewed_product_id
        if last is not None and ts - last > SESSION_GAP:
            views = 0
        if isinstance(event, PageEvent):
            views += 1
        elif isinstance(event, TrackEvent):
            props = event.properties
            if event.event in LINE_EVENTS:
                qty, price = cart_line(props)
                sign = 1 if event.event == "Product Added" else -1
                items, value = items + sign * qty, value + sign * qty * price
            elif event.event == "Cart Viewed":
                lines = [cart_line(p) for p in props.get("products", [])]
                items, value = sum(q for q, _ in lines), sum(q * p for q, p in lines)
            elif event.event in CART_EVENTS:  # Order Completed
                items, value = 0, 0.0
            elif event.event == PRODUCT_VIEWED and (last is None or ts >= last):  # a late view is older news
                viewed = viewed_product(props) or viewed
        elif not isinstance(event, IdentifyEvent):  # pragma: no cover - the schema admits three types
            raise TypeError(type(event).__name__)
        items = max(0, items)
        value = round(max(0.0, value), 2) if items else 0.0
        return Signals(views, items, value, ts if last is None or ts > last else last, viewed)

    def absorb(self, other: Signals) -> Signals:
        """These signals with an anonymous visitor's added (their session and cart become the customer's)."""
        times = [t for t in (self.last_event_time, other.last_event_time) if t is not None]
        newer, older = (other, self) if _later(other.last_event_time, self.last_event_time) else (self, other)
        return Signals(
            self.session_page_views + other.session_page_views,
            self.cart_items + other.cart_items,
            round(self.cart_value + other.cart_value, 2),
            max(times) if times else None,
            newer.last_viewed_product_id or older.last_viewed_product_id,
        )

    def as_dict(self) -> dict[str, Any]:
        return {f: getattr(self, f) for f in FIELDS}


def _later(a: datetime | None, b: datetime | None) -> bool:
    return a is not None and (b is None or a > b)


def signals_frame(rows: dict[str, Signals], pushed_at: datetime) -> pd.DataFrame:
    """The push source's rows; `event_timestamp` is when the values became true (now), the event time is
    `last_event_time`."""
    keys = list(rows)
    return pd.DataFrame(
        {
            "customer_id": keys,
            "event_timestamp": pd.Series([pushed_at] * len(keys), dtype="datetime64[us, UTC]"),
            "session_page_views": pd.Series([rows[k].session_page_views for k in keys], dtype="int64"),
            "cart_items": pd.Series([rows[k].cart_items for k in keys], dtype="int64"),
            "cart_value": pd.Series([rows[k].cart_value for k in keys], dtype="float64"),
            "last_viewed_product_id": pd.Series([rows[k].last_viewed_product_id for k in keys], dtype=object),
            "last_event_time": pd.Series(
                [rows[k].last_event_time for k in keys], dtype="datetime64[us, UTC]"
            ),
        }
    )


def online_signals(store: Any, keys: Collection[str]) -> dict[str, Signals]:
    """The rows Feast serves for these keys (a key without a row within the view's TTL is left out)."""
    keys = list(keys)
    if not keys:
        return {}
    found = store.get_online_features(
        features=[f"{VIEW}:{f}" for f in FIELDS], entity_rows=[{"customer_id": k} for k in keys]
    ).to_dict()
    out: dict[str, Signals] = {}
    for i, key in enumerate(found["customer_id"]):
        last = found["last_event_time"][i]
        if last is None:
            continue
        last = pd.Timestamp(last).to_pydatetime()
        out[key] = Signals(
            int(found["session_page_views"][i] or 0),
            int(found["cart_items"][i] or 0),
            float(found["cart_value"][i] or 0.0),
            last if last.tzinfo else last.replace(tzinfo=UTC),
            found["last_viewed_product_id"][i] or None,
        )
    return out


def read_signals(source: Any, customer_id: str) -> dict[str, Any]:
    """A customer's current signals as Feast serves them: a Workspace or an open FeatureStore -> {field:
    value}, None for each field when no signal arrived within the view's TTL."""
    from c360.workspace import Workspace

    if isinstance(source, Workspace):
        from c360.features.store import open_feature_store

        source = open_feature_store(source)
    row = online_signals(source, [customer_id]).get(customer_id)
    return row.as_dict() if row is not None else dict.fromkeys(FIELDS)


class SignalPusher:
    """Coalesces changed rows and pushes them to the online store from one background thread."""

    def __init__(self, store: Any, interval: float = 0.05, retry_seconds: float = 1.0) -> None:
        self.store = store
        self.interval = interval
        self.retry_seconds = retry_seconds
        self.pushes = 0
        self._pending: dict[str, tuple[int, Signals]] = {}
        self._version = 0
        self._lock = threading.Lock()
        self._push_lock = threading.Lock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._view: Any = None
        self._view_at = 0.0

    def pending(self, keys: Iterable[str]) -> dict[str, Signals]:
        with self._lock:
            return {k: self._pending[k][1] for k in keys if k in self._pending}

    def offer(self, rows: dict[str, Signals]) -> None:
        """Queue rows to push (a newer row for a key replaces the queued one)."""
        if not rows:
            return
        with self._lock:
            for key, row in rows.items():
                self._version += 1
                self._pending[key] = (self._version, row)
        if self._thread is None:
            self._start()
        self._wake.set()

    def _start(self) -> None:
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="c360-signal-push", daemon=True)
                self._thread.start()

    def _write(self, frame: pd.DataFrame) -> None:
        """What `store.push(PUSH_SOURCE, frame, to=PushMode.ONLINE)` does for the one view the source feeds,
        with the view looked up once a minute instead of on every call: push walks the registry's feature
        services each time, ~25 ms of a ~30 ms push here, and all of it holding the GIL."""
        now = time.monotonic()
        if self._view is None or now - self._view_at > VIEW_REFRESH_SECONDS:
            self._view, self._view_at = self.store.get_stream_feature_view(VIEW), now
        self.store._get_provider().ingest_df(self._view, frame)

    def push_now(self) -> int:
        """Push everything pending in one call; returns the rows pushed. Raises what the store raised."""
        with self._push_lock:
            with self._lock:
                batch = dict(self._pending)
            if not batch:
                return 0
            rows = {k: row for k, (_, row) in batch.items()}
            self._write(signals_frame(rows, datetime.now(UTC)))
            self.pushes += 1
            with self._lock:
                for key, (version, _) in batch.items():
                    if self._pending.get(key, (None,))[0] == version:
                        del self._pending[key]
            return len(batch)

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.wait()
            self._wake.clear()
            time.sleep(self.interval)  # let the next requests' rows join this push
            try:
                self.push_now()
            except Exception as exc:  # noqa: BLE001 - a failed push is retried; the rows stay pending
                log.warning("pushing real-time signals failed (%s); retrying", type(exc).__name__)
                self._stop.wait(self.retry_seconds)
                self._wake.set()

    def close(self) -> None:
        """Push what is pending (best effort) and stop the thread."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
        try:
            self.push_now()
        except Exception as exc:  # noqa: BLE001 - closing must not fail on an outage; say what was lost
            with self._lock:
                lost = len(self._pending)
            log.error("%d real-time signal rows not pushed at close (%s)", lost, type(exc).__name__)
