"""`generate_demo_data`: customers in chunks, each chunk simulated, formatted and written on its own.

A chunk's files depend only on (seed, chunk number, chunk size), so chunks may run in a small process pool
and the output is still byte-identical. The parent writes the ground truth in chunk order, holding at most a
few chunks' ground truth in memory.
"""

from __future__ import annotations

import json
import logging
import multiprocessing
import os
import time
from collections import deque
from collections.abc import Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from c360.demo import truth
from c360.demo.activity_tables import activity_tables
from c360.demo.identity_tables import identity_tables
from c360.demo.layout import FILE_SET_INDEX, FILE_SETS
from c360.demo.rates import rates_table
from c360.demo.sim import simulate_chunk
from c360.demo.vec import MAX_CHUNKS
from c360.demo.world import HISTORY_START, REFERENCE_DATE, World, build_world
from c360.demo.writers import inject_defects, write_table
from c360.io.lake import Lake
from c360.workspace import Workspace

log = logging.getLogger(__name__)
GROUND_TRUTH = "ground_truth"


@dataclass(frozen=True)
class ChunkTask:
    chunk: int
    start: int  # global index of the chunk's first person
    size: int
    total: int
    bad_row_rate: float
    lake_uri: str
    storage_options: dict[str, str]
    base_dir: str


@dataclass
class ChunkResult:
    chunk: int
    size: int
    rows: dict[tuple[str, str], int] = field(default_factory=dict)
    bad: dict[tuple[str, str], int] = field(default_factory=dict)
    truth: dict[str, list[pa.Table]] = field(default_factory=dict)


def run_chunk(world: World, task: ChunkTask) -> ChunkResult:
    """Simulate, format and write one chunk; return its counts and ground truth."""
    sim = simulate_chunk(world, task.chunk, task.start, task.size, task.total)
    tables = identity_tables(sim)
    activity, sentiment = activity_tables(sim)
    tables |= activity
    lake = Lake(task.lake_uri, task.storage_options, base_dir=Path(task.base_dir))
    defect_rng = sim.rngs[2]
    result = ChunkResult(task.chunk, task.size, truth={name: [] for name in truth.TABLES})
    for fs in FILE_SETS:
        table = tables.get((fs.source, fs.name))
        if table is None:
            continue
        rel = fs.part_path(task.chunk)
        if fs.record != "identity":
            table, injected = inject_defects(fs, table, task.bad_row_rate, defect_rng)
            if len(injected.rows):
                result.truth["bad_rows"].append(truth.bad_rows_table(fs, rel, injected))
            result.bad[fs.source, fs.name] = len(injected.rows)
        else:
            rec = sim.records[fs.source]
            result.truth["identity_map"].append(
                truth.identity_map(fs.source, fs.name, rec.record_id, sim.people, rec.person)
            )
        write_table(lake, fs, table, lake.path(rel))
        result.rows[fs.source, fs.name] = table.num_rows
    result.truth["people"].append(truth.people_table(world, sim.people))
    result.truth["sentiment"].append(sentiment)
    return result


_WORKER_WORLD: World | None = None


def _init_worker(world: World) -> None:
    global _WORKER_WORLD
    _WORKER_WORLD = world
    pa.set_cpu_count(1)


def _run_in_worker(task: ChunkTask) -> ChunkResult:
    assert _WORKER_WORLD is not None, "worker not initialised"
    return run_chunk(_WORKER_WORLD, task)


def _results(world: World, tasks: list[ChunkTask], workers: int) -> Iterator[ChunkResult]:
    """Chunk results in chunk order; with workers > 1, at most 2 x workers chunks in flight."""
    if workers <= 1:
        for task in tasks:
            yield run_chunk(world, task)
        return
    ctx = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(workers, mp_context=ctx, initializer=_init_worker, initargs=(world,)) as pool:
        pending: deque[Future[ChunkResult]] = deque()
        queue = iter(tasks)
        for task in queue:
            pending.append(pool.submit(_run_in_worker, task))
            if len(pending) >= 2 * workers:
                break
        while pending:
            yield pending.popleft().result()
            nxt = next(queue, None)
            if nxt is not None:
                pending.append(pool.submit(_run_in_worker, nxt))


def _clear_previous(lake: Lake) -> None:
    """Remove files of an earlier run (only the demo's own part files and ground truth)."""
    for fs in FILE_SETS:
        for path in lake.glob(f"raw/{fs.source}/{fs.name}/part-*.{fs.ext}"):
            lake.rm(path)
    lake.rm(lake.path(GROUND_TRUTH), recursive=True)


def _summary(rows: dict, bad: dict, files: dict, customers: int, seed: int, seconds: float) -> Table:
    table = Table(title=f"Demo data: {customers:,} customers, seed {seed}", title_justify="left")
    for name, justify in (
        ("source", "left"),
        ("file set", "left"),
        ("format", "left"),
        ("record", "left"),
        ("files", "right"),
        ("rows", "right"),
        ("bad rows", "right"),
    ):
        table.add_column(name, justify=justify)  # type: ignore[arg-type]
    for fs in FILE_SETS:
        key = (fs.source, fs.name)
        table.add_row(
            fs.source,
            fs.name,
            fs.format,
            fs.record,
            f"{files.get(key, 0):,}",
            f"{rows.get(key, 0):,}",
            f"{bad.get(key, 0):,}" if fs.record != "identity" else "-",
        )
    total = sum(rows.values())
    table.add_section()
    table.add_row("total", "", "", "", f"{sum(files.values()):,}", f"{total:,}", f"{sum(bad.values()):,}")
    table.caption = (
        f"{total / max(customers, 1):.1f} rows per customer in {seconds:.1f}s "
        f"({total / max(seconds, 1e-9):,.0f} rows/s); ground truth in {GROUND_TRUTH}/"
    )
    return table


