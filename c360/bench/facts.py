"""Facts and feature history for N customers: the issue's performance targets, each beside its target.

Per size, on a synthetic model-ready lake written directly (`c360.bench.synthetic_lake`: what demo-data,
ingest and resolve would leave, two years, ~7.5 transaction lines and ~11 interactions per customer):

1. `build_facts` full;
2. a 12-cutoff weekly backfill of feature history ending at the lake's last day;
3. 1% new rows (a week of new standardized files for every customer), then `build_facts` and the backfill
   of the new week's cutoff (what a weekly job runs; the older cutoffs read none of the new rows): their time
   as a fraction of (1) + (2);
4. a point-in-time training set (label `propensity`, one cutoff: a row per customer) through Feast;
5. the peak resident memory of the process tree (this process, Ray's and any other children), summed, during
   (1) and (2) (the target's scope); the whole run's is printed beside it.

Targets (issue 12, for 1,000,000 customers on 2 cores): (1) + (2) at most 15 minutes, (3) at most 10% of
it, (4) at most 5 minutes for 1,000,000 rows x 50 features, (5) at most 12 GiB. A part whose code has not
landed prints "not available"; one that fails prints its error. The machine's load average and core count
are printed beside the figures: on a shared machine they say what the seconds are worth.
"""

from __future__ import annotations

import importlib
import os
import shutil
import tempfile
import threading
import time
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import psutil
from rich.console import Console
from rich.table import Table

from c360.bench.memory import tree_memory
from c360.bench.synthetic_lake import LakeCounts, add_increment, write_lake
from c360.settings import parse_settings
from c360.workspace import Workspace

GIB = 2**30
TARGET_FACTS_BACKFILL_S = 15 * 60
TARGET_INCREMENTAL = 0.10
TARGET_TRAINING_S = 5 * 60
TARGET_RSS = 12 * GIB
TARGET_CUSTOMERS = 1_000_000
CUTOFFS = 12
EVERY = timedelta(days=7)
LABEL = "propensity"


class TreeMemory:
    """Samples the summed RSS of this process and all its descendants (Ray's raylet and workers included)
    in a thread. Shared pages (Ray's object store) count once per process mapping them: an upper bound."""

    def __init__(self, every: float = 0.25, limit: int | None = None, console: Console | None = None) -> None:
        self.every = every
        self.limit = limit
        self.console = console
        self.peak = 0
        self.phase_peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="tree-rss", daemon=True)

    def _sample(self) -> int:
        return tree_memory()

    def _run(self) -> None:
        while not self._stop.wait(self.every):
            rss = self._sample()
            self.peak = max(self.peak, rss)
            self.phase_peak = max(self.phase_peak, rss)
            if self.limit is not None and rss > self.limit:
                self._abort(rss)

    def _abort(self, rss: int) -> None:
        """Over the memory limit: stop this process and the processes it started, before the machine (shared
        with other work) runs out; the figures printed so far stand."""
        if self.console is not None:
            self.console.print(
                f"[red]stopped: the process tree holds {rss / GIB:.2f} GiB, over the "
                f"{self.limit / GIB:.0f} GiB limit (--max-rss-gib)[/red]"  # type: ignore[operator]
            )
        me = psutil.Process()
        for child in me.children(recursive=True):
            try:
                child.kill()
            except psutil.NoSuchProcess:
                continue
        os._exit(3)

    def __enter__(self) -> TreeMemory:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def reset_phase(self) -> None:
        self.phase_peak = self._sample()


@dataclass
class Step:
    name: str
    seconds: float | None = None
    note: str = ""
    peak_rss: int = 0
    load: tuple[float, float] = (0.0, 0.0)  # 1-minute load average before and after
    detail: dict[str, Any] = field(default_factory=dict)

    @property
    def available(self) -> bool:
        return self.seconds is not None


