"""`python -m c360.bench serve`: `GET /v1/profiles/{id}` under load, c360 on Ray Serve beside a bare FastAPI +
uvicorn app doing the same store read, per profile store backend.

A third server, c360's own app under uvicorn without Serve, tells what c360 adds apart from what Serve adds.
Each server runs alone (the others are stopped) in its own processes; the load generator (`loadgen`) runs in
this one, on the same 2 cores. Per server: p50/p99 at a fixed open-loop rate (500 requests/s by default) and
the saturation rate of 16 keep-alive connections. c360 is started as users start it, `c360 serve`: Serve's
throughput-optimized mode with direct ingress, the Gateway replica listening on the port itself; with
`--proxy`, once more through Serve's HTTP proxy (`RAY_SERVE_ENABLE_DIRECT_INGRESS=0`), to show what the proxy
costs.

The benchmark's API key has a rate limit of its own (printed): the default 1,000 requests/s per key would cap
the saturation figure, which measures the server, not the limit.
"""

from __future__ import annotations

import contextlib
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from rich.console import Console
from rich.table import Table

from c360.api.keys import KeyStore
from c360.bench.loadgen import LoadResult, closed_loop, cycle, open_loop
from c360.bench.stores import (
    BACKENDS,
    _backend_settings,
    _drop_redis_profiles,
    customer_id,
    synthetic_profile,
)
from c360.io.ports import free_port
from c360.profile.store import open_profile_store
from c360.workspace import Workspace

REPO = Path(__file__).resolve().parents[2]
BENCH_KEY_RATE = 1_000_000.0
DIRECT_PORTS = range(30000, 30010)
"""Where Serve's direct ingress puts an ingress replica by default (`serve run`, `serve deploy`)."""


@dataclass(frozen=True)
class Measured:
    server: str
    backend: str
    at_rate: LoadResult
    saturated: LoadResult
    load: float
    """The 1-minute load average as the measurement began: on 2 shared cores, what else ran shows here."""


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=1) as r:
            return r.status == 200
    except OSError:
        return False


@contextlib.contextmanager
def _server(cmd: list[str], ready_url: str, env: dict[str, str], timeout_s: float = 180) -> Iterator[None]:
    log = tempfile.NamedTemporaryFile("w+", suffix=".log", delete=False)  # noqa: SIM115 - closed below
    proc = subprocess.Popen(
        cmd, cwd=REPO, env={**os.environ, **env}, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
    )
    try:
        deadline = time.monotonic() + timeout_s
        while not _answers(ready_url):
            if proc.poll() is not None or time.monotonic() > deadline:
                log.seek(0)
                tail = "".join(log.readlines()[-30:])
                raise RuntimeError(f"{' '.join(cmd[:4])} did not come up:\n{tail}")
            time.sleep(0.3)
        yield
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGINT)
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)  # Ray's own processes, started in the session
        log.close()
        os.unlink(log.name)


@dataclass(frozen=True)
class Plan:
    rate: float
    seconds: float
    concurrency: int


def _measure(name: str, backend: str, url: str, key: str, ids: list[str], plan: Plan) -> Measured:
    headers = {"X-API-Key": key}
    requests = cycle([("GET", f"/v1/profiles/{cid}", b"") for cid in ids])
    closed_loop(url, headers, requests, plan.concurrency, 2.0)  # warm: connections, caches
    load = os.getloadavg()[0]
    at_rate = open_loop(url, headers, requests, plan.rate, plan.seconds)
    saturated = closed_loop(url, headers, requests, plan.concurrency, plan.seconds)
    return Measured(name, backend, at_rate, saturated, load)


def _workspace(root: Path, stores_yaml: str, backend: str, profiles: int) -> tuple[Workspace, str]:
    root.mkdir(parents=True, exist_ok=True)
    name = f"bench_serve_{backend}_{uuid.uuid4().hex[:8]}"
    (root / "c360.yaml").write_text(f"workspace: {name}\n{stores_yaml}", encoding="utf-8")
    ws = Workspace.load(root)
    rng = random.Random(42)
    with open_profile_store(ws) as store:
        store.upsert_many([synthetic_profile(i, rng) for i in range(profiles)])
    _, key = KeyStore.for_workspace(ws).create(["profiles:read"], name="bench", rate_limit=BENCH_KEY_RATE)
    return ws, key


