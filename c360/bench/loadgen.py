"""A small HTTP/1.1 load generator for the serving benchmarks: open loop at a fixed rate, and closed loop for
saturation, over keep-alive connections on asyncio streams (no third-party client: httpx costs more CPU per
request than the server under test on 2 cores).

Open loop: request i is due at `start + i / rate`, whatever happened to the ones before; its latency runs
from when it was due, not from when a connection was free, so a stalled server shows in the percentiles
instead of slowing the generator down (no coordinated omission).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

import numpy as np

Request = tuple[str, str, bytes]
"""(method, path with query, body)."""


@dataclass(frozen=True)
class LoadResult:
    sent: int
    ok: int
    errors: int
    seconds: float
    latencies_ms: np.ndarray
    statuses: dict[int, int]

    @property
    def rps(self) -> float:
        return self.ok / self.seconds if self.seconds else 0.0

    def percentile(self, q: float) -> float:
        return float(np.percentile(self.latencies_ms, q)) if len(self.latencies_ms) else float("nan")


class _Connection:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer
        self.answered = 0

    async def call(self, raw: bytes) -> int:
        self.writer.write(raw)
        head = await self.reader.readuntil(b"\r\n\r\n")
        status = int(head[9:12])
        length = 0
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
                break
        if length:
            await self.reader.readexactly(length)
        self.answered += 1
        return status

    def close(self) -> None:
        self.writer.close()


class _Pool:
    def __init__(self, host: str, port: int, limit: int) -> None:
        self.host, self.port, self.limit = host, port, limit
        self.idle: list[_Connection] = []
        self.open = 0
        self.freed = asyncio.Condition()

    async def take(self) -> _Connection:
        async with self.freed:
            while not self.idle and self.open >= self.limit:
                await self.freed.wait()
            if self.idle:
                return self.idle.pop()
            self.open += 1
        try:
            return await self.connect()
        except OSError:
            self.open -= 1
            raise

    async def connect(self) -> _Connection:
        """A new connection, outside the count: `take` counts it, a resend replaces one already counted."""
        return _Connection(*await asyncio.open_connection(self.host, self.port))

    async def give(self, conn: _Connection | None) -> None:
        async with self.freed:
            if conn is None:
                self.open -= 1
            else:
                self.idle.append(conn)
            self.freed.notify()

    def close(self) -> None:
        for conn in self.idle:
            conn.close()


def _raw(host: str, headers: dict[str, str], request: Request) -> bytes:
    method, path, body = request
    lines = [f"{method} {path} HTTP/1.1", f"Host: {host}", *(f"{k}: {v}" for k, v in headers.items())]
    if body or method in ("POST", "PUT"):
        lines += ["Content-Type: application/json", f"Content-Length: {len(body)}"]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


async def _one(pool: _Pool, raw: bytes, due: float, out: list[float], statuses: dict[int, int]) -> None:
    conn = None
    try:
        conn = await pool.take()
        try:
            status = await conn.call(raw)
        except asyncio.IncompleteReadError as exc:
            if not conn.answered or exc.partial:
                raise
            # The server closed this keep-alive connection while it sat idle (uvicorn does after 5 s) and
            # never read the request: as HTTP clients do, send it once more on a new connection. Its latency
            # still runs from the due time.
            conn.close()
            conn = await pool.connect()
            status = await conn.call(raw)
        statuses[status] = statuses.get(status, 0) + 1
        if 200 <= status < 300:
            out.append((time.perf_counter() - due) * 1000)
    except (OSError, asyncio.IncompleteReadError, ValueError):
        statuses[0] = statuses.get(0, 0) + 1
        if conn is not None:
            conn.close()
        conn = None
    finally:
        await pool.give(conn)


async def _open_loop(
    url: str,
    headers: dict[str, str],
    requests: Callable[[int], Request],
    rate: float,
    seconds: float,
    limit: int,
) -> LoadResult:
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    pool = _Pool(host, port, limit)
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    total = int(rate * seconds)
    tasks = []
    start = time.perf_counter() + 0.05
    for i in range(total):
        due = start + i / rate
        delay = due - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(
            asyncio.create_task(_one(pool, _raw(host, headers, requests(i)), due, latencies, statuses))
        )
    await asyncio.gather(*tasks)
    elapsed = time.perf_counter() - start
    pool.close()
    ok = sum(n for s, n in statuses.items() if 200 <= s < 300)
    return LoadResult(total, ok, total - ok, elapsed, np.array(latencies), statuses)


async def _closed_loop(
    url: str, headers: dict[str, str], requests: Callable[[int], Request], concurrency: int, seconds: float
) -> LoadResult:
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    counter = iter(range(1 << 62))
    stop_at = time.perf_counter() + seconds

    async def worker() -> None:
        conn = _Connection(*await asyncio.open_connection(host, port))
        try:
            while time.perf_counter() < stop_at:
                raw = _raw(host, headers, requests(next(counter)))
                began = time.perf_counter()
                status = await conn.call(raw)
                statuses[status] = statuses.get(status, 0) + 1
                if 200 <= status < 300:
                    latencies.append((time.perf_counter() - began) * 1000)
        finally:
            conn.close()

    start = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    elapsed = time.perf_counter() - start
    sent = sum(statuses.values())
    ok = sum(n for s, n in statuses.items() if 200 <= s < 300)
    return LoadResult(sent, ok, sent - ok, elapsed, np.array(latencies), statuses)


def open_loop(
    url: str,
    headers: dict[str, str],
    requests: Callable[[int], Request],
    rate: float,
    seconds: float,
    max_connections: int = 256,
) -> LoadResult:
    """`rate` requests a second for `seconds`; latency from each request's due time."""
    return asyncio.run(_open_loop(url, headers, requests, rate, seconds, max_connections))


def closed_loop(
    url: str, headers: dict[str, str], requests: Callable[[int], Request], concurrency: int, seconds: float
) -> LoadResult:
    """`concurrency` connections, each sending its next request when its last one answered (saturation)."""
    return asyncio.run(_closed_loop(url, headers, requests, concurrency, seconds))


def cycle(requests: Sequence[Request]) -> Callable[[int], Request]:
    return lambda i: requests[i % len(requests)]
