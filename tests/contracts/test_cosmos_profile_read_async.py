"""The profile route's read on Cosmos DB through the SDK's asyncio client (`get_json_async`), against the
stand-in: the same body as the sync read, the same alias hops, the same failures, one client per event loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import json
import threading
import warnings

import pytest

from c360.devservices.cosmos import CosmosStandIn, cosmos_stand_in
from c360.errors import NotFoundError, StoreUnavailableError
from c360.io.ports import free_port
from c360.profile.store.cosmos import CosmosProfileStore
from tests.fixtures_cosmos import cosmos_profile_store

pytestmark = pytest.mark.azure


def _profile(cid: str, **extra) -> dict:
    return {
        "customerId": cid,
        "identities": {"email": [f"{cid.lower()}@example.com"], "phone": [], "deviceIds": [f"d-{cid}"]},
        "demographics": {"firstName": "Zoë", "city": "Kraków", "age": 41, "tags": ["a", "ü"]},
        "transactions": {"totalSpend": 120.5, "lastPurchase": "2026-10-01T10:00:00+00:00", "orders": 0},
        "mlScores": {"churnRisk": None},
        **extra,
    }


def _reads(store: CosmosProfileStore, *ids: str) -> list[str]:
    async def reads() -> list[str]:
        return list(await asyncio.gather(*(store.get_json_async(cid) for cid in ids)))

    return asyncio.run(reads())


def test_the_async_read_is_byte_identical_to_the_sync_one(stand_in: CosmosStandIn):
    with cosmos_profile_store(stand_in) as store:
        store.upsert_many([_profile("A"), _profile("B", consent={"email": {"granted": True}})])
        bodies = _reads(store, "A", "B", "A")
        assert bodies == [store.get_json("A"), store.get_json("B"), store.get_json("A")]
        assert json.loads(bodies[1]) == store.get("B")  # the stored document, no system properties
        assert "Zoë" in bodies[0] and '"_etag"' not in bodies[0] and '"docType"' not in bodies[0]


def test_the_async_read_follows_an_alias(stand_in: CosmosStandIn):
    with cosmos_profile_store(stand_in) as store:
        store.upsert_many([_profile("A"), _profile("B")])
        store.add_aliases({"A": "B"})
        old, new = _reads(store, "A", "B")
        assert old == new == store.get_json("B")
        assert json.loads(old)["customerId"] == "B"


def test_an_unknown_id_is_not_found_but_a_failing_server_is_unavailable(stand_in: CosmosStandIn):
    """The stand-in answers 500 for a missing document (the service 404): the read confirms with a query.
    A 500 that the query cannot confirm either is the server failing, never a missing customer."""
    with cosmos_profile_store(stand_in) as store:
        store.upsert(_profile("A"))
        with pytest.raises(NotFoundError):
            _reads(store, "C-missing")
        stand_in.inject_faults(1000, status=500)
        for cid in ("A", "C-missing"):
            with pytest.raises(StoreUnavailableError) as err:
                _reads(store, cid)
            assert stand_in.endpoint.rstrip("/") in err.value.message
        stand_in.clear_faults()
        assert json.loads(_reads(store, "A")[0])["customerId"] == "A"


def test_throttled_async_reads_are_retried(stand_in: CosmosStandIn):
    with cosmos_profile_store(stand_in, sdk_throttle_retries=1, throttle_retries=3) as store:
        store.upsert(_profile("A"))
        _reads(store, "A")  # the loop's client is set up before the faults
        stand_in.inject_faults(3, status=429, retry_after_ms=5)
        assert json.loads(_reads(store, "A")[0])["customerId"] == "A"
        assert stand_in.faults_served() == 3


def test_the_async_read_is_unavailable_when_the_stand_in_stops():
    with contextlib.ExitStack() as running:
        own = running.enter_context(cosmos_stand_in())
        store = cosmos_profile_store(own)
        store.upsert(_profile("A"))

        async def read_stop_read() -> str:
            first = await store.get_json_async("A")
            running.close()  # the stand-in stops: its port refuses connections
            with pytest.raises(StoreUnavailableError) as err:
                await store.get_json_async("A")
            assert own.endpoint.rstrip("/") in err.value.message
            return first

        try:
            assert json.loads(asyncio.run(read_stop_read()))["customerId"] == "A"
        finally:
            with pytest.raises(StoreUnavailableError):
                store.get("A")  # the sync read agrees
            store.close()


def test_each_loop_gets_its_own_client_and_a_finished_loop_closes_it(stand_in: CosmosStandIn):
    """Loops in two threads read at once, each through its own client; a loop that ends leaves no unclosed
    aiohttp session behind (the reader closes its client as the loop shuts down)."""
    with cosmos_profile_store(stand_in) as store:
        store.upsert(_profile("A"))
        expected = store.get_json("A")
        seen: list[str] = []
        clients: set[int] = set()

        def in_a_thread() -> None:
            async def reads() -> None:
                for _ in range(5):
                    seen.append(await store.get_json_async("A"))
                clients.add(id(store._reader()))

            asyncio.run(reads())

        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            threads = [threading.Thread(target=in_a_thread) for _ in range(2)]
            for t in threads:
                t.start()
            for t in threads:
                t.join(timeout=30)
            assert seen == [expected] * 10 and len(clients) == 2
            gc.collect()
        assert not [w for w in caught if "Unclosed" in str(w.message)]


@pytest.mark.parametrize("exempt", [False, True])
def test_the_environment_proxy_is_used_unless_no_proxy_exempts_the_host(
    stand_in: CosmosStandIn, monkeypatch: pytest.MonkeyPatch, exempt: bool
):
    """The asyncio client reads HTTPS_PROXY / NO_PROXY once (not per request, as aiohttp's trust_env does):
    a proxy that refuses connections fails the read unless NO_PROXY names the stand-in's host."""
    with cosmos_profile_store(stand_in) as store:
        store.upsert(_profile("A"))
        for name in ("HTTPS_PROXY", "https_proxy", "NO_PROXY", "no_proxy"):
            monkeypatch.delenv(name, raising=False)
        monkeypatch.setenv("HTTPS_PROXY", f"http://127.0.0.1:{free_port()}")
        if exempt:
            monkeypatch.setenv("NO_PROXY", "127.0.0.1")
            assert json.loads(_reads(store, "A")[0])["customerId"] == "A"
        else:
            with pytest.raises(StoreUnavailableError):
                _reads(store, "A")
