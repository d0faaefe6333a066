"""Point reads of profile documents through the SDK's asyncio client (`azure.cosmos.aio`), for the profile
route: the read runs on the caller's event loop instead of a worker thread of it.

The aio client's connections (an aiohttp session) belong to the loop that opened them, so a reader serves one
loop: `CosmosProfileStore` keeps one per loop (a Serve replica or uvicorn worker has one for its life). A
reader closes its client when the store is closed, and at the latest when its loop shuts down (`asyncio.run`
and uvicorn finalize the loop's async generators before closing it, and a reader holds one open for this):
otherwise a store read from short-lived loops (a script calling `asyncio.run` per read, a test) would leave
an unclosed aiohttp session behind each one.

Failures map as on the sync path (`c360.io.cosmos`): a 404 is "no such document"; any other failed point read
is confirmed with a query on the partition key and id (the stand-in answers 500 for a missing document, and a
real 500 must not read as a missing customer); sustained 429s back off, then StoreUnavailableError.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, TypeVar
from urllib.parse import urlsplit
from urllib.request import getproxies, proxy_bypass

from azure.core.exceptions import AzureError
from azure.core.pipeline.transport import AioHttpTransport
from azure.cosmos.aio import CosmosClient
from azure.cosmos.exceptions import CosmosHttpResponseError, CosmosResourceNotFoundError

from c360.errors import StoreUnavailableError
from c360.io import cosmos as cx

T = TypeVar("T")


class LoopReader:
    """An asyncio client and one container through it, bound to the loop it was made on."""

    def __init__(
        self,
        endpoint: str,
        key: str,
        database: str,
        container: str,
        partition_key_path: str,
        *,
        verify_tls: bool,
        sdk_throttle_retries: int,
        throttle_retries: int,
        what: str,
        address: str,
        hint: str,
    ) -> None:
        self.loop = asyncio.get_running_loop()
        self.field = partition_key_path.lstrip("/")
        self.throttle_retries = throttle_retries
        self.what, self.address, self.hint = what, address, hint
        self._client = CosmosClient(
            endpoint,
            credential=key,
            **cx.client_options(verify_tls, sdk_throttle_retries),
            transport=AioHttpTransport(use_env_settings=False),
            proxies=env_proxies(endpoint),
        )
        self._container = self._client.get_database_client(database).get_container_client(container)
        self._opened: asyncio.Task[None] | None = None
        self._closed = False
        self._until_loop_ends: AsyncIterator[None] | None = None

    async def _open(self) -> None:
        """The client's setup (the account read) once, shared by the requests that arrive meanwhile; a failed
        setup is tried again by the next request."""
        if self._closed:
            raise StoreUnavailableError(f"{self.what} at {self.address}: the store was closed")
        if self._until_loop_ends is None:
            self._until_loop_ends = self._close_when_the_loop_ends()
            await anext(self._until_loop_ends)
        if self._opened is None:
            self._opened = self.loop.create_task(self._setup())
        try:
            await asyncio.shield(self._opened)
        except (CosmosHttpResponseError, AzureError):
            self._opened = None
            raise

    async def read(self, item_id: str) -> dict[str, Any] | None:
        """The document `item_id` (its own partition key), or None when the service says there is none."""
        if asyncio.get_running_loop() is not self.loop:
            raise RuntimeError(
                "a Cosmos DB asyncio reader is used on a loop other than the one it was made on"
            )

        async def read() -> dict[str, Any] | None:
            await self._open()
            try:
                return await self._container.read_item(item=item_id, partition_key=item_id)
            except CosmosResourceNotFoundError:
                return None
            except CosmosHttpResponseError as exc:
                if exc.status_code == cx.THROTTLED or exc.status_code in (401, 403):
                    raise
                return await self._confirm_by_query(item_id, exc)

        return await self._call(read)

    async def _confirm_by_query(
        self, item_id: str, read_error: CosmosHttpResponseError
    ) -> dict[str, Any] | None:
        query = f"SELECT * FROM c WHERE c.id = @id AND c.{self.field} = @pk"
        params: list[dict[str, Any]] = [{"name": "@id", "value": item_id}, {"name": "@pk", "value": item_id}]
        try:
            found = [doc async for doc in self._container.query_items(query, parameters=params)]
        except CosmosHttpResponseError as exc:
            if exc.status_code == cx.THROTTLED:
                raise
            raise read_error from None
        return found[0] if found else None

    async def _call(self, op: Callable[[], Awaitable[T]], base_delay_s: float = 0.05) -> T:
        """`c360.io.cosmos.call` on the loop: back off on sustained 429s (without blocking the loop) and
        translate failures into c360 errors."""
        attempt = 0
        while True:
            try:
                return await op()
            except CosmosHttpResponseError as exc:
                if exc.status_code == cx.THROTTLED and attempt < self.throttle_retries:
                    await asyncio.sleep(cx.throttle_delay(exc, attempt, base_delay_s))
                    attempt += 1
                    continue
                raise cx.translate(
                    exc, what=self.what, address=self.address, attempts=attempt + 1, hint=self.hint
                ) from None
            except AzureError as exc:
                raise cx.unavailable(exc, what=self.what, address=self.address, hint=self.hint) from None

    async def _setup(self) -> None:
        await self._client.__aenter__()

    async def _close_when_the_loop_ends(self) -> AsyncIterator[None]:
        """Suspended at its `yield` while the loop runs; the loop's shutdown (or the reader's collection)
        finalizes it, on the loop, which closes the client."""
        try:
            yield
        finally:
            await self.close()

    async def close(self) -> None:
        """Close the client (once; later calls do nothing). On the reader's loop."""
        if self._closed:
            return
        self._closed = True
        opened, self._opened = self._opened, None
        if opened is not None and not opened.done():
            opened.cancel()
        await self._client.close()


def env_proxies(endpoint: str) -> dict[str, str]:
    """The proxy the environment names for the endpoint (`HTTPS_PROXY`, unless `NO_PROXY` exempts its host),
    read once for the client. aiohttp's own `trust_env` (azure-core turns it on) looks the proxy up again, and
    parses ~/.netrc, in a worker thread on every request: two thread hops per read, the cost this path avoids.
    The one thing left out is a proxy password kept in ~/.netrc (give it in the proxy URL instead)."""
    url = urlsplit(endpoint)
    proxy = getproxies().get(url.scheme)
    if not proxy or (url.hostname and proxy_bypass(url.hostname)):
        return {}
    return {url.scheme: proxy}
