"""GenAI content benchmark: the writer's own costs, with the stand-in chat-completions server on loopback
as the model (c360.genai.standin), so every figure is c360's work plus a loopback HTTP hop.

1. Offline writer: one email from templates (profile read from memory, consent, minimization, offer terms,
   template) p50 / p99. Bar: p99 <= 5 ms.
2. Time to first token of a streamed chat reply: the same request through the raw `openai` SDK client and
   through `ContentWriter.stream_chat` (consent, minimization, prompt, budget, pacing, the check of the first
   delta), interleaved; c360's overhead is the difference. Bar: p99 overhead <= 20 ms.
3. Cache hits: the same email again, answered from the SQLite content cache. Bar: p99 <= 2 ms.
4. A burst of `burst` emails for distinct customers from 16 threads split between two writers (as two
   replicas would be) against a stand-in that answers 429 past `server_rate` requests a second. The writers
   share one ledger file (c360.genai.ledger: one pace at 80% of the limit, one daily budget), as the
   processes of a workspace do. Bar: every email comes from the model (no template fallback, no failed
   request), the tokens spent stay within the daily budget.

The load average (1 min) is printed before and after each part: on 2 shared cores, other work moves the
tails.
"""

from __future__ import annotations

import gc
import os
import tempfile
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
from rich.console import Console
from rich.table import Table

from c360.genai.backends import backend_from_settings
from c360.genai.cache import ContentCache
from c360.genai.evaluate import PRODUCTS, _profile
from c360.genai.ledger import SharedBudget, SharedPacer
from c360.genai.prompts import build_messages
from c360.genai.standin import StandInServer
from c360.genai.tasks import ContentRequest
from c360.genai.writer import ContentWriter
from c360.nba.catalog import load_catalog
from c360.settings import LLMSettings


def _ms(values: list[float]) -> tuple[float, float]:
    arr = np.asarray(values) * 1000.0
    return float(np.percentile(arr, 50)), float(np.percentile(arr, 99))


def _load() -> float:
    """The 1-minute load average; a collection first, so garbage left by the part before is not timed."""
    gc.collect()
    return os.getloadavg()[0]


def _people(n: int) -> dict[str, dict[str, Any]]:
    return {f"B-{i}": _profile(f"B-{i}", f"Name{i % 97}", True, True) for i in range(n)}


def _email(cid: str) -> ContentRequest:
    return ContentRequest("email", cid, product_id="P-LAMP", action_id="d25_email")


def _timed(fn: Callable[[str], Any], ids: list[str], n: int) -> list[float]:
    """Seconds of each of `n` calls of `fn`, cycling through `ids`."""
    out = []
    for i in range(n):
        cid = ids[i % len(ids)]
        t = time.perf_counter()
        fn(cid)
        out.append(time.perf_counter() - t)
    return out


