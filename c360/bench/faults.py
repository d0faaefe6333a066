"""Fault injection: kill `c360 erase`, `resolve` and `profiles` at every step boundary, re-run, compare.

A stage promises that a run killed between two steps (SIGKILL: an OOM kill or a lost node, no cleanup) and
run again ends exactly where an uninterrupted run ends. For each stage this module:

1. builds one small demo workspace through the CLI and copies it per scenario, so every run starts equal;
2. runs the stage uninterrupted in a copy with `C360_CHECKPOINT_LOG` set: the boundaries it crosses (found,
   never listed by hand, so new `checkpoint()` calls are picked up) and the reference workspace; then once
   more, the control: two uninterrupted runs must compare equal, or no comparison below means anything;
3. per boundary, in a fresh copy: the stage with `C360_KILL_AT=stage:step` (it must die by SIGKILL), then the
   same command again (it must succeed);
4. compares the copy with the reference (`lakediff`), and for an erasure scans every file for the person.

Each run is a child process in its own session; its process group is killed afterwards, so nothing a
killed driver started (a local Ray) outlives the scenario (`c360.bench.children`). The stages join one Ray
cluster started here (`shared_ray`), since starting Ray is most of a small run's time; its address file
lives in its own temp dir, so other `ray.init()` calls on the machine never find it. Boundaries in code
that runs inside Ray tasks are not seen that way (the cluster's workers do not carry the driver's
environment): driver-side boundaries are the ones a process kill can hit.

`c360 profiles` runs with its clock pinned (`PINNED_PROFILES`): profiles are computed as of the run's start,
so two correct runs a minute apart differ in every recency; the CLI has no `--as-of` to ask for that.
"""

from __future__ import annotations

import os
import shutil
import signal
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path

from rich.console import Console
from rich.table import Table

from c360.bench.children import FIXED_ENV, Proc, run_child, shared_ray
from c360.bench.lakediff import differences, scan, snapshot
from c360.faults import KILL_ENV, LOG_ENV, boundaries_seen

STAGES = ("erase", "resolve", "profiles")
KILLED = -signal.SIGKILL
AS_OF = "2026-06-30T12:00:00+00:00"
PINNED_PROFILES = """
import sys
from datetime import datetime

import c360.profile.build as build
from c360.cli import entrypoint

FIXED = datetime.fromisoformat(sys.argv[1])


class PinnedClock(datetime):
    @classmethod
    def now(cls, tz=None):
        return FIXED.astimezone(tz) if tz else FIXED.replace(tzinfo=None)


build.datetime = PinnedClock
sys.argv = ["c360", *sys.argv[2:]]
entrypoint()
"""
"""`c360 <args>` with the profiles clock pinned to argv[1]: the real CLI, only `build.datetime.now` fixed."""


@dataclass(frozen=True)
class FaultRow:
    stage: str
    step: str
    killed: bool | None
    """The run died by SIGKILL at the boundary (None: the uninterrupted reference)."""
    rerun_ok: bool | None
    traces: int | None
    """(file, identifier) hits of the erasure scan after the re-run; None for stages that erase nothing."""
    lake_equal: bool | None
    """The lake equals the uninterrupted run's (None: not compared, the control that was not needed)."""
    difference: str
    seconds: float

    @property
    def ok(self) -> bool:
        return (
            self.killed is not False and self.rerun_ok is not False and not self.traces
            and self.lake_equal is not False
        )  # fmt: skip


