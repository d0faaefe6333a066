"""Short garbage-collector pauses for a long-running server: `settle_heap` after a warm-up step.

CPython's full collection walks every object that survived the younger generations; in a process holding
Ray, FastAPI and the app, one pass took ~130 ms (170,000 objects, load 9). Serve collects and freezes once
at the end of a replica's constructor (`RAY_SERVE_FREEZE_GC_ON_STARTUP`); what a server builds after that
and keeps for its life (the stores opened at start-up, a model loaded on a thread of its own, the feature
store's registry) would be walked again by every later full pass. `settle_heap` collects once and freezes
what is left (`gc.freeze`), so later passes see only what requests created since.

It runs where a server warms up, not where it answers: the app's start-up (`c360.api.app`), a model's load
(`c360.inference.loader`: a replica's constructor or the warm-up thread; a load retried after a failure
is the exception) and the feature store's opening (`c360.inference.signals`, on a thread of its own).

Off unless `enable()` was called, which the server entry points do (`serving.app`'s deployments and
ingress): in a test process, hundreds of apps come and go, and freezing them would keep them all.
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