def run(
    console: Console,
    repeats: int = 2000,
    ttft_requests: int = 200,
    burst: int = 1000,
    server_rate: float = 250.0,
) -> dict[str, Any]:
    catalog = load_catalog()
    people = _people(max(burst, 100))
    rows: list[tuple[str, str, str, str]] = []
    figures: dict[str, Any] = {}

    # 1. offline writer
    before = _load()
    offline = ContentWriter(LLMSettings(), catalog, people.__getitem__, PRODUCTS.get)
    ids = list(people)
    lat = _timed(lambda cid: offline.write(_email(cid)), ids, repeats)
    p50, p99 = _ms(lat)
    figures["offline_p99_ms"] = p99
    rows.append(
        (
            "offline writer, email",
            f"{p50:.3f} / {p99:.3f} ms",
            "p99 <= 5 ms",
            f"{before:.2f} -> {_load():.2f}",
        )
    )

    with (
        tempfile.TemporaryDirectory() as tmp,
        StandInServer(ttft_seconds=0.03, chunk_seconds=0.002) as server,
    ):
        settings = LLMSettings(
            provider="openai", base_url=server.url, timeout_seconds=10, requests_per_second=1000.0
        )
        # 2. time to first token, raw SDK vs writer
        before = _load()
        writer = ContentWriter(
            settings, catalog, people.__getitem__, PRODUCTS.get, backend_from_settings(settings)
        )
        raw_client = backend_from_settings(settings)
        if raw_client is None:
            raise ValueError("the TTFT comparison needs an HTTP backend")
        chat = ContentRequest("chat", "B-1", message="Where is my parcel?", tickets=("Parcel late",))
        prepared = writer.prepare(chat)
        messages = build_messages(chat, prepared.view, None, None)
        raw_ttft, writer_ttft = [], []
        for _ in range(ttft_requests):
            t = time.perf_counter()
            deltas = iter(raw_client.stream(messages, 600))
            next(deltas)
            raw_ttft.append(time.perf_counter() - t)
            for _text in deltas:
                pass
            t = time.perf_counter()
            events = writer.stream_chat(chat)
            next(events)
            writer_ttft.append(time.perf_counter() - t)
            for _event in events:
                pass
        r50, r99 = _ms(raw_ttft)
        w50, w99 = _ms(writer_ttft)
        overhead = (np.asarray(writer_ttft) - np.asarray(raw_ttft)) * 1000.0
        o50, o99 = float(np.percentile(overhead, 50)), float(np.percentile(overhead, 99))
        figures.update(
            ttft_raw_p99_ms=r99, ttft_writer_p99_ms=w99, ttft_overhead_p50_ms=o50, ttft_overhead_p99_ms=o99
        )
        load = f"{before:.2f} -> {_load():.2f}"
        rows.append(("TTFT, raw SDK (backend ttft 30 ms)", f"{r50:.2f} / {r99:.2f} ms", "", load))
        rows.append(("TTFT, ContentWriter.stream_chat", f"{w50:.2f} / {w99:.2f} ms", "", load))
        rows.append(("TTFT overhead, paired difference", f"{o50:.2f} / {o99:.2f} ms", "p99 <= 20 ms", load))
        raw_client.close()

        # 3. cache hits
        before = _load()
        cache = ContentCache(Path(tmp) / "cache.sqlite", ttl_seconds=3600)
        cached = ContentWriter(
            settings, catalog, people.__getitem__, PRODUCTS.get, backend_from_settings(settings), cache=cache
        )
        hit_ids = ids[:100]
        for cid in hit_ids:
            cached.write(_email(cid))
        lat = _timed(lambda cid: cached.write(_email(cid)), hit_ids, repeats)
        h50, h99 = _ms(lat)
        figures["cache_hit_p99_ms"] = h99
        rows.append(
            ("cache hit, email", f"{h50:.3f} / {h99:.3f} ms", "p99 <= 2 ms", f"{before:.2f} -> {_load():.2f}")
        )
        cached.close()

    # 4. burst against a rate-limited backend, two writers sharing one ledger
    with tempfile.TemporaryDirectory() as tmp, StandInServer(rate_per_second=server_rate) as server:
        settings = LLMSettings(
            provider="openai",
            base_url=server.url,
            timeout_seconds=10,
            requests_per_second=server_rate * 0.8,
            daily_token_budget=1_000_000,
        )
        ledger = Path(tmp) / "genai_ledger.sqlite"
        rate = settings.requests_per_second
        burst_writers = [
            ContentWriter(
                settings,
                catalog,
                people.__getitem__,
                PRODUCTS.get,
                backend_from_settings(settings),
                budget=SharedBudget(ledger, settings.daily_token_budget),
                pacer=SharedPacer(ledger, rate, burst=max(1.0, rate / 10)),
            )
            for _ in range(2)
        ]
        before = _load()
        started = time.perf_counter()
        sources: dict[str, int] = {}
        lock = threading.Lock()

        def one(i: int) -> None:
            source: str
            try:
                source = burst_writers[i % 2].write(_email(ids[i])).source
            except Exception as exc:  # noqa: BLE001 - a failed request is what this part counts
                source = f"error:{type(exc).__name__}"
            with lock:
                sources[source] = sources.get(source, 0) + 1

        with ThreadPoolExecutor(16) as pool:
            list(pool.map(one, range(burst)))
        seconds = time.perf_counter() - started
        used = SharedBudget(ledger, settings.daily_token_budget).snapshot()
        failed = burst - sources.get("model", 0)
        figures.update(
            burst_sources=sources,
            burst_429=server.statuses.get(429, 0),
            burst_failed=failed,
            burst_tokens=used["tokens"],
            burst_budget=settings.daily_token_budget,
            burst_s=seconds,
        )
        rows.append(
            (
                f"burst of {burst} emails, 2 writers x 8 threads on one ledger, server limit "
                f"{server_rate:.0f}/s",
                f"{burst / seconds:.0f}/s; sources {sources}; 429s {server.statuses.get(429, 0)}; "
                f"failed {failed}; tokens {used['tokens']:,} of {settings.daily_token_budget:,}",
                "all from the model, within budget",
                f"{before:.2f} -> {_load():.2f}",
            )
        )
        for burst_writer in burst_writers:
            burst_writer.close()

    table = Table(title=f"genai content writer ({os.cpu_count()} cores)")
    for col in ("what", "p50 / p99 or result", "bar", "load 1m"):
        table.add_column(col)
    for row in rows:
        table.add_row(*row)
    console.print(table)
    return figures
