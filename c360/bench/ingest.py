"""Ingest benchmark: source rows per second for the Ray Data pipeline and the single-process baseline.

For each size, demo data is generated once into its own workspace, then ingested twice from scratch (outputs
and watermark cleared in between): once with Ray Data, once with the baseline. Both runs must agree on every
count. The table shows rows/s side by side with the ratio, and seconds per size, so linearity is visible
(rows/s should stay flat as the size grows).
"""

from __future__ import annotations

import shutil
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from rich.console import Console
from rich.table import Table

from c360.bench.ingest_baseline import ingest_baseline
from c360.errors import C360Error
from c360.runtime import ensure_ray
from c360.sources.ingest import ingest
from c360.sources.report import IngestReport
from c360.workspace import Workspace, init_workspace

Generator = Callable[[Workspace, int, int, Console], object]


@dataclass(frozen=True)
class IngestBenchRow:
    customers: int
    files: int
    source_rows: int
    accepted: int
    quarantined: int
    ray_seconds: float
    baseline_seconds: float

    @property
    def ray_rows_per_s(self) -> float:
        return self.source_rows / self.ray_seconds if self.ray_seconds else 0.0

    @property
    def baseline_rows_per_s(self) -> float:
        return self.source_rows / self.baseline_seconds if self.baseline_seconds else 0.0

    @property
    def speedup(self) -> float:
        return self.baseline_seconds / self.ray_seconds if self.ray_seconds else 0.0


def _demo_generator(ws: Workspace, customers: int, seed: int, console: Console) -> object:
    from c360.demo import generate_demo_data

    return generate_demo_data(ws, customers=customers, seed=seed, console=console)


def clear_ingest_outputs(ws: Workspace) -> None:
    """Remove everything ingest wrote, so the next run starts from raw/ alone."""
    for part in ("standardized", "quarantine", "_state/ingest"):
        ws.lake.rm(ws.lake.path(part), recursive=True)


def _same_counts(a: IngestReport, b: IngestReport) -> None:
    left = [(f.source, f.file_set, f.rows_read, f.rows_accepted, f.rows_quarantined) for f in a.file_sets]
    right = [(f.source, f.file_set, f.rows_read, f.rows_accepted, f.rows_quarantined) for f in b.file_sets]
    if left != right or len(a.failed_files) != len(b.failed_files):
        raise C360Error(f"ray and baseline ingest disagree:\n  ray      {left}\n  baseline {right}")


def bench_workspace(ws: Workspace, customers: int) -> IngestBenchRow:
    """Time both engines on a workspace whose raw/ is already filled."""
    clear_ingest_outputs(ws)
    t0 = time.perf_counter()
    ray_report = ingest(ws, progress=False)
    ray_seconds = time.perf_counter() - t0
    clear_ingest_outputs(ws)
    t0 = time.perf_counter()
    base_report = ingest_baseline(ws)
    baseline_seconds = time.perf_counter() - t0
    _same_counts(ray_report, base_report)
    return IngestBenchRow(
        customers=customers,
        files=ray_report.files_ingested,
        source_rows=ray_report.rows_read,
        accepted=ray_report.rows_accepted,
        quarantined=ray_report.rows_quarantined,
        ray_seconds=ray_seconds,
        baseline_seconds=baseline_seconds,
    )


def results_table(rows: Sequence[IngestBenchRow]) -> Table:
    table = Table(title="ingest: source rows/s, Ray Data vs single process", title_justify="left")
    for col in ("customers", "files", "source rows", "ray s", "baseline s", "ray rows/s", "baseline rows/s",
                "ray / baseline", "ray s per 100k rows"):  # fmt: skip
        table.add_column(col, justify="right")
    for r in rows:
        table.add_row(
            f"{r.customers:,}",
            str(r.files),
            f"{r.source_rows:,}",
            f"{r.ray_seconds:.1f}",
            f"{r.baseline_seconds:.1f}",
            f"{r.ray_rows_per_s:,.0f}",
            f"{r.baseline_rows_per_s:,.0f}",
            f"{r.speedup:.2f}x",
            f"{r.ray_seconds / r.source_rows * 100_000:.2f}" if r.source_rows else "-",
        )
    return table


def run(
    customers_list: Sequence[int] = (100_000, 1_000_000),
    seed: int = 42,
    workdir: Path | None = None,
    console: Console | None = None,
    generate: Generator | None = None,
) -> list[IngestBenchRow]:
    """Generate demo data per size, ingest it with Ray Data and with the baseline, print the comparison.

    Ray is started (and its workers warmed) before timing, so the figures are steady-state throughput.
    """
    console = console or Console()
    generate = generate or _demo_generator
    base = Path(workdir) if workdir else Path(tempfile.mkdtemp(prefix="c360-bench-ingest-"))
    rows: list[IngestBenchRow] = []
    for customers in customers_list:
        directory = base / f"ingest-{customers}"
        init_workspace(directory, force=True)
        ws = Workspace.load(directory)
        console.print(f"[bold]{customers:,} customers[/bold]: generating demo data in {directory}")
        generate(ws, customers, seed, console)
        ensure_ray(ws.settings.ray, progress=False)
        _warm_up_ray()
        row = bench_workspace(ws, customers)
        rows.append(row)
        console.print(
            f"  {row.source_rows:,} rows: ray {row.ray_seconds:.1f}s, baseline {row.baseline_seconds:.1f}s"
        )
    console.print(results_table(rows))
    if workdir is None:
        shutil.rmtree(base, ignore_errors=True)
    return rows


def _touch_worker(row: dict[str, int]) -> dict[str, int]:
    import c360.sources.tasks  # noqa: F401 - the import is the warm-up

    return row


def _warm_up_ray() -> None:
    """Start the worker processes and import c360 in them, so the first timed run does not pay for it."""
    import ray

    ray.data.range(4, override_num_blocks=4).map(_touch_worker).take_all()
