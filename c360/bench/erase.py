"""Erasure benchmark: forget one customer in an N-customer lake; time, files scanned and rewritten, bytes.

For each size a demo workspace is generated, ingested and resolved (the identity graph is the index erasure
needs), then one customer with records in several sources is erased. The table shows how much of the lake
the erasure had to touch: files are judged from footers and key columns, and only files holding the person
are rewritten, so bytes rewritten should track the files the person is in, not the size of the lake.
"""

from __future__ import annotations

import random
import shutil
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from rich.console import Console
from rich.table import Table

from c360.erasure_plan import erase_customers
from c360.identity.store import IdentityStore
from c360.privacy.rewrite import StoreCounts
from c360.workspace import Workspace, init_workspace


@dataclass(frozen=True)
class EraseBenchRow:
    erased: int
    """Customers erased in the one pass."""
    customers: int
    lake_files: int
    lake_bytes: int
    prepare_seconds: float
    records: int
    rows_removed: int
    files_scanned: int
    files_rewritten: int
    bytes_rewritten: int
    seconds: float
    stores: dict[str, StoreCounts] = field(default_factory=dict)


def _lake_size(ws: Workspace) -> tuple[int, int]:
    files = [p for p in Path(ws.lake.root).rglob("*") if p.is_file()]
    return len(files), sum(p.stat().st_size for p in files)


def prepare_workspace(root: Path, customers: int, seed: int, console: Console) -> Workspace:
    """demo-data -> ingest -> resolve, unless the workspace already holds a resolved lake."""
    from c360.demo import generate_demo_data
    from c360.identity.resolve import resolve
    from c360.sources.ingest import ingest

    if not (root / "c360.yaml").exists():
        init_workspace(root)
    ws = Workspace.load(root)
    if not IdentityStore(ws.lake).exists("id_map"):
        generate_demo_data(ws, customers=customers, seed=seed, console=console)
        ingest(ws, progress=False)
        resolve(ws, progress=False)
    return ws


def pick_customers(ws: Workspace, seed: int, n: int = 1) -> list[str]:
    """Customers with records in at least three sources (typical, not trivial, erasures)."""
    id_map = IdentityStore(ws.lake).read_arrow("id_map", columns=["source", "customer_id"]).to_pandas()
    spread = id_map.groupby("customer_id")["source"].nunique()
    candidates = sorted(spread[spread >= 3].index) or sorted(spread.index)
    return random.Random(seed).sample(candidates, min(n, len(candidates)))


def bench_one(
    customers: int, seed: int, workdir: Path | None, console: Console, batch: int = 1
) -> EraseBenchRow:
    root = (
        (workdir / f"erase-{customers}")
        if workdir
        else Path(tempfile.mkdtemp(prefix=f"c360-erase-{customers}-"))
    )
    root.mkdir(parents=True, exist_ok=True)
    try:
        t0 = time.perf_counter()
        ws = prepare_workspace(root, customers, seed, Console(quiet=True))
        prepare = time.perf_counter() - t0
        return erase_and_measure(ws, customers, seed, batch, prepare)
    finally:
        if workdir is None:
            shutil.rmtree(root, ignore_errors=True)


def bench_workspace(root: Path, seed: int, batch: int = 1) -> EraseBenchRow:
    """Erase `batch` customers (one pass) of an existing resolved workspace (modified in place)."""
    ws = Workspace.load(root)
    customers = IdentityStore(ws.lake).read_arrow("golden", columns=["customer_id"]).num_rows
    return erase_and_measure(ws, customers, seed, batch, prepare=0.0)


def erase_and_measure(ws: Workspace, customers: int, seed: int, batch: int, prepare: float) -> EraseBenchRow:
    """Erase `batch` picked customers in one pass and describe the lake and what the erasure touched."""
    files, size = _lake_size(ws)
    report = erase_customers(ws, pick_customers(ws, seed, batch), reason="benchmark")
    return EraseBenchRow(
        erased=len(report.customer_hashes),
        customers=customers,
        lake_files=files,
        lake_bytes=size,
        prepare_seconds=prepare,
        records=report.records,
        rows_removed=report.rows,
        files_scanned=report.files_scanned,
        files_rewritten=report.files_rewritten,
        bytes_rewritten=report.bytes_rewritten,
        seconds=report.seconds,
        stores=report.stores,
    )


def render_stores(row: EraseBenchRow) -> Table:
    """Where one erasure spent its time and its writes, store by store."""
    title = f"erasure of {row.erased} customer(s) in {row.customers:,}: by store"
    table = Table(title=title, title_justify="left")
    for col in ("store", "scanned", "rewritten", "MB rewr.", "s"):
        table.add_column(col, justify="left" if col == "store" else "right")
    for name, c in sorted(row.stores.items(), key=lambda kv: -kv[1].seconds):
        table.add_row(
            name,
            str(c.files_scanned),
            str(c.files_rewritten + c.files_deleted),
            f"{c.bytes_rewritten / 1e6:,.2f}",
            f"{c.seconds:.2f}",
        )
    return table


def render(rows: Sequence[EraseBenchRow]) -> Table:
    table = Table(title="erasure (one pass)", title_justify="left")
    for col in (
        "erased",
        "customers",
        "lake files",
        "lake MB",
        "records",
        "rows",
        "scanned",
        "rewritten",
        "MB rewr.",
        "s",
    ):
        table.add_column(col, justify="right")
    for r in rows:
        table.add_row(
            str(r.erased),
            f"{r.customers:,}",
            f"{r.lake_files:,}",
            f"{r.lake_bytes / 1e6:,.1f}",
            str(r.records),
            str(r.rows_removed),
            str(r.files_scanned),
            str(r.files_rewritten),
            f"{r.bytes_rewritten / 1e6:,.2f}",
            f"{r.seconds:.2f}",
        )
    return table


def run(
    customers_list: Sequence[int] = (20_000,),
    seed: int = 42,
    workdir: Path | None = None,
    console: Console | None = None,
    workspace: Path | None = None,
    batch: int = 1,
) -> list[EraseBenchRow]:
    console = console or Console()
    if workspace is not None:
        rows = [bench_workspace(workspace, seed, batch)]
        console.print(render(rows))
        console.print(render_stores(rows[0]))
        return rows
    rows = []
    for n in customers_list:
        rows.append(bench_one(n, seed, workdir, console, batch))
        console.print(render(rows))
        console.print(render_stores(rows[-1]))
    return rows
