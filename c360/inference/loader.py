"""`Loader`: one model of a process, loaded on first use, never failing its caller's construction.

Loads of one workspace are serialized across the processes of this machine by an OS file lock
(`data/inference-load.lock` in the workspace): Serve starts the three model replicas at once, and three
processes opening a fresh MLflow SQLite registry together raced its schema migration (`table
_alembic_tmp_params already exists`) and failed. A failed load is retried `retry_seconds` later; until then
`get` raises StoreUnavailableError at once, so callers degrade to their fallback instead of queueing behind
another slow attempt.
"""

from __future__ import annotations

import fcntl
import logging
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Generic, TypeVar

from c360.errors import StoreUnavailableError
from c360.io.heap import settle_heap

if TYPE_CHECKING:
    from c360.workspace import Workspace

log = logging.getLogger("c360.inference")
T = TypeVar("T")
RETRY_SECONDS = 30.0


class Loader(Generic[T]):
    def __init__(
        self,
        name: str,
        factory: Callable[[], T],
        ws: Workspace | None = None,
        retry_seconds: float = RETRY_SECONDS,
    ) -> None:
        """`ws`: the workspace whose lock serializes the load (None: no lock)."""
        self.name = name
        self.factory = factory
        self.ws = ws
        self.retry_seconds = retry_seconds
        self._value: T | None = None
        self._failed_at: float | None = None
        self._lock = threading.Lock()

    def get(self) -> T:
        found = self._value
        if found is not None:
            return found
        with self._lock:
            if self._value is None:
                if self._failed_at is not None and time.monotonic() - self._failed_at < self.retry_seconds:
                    raise StoreUnavailableError(f"the {self.name} could not be loaded; retrying later")
                try:
                    self._value = self._locked_load()
                except Exception as exc:
                    self._failed_at = time.monotonic()
                    log.warning("loading the %s failed: %s", self.name, type(exc).__name__)
                    raise
                self._failed_at = None
                settle_heap(f"loading the {self.name}")
            return self._value

    def try_load(self) -> bool:
        """Load now if possible (a replica's constructor); False when it failed (retried on use)."""
        try:
            self.get()
        except Exception:  # noqa: BLE001 - logged by `get`; the model's calls answer its fallback
            return False
        return True

    def _locked_load(self) -> T:
        if self.ws is None:
            return self.factory()
        path = self.ws.root / "data" / "inference-load.lock"
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes
            return self.factory()

    def close(self) -> None:
        close = getattr(self._value, "close", None)
        if callable(close):
            close()
        self._value = None
