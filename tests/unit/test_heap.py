"""`c360.io.heap`: off by default; once a server enables it, what is alive after a warm-up step is frozen out
of later full collections, and garbage made before it is collected, not frozen. In a child process: freezing
the test session's own heap would keep every test's objects."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

pytestmark = pytest.mark.unit

CHILD = textwrap.dedent(
    """
    import gc, weakref
    from c360.io import heap

    class Node:
        pass

    def cycle():
        a, b = Node(), Node()
        a.other, b.other = b, a
        return a

    heap.settle_heap("off")
    assert gc.get_freeze_count() == 0, "settled while not enabled"
    heap.enable()
    kept = [cycle() for _ in range(1000)]
    garbage = weakref.ref(cycle())  # unreachable once made: a cycle only a collection frees
    heap.settle_heap("warm-up")
    assert garbage() is None, "garbage was frozen instead of collected"
    assert gc.get_freeze_count() >= 2000, gc.get_freeze_count()
    assert all(gc.is_tracked(n) for n in kept[:3])
    print("ok", gc.get_freeze_count())
    """
)


def test_settling_collects_garbage_then_freezes_the_rest_only_once_enabled():
    done = subprocess.run([sys.executable, "-c", CHILD], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.startswith("ok ")
