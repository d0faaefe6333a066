"""`python -m c360.bench personalize`: `POST /v1/personalize` at a fixed open-loop rate (100 requests/s by
default) with every model in place, on a demo workspace built with the user's commands.

The workspace (`--workspace`, reused when it already holds one; else built in a temporary folder) is what
`make demo` makes, smaller by default: `c360 demo-data`, `run`, `train all`, `score`, and `nba warm-start`
for the bandit, so recommendations, next-best-action and the scores all have a production version. It also
applies the Feast repo, so the real-time signals part reads the online store.

Each server runs alone in its own processes; the load generator (`c360.bench.loadgen`, open loop: latency
from each request's due time) runs in this one, on the same cores:

- `in-process`: the API under uvicorn with the models in its process (`LocalModels`), one worker;
- `c360 serve`: Serve in throughput-optimized mode with the Gateway listening on the port itself (direct
  ingress, as `c360 serve` runs it), twice: `models: deployments` (the Gateway with the Recommender and
  NextBestAction deployments) and `models: ingress` (the models in the Gateway's process).

Per server: p50 / p99 / max over the run, the statuses, the fallbacks counted in `/metrics` during the run
(a timeout is a fallback, so a server that answers fast by degrading shows it here), and the load average
(`os.getloadavg()`) before and after. Requests cycle over the customers with a profile, half with a cart
item, a device each.
"""

from __future__ import annotations

import json
import os
import random
import re
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from rich.console import Console
from rich.table import Table

from c360.bench.loadgen import LoadResult, closed_loop, cycle, open_loop
from c360.bench.serving import REPO, _server
from c360.io.ports import free_port

CLI = "from c360.cli import entrypoint; entrypoint()"

READY = "personalize_bench_ready"
BENCH_KEY_RATE = 1_000_000.0
FALLBACK_LINE = re.compile(r'^c360_personalize_fallbacks_total\{part="([^"]+)",reason="([^"]+)"\} (\S+)$')
VERSION_LINE = re.compile(r'^c360_model_version_info\{part="([^"]+)",version="([^"]+)"\} 1\.0$')


@dataclass
class Measured:
    server: str
    result: LoadResult
    fallbacks: dict[str, int] = field(default_factory=dict)
    versions: dict[str, str] = field(default_factory=dict)
    load: tuple[float, float] = (0.0, 0.0)


def prepare(root: Path, customers: int, seed: int, console: Console) -> Path:
    """A demo workspace with every model trained and scored, by the user's commands (reused when built)."""
    if (root / READY).exists():
        return root
    c360 = [sys.executable, "-c", "from c360.cli import entrypoint; entrypoint()"]
    steps = [
        ["init", str(root), "--force"],
        ["demo-data", "--customers", str(customers), "--seed", str(seed)],
        ["run"],
        ["train", "all", "--config", str(REPO / "training" / "configs")],
        ["score"],
        ["nba", "warm-start"],
    ]
    for step in steps:
        console.print(f"  c360 {' '.join(step)}")
        started = time.monotonic()
        cwd = root if step[0] != "init" else root.parent
        done = subprocess.run([*c360, *step], cwd=cwd, capture_output=True, text=True)
        if done.returncode != 0:
            raise RuntimeError(f"c360 {step[0]} failed:\n{(done.stdout + done.stderr)[-3000:]}")
        console.print(f"    {time.monotonic() - started:.0f} s")
    (root / READY).write_text(f"{customers} {seed}\n", encoding="utf-8")
    return root


def requests_for(root: Path, n: int = 2000, seed: int = 7) -> list[tuple[str, str, bytes]]:
    """POST bodies over customers with a profile: half with a cart item, a device each."""
    from c360.recs.store import read_history
    from c360.workspace import Workspace

    ws = Workspace.load(root)
    history = read_history(ws)
    customers = sorted(history["customer_id"].unique().tolist())
    products = sorted(history["product_id"].unique().tolist())
    rng = random.Random(seed)
    bodies = []
    for _ in range(n):
        context = {"device": rng.choice(["mobile", "desktop"]), "page": "/home"}
        if rng.random() < 0.5:
            context["cart"] = [rng.choice(products)]
        body = {"customer_id": rng.choice(customers), "context": context}
        bodies.append(("POST", "/v1/personalize", json.dumps(body).encode()))
    return bodies


def scrape(url: str) -> tuple[dict[str, int], dict[str, str]]:
    """(fallbacks by `part:reason`, model version by part) from the server's /metrics."""
    with urllib.request.urlopen(f"{url}/metrics", timeout=5) as r:
        text = r.read().decode()
    fallbacks, versions = {}, {}
    for line in text.splitlines():
        if m := FALLBACK_LINE.match(line):
            fallbacks[f"{m.group(1)}:{m.group(2)}"] = int(float(m.group(3)))
        elif m := VERSION_LINE.match(line):
            versions[m.group(1)] = m.group(2)
    return fallbacks, versions