def generate_demo_data(
    ws: Workspace,
    customers: int,
    seed: int,
    console: Console | None = None,
    bad_row_rate: float = 0.001,
    chunk_size: int = 50_000,
    workers: int | None = None,
) -> Table:
    """Write raw files for all eight source kinds plus `ground_truth/`; return a summary table.

    The same (customers, seed, chunk_size) gives byte-identical files whatever `workers` is (None: up to 2
    processes when there is more than one chunk).
    """
    if customers < 1:
        raise ValueError("customers must be at least 1")
    if not 0.0 <= bad_row_rate < 0.5:
        raise ValueError("bad_row_rate must be in [0, 0.5)")
    started = time.perf_counter()
    lake = ws.lake
    chunk_size = max(1, chunk_size)
    n_chunks = -(-customers // chunk_size)
    if n_chunks > MAX_CHUNKS:
        raise ValueError(f"{n_chunks} chunks is more than {MAX_CHUNKS}; use a larger chunk_size")
    if workers is None:
        workers = min(2, os.cpu_count() or 1, n_chunks)
    log.info("demo data: %d customers in %d chunks, %d worker(s)", customers, n_chunks, workers)
    _clear_previous(lake)
    world = build_world(seed)
    settings = ws.settings.lake
    tasks = [
        ChunkTask(
            c,
            c * chunk_size,
            min(chunk_size, customers - c * chunk_size),
            customers,
            bad_row_rate,
            settings.uri,
            dict(settings.storage_options),
            str(ws.root),
        )
        for c in range(n_chunks)
    ]
    writers: dict[str, pq.ParquetWriter] = {}
    rows: dict[tuple[str, str], int] = {}
    bad: dict[tuple[str, str], int] = {}
    files: dict[tuple[str, str], int] = {}
    rates_fs = FILE_SET_INDEX["fx", "rates"]
    rates = rates_table(seed)  # the same for every chunk count: it depends on the seed alone
    write_table(lake, rates_fs, rates, lake.path(rates_fs.part_path(0)))
    rows[rates_fs.source, rates_fs.name], files[rates_fs.source, rates_fs.name] = rates.num_rows, 1
    progress = Progress(
        TextColumn("[bold]demo data"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("customers"),
        TimeElapsedColumn(),
        console=console,
        disable=console is None,
        transient=True,
    )
    try:
        with progress:
            bar = progress.add_task("customers", total=customers)
            for result in _results(world, tasks, workers):
                for name, parts in result.truth.items():
                    for part in parts:
                        if name not in writers:
                            path = lake.path(GROUND_TRUTH, f"{name}.parquet")
                            lake.makedirs(GROUND_TRUTH)
                            writers[name] = pq.ParquetWriter(
                                path, truth.TABLES[name], filesystem=lake.arrow_fs
                            )
                        writers[name].write_table(part)
                for key, n in result.rows.items():
                    rows[key] = rows.get(key, 0) + n
                    files[key] = files.get(key, 0) + 1
                for key, n in result.bad.items():
                    bad[key] = bad.get(key, 0) + n
                progress.advance(bar, result.size)
    finally:
        for w in writers.values():
            w.close()
    for name, schema in truth.TABLES.items():
        if name not in writers:  # e.g. no bad rows at all: still write an empty file with the schema
            lake.write_table(schema.empty_table(), lake.path(GROUND_TRUTH, f"{name}.parquet"))
    counts = pa.table(
        {
            "source": [fs.source for fs in FILE_SETS],
            "file_set": [fs.name for fs in FILE_SETS],
            "files": [files.get((fs.source, fs.name), 0) for fs in FILE_SETS],
            "rows_written": [rows.get((fs.source, fs.name), 0) for fs in FILE_SETS],
            "bad_rows": [bad.get((fs.source, fs.name), 0) for fs in FILE_SETS],
        },
        schema=truth.COUNTS,
    )
    lake.write_table(counts, lake.path(GROUND_TRUTH, "counts.parquet"))
    manifest = {
        "seed": seed,
        "customers": customers,
        "chunk_size": chunk_size,
        "bad_row_rate": bad_row_rate,
        "history_start": HISTORY_START,
        "reference_date": REFERENCE_DATE,
        "file_sets": [f"{fs.source}/{fs.name}" for fs in FILE_SETS],
    }
    lake.write_text(lake.path(GROUND_TRUTH, "manifest.json"), json.dumps(manifest, indent=2) + "\n")
    seconds = time.perf_counter() - started
    total = sum(rows.values())
    log.info("demo data: %d rows in %d files, %.1fs", total, sum(files.values()), seconds)
    return _summary(rows, bad, files, customers, seed, seconds)
