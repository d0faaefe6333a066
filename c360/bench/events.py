"""`python -m c360.bench events`: `POST /v1/events` in batches of 100, and how soon a pushed signal is served.

A workspace (SQLite profile store and Feast online store, the embedded defaults; or `--backend redis` for
both on the Redis server) with `customers` profiles and the Feast repo applied. The API runs under uvicorn in
a child process (one worker: the app as Serve's ingress runs it, without Serve's proxy); the load
generator (`c360.bench.loadgen`, keep-alive HTTP/1.1 on asyncio) runs in this process, on the same cores.

1. Saturation: `concurrency` connections each send their next batch when the last one answered, for
   `seconds`; every batch holds 100 new events (pages and cart events of random customers). Events/s is 100
   times the batches answered 2xx a second; the caption counts the events in the lake's `events/` after
   both phases (the child flushes on shutdown), which must be 100 times every 2xx answer.
2. Freshness under load: an open loop at `rate` batches/s (the target: 50/s = 5,000 events/s), for
   `seconds` or half a second per probe if longer, while this process sends `probes` batches one at a
   time, each ending with a `Product Added` of a price no cart had before, and reads the customer's
   `cart_value` through `FeatureStore.get_online_features` every 2 ms until it shows. Latency runs from
   just before the POST to the first read that sees it. Status 0 counts requests that got no answer (a
   dropped connection).

The load average (`os.getloadavg()`) is printed before and after each phase.
"""

from __future__ import annotations

import json
import os
import random
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
from rich.console import Console
from rich.table import Table

from c360.bench.loadgen import LoadResult, closed_loop, cycle, open_loop
from c360.bench.serving import _server
from c360.io.ports import free_port

BATCH = 100
REDIS_URL = "redis://127.0.0.1:6379/0"


@dataclass
class Freshness:
    latencies_ms: np.ndarray
    missed: int
    background: LoadResult
    load: tuple[float, float]


def prepare(root: Path, customers: int, backend: str) -> tuple[str, list[str]]:
    """The workspace, its profiles and Feast repo; returns an events:write key and the customer ids."""
    from c360.api.keys import KeyStore
    from c360.features.store import apply
    from c360.profile.store import open_profile_store
    from c360.workspace import Workspace

    root.mkdir(parents=True, exist_ok=True)
    text = f"workspace: bench-events-{uuid.uuid4().hex[:6]}\n"
    if backend == "redis":
        text += (
            f"stores:\n  profile:\n    backend: redis\n    redis_url: {REDIS_URL}\n"
            "  feast:\n    online_store: redis\n"
        )
    (root / "c360.yaml").write_text(text, encoding="utf-8")
    ws = Workspace.load(root)
    apply(ws)
    ids = [f"B{i:06d}" for i in range(customers)]
    with open_profile_store(ws) as store:
        store.upsert_many([{"customerId": c, "identities": {}} for c in ids])
    _, key = KeyStore.for_workspace(ws).create(["events:write"], name="bench", rate_limit=1e6)
    return key, ids


def serve_child(workspace: str, port: int) -> None:
    """The API under uvicorn (the benchmark's child process)."""
    import uvicorn

    from c360.api.app import create_api

    # Keep-alive longer than the load generator leaves a connection idle: with uvicorn's 5 s default, a
    # pooled connection the server had just closed fails its next request (a client artifact, not a refusal).
    app = create_api(workspace)
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", timeout_keep_alive=75)


def batch_body(rng: random.Random, customers: list[str], tail: list[dict] | None = None) -> bytes:
    events = []
    for _ in range(BATCH - len(tail or [])):
        cid = rng.choice(customers)
        if rng.random() < 0.6:
            events.append({"type": "page", "name": "product", "message_id": uuid.uuid4().hex, "user_id": cid})
        else:
            props = {"product_id": f"P{rng.randrange(500)}", "price": round(rng.uniform(1, 90), 2)}
            events.append(
                {
                    "type": "track",
                    "event": rng.choice(["Product Added", "Product Removed", "Product Viewed"]),
                    "message_id": uuid.uuid4().hex,
                    "user_id": cid,
                    "properties": props,
                }
            )
    return json.dumps({"batch": events + (tail or [])}).encode()


def lake_events(root: Path) -> int:
    return sum(
        pq.ParquetFile(p).metadata.num_rows for p in (root / "data" / "lake" / "events").rglob("*.parquet")
    )


def freshness(
    ws_root: Path, url: str, headers: dict[str, str], probe_customers: list[str], background: list[str],
    rate: float, seconds: float, probes: int,
) -> Freshness:  # fmt: skip
    """Probe batches one at a time while an open loop runs beside them in a thread."""
    import urllib.request

    from c360.features.store import open_feature_store
    from c360.workspace import Workspace

    store = open_feature_store(Workspace.load(ws_root))
    rng = random.Random(7)
    bodies = [batch_body(rng, background) for _ in range(int(rate * seconds) + 1)]
    requests = cycle([("POST", "/v1/events", b) for b in bodies])
    out: dict[str, LoadResult] = {}
    load_before = os.getloadavg()[0]
    runner = threading.Thread(target=lambda: out.update(r=open_loop(url, headers, requests, rate, seconds)))
    runner.start()
    time.sleep(1.0)  # let the background load settle
    latencies, missed = [], 0
    for i in range(probes):
        cid = probe_customers[i % len(probe_customers)]
        price = 1000.0 + i  # no cart of this probe customer held it: the value shows only once pushed
        tail = [
            {"type": "track", "event": "Order Completed", "message_id": uuid.uuid4().hex, "user_id": cid},
            {"type": "track", "event": "Product Added", "message_id": uuid.uuid4().hex, "user_id": cid,
             "properties": {"product_id": "probe", "price": price}},
        ]  # fmt: skip
        body = batch_body(rng, background, tail)
        req = urllib.request.Request(
            f"{url}/v1/events", data=body, headers={**headers, "Content-Type": "application/json"}
        )
        started = time.perf_counter()
        with urllib.request.urlopen(req, timeout=10) as r:
            r.read()
        seen = None
        while time.perf_counter() - started < 5.0:
            got = store.get_online_features(["realtime_signals:cart_value"], [{"customer_id": cid}]).to_dict()
            if got["cart_value"][0] == price:
                seen = time.perf_counter()
                break
            time.sleep(0.002)
        if seen is None:
            missed += 1
        else:
            latencies.append((seen - started) * 1000)
        if not runner.is_alive():
            break
    runner.join()
    return Freshness(np.array(latencies), missed, out["r"], (load_before, os.getloadavg()[0]))