class Harness:
    """Workspaces, children and the checks of one suite run (see the module docstring)."""

    def __init__(self, workdir: Path, customers: int, seed: int, ray_env: dict[str, str]) -> None:
        self.workdir = workdir
        self.customers = customers
        self.seed = seed
        self.env = {**os.environ, **FIXED_ENV, **ray_env}
        for var in (KILL_ENV, LOG_ENV):
            self.env.pop(var, None)
        self._n = 0
        self._bases: dict[str, Path] = {}

    def c360(self, args: list[str], name: str, extra: dict[str, str] | None = None) -> Proc:
        """`c360 <args>` as a child (profiles with its clock pinned); output in `<workdir>/logs/`."""
        cmd = [sys.executable, "-c", "from c360.cli import entrypoint; entrypoint()", *args]
        if next(a for a in args if not a.startswith("-")) == "profiles":
            cmd = [sys.executable, "-c", PINNED_PROFILES, AS_OF, *args]
        self._n += 1
        logs = self.workdir / "logs"
        logs.mkdir(exist_ok=True)
        return run_child(cmd, {**self.env, **(extra or {})}, logs / f"{self._n:03d}-{name}.log")

    def must(self, args: list[str], name: str) -> None:
        """A setup step that must succeed; run with `-v`, so a failure's traceback is in the error."""
        proc = self.c360(["-v", *args], name)
        if proc.returncode != 0:
            log = self.workdir / "logs" / f"{self._n:03d}-{name}.log"
            lines = log.read_text(encoding="utf-8", errors="replace").splitlines()
            tail = "\n".join(lines[-40:])
            raise RuntimeError(f"c360 {' '.join(args)} failed ({proc.returncode}):\n{tail}")

    def base(self, stage: str) -> Path:
        """The workspace every scenario of `stage` copies: demo data and the stages before `stage`.

        Built once as a chain, each base a copy of the one before plus a stage: demo data and ingest (the
        resolve base), then resolve (profiles), then `c360 run` and one erasure (erase). The resolve and
        profiles bases never run `features`: a copied workspace's Feast registry named the original's SQLite
        online store (issue 11, item 4), and neither stage touches Feast. The erase base runs everything, so
        the erasure also has an online store to clear (erasing never applies the repo, which is what reached
        the original's store). Its earlier erasure makes it a lake that has served a request before: the
        salt of the suppression list exists (a first erasure draws it at random, so two first erasures hash
        differently) and the audit log is not empty.
        """
        if stage in self._bases:
            return self._bases[stage]
        if stage == "resolve":
            root = self.workdir / "ws"
            shutil.rmtree(root, ignore_errors=True)
            self.must(["init", str(root)], "base-init")
            self.must(["demo-data", "--customers", str(self.customers), "--seed", str(self.seed),
                       "-w", str(root)], "base-demo-data")  # fmt: skip
            self.must(["run", "-w", str(root), "--stage", "ingest"], "base-ingest")
        elif stage == "profiles":
            root = self.fresh(self.base("resolve"))
            self.must(["resolve", "-w", str(root)], "base-resolve")
        else:
            root = self.fresh(self.base("profiles"))
            self.must(["run", "-w", str(root)], "base-run")
            earlier, _ = person(root, self.seed + 1)
            self.must(stage_args("erase", root, earlier), "base-erase-earlier")
        # Built at the path every run uses, then put aside: Feast's registry names the workspace's absolute
        # paths, so a copy back at that path is at home and its runs never re-apply the repo (a child
        # process and seconds per run, and not what the stage under test does on a workspace that stays put).
        dest = self.workdir / f"base-{stage}"
        shutil.rmtree(dest, ignore_errors=True)
        root.rename(dest)
        self._bases[stage] = dest
        return dest

    def copy(self, base: Path, name: str) -> Path:
        dest = self.workdir / name
        shutil.rmtree(dest, ignore_errors=True)
        shutil.copytree(base, dest, symlinks=True)
        return dest

    def fresh(self, base: Path) -> Path:
        """A copy of `base` at the one path every run of a stage uses. Feast 0.67 keeps the workspace's
        absolute path in its registry (and the apply digest), which a copy adopts on its first run; at one
        path, a resumed run and an uninterrupted one can be compared file for file."""
        return self.copy(base, "ws")

    def put_aside(self, ws: Path, name: str, keep: bool) -> None:
        """Keep a finished run's workspace as `name` (a reference, a failure), or delete it."""
        dest = self.workdir / name
        shutil.rmtree(dest, ignore_errors=True)
        if keep:
            ws.rename(dest)
        else:
            shutil.rmtree(ws, ignore_errors=True)


def stage_args(stage: str, ws: Path, customer: str | None) -> list[str]:
    if stage == "erase":
        return ["erase", str(customer), "-w", str(ws), "--reason", "fault-injection"]
    return [stage, "-w", str(ws)]


SCAN_EXCLUDED = ("data/lake/ground_truth/",)
"""Left out of the erasure scan: the demo generator's answer key (true person -> source record ids), which
c360 never ingests and a real lake does not have."""
IDENTIFIER_FIELDS = ("email", "phone", "device_id", "cookie_id", "social_handle", "loyalty_id")