def wait_for_models(url: str, headers: dict[str, str], body: bytes, timeout_s: float = 300.0) -> None:
    """Until an answer names a version for every model: `/readyz` answers once the ingress is up, while
    Serve may still be starting the model replicas (they load one at a time: `c360.inference.loader`)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        request = urllib.request.Request(f"{url}/v1/personalize", body, headers, method="POST")
        with urllib.request.urlopen(request, timeout=10) as r:
            versions = json.loads(r.read())["modelVersions"]
        if all(versions.values()):
            return
        time.sleep(0.5)
    raise RuntimeError(f"the models did not all answer within {timeout_s:g} s: {versions}")


def measure(name: str, url: str, key: str, bodies: list, rate: float, seconds: float) -> Measured:
    headers = {"X-API-Key": key, "Content-Type": "application/json"}
    requests = cycle(bodies)
    wait_for_models(url, headers, bodies[0][2])
    closed_loop(url, headers, requests, 4, 3.0)  # warm: connections, handles, the popular cache
    before, _ = scrape(url)
    load_before = os.getloadavg()[0]
    result = open_loop(url, headers, requests, rate, seconds)
    after, versions = scrape(url)
    fell_back = {k: v - before.get(k, 0) for k, v in after.items() if v - before.get(k, 0)}
    return Measured(name, result, fell_back, versions, (load_before, os.getloadavg()[0]))


def serve_in_process(workspace: str, port: int) -> None:
    """The API under uvicorn with the models loaded in this process first (the benchmark's child)."""
    import uvicorn

    from c360.api.app import create_api
    from c360.inference.clients import LocalModels
    from c360.workspace import Workspace

    ws = Workspace.load(workspace)
    models = LocalModels.for_workspace(ws)
    models.load()
    uvicorn.run(create_api(ws, models=models), host="127.0.0.1", port=port, log_level="warning")


def table(results: list[Measured], rate: float, seconds: float) -> Table:
    t = Table(title=f"POST /v1/personalize, open loop {rate:g}/s for {seconds:g} s (ms from each due time)")
    for col in ("server", "sent", "2xx", "p50", "p99", "max", "fallbacks in the run", "load 1m before/after"):
        t.add_column(col, justify="left" if col in ("server", "fallbacks in the run") else "right")
    for m in results:
        r = m.result
        fell = ", ".join(f"{k} {v}" for k, v in sorted(m.fallbacks.items())) or "none"
        t.add_row(
            m.server,
            f"{r.sent:,}",
            f"{r.statuses.get(200, 0):,}",
            f"{r.percentile(50):.1f}",
            f"{r.percentile(99):.1f}",
            f"{r.latencies_ms.max() if len(r.latencies_ms) else float('nan'):.1f}",
            fell,
            f"{m.load[0]:.2f} / {m.load[1]:.2f}",
        )
    return t


def run(
    workspace: Path | None = None,
    customers: int = 2000,
    seed: int = 42,
    rate: float = 100.0,
    seconds: float = 20.0,
    servers: tuple[str, ...] = ("in-process", "serve", "serve-ingress"),
    console: Console | None = None,
) -> list[Measured]:
    from c360.api.keys import KeyStore
    from c360.workspace import Workspace

    console = console or Console()
    root = (workspace or Path(tempfile.mkdtemp(prefix="c360-bench-personalize-")) / "ws").resolve()
    root.parent.mkdir(parents=True, exist_ok=True)  # the workspace's commands run from its parent
    console.print(f"workspace {root} ({customers:,} demo customers, seed {seed})")
    prepare(root, customers, seed, console)
    _, key = KeyStore.for_workspace(Workspace.load(root)).create(
        ["decide"], name="bench personalize", rate_limit=BENCH_KEY_RATE
    )
    bodies = requests_for(root)
    results: list[Measured] = []
    if "in-process" in servers:
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        child = (
            f"from c360.bench.personalize import serve_in_process; serve_in_process({str(root)!r}, {port})"
        )
        with _server([sys.executable, "-c", child], f"{url}/healthz", {}):
            results.append(measure("in-process (uvicorn)", url, key, bodies, rate, seconds))
        console.print("  in-process measured")
    for mode in ("deployments", "ingress"):
        if (mode == "deployments" and "serve" not in servers) or (
            mode == "ingress" and "serve-ingress" not in servers
        ):
            continue
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        cmd = [sys.executable, "-c", CLI, "serve", "-w", str(root)]
        env = {"RAY_SERVE_THROUGHPUT_OPTIMIZED": "1", "RAY_ADDRESS": ""}
        with _server([*cmd, "--port", str(port), "--models", mode], f"{url}/readyz", env):
            # `c360 serve` puts the Gateway on the port itself (direct ingress, no proxy)
            results.append(measure(f"c360 serve, models: {mode}", url, key, bodies, rate, seconds))
        console.print(f"  Serve (models: {mode}) measured")
    console.print(table(results, rate, seconds))
    for m in results:
        console.print(f"{m.server}: versions in use {m.versions or 'none'}")
    return results
