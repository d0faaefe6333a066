"""Memory of this process and its descendants (Ray's raylet and workers, a generator's chunk workers), for
the benchmarks' peak-memory figures."""

from __future__ import annotations

import threading

import psutil


def tree_memory(pss: bool = False) -> int:
    """Bytes held by this process and all its descendants: summed RSS, or with `pss` the proportional set
    size, which counts a shared page (Ray's object store, mapped by every worker) once, not once per process
    mapping it (RSS where the platform has no PSS)."""
    me = psutil.Process()
    total = 0
    for proc in [me, *me.children(recursive=True)]:
        try:
            if pss:
                info = proc.memory_full_info()
                total += getattr(info, "pss", info.rss)
            else:
                total += proc.memory_info().rss
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
    return total


class PeakMemory:
    """The largest `tree_memory` seen while the block runs: sampled on entry, every `interval` seconds in a
    thread, and on exit."""

    def __init__(self, interval: float = 0.1, pss: bool = False) -> None:
        self.interval = interval
        self.pss = pss
        self.peak_bytes = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="peak-memory", daemon=True)

    def _take(self) -> None:
        self.peak_bytes = max(self.peak_bytes, tree_memory(self.pss))

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self._take()

    def __enter__(self) -> PeakMemory:
        self._take()
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self._take()
