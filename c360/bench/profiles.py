"""Profiles benchmark: time to build N customers' profiles, and materialization throughput per online store.

Per size: demo data -> ingest -> resolve -> facts (not timed), then the `profiles` stage timed on its own
(full build into the lake, `features/` and the embedded SQLite profile store), then an incremental re-run
with nothing changed. `--workspace` times an existing resolved workspace instead (its profiles, features
and SQLite profile store are removed first, so the build starts cold). Then the feature rows of that build are
materialized into each online store (SQLite, Redis, Cosmos DB stand-in) with a fresh registry each, and
rows/s reported. Redis keys of the run are removed after.
"""

from __future__ import annotations

import shutil
import tempfile
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import psutil
from rich.console import Console
from rich.table import Table

from c360.demo import generate_demo_data
from c360.facts.build import build_facts
from c360.features.materialize import materialize
from c360.features.store import apply as feast_apply
from c360.features.store import open_feature_store
from c360.identity.resolve import resolve
from c360.identity.store import IdentityStore
from c360.profile.build import build_profiles
from c360.settings import parse_settings
from c360.sources.ingest import ingest
from c360.workspace import Workspace, init_workspace

ONLINE_STORES = ("sqlite", "redis", "cosmos")


@dataclass
class ProfilesBenchRow:
    customers: int
    profiles: int
    seconds: float
    steps: dict[str, float]
    incremental_seconds: float
    incremental_rebuilt: int
    materialize: dict[str, tuple[int, float]] = field(default_factory=dict)

    @property
    def profiles_per_s(self) -> float:
        return self.profiles / self.seconds if self.seconds else 0.0


@contextmanager
def _online_settings(backend: str) -> Iterator[str]:
    if backend != "cosmos":
        yield f"stores:\n  feast:\n    online_store: {backend}\n"
        return
    from c360.devservices.cosmos import cosmos_stand_in

    with cosmos_stand_in() as stand_in:
        yield (
            "stores:\n  profile:\n"
            f"    cosmos_endpoint: {stand_in.endpoint}\n    cosmos_key: {stand_in.key}\n"
            f"    cosmos_database: bench{uuid.uuid4().hex[:8]}\n    cosmos_verify_tls: false\n"
            "  feast:\n    online_store: cosmos\n"
        )


def bench_materialize(ws: Workspace, backend: str, base: Path) -> tuple[int, float]:
    """Rows and seconds to materialize the lake's feature rows into a fresh `backend` online store."""
    with _online_settings(backend) as stores:
        name = f"benchmat_{backend}_{uuid.uuid4().hex[:8]}"
        settings = parse_settings(f"workspace: {name}\nlake:\n  uri: {ws.lake.root}\n{stores}", env={})
        target = Workspace.from_settings(settings, root=base / name)
        feast_apply(target)
        try:
            report = materialize(target)
        finally:
            if backend == "redis":
                open_feature_store(target).teardown()
        return report.rows, report.seconds


def bench_size(
    customers: int, seed: int, base: Path, online: Sequence[str], console: Console
) -> ProfilesBenchRow:
    root = base / f"profiles-{customers}"
    init_workspace(root, force=True)
    ws = Workspace.load(root)
    console.print(f"{customers:,} customers: demo data, ingest, resolve (not timed)")
    generate_demo_data(ws, customers=customers, seed=seed)
    ingest(ws, progress=False)
    resolve(ws, progress=False)
    return bench_workspace(ws, customers, base, online, console)


def reset_profiles(ws: Workspace) -> None:
    """Remove what `profiles` wrote (lake `profiles/` and `features/`, an embedded SQLite profile store)."""
    for folder in ("profiles", "features"):
        if ws.lake.fs.exists(ws.lake.path(folder)):
            ws.lake.rm(ws.lake.path(folder), recursive=True)
    store = ws.settings.stores.profile
    if store.backend == "sqlite":
        path = ws.resolve_path(store.sqlite_path)
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)


def bench_workspace(
    ws: Workspace, customers: int, base: Path, online: Sequence[str], console: Console
) -> ProfilesBenchRow:
    """Time a cold full build of a resolved workspace, then a re-run with nothing changed."""
    reset_profiles(ws)
    console.print(f"{customers:,} customers: facts (not timed; profiles read them)")
    build_facts(ws)  # the profiles run below finds them current and only checks that
    console.print(f"{customers:,} customers: profiles")
    t0 = time.perf_counter()
    report = build_profiles(ws)
    seconds = time.perf_counter() - t0
    t0 = time.perf_counter()
    again = build_profiles(ws)
    row = ProfilesBenchRow(
        customers=customers,
        profiles=report.rebuilt,
        seconds=seconds,
        steps=dict(report.seconds),
        incremental_seconds=time.perf_counter() - t0,
        incremental_rebuilt=again.rebuilt,
    )
    for backend in online:
        console.print(f"{customers:,} customers: materialize into {backend}")
        row.materialize[backend] = bench_materialize(ws, backend, base)
    return row


def results_tables(rows: Sequence[ProfilesBenchRow]) -> list[Table]:
    build = Table(title="profiles stage (full build, then a re-run with no changes)", title_justify="left")
    for col in (
        "customers",
        "profiles",
        "seconds",
        "profiles/s",
        "staging",
        "pass 1",
        "pass 2",
        "store",
        "re-run",
    ):
        build.add_column(col, justify="right")
    for r in rows:
        s = r.steps
        build.add_row(
            f"{r.customers:,}", f"{r.profiles:,}", f"{r.seconds:.1f}", f"{r.profiles_per_s:,.0f}",
            f"{s.get('staging', 0):.1f}", f"{s.get('aggregate', 0):.1f}", f"{s.get('finish', 0):.1f}",
            f"{s.get('store', 0):.1f}", f"{r.incremental_seconds:.1f}s/{r.incremental_rebuilt}",
        )  # fmt: skip
    mat = Table(title="Feast materialization into each online store (rows/s)", title_justify="left")
    for col in ("customers", "online store", "rows", "seconds", "rows/s"):
        mat.add_column(col, justify="right")
    for r in rows:
        for backend, (n, sec) in r.materialize.items():
            mat.add_row(f"{r.customers:,}", backend, f"{n:,}", f"{sec:.1f}", f"{n / sec if sec else 0:,.0f}")
    return [build, mat]


def run(
    sizes: Sequence[int] = (20_000,),
    seed: int = 42,
    online: Sequence[str] = ONLINE_STORES,
    workdir: Path | None = None,
    console: Console | None = None,
    workspace: Path | None = None,
) -> list[ProfilesBenchRow]:
    """Run every size; print and return the figures (cores and memory of the machine in the title)."""
    console = console or Console()
    unknown = set(online) - set(ONLINE_STORES)
    if unknown:
        raise ValueError(f"unknown online stores {sorted(unknown)}; choose from {', '.join(ONLINE_STORES)}")
    base = Path(workdir) if workdir else Path(tempfile.mkdtemp(prefix="c360-bench-profiles-"))
    console.print(f"{psutil.cpu_count()} cores, {psutil.virtual_memory().total / 2**30:.1f} GiB")
    try:
        if workspace is not None:
            ws = Workspace.load(workspace)
            people = IdentityStore(ws.lake).read_arrow("golden", columns=["customer_id"]).num_rows
            rows = [bench_workspace(ws, people, base, online, console)]
        else:
            rows = [bench_size(n, seed, base, online, console) for n in sizes]
    finally:
        if workdir is None:
            shutil.rmtree(base, ignore_errors=True)
    for table in results_tables(rows):
        console.print(table)
    return rows