def person(ws_root: Path, seed: int) -> tuple[str, list[str]]:
    """A customer with records in three or more sources, and the strings that would betray them.

    Read before the erasure from the identity tables: the customer id, source record ids and record keys,
    each identifier of their records (and a phone's digits), and the hashed index keys of their profile.
    A value any other customer's records also hold (a shared household phone) or contain, or the config
    names (a block-listed placeholder), is left out: it rightly stays, and would read as a trace.
    """
    import random

    from c360.identity.store import IdentityStore
    from c360.profile.store import open_profile_store
    from c360.profile.store.base import profile_identifier_keys
    from c360.workspace import Workspace

    ws = Workspace.load(ws_root)
    store = IdentityStore(ws.lake)
    id_map = store.read_arrow("id_map", columns=["source", "source_record_id", "record_key", "customer_id"])
    frame = id_map.to_pandas()
    spread = frame.groupby("customer_id")["source"].nunique()
    candidates = sorted(spread[spread >= 3].index) or sorted(spread.index)
    customer = random.Random(seed).choice(candidates)
    mine = frame[frame["customer_id"] == customer]
    records = store.read_arrow("records", columns=["record_key", *IDENTIFIER_FIELDS]).to_pandas()
    is_mine = records["record_key"].isin(set(mine["record_key"]))
    values = {str(v) for f in IDENTIFIER_FIELDS for v in records.loc[is_mine, f].dropna()}
    values |= {"".join(c for c in v if c.isdigit()) for v in records.loc[is_mine, "phone"].dropna()}
    values |= set(mine["source_record_id"]) | set(mine["record_key"])
    others = records.loc[~is_mine, list(IDENTIFIER_FIELDS)].astype("string").fillna("").to_numpy().ravel()
    config = (ws_root / "c360.yaml").read_text(encoding="utf-8")  # block-listed placeholders (none@none.com)
    theirs = "\n".join([*others, *frame.loc[frame["customer_id"] != customer, "source_record_id"], config])
    theirs = theirs.casefold()
    needles = sorted(v for v in values if len(v) >= 6 and v.casefold() not in theirs)
    try:
        with open_profile_store(ws) as profiles:
            keys = profile_identifier_keys(profiles.get(customer))
        needles += sorted(k.split(":", 1)[1] for k in keys)
    except Exception:  # no profile built (an erase base always has one; the scan then simply has fewer)
        pass
    return customer, [customer, *needles]


