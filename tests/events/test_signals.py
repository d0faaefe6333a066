"""The signal rules and the event schema as pure functions: no store, no Feast."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from c360.events.schema import DEFAULT_MAX_AGE, max_event_age, parse_event
from c360.events.signals import Signals
from tests.events.event_data import identify, page, track

pytestmark = pytest.mark.unit

T0 = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)
AGE = timedelta(days=7)


def received(raw: dict, now: datetime = T0):
    ok, err = parse_event(0, raw, now, AGE)
    assert err is None, err
    return ok


def run(events: list[tuple[dict, datetime]], start: Signals | None = None) -> Signals:
    s = start or Signals()
    for raw, ts in events:
        s = s.apply(received({**raw, "timestamp": ts.isoformat()}, now=ts))
    return s


def test_cart_lines_add_and_remove_and_never_go_negative():
    add = track("Product Added", user_id="u", properties={"product_id": "p1", "price": 10.5, "quantity": 2})
    add2 = track("Product Added", user_id="u", properties={"product_id": "p2", "price": 3})
    remove = track("Product Removed", user_id="u", properties={"product_id": "p1", "price": 10.5})
    s = run([(add, T0), (add2, T0 + timedelta(seconds=1)), (remove, T0 + timedelta(seconds=2))])
    assert (s.cart_items, s.cart_value) == (2, 13.5)
    s = run([(remove, T0 + timedelta(seconds=3))] * 3, s)
    assert (s.cart_items, s.cart_value) == (0, 0.0)


def test_cart_viewed_replaces_the_cart_and_an_order_empties_it():
    add = track("Product Added", user_id="u", properties={"price": 99.0, "quantity": 5})
    viewed = track(
        "Cart Viewed",
        user_id="u",
        properties={"products": [{"product_id": "a", "price": 2.5, "quantity": 2}, {"price": 1}]},
    )
    s = run([(add, T0), (viewed, T0 + timedelta(minutes=1))])
    assert (s.cart_items, s.cart_value) == (3, 6.0)
    s = run([(track("Order Completed", user_id="u"), T0 + timedelta(minutes=2))], s)
    assert (s.cart_items, s.cart_value) == (0, 0.0)


def test_pages_count_per_session_and_a_30_minute_gap_starts_a_new_one():
    p = page(user_id="u")
    s = run([(p, T0), (p, T0 + timedelta(minutes=29)), (p, T0 + timedelta(minutes=58))])
    assert s.session_page_views == 3
    s = run([(p, T0 + timedelta(minutes=89))], s)
    assert s.session_page_views == 1
    assert s.last_event_time == T0 + timedelta(minutes=89)


def test_a_late_event_does_not_move_the_clock_back():
    s = run([(page(user_id="u"), T0)])
    s = run([(track("Product Viewed", user_id="u"), T0 - timedelta(hours=2))], s)
    assert s.last_event_time == T0 and s.session_page_views == 1


def test_product_viewed_sets_the_last_viewed_product_and_a_late_view_does_not():
    def viewed(product_id: object) -> dict:
        return track("Product Viewed", user_id="u", properties={"product_id": product_id})

    s = run([(viewed("p1"), T0), (viewed(42), T0 + timedelta(minutes=1))])
    assert s.last_viewed_product_id == "42"
    s = run([(viewed("p-old"), T0 - timedelta(minutes=5)), (page(user_id="u"), T0 + timedelta(minutes=2))], s)
    assert s.last_viewed_product_id == "42"  # the late view is older than the one held; a page keeps it
    s = run([(track("Product Viewed", user_id="u"), T0 + timedelta(minutes=3))], s)
    assert s.last_viewed_product_id == "42"  # a view without a product names none


@pytest.mark.parametrize("product_id", [{"id": "p1"}, True, "", "x" * 201])
def test_a_product_viewed_with_an_unusable_product_id_is_refused(product_id):
    raw = track("Product Viewed", user_id="u", properties={"product_id": product_id})
    ok, err = parse_event(0, {**raw, "timestamp": T0.isoformat()}, T0, AGE)
    assert ok is None and err is not None and "product_id" in err.message


def test_a_visitor_absorbed_by_a_customer_brings_cart_pages_and_the_newer_view():
    customer = Signals(2, 1, 5.0, T0, "p-customer")
    visitor = Signals(3, 2, 7.25, T0 + timedelta(minutes=5), "p-visitor")
    merged = customer.absorb(visitor)
    assert merged == Signals(5, 3, 12.25, T0 + timedelta(minutes=5), "p-visitor")
    assert Signals(1, 0, 0.0, T0, "p-customer").absorb(Signals(last_event_time=T0 - timedelta(hours=1))) == (
        Signals(1, 0, 0.0, T0, "p-customer")
    )


@pytest.mark.parametrize(
    "raw, code, words",
    [
        ("not an object", "invalid_event", "JSON object"),
        ({"type": "screen", "message_id": "m"}, "invalid_event", "type"),
        ({"type": "track", "event": "x", "user_id": "u"}, "invalid_event", "message_id"),
        ({"type": "track", "message_id": "m", "user_id": "u"}, "invalid_event", "event"),
        ({"type": "track", "event": "x", "message_id": "m"}, "invalid_event", "anonymous_id or user_id"),
        ({"type": "page", "message_id": "m", "user_id": 5}, "invalid_event", "user_id"),
        (
            {"type": "page", "message_id": "m", "user_id": "u", "properties": []},
            "invalid_event",
            "properties",
        ),
        (
            track("Product Added", user_id="u", properties={"price": "12"}),
            "invalid_event",
            "price",
        ),
        (
            track("Product Added", user_id="u", properties={"price": 1, "quantity": 0}),
            "invalid_event",
            "quantity",
        ),
        (page(user_id="u", timestamp="yesterday"), "invalid_event", "timestamp"),
        (page(T0 + timedelta(minutes=6), user_id="u"), "timestamp_in_future", "ahead"),
        (page(T0 - timedelta(days=8), user_id="u"), "timestamp_too_old", "7 days"),
        (page(user_id="u", properties={"blob": "x" * 40_000}), "event_too_large", "32000"),
    ],
)
def test_each_refusal_has_a_code_and_names_the_field_not_the_value(raw, code, words):
    ok, err = parse_event(3, raw, T0, AGE)
    assert ok is None and err is not None
    assert (err.index, err.code) == (3, code)
    assert words in err.message
    assert "x" * 50 not in err.message and "yesterday" not in err.message


def test_segment_camel_case_names_and_naive_timestamps_are_accepted():
    raw = {
        "type": "identify",
        "messageId": "m-1",
        "anonymousId": "a-1",
        "userId": "C-ADA",
        "traits": {"email": "ada@example.com"},
        "timestamp": "2026-12-06T11:59:00",
        "sentAt": "2026-12-06T11:59:01Z",
    }
    ok = received(raw)
    assert (ok.event.message_id, ok.event.anonymous_id, ok.event.user_id) == ("m-1", "a-1", "C-ADA")
    assert ok.ts == T0 - timedelta(minutes=1)
    assert received(identify(user_id="u")).ts == T0  # no timestamp: the time received


def test_the_age_bound_follows_event_retention_but_stays_bounded():
    assert max_event_age({"event": 3}) == timedelta(days=3)
    assert max_event_age({"event": 3650}) == DEFAULT_MAX_AGE
    assert max_event_age({}) == DEFAULT_MAX_AGE
