"""`SignalReader`: a customer's real-time session and cart signals from Feast's online `realtime_signals`
view, as the events stage pushes them and reads them back (`c360.events.signals.read_signals`).

The feature store is opened on first use, on a thread of its own, and kept; reads answer the fallback until
it is open. A view that is not applied yet, an online store that
does not answer, or a read that raises gives `store_unavailable`, and for `RETRY_SECONDS` after a failure
every read answers so without trying (one warning per failure, not one per request); a customer with no
signals within the view's TTL gets nulls, which is an answer, not a fallback.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import TYPE_CHECKING, Any

from c360.events.signals import read_signals
from c360.inference.parts import STORE_UNAVAILABLE, UNKNOWN_CUSTOMER, Part
from c360.io.heap import settle_heap

if TYPE_CHECKING:
    from c360.workspace import Workspace

log = logging.getLogger("c360.inference")
SIGNALS = ("cart_items", "cart_value", "session_page_views", "last_viewed_product_id")
RETRY_SECONDS = 30.0


class SignalReader:
    def __init__(self, ws: Workspace) -> None:
        self.ws = ws
        self._store: Any = None
        self._lock = threading.Lock()
        self._failed_at: float | None = None
        self._opening: threading.Thread | None = None

    def _open(self) -> None:
        try:
            from c360.features.store import open_feature_store

            self._store = open_feature_store(self.ws)
            settle_heap("opening the feature store")
        except Exception as exc:  # noqa: BLE001 - reported as the store being unavailable, retried later
            log.warning("realtime signals unavailable: %s", type(exc).__name__)
            self._failed_at = time.monotonic()
        finally:
            self._opening = None

    def _feature_store(self) -> Any:
        """The open store, or None while it opens. Opening a Feast store takes seconds (its import parses
        source for typeguard): in a request's thread, every request arriving meanwhile would hold another
        pool thread on the lock, starving the profile lookups and models of threads. So the first read starts
        the opening on a thread of its own and answers the fallback until it is done."""
        if self._store is None:
            with self._lock:
                if self._store is None and self._opening is None:
                    self._opening = threading.Thread(target=self._open, name="c360-signals-open", daemon=True)
                    self._opening.start()
        return self._store

    def read(self, customer_id: str | None) -> Part:
        """`value`: {cart_items, cart_value, session_page_views, last_viewed_product_id}, null where none
        arrived."""
        if customer_id is None:
            return Part(None, UNKNOWN_CUSTOMER)
        if self._failed_at is not None and time.monotonic() - self._failed_at < RETRY_SECONDS:
            return Part(None, STORE_UNAVAILABLE)
        store = self._feature_store()
        if store is None:
            return Part(None, STORE_UNAVAILABLE)
        try:
            found = read_signals(store, customer_id)
        except Exception as exc:  # noqa: BLE001 - any failure of the store degrades to the fallback
            log.warning("realtime signals unavailable: %s", type(exc).__name__)
            self._failed_at = time.monotonic()
            return Part(None, STORE_UNAVAILABLE)
        self._failed_at = None
        return Part({name: found.get(name) for name in SIGNALS})