def bench_backend(
    backend: str, root: Path, profiles: int, plan: Plan, console: Console, proxy: bool = False
) -> list[Measured]:
    results: list[Measured] = []
    with _backend_settings(backend) as stores_yaml:
        ws, key = _workspace(root / backend, stores_yaml, backend, profiles)
        ids = [customer_id(i) for i in random.Random(7).sample(range(profiles), min(profiles, 5000))]
        try:
            port = free_port()
            base = f"http://127.0.0.1:{port}"
            cmd = [sys.executable, "-m", "c360.bench.serve_baseline", str(ws.root), str(port)]
            with _server(cmd, f"{base}/healthz", {}):
                results.append(_measure("uvicorn (bare)", backend, base, key, ids, plan))
            port = free_port()
            base = f"http://127.0.0.1:{port}"
            with _server([*cmd[:-1], str(port), "c360"], f"{base}/healthz", {}):
                results.append(_measure("c360 app, uvicorn", backend, base, key, ids, plan))
            console.print(f"  {backend}: baselines measured")
            serve_cmd = [sys.executable, "-c", "from c360.cli import entrypoint; entrypoint()", "serve"]
            servers: list[tuple[str, dict[str, str]]] = [("c360 serve (direct ingress)", {})]
            if proxy:
                servers.append(("c360 serve, Serve proxy", {"RAY_SERVE_ENABLE_DIRECT_INGRESS": "0"}))
            for name, env in servers:
                port = free_port()
                base = f"http://127.0.0.1:{port}"
                cmd = [*serve_cmd, "-w", str(ws.root), "--port", str(port)]
                with _server(cmd, f"{base}/readyz", {"RAY_ADDRESS": "", **env}):
                    results.append(_measure(name, backend, base, key, ids, plan))
            console.print(f"  {backend}: c360 measured")
        finally:
            if backend == "redis":
                with open_profile_store(ws) as store:
                    _drop_redis_profiles(store)
    return results


def _errors(m: Measured) -> str:
    """Failed requests of both runs by what failed: an HTTP status, or `conn` (refused, reset or cut off)."""
    failed: dict[str, int] = {}
    for run in (m.at_rate, m.saturated):
        for status, n in run.statuses.items():
            if not 200 <= status < 300:
                name = "conn" if status == 0 else str(status)
                failed[name] = failed.get(name, 0) + n
    return ", ".join(f"{n} {name}" for name, n in sorted(failed.items())) or "0"


def table(results: list[Measured], rate: float, concurrency: int) -> Table:
    t = Table(
        "backend", "server", f"p50 ms @{rate:g}/s", f"p99 ms @{rate:g}/s", "errors",
        f"rps saturated (c={concurrency})", "p50 vs bare", "load",
    )  # fmt: skip
    bare = {m.backend: m for m in results if m.server.startswith("uvicorn")}
    for m in results:
        base = bare.get(m.backend)
        ratio = m.at_rate.percentile(50) / base.at_rate.percentile(50) if base else float("nan")
        t.add_row(
            m.backend, m.server, f"{m.at_rate.percentile(50):.2f}", f"{m.at_rate.percentile(99):.2f}",
            _errors(m), f"{m.saturated.rps:,.0f}", f"{ratio:.2f}x", f"{m.load:.2f}",
        )  # fmt: skip
    return t


def run(
    backends: tuple[str, ...] = BACKENDS,
    profiles: int = 10_000,
    rate: float = 500.0,
    seconds: float = 30.0,
    concurrency: int = 16,
    workdir: Path | None = None,
    console: Console | None = None,
    proxy: bool = False,
) -> list[Measured]:
    console = console or Console()
    root = workdir or Path(tempfile.mkdtemp(prefix="c360-bench-serve-"))
    console.print(
        f"GET /v1/profiles/{{id}}: {profiles:,} profiles, open loop {rate:g}/s for {seconds:g} s, "
        f"closed loop {concurrency} connections; load before: {os.getloadavg()[0]:.2f} (1 min); "
        f"benchmark key rate limit {BENCH_KEY_RATE:,.0f}/s "
        "(the default per key is serving.rate_limit_per_second = 1,000/s)"
    )
    results: list[Measured] = []
    try:
        for backend in backends:
            results += bench_backend(
                backend, root, profiles, Plan(rate, seconds, concurrency), console, proxy=proxy
            )
    finally:
        if workdir is None:
            shutil.rmtree(root, ignore_errors=True)
    console.print(table(results, rate, concurrency))
    console.print(f"load after: {os.getloadavg()[0]:.2f} (1 min)")
    return results