@dataclass
class FactsBenchRow:
    customers: int
    lake: LakeCounts
    generate_seconds: float
    steps: dict[str, Step]
    peak_rss: int
    """Of facts and the backfill (the target's scope)."""
    cores: int
    cores_allowed: int
    peak_rss_all: int = 0
    """Of the whole run, the incremental steps and the training set included."""

    def seconds(self, *names: str) -> float | None:
        values = [self.steps[n].seconds for n in names if n in self.steps]
        return None if len(values) < len(names) or any(v is None for v in values) else sum(values)  # type: ignore[misc]


def _optional(module: str, name: str) -> Callable[..., Any] | None:
    try:
        return getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError):
        return None


def _measure(name: str, memory: TreeMemory, fn: Callable[[], Any] | None, missing: str) -> Step:
    step = Step(name)
    if fn is None:
        step.note = f"not available: {missing}"
        return step
    memory.reset_phase()
    before = os.getloadavg()[0]
    started = time.perf_counter()
    try:
        result = fn()
    except Exception as exc:  # noqa: BLE001 - a benchmark reports a failing part and goes on
        step.note = f"failed: {type(exc).__name__}: {str(exc).splitlines()[0][:200] if str(exc) else ''}"
        step.detail["traceback"] = traceback.format_exc()
        return step
    step.seconds = time.perf_counter() - started
    step.peak_rss = memory.phase_peak
    step.load = (before, os.getloadavg()[0])
    step.detail["result"] = result
    return step


def _said(console: Console, step: Step) -> Step:
    """Print a step's figure as soon as it is known (a long run shows progress, a killed one its parts)."""
    if step.available:
        console.print(
            f"  {step.name}: {step.seconds:,.1f} s, load {step.load[0]:.1f} -> {step.load[1]:.1f}, "
            f"peak RSS {step.peak_rss / GIB:.2f} GiB"
        )
    else:
        console.print(f"  {step.name}: {step.note}")
    return step


def bench_workspace(root: Path) -> Workspace:
    text = (
        "workspace: factsbench\n"
        "lake:\n  uri: data/lake\n"
        "reporting_currency: GBP\n"
        "stores:\n  profile:\n    sqlite_path: data/profiles.db\n"
        "  feast:\n    registry_path: data/registry.db\n    online_store: sqlite\n"
    )
    root.mkdir(parents=True, exist_ok=True)
    (root / "c360.yaml").write_text(text, encoding="utf-8")
    return Workspace.from_settings(parse_settings(text, env={}), root=root)


def _cutoffs(last: Any, n: int) -> list[Any]:
    import pandas as pd

    end = pd.Timestamp(last).tz_convert("UTC").normalize()
    return [end - EVERY * (n - 1 - i) for i in range(n)]


def _backfill_call(ws: Workspace, cutoffs: list[Any]) -> Callable[[], Any] | None:
    backfill = _optional("c360.features.backfill", "backfill")
    if backfill is None:
        return None
    return lambda: backfill(ws, cutoffs[0].date().isoformat(), cutoffs[-1].date().isoformat(), "7d")


