"""Child processes and a shared Ray cluster for the fault-injection suite (`c360.bench.faults`).

`run_child` runs one command in its own session with its output in a log file and kills what is left of
its process group afterwards (a killed driver's local Ray included); `shared_ray` starts a one-node cluster
the children join, in a temp dir of its own, and stops it by its process group.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

from c360.io.ports import free_port

RUN_TIMEOUT = 600.0
FIXED_ENV = {"PYTHONWARNINGS": "ignore"}
"""For every child and the Ray cluster. The hash seed is left random on purpose: a stage whose output depends
on it (a set's order) fails the control run, as a refusal reason in `identity/links` once did."""


@dataclass(frozen=True)
class Proc:
    returncode: int
    seconds: float
    tail: str
    """Last lines of the output, to say why a run failed."""


def _kill_group(pid: int) -> None:
    """SIGKILL what is left of a child's session (Ray processes a killed driver started)."""
    with suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)


def run_child(cmd: list[str], env: dict[str, str], log: Path, timeout: float = RUN_TIMEOUT) -> Proc:
    """One command in its own session, output to `log`; its process group is killed afterwards."""
    t0 = time.perf_counter()
    with log.open("wb") as out:
        proc = subprocess.Popen(
            cmd, cwd=log.parent, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )  # cwd: `python -c` puts it first on sys.path, so a checkout there would shadow the installed c360
        try:
            code = proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            _kill_group(proc.pid)
            code = proc.wait()
        finally:
            _kill_group(proc.pid)
    lines = log.read_text(encoding="utf-8", errors="replace").strip().splitlines()
    return Proc(code, time.perf_counter() - t0, "\n".join(lines[-3:]))


@contextmanager
def shared_ray(workdir: Path) -> Iterator[dict[str, str]]:
    """A one-node Ray cluster for the stages to join (environment to give them); stopped on exit.

    Started with `ray start --block` in its own session and stopped by killing that process group: never
    `ray stop`, which stops every cluster on the machine. Its temp dir (short: socket paths are limited)
    holds its address file, so `ray.init()` elsewhere does not join it.
    """
    temp = Path(tempfile.mkdtemp(prefix="c360f-", dir="/tmp"))
    port = free_port()
    cmd = [
        str(Path(sys.executable).with_name("ray")),
        "start", "--head", "--block", f"--port={port}", "--num-cpus=2", "--include-dashboard=false",
        f"--dashboard-port={free_port()}", f"--ray-client-server-port={free_port()}",
        f"--dashboard-agent-listen-port={free_port()}", "--disable-usage-stats", f"--temp-dir={temp}",
    ]  # fmt: skip
    log = (workdir / "ray.log").open("wb")
    env = {**os.environ, **FIXED_ENV}
    proc = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + 120
        while not (temp / "ray_current_cluster").exists():
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"ray start failed; see {workdir / 'ray.log'}")
            time.sleep(0.5)
        yield {"RAY_ADDRESS": f"127.0.0.1:{port}", "RAY_AUTH_MODE": "token"}
    finally:
        for sig in (signal.SIGTERM, signal.SIGKILL):
            try:
                os.killpg(proc.pid, sig)
            except ProcessLookupError:
                break
            time.sleep(2)
        proc.wait()
        log.close()
        shutil.rmtree(temp, ignore_errors=True)
