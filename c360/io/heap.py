"""Short garbage-collector pauses for a long-running server: `settle_heap` after each warm-up step.

CPython's full collection walks every object that survived the younger generations. A server process with
Ray, FastAPI, Feast and the models loaded holds a few hundred thousand of them, and one full pass takes
about 130 ms on this machine's cores; it runs whenever the objects that survived since the last one reach a
quarter of the heap, so a steady request load met one every few seconds: the profile route's p99 jumped
from ~3 ms to 14 or 140 ms from one run to the next.

Everything a server builds while warming up (stores, the feature store's registry, models, the app) lives
as long as the process. `settle_heap` collects once and then freezes what is left (`gc.freeze`): frozen
objects are never walked again, so later full passes see only what requests created since, and take well
under a millisecond. It is called after the application starts and after each component that opens on
first use (profile store, feature store, model loads, the content writer): one full pass each, during
warm-up, instead of one every few seconds for ever.

Off unless `enable()` was called, which the server entry points do (`serving.app`'s deployments, `c360
serve`): in a test process, hundreds of apps come and go, and freezing them would keep them all.
"""

from __future__ import annotations

import gc
import logging
import threading
import time

log = logging.getLogger("c360.serve")
_enabled = False
_lock = threading.Lock()


def enable() -> None:
    """This process is a server: settle its heap after each warm-up step from now on."""
    global _enabled
    _enabled = True


def enabled() -> bool:
    return _enabled


def settle_heap(after: str) -> None:
    """One full collection, then keep everything alive out of later ones (no-op unless `enable()`d)."""
    if not _enabled:
        return
    with _lock:
        started = time.perf_counter()
        gc.collect()
        gc.freeze()
        log.info(
            "heap settled after %s: %d objects frozen (%.0f ms)",
            after,
            gc.get_freeze_count(),
            (time.perf_counter() - started) * 1000,
        )
