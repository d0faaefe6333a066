"""One contract for the event sink's shared state, run on every backend: SQLite, the Redis server of this
machine, and the Cosmos DB stand-in. Two instances stand for two replicas; a third one, opened after the
others are closed, for a restart."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator

import pytest
import redis

from c360.events.state import EventState, RedisEventState, SqliteEventState
from tests.events.event_data import REDIS_URL

TTL = 3600.0


@pytest.fixture(params=["sqlite", "redis", "cosmos"])
def open_state(request, tmp_path) -> Iterator[Callable[[], EventState]]:
    opened: list[EventState] = []
    if request.param == "sqlite":

        def make() -> EventState:
            return SqliteEventState(tmp_path / "state.db", TTL)

    elif request.param == "redis":
        prefix = f"c360:state-test-{uuid.uuid4().hex[:8]}:"

        def make() -> EventState:
            return RedisEventState(REDIS_URL, prefix, TTL)

    else:
        request.applymarker(pytest.mark.azure)
        stand_in = request.getfixturevalue("cosmos_endpoint")
        from c360.events.cosmos_state import CosmosEventState

        container = f"events-{uuid.uuid4().hex[:8]}"

        def make() -> EventState:
            return CosmosEventState(
                stand_in.endpoint,
                stand_in.key,
                database="c360-events-test",
                container=container,
                ttl_seconds=TTL,
                verify_tls=False,
            )

    def tracked() -> EventState:
        state = make()
        opened.append(state)
        return state

    yield tracked
    for state in opened:
        state.close()
    if request.param == "redis":
        client = redis.Redis.from_url(REDIS_URL)
        for key in client.scan_iter(match=f"{prefix}*"):
            client.delete(key)
        client.close()


def test_a_message_id_is_claimed_once_across_replicas_and_restarts(open_state):
    one, two = open_state(), open_state()
    assert one.claim(["m1", "m2", "m1"]) == [True, True, False]
    assert two.claim(["m2", "m3"]) == [False, True]
    one.close(), two.close()
    assert open_state().claim(["m1", "m3", "m4"]) == [False, False, True]


def test_a_released_claim_can_be_claimed_again(open_state):
    one, two = open_state(), open_state()
    assert one.claim(["r1", "r2"]) == [True, True]
    one.release(["r1"])
    assert two.claim(["r1", "r2"]) == [True, False]


def test_stitches_are_shared_survive_a_restart_and_are_forgotten_per_customer(open_state):
    one, two = open_state(), open_state()
    one.stitch({"anon-1": "C-1", "anon-2": "C-1", "anon-3": "C-2"})
    assert two.stitched(["anon-1", "anon-3", "anon-9"]) == {"anon-1": "C-1", "anon-3": "C-2"}
    two.stitch({"anon-2": "C-2"})  # the latest identify wins
    one.close(), two.close()
    restarted = open_state()
    assert restarted.stitched(["anon-2"]) == {"anon-2": "C-2"}
    assert restarted.forget_customers(["C-1"]) == ["anon-1"]  # anon-2 is C-2's now
    assert restarted.stitched(["anon-1", "anon-2", "anon-3"]) == {"anon-2": "C-2", "anon-3": "C-2"}
