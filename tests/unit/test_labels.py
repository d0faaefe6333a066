"""Labels on tiny fact tables whose answers are worked out by hand in the comments beside them."""

from __future__ import annotations

import pandas as pd
import pytest

from c360.features.labels import (
    churn_labels,
    clv_labels,
    label_rows,
    purchase_labels,
    response_labels,
)
from c360.settings import LabelSettings

C1 = pd.Timestamp("2025-03-01", tz="UTC")
C2 = pd.Timestamp("2025-04-01", tz="UTC")


def ts(text: str) -> pd.Timestamp:
    return pd.Timestamp(text, tz="UTC")


def lines(*rows: tuple[str, str, str, float, str | None]) -> pd.DataFrame:
    return pd.DataFrame(
        [
            {"customer_id": c, "ts": ts(t), "kind": k, "amount_rc": a, "category": cat}
            for c, t, k, a, cat in rows
        ]
    )


def interactions(*rows: tuple[str, str]) -> pd.DataFrame:
    return pd.DataFrame([{"customer_id": c, "ts": ts(t)} for c, t in rows])


def as_dict(frame: pd.DataFrame, cutoff: pd.Timestamp) -> dict[str, float]:
    part = frame[frame["event_timestamp"] == cutoff]
    return dict(zip(part["customer_id"], part["label"], strict=True))


LINES = lines(
    # a: bought before C1 and exactly at C1 + 10 days (the horizon's last instant): not churned at C1
    ("a", "2025-01-10", "purchase", 100.0, "shoes"),
    ("a", "2025-03-11", "purchase", 40.0, "books"),
    # b: bought exactly at C1 (history, not the future), nothing after: churned at C1
    ("b", "2025-03-01", "purchase", 25.0, "shoes"),
    # c: first purchase after C1: not in C1's churn population; buys shoes inside C1's horizon
    ("c", "2025-03-05", "purchase", 60.0, "shoes"),
    ("c", "2025-03-06", "return", -20.0, "shoes"),  # a return delivered negative
    ("c", "2025-03-07", "return", 5.0, "shoes"),  # and one delivered positive
    ("c", "2025-03-08", "cancel", 60.0, "shoes"),
    # d: a purchase one microsecond after the horizon: churned at C1
    ("d", "2025-02-01", "purchase", 10.0, "books"),
    ("d", "2025-03-11 00:00:00.000001", "purchase", 999.0, "books"),
    # b again after C2's horizon (C2 + 10 days = 2025-04-11)
    ("b", "2025-04-20", "purchase", 7.0, "books"),
)
# e: known only by an interaction before C1 (never buys); f: first seen after C1
INTERACTIONS = interactions(("e", "2025-02-15"), ("f", "2025-03-20"))


def test_churn_windows_are_open_at_the_cutoff_and_closed_at_the_horizon():
    got = churn_labels(LINES, [C2, C1], days=10)
    assert as_dict(got, C1) == {"a": 0, "b": 1, "d": 1}  # c bought only after C1; e never bought
    # at C2 every buyer so far; the next purchases (b on 04-20) fall after C2 + 10 days
    assert as_dict(got, C2) == {"a": 1, "b": 1, "c": 1, "d": 1}
    assert list(got.columns) == ["customer_id", "event_timestamp", "label"]
    assert got["event_timestamp"].is_monotonic_increasing  # sorted by (cutoff, customer)
    assert got.equals(got.sort_values(["event_timestamp", "customer_id"], ignore_index=True))


def test_clv_is_net_reporting_spend_in_the_horizon_for_everyone_known():
    got = clv_labels(LINES, [C1], months=1, interactions=INTERACTIONS)  # (03-01, 04-01]
    # a: 40; b: nothing after its purchase at the cutoff; c: 60 - 20 - 5, the cancel counts nothing;
    # d: 999 (03-11 is within the month); e: known by an interaction, spends 0; f: not known yet
    assert as_dict(got, C1) == {"a": 40.0, "b": 0.0, "d": 999.0, "e": 0.0}
    got_c = clv_labels(LINES, [ts("2025-03-05")], months=1, interactions=INTERACTIONS)
    # the purchase at the cutoff is history; the returns after it still count: net spend can be negative
    assert as_dict(got_c, ts("2025-03-05"))["c"] == -25.0
    # c known by a web visit before 03-04: 60 - 20 - 5 = 35
    seen = pd.concat([INTERACTIONS, interactions(("c", "2025-03-02"))], ignore_index=True)
    got_c = clv_labels(LINES, [ts("2025-03-04")], months=1, interactions=seen)
    assert as_dict(got_c, ts("2025-03-04")) == {"a": 40.0, "b": 0.0, "c": 35.0, "d": 999.0, "e": 0.0}
    assert got["label"].dtype == "float64"


