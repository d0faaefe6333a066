"""The benchmarks' load generator against small real HTTP servers on loopback."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from c360.bench.loadgen import closed_loop, cycle, open_loop

RESPONSE = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"


@contextmanager
def _server(handler) -> Iterator[str]:
    """An asyncio server on a free loopback port in a thread of its own; yields its base URL."""
    loop = asyncio.new_event_loop()
    started = threading.Event()
    holder: dict[str, asyncio.AbstractServer] = {}

    async def start() -> None:
        holder["server"] = await asyncio.start_server(handler, "127.0.0.1", 0)
        started.set()

    thread = threading.Thread(
        target=lambda: (loop.run_until_complete(start()), loop.run_forever()), daemon=True
    )
    thread.start()
    started.wait(5)
    port = holder["server"].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        loop.call_soon_threadsafe(holder["server"].close)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(5)


async def _read_request(reader: asyncio.StreamReader) -> bool:
    try:
        await reader.readuntil(b"\r\n\r\n")
        return True
    except (asyncio.IncompleteReadError, ConnectionError):
        return False


def test_a_keep_alive_connection_the_server_closed_while_idle_is_not_a_failed_request() -> None:
    """Like uvicorn after its keep-alive timeout: the connection is closed once it sits idle 50 ms."""

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:
            try:
                arrived = await asyncio.wait_for(_read_request(reader), timeout=0.05)
            except TimeoutError:
                break
            if not arrived:
                break
            writer.write(RESPONSE)
            await writer.drain()
        writer.close()

    with _server(handler) as url:
        # 10 requests a second: every request after the first finds its pooled connection closed.
        result = open_loop(url, {}, cycle([("GET", "/", b"")]), rate=10, seconds=1.0)
    assert result.sent == 10
    assert result.statuses == {200: 10}
    assert result.errors == 0


def test_a_server_that_never_answers_is_counted_as_failed_not_retried_forever() -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await _read_request(reader)
        writer.close()

    with _server(handler) as url:
        result = open_loop(url, {}, cycle([("GET", "/", b"")]), rate=20, seconds=0.5)
    assert result.sent == 10
    assert result.ok == 0
    assert result.statuses == {0: 10}


def test_closed_loop_counts_every_answer() -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while await _read_request(reader):
            writer.write(RESPONSE)
            await writer.drain()
        writer.close()

    with _server(handler) as url:
        result = closed_loop(url, {}, cycle([("GET", "/", b"")]), concurrency=2, seconds=0.3)
    assert result.ok > 10
    assert result.errors == 0
    assert len(result.latencies_ms) == result.ok