def run(
    customers: int = 1000,
    concurrency: int = 4,
    seconds: float = 15.0,
    rate: float = 50.0,
    probes: int = 200,
    backend: str = "sqlite",
    workdir: Path | None = None,
    console: Console | None = None,
) -> None:
    console = console or Console()
    holder = None if workdir else tempfile.TemporaryDirectory(prefix="c360-bench-events-")
    root = Path(workdir or holder.name) / "ws"
    ids: list[str] = []
    try:
        key, ids = prepare(root, customers, backend)
        probe_customers, background = ids[:50], ids[50:]
        headers = {"X-API-Key": key}
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        child = f"from c360.bench.events import serve_child; serve_child({str(root)!r}, {port})"
        rng = random.Random(1)
        bodies = [batch_body(rng, background) for _ in range(int(seconds * 120))]
        with _server([sys.executable, "-c", child], f"{url}/healthz", {}):
            load_before = os.getloadavg()[0]
            started = time.perf_counter()
            sat = closed_loop(
                url, headers, cycle([("POST", "/v1/events", b) for b in bodies]), concurrency, seconds
            )
            elapsed = time.perf_counter() - started
            load_after = os.getloadavg()[0]
            # long enough for every probe (each waits for its value to show, ~0.1-1 s)
            fresh_seconds = max(seconds, probes * 0.5)
            fresh = freshness(root, url, headers, probe_customers, background, rate, fresh_seconds, probes)
        kept = lake_events(root)
        console.print(table(sat, elapsed, kept, (load_before, load_after), fresh, rate, backend, concurrency))
    finally:
        if backend == "redis" and (root / "c360.yaml").exists():
            clean_redis(root, ids)
        if holder is not None:
            holder.cleanup()


def clean_redis(root: Path, customers: list[str]) -> None:
    """Remove the run's keys: its workspace prefix (profiles, seen ids, stitches) and its Feast rows."""
    import redis

    from c360.features.store import delete_online_entities, open_feature_store
    from c360.workspace import Workspace

    ws = Workspace.load(root)
    delete_online_entities(open_feature_store(ws), customers)
    client = redis.Redis.from_url(REDIS_URL)
    batch: list[bytes] = []
    for key in client.scan_iter(match=f"c360:{ws.settings.workspace}:*", count=5000):
        batch.append(key)
        if len(batch) >= 5000:
            client.delete(*batch)
            batch = []
    if batch:
        client.delete(*batch)
    client.close()


def _others(result: LoadResult) -> str:
    """Answers other than 2xx by status (0: no answer: a refused or dropped connection)."""
    others = {s: n for s, n in sorted(result.statuses.items()) if not 200 <= s < 300}
    return f" ({', '.join(f'{n} x {s}' for s, n in others.items())})" if others else ""


def table(
    sat: LoadResult, elapsed: float, kept: int, load: tuple[float, float], fresh: Freshness, rate: float,
    backend: str, concurrency: int,
) -> Table:  # fmt: skip
    t = Table(title=f"POST /v1/events, batches of {BATCH}, uvicorn child process, {backend} stores")
    columns = ("phase", "batches 2xx", "events/s", "request p50 / p99 ms",
               "signal visible p50 / p99 / max ms", "load 1m before / after")  # fmt: skip
    for col in columns:
        t.add_column(col, justify="left" if col == "phase" else "right")
    sat_events = sat.ok * BATCH / sat.seconds if sat.seconds else 0.0
    t.add_row(
        f"saturation, {concurrency} connections, {sat.seconds:.0f} s",
        f"{sat.ok}" + _others(sat),
        f"{sat_events:,.0f}",
        f"{sat.percentile(50):.1f} / {sat.percentile(99):.1f}",
        "",
        f"{load[0]:.2f} / {load[1]:.2f}",
    )
    bg, lat = fresh.background, fresh.latencies_ms
    vis = (
        f"{np.percentile(lat, 50):.0f} / {np.percentile(lat, 99):.0f} / {lat.max():.0f} ({len(lat)} probes"
        f"{f', {fresh.missed} never seen in 5 s' if fresh.missed else ''})"
        if len(lat) else f"none seen ({fresh.missed} missed)"
    )  # fmt: skip
    t.add_row(
        f"open loop {rate:g} batches/s + probes",
        f"{bg.ok} of {bg.sent}" + _others(bg),
        f"{bg.ok * BATCH / bg.seconds:,.0f}" if bg.seconds else "-",
        f"{bg.percentile(50):.1f} / {bg.percentile(99):.1f}",
        vis,
        f"{fresh.load[0]:.2f} / {fresh.load[1]:.2f}",
    )
    t.caption = f"events kept in the lake after both phases: {kept:,}"
    return t
