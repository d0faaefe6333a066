"""The event sink's shared state on Azure Cosmos DB: one container `<profile container>-events`, by `/id`.

- `seen:<message id>`: created (never upserted) per accepted event; the service answers 409 Conflict to the
  second writer, which is what makes a claim atomic across replicas. The document carries `ttl`, and the
  container has TTL enabled (`default_ttl=-1`: off unless an item sets it), so the service expires it.
- `stitch:<sha256 of the anonymous id>`: `anonymousId`, `customerId`; erasure finds a customer's stitches
  with a query on `customerId` (cross-partition, which erasure can afford).

Only documented service behaviour is relied on (c360.io.cosmos): the stand-in accepts TTL without enforcing
it, and answers 500 for a missing document, which `read_or_none` confirms with a query.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Collection, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from azure.cosmos import PartitionKey
from azure.cosmos.exceptions import CosmosResourceExistsError, CosmosResourceNotFoundError

from c360.events.state import EventState, anonymous_key
from c360.io import cosmos as cx

T = TypeVar("T")
HINT = "is Cosmos DB running there? check stores.profile.cosmos_endpoint and cosmos_key"
PK = "/id"
WHAT = "event state (cosmos)"


class CosmosEventState(EventState):
    backend = "cosmos"

    def __init__(
        self,
        endpoint: str,
        key: str,
        *,
        database: str,
        container: str,
        ttl_seconds: float,
        verify_tls: bool = True,
        max_workers: int = 8,
    ) -> None:
        super().__init__(ttl_seconds)
        self.endpoint, self.database_name, self.container_name = endpoint, database, container
        self._client = cx.cosmos_client(
            endpoint, key, verify_tls=verify_tls, what="event state (cosmos)", hint=HINT
        )
        db = self._call(lambda: self._client.create_database_if_not_exists(database))
        self._container = self._call(
            lambda: db.create_container_if_not_exists(
                container, partition_key=PartitionKey(PK), default_ttl=-1
            )
        )
        self._pool = ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="c360-events-cosmos")

    @property
    def address(self) -> str:
        return f"{self.endpoint.rstrip('/')}/dbs/{self.database_name}/colls/{self.container_name}"

    def _call(self, op: Callable[[], T]) -> T:
        return cx.call(op, what="event state (cosmos)", address=self.address, hint=HINT)

    def claim(self, message_ids: Sequence[str]) -> list[bool]:
        ttl = max(1, int(self.ttl_seconds))

        def create(mid: str) -> bool:
            def op() -> bool:
                try:
                    self._container.create_item({"id": f"seen:{mid}", "ttl": ttl})
                    return True
                except CosmosResourceExistsError:
                    return False

            return self._call(op)

        # A repeat within the call must lose to its first copy, so the writes of one id stay in order.
        first = {mid: i for i, mid in reversed(list(enumerate(message_ids)))}
        created = dict(zip(first, self._pool.map(create, first), strict=True))
        return [created[mid] and first[mid] == i for i, mid in enumerate(message_ids)]

    def release(self, message_ids: Collection[str]) -> None:
        def delete(mid: str) -> None:
            def op() -> None:
                with contextlib.suppress(CosmosResourceNotFoundError):
                    self._container.delete_item(f"seen:{mid}", partition_key=f"seen:{mid}")

            self._call(op)

        list(self._pool.map(delete, set(message_ids)))

    def _read(self, item_id: str) -> dict[str, Any] | None:
        return cx.read_or_none(
            self._container,
            item_id,
            item_id,
            PK,
            what="event state (cosmos)",
            address=self.address,
            hint=HINT,
        )

    def stitched(self, anonymous_ids: Collection[str]) -> dict[str, str]:
        ids = list(set(anonymous_ids))
        docs = self._pool.map(lambda a: self._read(anonymous_key(a)), ids)
        return {a: d["customerId"] for a, d in zip(ids, docs, strict=True) if d is not None}

    def stitch(self, pairs: Mapping[str, str]) -> None:
        def write(pair: tuple[str, str]) -> None:
            doc = {"id": anonymous_key(pair[0]), "anonymousId": pair[0], "customerId": pair[1]}
            self._call(lambda: self._container.upsert_item(doc))

        list(self._pool.map(write, pairs.items()))

    def forget_customers(self, customer_ids: Collection[str]) -> list[str]:
        out: list[str] = []
        for cid in set(customer_ids):
            query = "SELECT c.id, c.anonymousId FROM c WHERE c.customerId = @cid"
            params: list[dict[str, Any]] = [{"name": "@cid", "value": cid}]
            docs = self._call(
                lambda q=query, p=params: list(
                    self._container.query_items(q, parameters=p, enable_cross_partition_query=True)
                )
            )
            for doc in docs:

                def op(item_id: str = doc["id"]) -> None:
                    with contextlib.suppress(CosmosResourceNotFoundError):
                        self._container.delete_item(item_id, partition_key=item_id)

                self._call(op)
                out.append(doc["anonymousId"])
        return sorted(out)

    def close(self) -> None:
        self._pool.shutdown(wait=True)
        self._client.close()