def bench_one(
    customers: int,
    workdir: Path | None,
    console: Console,
    seed: int,
    keep: bool,
    training_set: bool = True,
    max_rss: int | None = None,
    backfill: bool = True,
) -> FactsBenchRow:
    base = Path(tempfile.mkdtemp(prefix=f"factsbench-{customers}-", dir=workdir))
    ws = bench_workspace(base / "ws")
    build_facts = _optional("c360.facts.build", "build_facts")
    build_training_set = _optional("c360.features.training_set", "build_training_set")
    steps: dict[str, Step] = {}
    try:
        with TreeMemory(limit=max_rss, console=console) as memory:
            console.print(f"{customers:,} customers: writing the synthetic lake")
            started = time.perf_counter()
            lake = write_lake(ws.lake, customers, seed=seed)
            generate = time.perf_counter() - started
            console.print(
                f"  {lake.transaction_lines:,} transaction lines, {lake.interactions:,} interactions "
                f"({lake.texts:,} with text), {lake.products:,} products in {generate:.1f}s"
            )
            cutoffs = _cutoffs(lake.end, CUTOFFS)

            console.print(f"{customers:,} customers: facts (full)")
            facts_full = (lambda: build_facts(ws, full=True)) if build_facts else None
            steps["facts"] = _said(
                console, _measure("facts, full", memory, facts_full, "c360.facts.build.build_facts")
            )
            console.print(f"{customers:,} customers: backfill, {CUTOFFS} weekly cutoffs")
            steps["backfill"] = _said(
                console,
                _measure(
                    f"backfill, {CUTOFFS} weekly cutoffs",
                    memory,
                    _backfill_call(ws, cutoffs) if steps["facts"].available and backfill else None,
                    "skipped (--no-backfill)"
                    if not backfill
                    else "c360.features.backfill.backfill"
                    if steps["facts"].available
                    else "needs facts",
                ),
            )

            console.print(f"{customers:,} customers: +1% rows, facts and backfill again")
            more = add_increment(ws.lake, customers, lake.end, fraction=0.01, seed=seed + 1)
            console.print(
                f"  +{more.transaction_lines:,} transaction lines, +{more.interactions:,} interactions"
            )
            facts_inc = (lambda: build_facts(ws)) if build_facts and steps["facts"].available else None
            steps["facts_inc"] = _said(
                console, _measure("facts after +1% rows", memory, facts_inc, "needs facts")
            )
            new_cutoffs = [
                cutoffs[-1] + EVERY
            ]  # the weekly job: the new week's cutoff (older ones read no new row)
            steps["backfill_inc"] = _said(
                console,
                _measure(
                    "backfill of the new week's cutoff",
                    memory,
                    _backfill_call(ws, new_cutoffs) if steps["backfill"].available else None,
                    "needs the backfill",
                ),
            )

            console.print(f"{customers:,} customers: training set ({LABEL}, one cutoff)")
            train_cutoff = cutoffs[-5]  # the label's 30 days end before the newest fact

            def training() -> Any:
                from c360.features.store import apply as feast_apply

                feast_apply(ws)
                return build_training_set(ws, LABEL, [train_cutoff])

            steps["training"] = _said(
                console,
                _measure(
                    "training set",
                    memory,
                    training if build_training_set and steps["backfill"].available and training_set else None,
                    "skipped (--no-training-set)"
                    if not training_set
                    else "c360.features.training_set.build_training_set"
                    if build_training_set is None
                    else "needs the backfill",
                ),
            )
            # the target's memory is that of facts and the backfill; the incremental steps run after them in
            # this process, beside the idle Ray workers the backfill left, and are shown apart
            peak = max((steps[k].peak_rss for k in ("facts", "backfill") if steps[k].available), default=0)
            peak_all = memory.peak
    finally:
        if not keep:
            shutil.rmtree(base, ignore_errors=True)
        else:
            console.print(f"workspace kept at {ws.root}")
    for key in ("backfill", "backfill_inc"):
        report = steps[key].detail.get("result") if key in steps else None
        if report is not None:
            console.print(
                f"  {steps[key].name}: {len(getattr(report, 'cutoffs', []))} cutoff(s), "
                f"rows {getattr(report, 'rows', '?')}, files written {getattr(report, 'written', '?')}, "
                f"unchanged {getattr(report, 'unchanged', '?')}"
            )
    for key in ("facts", "facts_inc"):
        report = steps[key].detail.get("result") if key in steps else None
        if report is not None:
            console.print(
                f"  {steps[key].name}: rows {getattr(report, 'rows', {})}, partitions recomputed "
                f"{getattr(report, 'partitions_recomputed', '?')}, "
                f"texts scored {getattr(report, 'texts_scored', '?')}, "
                f"seconds {getattr(report, 'seconds', {})}"
            )
    for step in steps.values():
        if "traceback" in step.detail:
            console.print(f"[red]{step.name}[/red]: {step.note}")
    return FactsBenchRow(
        customers=customers,
        lake=lake,
        generate_seconds=generate,
        steps=steps,
        peak_rss=peak,
        peak_rss_all=peak_all,
        cores=psutil.cpu_count() or 0,
        cores_allowed=len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else 0,
    )


def _fmt_s(seconds: float | None) -> str:
    return "-" if seconds is None else f"{seconds:,.1f}"