def test_clv_months_are_calendar_months():
    one = lines(("a", "2025-01-01", "purchase", 1.0, None), ("a", "2025-03-31", "purchase", 5.0, None))
    got = clv_labels(one, [ts("2025-01-31")], months=2)  # horizon end: 2025-03-31, inclusive
    assert as_dict(got, ts("2025-01-31")) == {"a": 5.0}


def test_purchase_propensity_and_its_category_filter():
    got = purchase_labels(LINES, [C1], days=10, interactions=INTERACTIONS)
    # (03-01, 03-11]: a buys books on 03-11, c shoes on 03-05; b, d (just after the horizon) and e do not
    assert as_dict(got, C1) == {"a": 1, "b": 0, "d": 0, "e": 0}  # c is not known at C1
    got = purchase_labels(LINES, [ts("2025-03-02")], days=10, category="shoes", interactions=INTERACTIONS)
    assert as_dict(got, ts("2025-03-02")) == {"a": 0, "b": 0, "d": 0, "e": 0}
    # (03-04, 03-14] in books: a on 03-11 and d just after midnight of 03-11
    got = purchase_labels(LINES, [ts("2025-03-04")], days=10, category="books", interactions=INTERACTIONS)
    assert as_dict(got, ts("2025-03-04")) == {"a": 1, "b": 0, "d": 1, "e": 0}
    # without interactions, e is unknown: the population follows the facts handed in
    assert "e" not in as_dict(purchase_labels(LINES, [C1], days=10), C1)


def test_response_takes_each_closed_exposure_once_at_its_own_time():
    exposures = pd.DataFrame(
        [
            # closed before the cutoff, converted
            {"customer_id": "a", "exposure_id": "x1", "ts": ts("2025-02-01"), "converted": True},
            # closed exactly at the cutoff: final, not converted
            {"customer_id": "b", "exposure_id": "x2", "ts": ts("2025-02-22"), "converted": False},
            # still open at the cutoff: left out, not counted as a miss
            {"customer_id": "c", "exposure_id": "x3", "ts": ts("2025-02-23"), "converted": None},
            {"customer_id": "a", "exposure_id": "x4", "ts": ts("2025-01-15"), "converted": None},
        ]
    )
    exposures["window_end"] = exposures["ts"] + pd.Timedelta(days=7)
    got = response_labels(exposures, [ts("2025-01-01"), C1])
    assert got["exposure_id"].tolist() == ["x4", "x1", "x2"]  # sorted by exposure time
    assert got["label"].tolist() == [0, 1, 0]
    assert got["event_timestamp"].tolist() == [ts("2025-01-15"), ts("2025-02-01"), ts("2025-02-22")]
    assert response_labels(exposures, [ts("2025-01-01")]).empty


def test_the_config_dispatch_and_an_empty_population():
    churn = label_rows(LabelSettings(kind="churn", days=10), [C1], LINES, INTERACTIONS, pd.DataFrame())
    assert churn.equals(churn_labels(LINES, [C1], days=10))
    assert churn_labels(LINES, [ts("2024-01-01")], days=10).empty
    shoes = LabelSettings(kind="purchase", days=10, category="shoes")
    got = label_rows(shoes, [ts("2025-03-02")], LINES, INTERACTIONS, pd.DataFrame())
    assert got["label"].sum() == 0


@pytest.mark.parametrize("zone", [None, "Europe/London"])
def test_cutoffs_are_read_as_utc(zone):
    cutoff = pd.Timestamp("2025-03-01 00:00") if zone is None else pd.Timestamp("2025-03-01 00:00", tz=zone)
    got = churn_labels(LINES, [cutoff], days=10)
    assert got["event_timestamp"].iloc[0] == C1


def test_cutoff_ranges_and_their_errors():
    from c360.errors import ValidationError
    from c360.features.training_inputs import cutoff_range, parse_cutoffs, parse_every, parse_time

    got = cutoff_range(
        parse_time("2025-01-01", "--start"), parse_time("2025-01-29", "--end"), parse_every("2w")
    )
    assert [c.date().isoformat() for c in got] == ["2025-01-01", "2025-01-15", "2025-01-29"]
    got = cutoff_range(
        parse_time("2025-01-01", "--start"), parse_time("2025-01-20", "--end"), parse_every("7d")
    )
    assert len(got) == 3  # the 22nd would pass --end
    assert parse_cutoffs("2025-02-02, 2025-01-05,2025-02-02") == [ts("2025-01-05"), ts("2025-02-02")]
    for bad, call in [
        ("is not a date", lambda: parse_cutoffs("2025-01-05,soon")),
        ("at least one", lambda: parse_cutoffs(" , ")),
        ("like 7d", lambda: parse_every("7 days")),
        ("before --start", lambda: cutoff_range(ts("2025-02-01"), ts("2025-01-01"), parse_every("1d"))),
    ]:
        with pytest.raises(ValidationError, match=bad):
            call()
