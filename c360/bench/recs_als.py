"""`python -m c360.bench recs-als-overhead`: ALS fitted by bare implicit and through a Ray task
(`c360.recs.ray_fit`), side by side on the same matrix; the issue's goal is the Ray path at most 1.1x bare.

The matrix is Online Retail's training matrix (purchases before 2011-09-01, the recommendation benchmark's
split, through the example workspace) when the dataset is there, else a seeded synthetic one of similar
size. Ray is started and a worker warmed (one fit each way) before timing; each path then runs `repeats`
times alternately and the medians are compared. What the Ray path adds: shipping the matrix to the worker
through the object store, the copy out of it, and the factors back. The machine is shared, so the load
average is printed beside the figures.
"""

from __future__ import annotations

import os
import statistics
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

GOAL = 1.1
CUTOFF = pd.Timestamp("2011-09-01", tz="UTC")


@dataclass
class Overhead:
    source: str
    shape: tuple[int, int]
    nnz: int
    bare: list[float]
    ray: list[float]

    @property
    def ratio(self) -> float:
        return statistics.median(self.ray) / statistics.median(self.bare)


def retail_matrix(workdir: Path | None) -> tuple[sp.csr_matrix, str]:
    """Online Retail's training matrix (purchases before CUTOFF), as the recommenders see it."""
    from c360.bench.retail_data import example_workspace
    from c360.recs.data import build_interactions, read_lines
    from c360.workspace import Workspace

    with example_workspace(workdir, False, "c360-recs-als-") as folder:
        lines = read_lines(Workspace.load(folder).lake)
    return build_interactions(lines, CUTOFF).weights, "Online Retail, purchases before 2011-09-01"


def synthetic_matrix(
    customers: int = 3_000, items: int = 3_600, per_customer: int = 40, seed: int = 0
) -> tuple[sp.csr_matrix, str]:
    """A seeded matrix of Online Retail's size: Zipf-popular items, customers with a taste region."""
    rng = np.random.default_rng(seed)
    n = customers * per_customer
    rows = rng.integers(0, customers, n)
    cols = (rng.zipf(1.4, n) + rows * 13) % items
    m = sp.csr_matrix((np.ones(n, dtype=np.float32), (rows, cols)), shape=(customers, items))
    m.sum_duplicates()
    return m, f"synthetic {customers:,} x {items:,} (seed {seed})"


def measure(matrix: sp.csr_matrix, threads: int, repeats: int) -> tuple[list[float], list[float]]:
    """Seconds of each bare and Ray fit (after one warm-up of each), alternating."""
    from c360.recs.als import confidence
    from c360.recs.ray_fit import AlsParams, als_factors, als_factors_on_ray

    conf = confidence(matrix, 10.0)
    params = AlsParams(num_threads=threads)
    als_factors(conf, params)
    als_factors_on_ray(conf, params)
    bare, ray = [], []
    for _ in range(repeats):
        t0 = time.perf_counter()
        als_factors(conf, params)
        bare.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        als_factors_on_ray(conf, params)
        ray.append(time.perf_counter() - t0)
    return bare, ray


def run(
    console: Any = None,
    workdir: Path | None = None,
    synthetic: bool = False,
    threads: int = 1,
    repeats: int = 3,
) -> Overhead:
    from rich.console import Console
    from rich.table import Table

    from c360.runtime import ensure_ray
    from c360.settings import RayRuntimeSettings

    out = console if isinstance(console, Console) else Console(width=None if sys.stdout.isatty() else 160)
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    matrix, source = synthetic_matrix() if synthetic else (None, "")
    if matrix is None:
        try:
            matrix, source = retail_matrix(workdir)
        except Exception as exc:  # noqa: BLE001 - no dataset here: say so and measure the synthetic matrix
            out.print(f"Online Retail not available ({type(exc).__name__}: {exc}); a synthetic matrix")
            matrix, source = synthetic_matrix()
    ensure_ray(RayRuntimeSettings(num_cpus=os.cpu_count() or 2), progress=False)
    bare, ray = measure(matrix, threads, repeats)
    result = Overhead(source, matrix.shape, int(matrix.nnz), bare, ray)
    load = os.getloadavg()
    table = Table(title=f"ALS, 64 factors, 15 iterations, {threads} thread(s)")
    for column in ("path", "median s", "min s", "runs"):
        table.add_column(column, justify="left" if column == "path" else "right")
    for name, times in (("bare implicit", bare), ("Ray task", ray)):
        table.add_row(name, f"{statistics.median(times):.3f}", f"{min(times):.3f}", str(len(times)))
    out.print(table)
    verdict = "reached" if result.ratio <= GOAL else "NOT reached"
    out.print(
        f"{source}: {matrix.shape[0]:,} x {matrix.shape[1]:,}, {matrix.nnz:,} non-zeros; Ray / bare "
        f"{result.ratio:.3f}x (goal <= {GOAL}x {verdict}); load average {load[0]:.1f} {load[1]:.1f} "
        f"{load[2]:.1f} on {os.cpu_count()} cores"
    )
    return result