def _training_shape(step: Step) -> tuple[int, int] | None:
    result = step.detail.get("result")
    if result is None:
        return None
    for rows_attr, feats_attr in (("rows", "features"), ("n_rows", "n_features")):
        rows, feats = getattr(result, rows_attr, None), getattr(result, feats_attr, None)
        if rows is not None and feats is not None:
            return int(rows), len(feats) if isinstance(feats, (list, tuple)) else int(feats)
    table = getattr(result, "table", None)
    if callable(table):
        t = table()
        keys = {"customer_id", "event_timestamp", "label", "cutoff"}
        return t.num_rows, len([c for c in t.column_names if c not in keys])
    return None


def render(row: FactsBenchRow) -> Table:
    scale = row.customers / TARGET_CUSTOMERS
    table = Table(
        title=(
            f"facts and feature history, {row.customers:,} customers ({row.lake.transaction_lines:,} lines, "
            f"{row.lake.interactions:,} interactions); {row.cores} cores, {row.cores_allowed} usable"
        ),
        title_justify="left",
    )
    for col in ("figure", "measured", "target (1M customers)", "load avg 1m before / after", "peak RSS GiB"):
        table.add_column(col, justify="left" if col == "figure" else "right")

    def line(step: Step, target: str) -> None:
        measured = _fmt_s(step.seconds) + " s" if step.available else step.note
        load = f"{step.load[0]:.1f} / {step.load[1]:.1f}" if step.available else "-"
        rss = f"{step.peak_rss / GIB:.2f}" if step.available else "-"
        table.add_row(step.name, measured, target, load, rss)

    s = row.steps
    line(s["facts"], "")
    line(s["backfill"], "")
    both = row.seconds("facts", "backfill")
    table.add_row(
        "(1)+(2) facts + backfill",
        _fmt_s(both) + " s" if both is not None else "not available",
        f"<= {TARGET_FACTS_BACKFILL_S:,} s"
        + (f" (x{scale:g}: {TARGET_FACTS_BACKFILL_S * scale:,.0f} s)" if scale != 1 else ""),
        "",
        "",
    )
    line(s["facts_inc"], "")
    line(s["backfill_inc"], "")
    inc = row.seconds("facts_inc", "backfill_inc")
    inc_facts_only = row.seconds("facts_inc")
    if inc is not None and both:
        fraction = f"{inc / both:.1%} of the full run"
    elif inc_facts_only is not None and row.seconds("facts"):
        fraction = f"facts only: {inc_facts_only / row.seconds('facts'):.1%} of the full facts run"  # type: ignore[operator]
    else:
        fraction = "not available"
    table.add_row("(3) incremental / full", fraction, f"<= {TARGET_INCREMENTAL:.0%}", "", "")
    shape = _training_shape(s["training"])
    train = s["training"]
    name = f"(4) training set {shape[0]:,} rows x {shape[1]} features" if shape else "(4) training set"
    line(
        Step(name, train.seconds, train.note, train.peak_rss, train.load),
        f"<= {TARGET_TRAINING_S} s (1M x 50)",
    )
    table.add_row(
        "(5) peak RSS, process tree (summed), facts and backfill",
        f"{row.peak_rss / GIB:.2f} GiB",
        f"<= {TARGET_RSS / GIB:.0f} GiB",
        "",
        "",
    )
    table.add_row("    the whole run (not a target)", f"{row.peak_rss_all / GIB:.2f} GiB", "", "", "")
    table.add_row("synthetic lake written (not a target)", f"{row.generate_seconds:,.1f} s", "", "", "")
    return table


def run(
    customers_list: Sequence[int] = (20_000,),
    seed: int = 42,
    workdir: Path | None = None,
    console: Console | None = None,
    keep: bool = False,
    training_set: bool = True,
    max_rss_gib: float | None = None,
    backfill: bool = True,
) -> list[FactsBenchRow]:
    console = console or Console()
    rows = []
    max_rss = int(max_rss_gib * GIB) if max_rss_gib else None
    for n in customers_list:
        row = bench_one(n, workdir, console, seed, keep, training_set, max_rss, backfill)
        rows.append(row)
        console.print(render(row))
    return rows
