"""Exposure attribution: outcomes credited to the latest send of their campaign, inside [ts, ts + days]."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pyarrow as pa
import pytest

from c360.facts.exposures import build_exposures
from c360.facts.schemas import EXPOSURES, SCHEMAS
from c360.schemas import TS

pytestmark = pytest.mark.unit
T0 = datetime(2025, 3, 1, 9, 0, tzinfo=UTC)
DAYS = 7


def _ix(rows: list[tuple[str, datetime, str, str | None]]) -> pa.Table:
    """(customer, ts, type, campaign) -> interactions with the columns build_exposures reads."""
    n = len(rows)
    return pa.table(
        {
            "customer_id": [r[0] for r in rows],
            "ts": pa.array([r[1] for r in rows], TS),
            "type": [r[2] for r in rows],
            "channel": ["email"] * n,
            "campaign_id": pa.array([r[3] for r in rows], pa.string()),
            "offer_id": pa.array([None] * n, pa.string()),
            "variant": pa.array([None] * n, pa.string()),
            "source": ["mkt"] * n,
            "source_record_id": [f"e{i}" for i in range(n)],
        }
    )


def _lines(rows: list[tuple[str, str, datetime, str | None, str, float]]) -> pa.Table:
    """(customer, order, ts, campaign, kind, amount_rc) -> transaction lines."""
    return pa.table(
        {
            "customer_id": [r[0] for r in rows],
            "source": ["shop"] * len(rows),
            "order_id": [r[1] for r in rows],
            "ts": pa.array([r[2] for r in rows], TS),
            "campaign_id": pa.array([r[3] for r in rows], pa.string()),
            "kind": [r[4] for r in rows],
            "amount_rc": pa.array([r[5] for r in rows], pa.float64()),
        }
    )


NO_LINES = _lines([])


def _by_id(table: pa.Table) -> dict[str, dict]:
    return {r["exposure_id"]: r for r in table.to_pylist()}


def test_window_edges_are_inclusive_and_nothing_after_is_credited():
    end = T0 + timedelta(days=DAYS)
    ix = _ix(
        [
            ("c1", T0, "email_send", "A"),
            ("c1", end, "email_open", "A"),  # exactly at window_end: credited
            ("c1", end + timedelta(microseconds=1), "email_click", "A"),  # just after: not
            ("c2", T0, "email_send", "A"),
            ("c2", T0, "email_click", "A"),  # at the send's own instant: credited
            ("c2", T0 - timedelta(seconds=1), "email_open", "A"),  # before the send: not
        ]
    )
    out = build_exposures(ix, NO_LINES, DAYS)
    assert out.schema == SCHEMAS[EXPOSURES]
    rows = _by_id(out)
    c1, c2 = rows["mkt:e0"], rows["mkt:e3"]
    assert c1["window_end"] == end
    assert (c1["opened"], c1["clicked"], c1["converted"]) == (True, False, False)
    assert c1["first_open_ts"] == end and c1["first_click_ts"] is None
    assert (c2["opened"], c2["clicked"]) == (False, True) and c2["first_click_ts"] == T0


def test_outcomes_of_another_campaign_or_customer_are_not_credited():
    ix = _ix(
        [
            ("c1", T0, "email_send", "A"),
            ("c1", T0 + timedelta(hours=1), "email_open", "B"),
            ("c2", T0 + timedelta(hours=1), "email_click", "A"),
            ("c1", T0 + timedelta(hours=2), "email_open", None),
        ]
    )
    (row,) = build_exposures(ix, NO_LINES, DAYS).to_pylist()
    assert not row["opened"] and not row["clicked"] and not row["converted"]


def test_an_outcome_goes_to_the_latest_send_before_it():
    ix = _ix(
        [
            ("c1", T0, "email_send", "A"),
            ("c1", T0 + timedelta(days=2), "email_send", "A"),
            ("c1", T0 + timedelta(days=3), "email_open", "A"),
            ("c1", T0 + timedelta(days=1), "campaign_response", "A"),
        ]
    )
    rows = _by_id(build_exposures(ix, NO_LINES, DAYS))
    first, second = rows["mkt:e0"], rows["mkt:e1"]
    assert first["converted"] and not first["opened"]
    assert first["conversion_ts"] == T0 + timedelta(days=1)
    assert second["opened"] and not second["converted"]


def test_orders_carrying_the_campaign_convert_and_bring_net_revenue():
    ix = _ix([("c1", T0, "email_send", "A"), ("c2", T0, "email_send", "A")])
    lines = _lines(
        [
            ("c1", "o1", T0 + timedelta(days=1), "A", "purchase", 100.0),
            ("c1", "o1", T0 + timedelta(days=1), "A", "purchase", 20.0),
            ("c1", "o1", T0 + timedelta(days=2), "A", "return", 20.0),  # returns subtract
            ("c1", "o1", T0 + timedelta(days=2), "A", "cancel", 5.0),  # cancels count nothing
            ("c1", "o1", T0 + timedelta(days=30), "A", "return", 100.0),  # after the window: not counted
            ("c1", "o2", T0 + timedelta(days=9), "A", "purchase", 50.0),  # order after the window
            ("c1", "o3", T0 + timedelta(days=1), "B", "purchase", 70.0),  # another campaign
            ("c2", "o4", T0 + timedelta(days=1), None, "purchase", 80.0),  # no campaign
        ]
    )
    rows = _by_id(build_exposures(ix, lines, DAYS))
    c1, c2 = rows["mkt:e0"], rows["mkt:e1"]
    assert c1["converted"] and c1["orders"] == 1
    assert c1["revenue_rc"] == pytest.approx(100.0)
    assert c1["conversion_ts"] == T0 + timedelta(days=1)
    assert not c2["converted"] and c2["orders"] == 0 and c2["revenue_rc"] == 0.0


def test_one_row_per_send_even_without_a_campaign():
    ix = _ix([("c1", T0, "email_send", None), ("c1", T0, "email_open", None), ("c1", T0, "web_visit", None)])
    out = build_exposures(ix, NO_LINES, DAYS)
    assert out.num_rows == 1 and out["type"].to_pylist() == ["email_send"]
    assert out["opened"].to_pylist() == [False]
