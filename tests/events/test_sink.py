"""`EventSink` on real stores (SQLite, and Redis for profiles, event state and the Feast online store): mixed
batches, dedup across replicas and restarts, stitching, the lake's `events/` and the pushed signals."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest

from c360.errors import StoreUnavailableError
from c360.events import BatchTooLargeError, read_signals
from c360.events.signals import ANONYMOUS
from tests.events.event_data import identify, now, page, track, uid

pytestmark = [pytest.mark.feast, pytest.mark.filterwarnings("ignore:Stream feature views:RuntimeWarning")]


def wait_for(predicate, timeout: float = 3.0):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(0.02)


def test_a_mixed_batch_keeps_the_valid_events_and_reports_the_rest_by_index(events_ws):
    sink = events_ws.sink()
    cid = events_ws.customer()
    good = [
        track("Product Added", user_id=cid, properties={"product_id": "p1", "price": 4.0}),
        page(anonymous_id=f"anon-{uid()}"),
        identify(user_id="C-ADA-OLD", anonymous_id=f"anon-{uid()}"),  # a merged-away id answers
    ]
    bad = {
        1: ({"type": "track", "user_id": cid, "event": "x"}, "invalid_event"),
        3: (track("Product Viewed", user_id="C-NOBODY"), "unknown_customer"),
        4: (page(now() + timedelta(hours=1), user_id=cid), "timestamp_in_future"),
        6: (page(now() - timedelta(days=400), user_id=cid), "timestamp_too_old"),
        7: (identify(anonymous_id="a", traits={"email": "nobody@example.com"}), "unknown_customer"),
    }
    batch, goods = [], iter(good)
    for i in range(len(good) + len(bad)):
        batch.append(bad[i][0] if i in bad else next(goods))
    batch.append(dict(batch[0]))  # the same message id again within the batch
    result = sink.accept(batch)
    assert result.accepted == 3 and result.duplicates == 1
    assert [(e.index, e.code) for e in sorted(result.errors, key=lambda e: e.index)] == [
        *((i, code) for i, (_, code) in sorted(bad.items())),
        (len(batch) - 1, "duplicate"),
    ]
    assert not any("nobody@example.com" in e.message for e in result.errors)
    sink.flush()
    kept = {r["message_id"]: r for r in events_ws.lake_rows()}
    assert all(e["message_id"] in kept for e in good)
    assert not any(b["message_id"] in kept for b, _ in bad.values() if "message_id" in b)
    assert kept[good[2]["message_id"]]["customer_id"] == "C-ADA"


def test_a_duplicate_is_refused_by_another_replica_and_after_a_restart(events_ws):
    cid = events_ws.customer()
    event = track("Product Added", user_id=cid, properties={"price": 2.0})
    one, two = events_ws.sink(), events_ws.sink()
    assert one.accept([event]).accepted == 1
    again = two.accept([event])
    assert (again.accepted, again.duplicates, again.errors[0].code) == (0, 1, "duplicate")
    one.close(), two.close()
    restarted = events_ws.sink()
    assert restarted.accept([event]).duplicates == 1
    assert sum(r["message_id"] == event["message_id"] for r in events_ws.lake_rows()) == 1
    assert read_signals(events_ws.feature_store, cid)["cart_items"] == 1


def test_identify_stitches_for_every_replica_and_brings_the_visitors_cart(events_ws):
    visitor = f"anon-{uid()}"
    one, two = events_ws.sink(), events_ws.sink()
    one.accept(
        [
            page(anonymous_id=visitor),
            track("Product Added", anonymous_id=visitor, properties={"price": 5.0, "quantity": 2}),
        ]
    )
    one.flush()
    assert read_signals(events_ws.feature_store, ANONYMOUS + visitor)["cart_items"] == 2
    assert one.accept([identify(anonymous_id=visitor, traits={"email": "BOB@example.com"})]).accepted == 1
    one.flush()
    bob_before = read_signals(events_ws.feature_store, "C-BOB")
    assert bob_before["cart_items"] >= 2
    # the other replica, and a restarted one, resolve the anonymous id to Bob
    later = track("Product Added", anonymous_id=visitor, properties={"price": 1.0})
    assert two.accept([later]).accepted == 1
    two.flush()
    assert read_signals(events_ws.feature_store, "C-BOB")["cart_items"] == bob_before["cart_items"] + 1
    assert read_signals(events_ws.feature_store, ANONYMOUS + visitor)["cart_items"] == 0
    one.close(), two.close()
    restarted = events_ws.sink()
    assert restarted.state.stitched([visitor]) == {visitor: "C-BOB"}
    last = page(anonymous_id=visitor)
    restarted.accept([last])
    restarted.flush()
    rows = {r["message_id"]: r for r in events_ws.lake_rows()}
    assert rows[later["message_id"]]["customer_id"] == "C-BOB"
    assert rows[last["message_id"]]["customer_id"] == "C-BOB"


def test_the_pushed_cart_is_served_online_within_a_second_without_a_flush(events_ws):
    cid = events_ws.customer()
    sink = events_ws.sink()
    started = time.monotonic()
    sink.accept(
        [
            page(user_id=cid),
            track("Product Viewed", user_id=cid, properties={"product_id": "P-LAMP"}),
            track("Product Added", user_id=cid, properties={"price": 19.99, "quantity": 3}),
        ]
    )

    def served():
        found = read_signals(events_ws.feature_store, cid)
        return found if found["cart_items"] == 3 else None

    found = wait_for(served, timeout=1.0)
    assert found is not None, "the cart was not served online within 1 s"
    assert time.monotonic() - started < 1.0
    assert found["cart_value"] == pytest.approx(59.97) and found["session_page_views"] == 1
    assert found["last_viewed_product_id"] == "P-LAMP"
    online = events_ws.feature_store.get_online_features(
        ["realtime_signals:cart_value"], [{"customer_id": cid}]
    ).to_dict()
    assert online["cart_value"] == [pytest.approx(59.97)]


def test_a_batch_over_the_limit_is_refused_whole(events_ws):
    sink = events_ws.sink()
    with pytest.raises(BatchTooLargeError) as info:
        sink.accept([page(user_id="C-EVE") for _ in range(501)])
    assert info.value.status_code == 413


def test_a_store_failure_keeps_nothing_and_a_retry_is_accepted(events_ws):
    cid = events_ws.customer()
    sink = events_ws.sink()
    event = track("Product Added", user_id=cid, properties={"price": 1.0})
    original = sink.log.append

    def broken(rows):
        raise StoreUnavailableError("lake down")

    sink.log.append = broken
    with pytest.raises(StoreUnavailableError):
        sink.accept([event])
    sink.log.append = original
    assert sink.accept([event]).accepted == 1
