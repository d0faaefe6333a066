"""Demo-data benchmark: generation throughput (raw rows per second) and peak memory, per size.

Each size is generated into a fresh temporary workspace (removed afterwards unless `workdir` is given). Peak
memory is the largest resident set of this process plus its children (the chunk workers), sampled in a
background thread, so it is what the machine actually had to hold.
"""

from __future__ import annotations

import shutil
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pyarrow.compute as pc
from rich.console import Console
from rich.table import Table

from c360.bench.memory import PeakMemory
from c360.workspace import Workspace, init_workspace

MB = 1024 * 1024


@dataclass(frozen=True)
class DemoBenchRow:
    customers: int
    files: int
    rows: int
    bad_rows: int
    seconds: float
    peak_mb: float
    lake_mb: float

    @property
    def rows_per_s(self) -> float:
        return self.rows / self.seconds if self.seconds else 0.0

    @property
    def rows_per_customer(self) -> float:
        return self.rows / self.customers if self.customers else 0.0


def _lake_mb(root: Path) -> float:
    return sum(p.stat().st_size for p in root.rglob("*") if p.is_file()) / MB


def bench_size(
    directory: Path, customers: int, seed: int = 42, chunk_size: int = 50_000, workers: int | None = None
) -> DemoBenchRow:
    """Generate `customers` into a new workspace at `directory` and measure it."""
    from c360.demo import GROUND_TRUTH, generate_demo_data

    init_workspace(directory, force=True)
    ws = Workspace.load(directory)
    with PeakMemory() as memory:
        t0 = time.perf_counter()
        generate_demo_data(
            ws, customers=customers, seed=seed, console=None, chunk_size=chunk_size, workers=workers
        )
        seconds = time.perf_counter() - t0
    counts = ws.lake.read_table(ws.lake.path(GROUND_TRUTH, "counts.parquet"))
    return DemoBenchRow(
        customers=customers,
        files=int(pc.sum(counts["files"]).as_py()),
        rows=int(pc.sum(counts["rows_written"]).as_py()),
        bad_rows=int(pc.sum(counts["bad_rows"]).as_py()),
        seconds=seconds,
        peak_mb=memory.peak_bytes / MB,
        lake_mb=_lake_mb(Path(ws.lake.path("raw"))),
    )


def results_table(rows: Sequence[DemoBenchRow]) -> Table:
    table = Table(title="Demo-data generation", title_justify="left")
    for name in ("customers", "raw rows", "rows/cust", "seconds", "rows/s", "peak MB", "raw MB"):
        table.add_column(name, justify="right")
    for r in rows:
        table.add_row(
            f"{r.customers:,}",
            f"{r.rows:,}",
            f"{r.rows_per_customer:.1f}",
            f"{r.seconds:.1f}",
            f"{r.rows_per_s:,.0f}",
            f"{r.peak_mb:,.0f}",
            f"{r.lake_mb:,.0f}",
        )
    return table


def run(
    sizes: Sequence[int] = (100_000, 1_000_000),
    out: Console | None = None,
    seed: int = 42,
    workdir: Path | None = None,
    chunk_size: int = 50_000,
    workers: int | None = None,
) -> list[DemoBenchRow]:
    """Time demo-data generation for each size and print rows/s and peak memory as a table."""
    out = out or Console()
    keep = workdir is not None
    base = Path(workdir) if workdir else Path(tempfile.mkdtemp(prefix="c360-bench-demo-"))
    rows: list[DemoBenchRow] = []
    try:
        for customers in sizes:
            directory = base / f"demo-{customers}"
            out.print(f"[bold]{customers:,} customers[/bold]: generating into {directory}")
            row = bench_size(directory, customers, seed=seed, chunk_size=chunk_size, workers=workers)
            rows.append(row)
            out.print(
                f"  {row.rows:,} rows in {row.files} files, {row.seconds:.1f}s "
                f"({row.rows_per_s:,.0f} rows/s), peak {row.peak_mb:,.0f} MB"
            )
            if not keep:
                shutil.rmtree(directory, ignore_errors=True)
    finally:
        if not keep:
            shutil.rmtree(base, ignore_errors=True)
    out.print(results_table(rows))
    return rows
