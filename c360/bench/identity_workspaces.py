"""Where the identity benchmark's runs happen: a scratch folder (kept in `--workdir`), a demo workspace
generated and ingested."""

from __future__ import annotations

import shutil
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from c360.workspace import Workspace, init_workspace


@contextmanager
def scratch(workdir: Path | None, name: str) -> Iterator[Path]:
    """`workdir/name`, emptied and kept; else a temporary folder, removed after."""
    if workdir is not None:
        path = workdir / name
        shutil.rmtree(path, ignore_errors=True)
        path.mkdir(parents=True)
        yield path
        return
    tmp = Path(tempfile.mkdtemp(prefix=f"c360-bench-{name}-"))
    try:
        yield tmp
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def demo_workspace(root: Path, customers: int, seed: int) -> tuple[Workspace, float, float]:
    """A demo workspace of `customers` people, generated and ingested: (it, generate s, ingest s)."""
    from c360.demo import generate_demo_data
    from c360.sources.ingest import ingest

    init_workspace(root, force=True)
    ws = Workspace.load(root)
    t = time.perf_counter()
    generate_demo_data(ws, customers=customers, seed=seed, console=None)
    gen = time.perf_counter() - t
    t = time.perf_counter()
    ingest(ws, progress=False)
    return ws, gen, time.perf_counter() - t