def pick_sample(boundaries: Sequence[str]) -> list[str]:
    """The first, a middle and the last boundary."""
    if not boundaries:
        return []
    picks = [boundaries[0], boundaries[len(boundaries) // 2], boundaries[-1]]
    return list(dict.fromkeys(picks))


def _row(stage: str, step: str, killed: bool | None, rerun: bool | None, traces: int | None,
         diffs: list[str], seconds: float) -> FaultRow:  # fmt: skip
    return FaultRow(stage, step, killed, rerun, traces, not diffs, diffs[0] if diffs else "", seconds)


def run_stage(
    h: Harness,
    stage: str,
    choose: Callable[[list[str]], list[str]],
    console: Console,
    control: str = "always",
) -> tuple[list[str], list[FaultRow]]:
    """(boundaries found, rows): the uninterrupted reference first, then a kill at each chosen boundary.

    `control`: a second uninterrupted run compared with the first, "always" (first), or "on-failure" (last,
    only when a killed run's lake differs: it then tells a kill's fault from a stage that is not
    deterministic; when every kill passes, the stage was deterministic on those runs and the row says the
    control did not run, lake_equal None)."""
    t0 = time.perf_counter()
    base = h.base(stage)
    customer, needles = person(base, h.seed) if stage == "erase" else (None, [])
    if needles and not scan(base, needles, SCAN_EXCLUDED):
        raise RuntimeError(f"{customer} is not visible before the erasure: the scan would prove nothing")
    ws = h.fresh(base)
    log = h.workdir / f"{stage}-boundaries.log"
    proc = h.c360(stage_args(stage, ws, customer), f"{stage}-reference", {LOG_ENV: str(log)})
    boundaries = [b.split(":", 1)[1] for b in boundaries_seen(str(log)) if b.startswith(f"{stage}:")]
    expected = snapshot(ws)
    traces = len(scan(ws, needles, SCAN_EXCLUDED)) if needles else None
    h.put_aside(ws, f"{stage}-reference", keep=True)
    reference_s = time.perf_counter() - t0

    def run_control() -> FaultRow:
        """A second uninterrupted run: it must equal the first, or no comparison with a killed run counts."""
        t1 = time.perf_counter()
        ws = h.fresh(base)
        again = h.c360(stage_args(stage, ws, customer), f"{stage}-control")
        diffs = differences(expected, snapshot(ws))
        for name, p in (("uninterrupted run", proc), ("second uninterrupted run", again)):
            if p.returncode != 0:
                diffs.insert(0, f"{name} failed ({p.returncode}): {p.tail}")
        found = (traces or 0) + len(scan(ws, needles, SCAN_EXCLUDED)) if needles else None
        ok = proc.returncode == 0 and again.returncode == 0
        row = _row(
            stage, "(uninterrupted x2)", None, ok, found, diffs, reference_s + time.perf_counter() - t1
        )
        h.put_aside(ws, f"{stage}-control", keep=not row.ok)
        verdict = "equal" if row.lake_equal else f"DIFFER: {row.difference}"
        console.print(f"{stage}: {len(boundaries)} boundaries {boundaries}; two uninterrupted runs {verdict}")
        return row

    rows = [run_control()] if control == "always" else []
    if control != "always":
        console.print(f"{stage}: {len(boundaries)} boundaries {boundaries}")
    for step in choose(boundaries):
        t1 = time.perf_counter()
        ws = h.fresh(base)
        args = stage_args(stage, ws, customer)
        first = h.c360(args, f"{stage}-{step}-killed", {KILL_ENV: f"{stage}:{step}"})
        again = h.c360(args, f"{stage}-{step}-rerun")
        diffs = differences(expected, snapshot(ws))
        if again.returncode != 0:
            diffs.insert(0, f"re-run failed ({again.returncode}): {again.tail}")
        found = len(scan(ws, needles, SCAN_EXCLUDED)) if needles else None
        rows.append(_row(stage, step, first.returncode == KILLED, again.returncode == 0, found, diffs,
                         time.perf_counter() - t1))  # fmt: skip
        console.print(f"  {step}: {'ok' if rows[-1].ok else 'FAILED'} in {rows[-1].seconds:.0f}s")
        h.put_aside(ws, f"{stage}-{step}", keep=not rows[-1].ok)  # a failure stays to be looked at
    if control == "on-failure":
        if all(r.ok for r in rows):
            ok = proc.returncode == 0
            diffs = [] if ok else [f"uninterrupted run failed ({proc.returncode}): {proc.tail}"]
            row = _row(stage, "(uninterrupted; control not needed)", None, ok, traces, diffs, reference_s)
            rows.insert(0, replace(row, lake_equal=None if ok else False))
        else:
            rows.insert(0, run_control())
    return boundaries, rows


def run(
    customers: int = 300,
    seed: int = 7,
    stages: Sequence[str] = STAGES,
    sample: bool = False,
    workdir: Path | None = None,
    console: Console | None = None,
    share_ray: bool = True,
    control: str = "always",
) -> tuple[dict[str, list[str]], list[FaultRow]]:
    """Every stage killed at every boundary (or a sample); (boundaries per stage, rows). Prints the table."""
    console = console or Console()
    root = (workdir or Path(tempfile.mkdtemp(prefix="c360-faults-"))).resolve()  # children run elsewhere
    root.mkdir(parents=True, exist_ok=True)
    choose = pick_sample if sample else list
    found: dict[str, list[str]] = {}
    rows: list[FaultRow] = []
    t0 = time.perf_counter()
    try:
        with shared_ray(root) if share_ray else _no_ray() as ray_env:
            h = Harness(root, customers, seed, ray_env)
            for stage in stages:
                try:
                    found[stage], stage_rows = run_stage(h, stage, choose, console, control)
                except RuntimeError as exc:  # a base that cannot be built fails its stage, not the suite
                    setup = _row(stage, "(setup)", None, False, None, [str(exc)], 0.0)
                    found[stage], stage_rows = [], [setup]
                rows += stage_rows
    finally:
        if workdir is None:
            shutil.rmtree(root, ignore_errors=True)
    console.print(render(rows, customers, time.perf_counter() - t0))
    return found, rows


@contextmanager
def _no_ray() -> Iterator[dict[str, str]]:
    yield {}


def _mark(value: bool | None) -> str:
    return "-" if value is None else ("yes" if value else "[red]NO[/red]")


def render(rows: Sequence[FaultRow], customers: int, seconds: float) -> Table:
    failed = sum(not r.ok for r in rows)
    title = f"fault injection, {customers:,} customers: {len(rows)} run(s), {failed} failed, {seconds:.0f}s"
    table = Table(title=title, title_justify="left")
    for col in ("stage", "step", "killed", "re-run ok", "traces", "lake equal", "s", "first difference"):
        table.add_column(col, justify="right" if col in ("traces", "s") else "left", overflow="fold")
    for r in rows:
        traces = "-" if r.traces is None else (str(r.traces) if not r.traces else f"[red]{r.traces}[/red]")
        table.add_row(r.stage, r.step, _mark(r.killed), _mark(r.rerun_ok), traces, _mark(r.lake_equal),
                      f"{r.seconds:.0f}", r.difference)  # fmt: skip
    return table
