"""Profile aggregates on small tables whose right answers are worked out by hand."""

from __future__ import annotations

import pandas as pd
import pytest

from c360.profile.aggregates import (
    attach_customer_ids,
    engagement_score,
    first_seen,
    interaction_summary,
    preferred_channel,
    rfm_scores,
    support_sentiment,
    transaction_summary,
)

pytestmark = pytest.mark.unit
AS_OF = pd.Timestamp("2026-01-01", tz="UTC")


def ts(s: str) -> pd.Timestamp:
    return pd.Timestamp(s, tz="UTC")


def _tx() -> pd.DataFrame:
    rows = [
        # customer a: two orders (one with two lines), one return, one order after as_of (ignored)
        ("a", "o1", "2025-12-01", "shoes", 2, 50.0, "purchase"),  # amount is the line total
        ("a", "o1", "2025-12-01", "socks", 1, 10.0, "purchase"),
        ("a", "o2", "2024-06-01", "shoes", 1, 40.0, "purchase"),
        ("a", "r1", "2025-12-05", "socks", -1, -10.0, "return"),
        ("a", "o9", "2026-02-01", "hats", 1, 99.0, "purchase"),
        # customer b: one order
        ("b", "o3", "2025-11-01", "hats", 1, 30.0, "purchase"),
    ]
    columns = ["customer_id", "order_id", "ts", "category", "quantity", "amount", "kind"]
    df = pd.DataFrame(rows, columns=columns)
    df["ts"] = pd.to_datetime(df["ts"], utc=True)
    return df


def test_transaction_summary():
    s = transaction_summary(_tx(), AS_OF).set_index("customer_id")
    assert s.loc["a", "total_purchases"] == 2
    assert s.loc["a", "total_spend"] == pytest.approx(50.0 + 10.0 + 40.0 - 10.0)
    assert s.loc["a", "avg_order_value"] == pytest.approx(50.0)  # (60 + 40) / 2 orders
    assert s.loc["a", "orders_last_365d"] == 1
    assert s.loc["a", "returns"] == 1
    assert s.loc["a", "last_purchase"] == ts("2025-12-01")
    assert s.loc["a", "favorite_categories"] == ["shoes", "socks"]
    assert s.loc["b", "favorite_categories"] == ["hats"]


def test_first_seen_is_the_earliest_of_first_observed_and_every_fact():
    tx = pd.concat(
        [_tx(), pd.DataFrame({"customer_id": ["c"], "order_id": ["x1"], "ts": [ts("2025-03-01")],
                              "category": [None], "quantity": [1], "amount": [5.0], "kind": ["cancel"]})],
        ignore_index=True,
    )  # fmt: skip
    inter = pd.DataFrame(
        {
            "customer_id": ["b", "d", "d"],
            "ts": [ts("2025-10-01"), ts("2025-08-01"), ts("2026-03-01")],  # d's second is after as_of
            "type": ["web_visit", "email_open", "web_visit"],
            "channel": ["web", "email", "web"],
        }
    )
    t = transaction_summary(tx, AS_OF).set_index("customer_id")
    i = interaction_summary(inter, AS_OF).set_index("customer_id")
    # a cancelled order is a line (c has a summary row, with zeros), a return too; the first line is the
    # earliest line of any kind, first_purchase the earliest purchase order
    assert t.loc["c", "first_line"] == ts("2025-03-01") and t.loc["c", "total_purchases"] == 0
    assert pd.isna(t.loc["c", "first_purchase"])
    assert t.loc["a", "first_line"] == t.loc["a", "first_purchase"] == ts("2024-06-01")
    assert i.loc["d", "first_interaction"] == ts("2025-08-01")
    ids = ["a", "b", "c", "d", "e"]
    observed = pd.Series([ts("2026-12-01"), ts("2025-01-01"), pd.NaT, pd.NaT, pd.NaT], index=ids)
    seen = first_seen(observed, t["first_line"].reindex(ids), i["first_interaction"].reindex(ids))
    assert seen.tolist()[:4] == [ts("2024-06-01"), ts("2025-01-01"), ts("2025-03-01"), ts("2025-08-01")]
    assert pd.isna(seen["e"])  # no observation time and no fact: not seen


def test_rfm_quintiles_rank_customers():
    summary = pd.DataFrame(
        {
            "customer_id": list("abcde"),
            "last_purchase": [
                ts(d) for d in ("2025-12-30", "2025-06-01", "2024-01-01", "2025-12-01", "2023-01-01")
            ],
            "total_purchases": [10, 1, 3, 7, 1],
            "total_spend": [500.0, 20.0, 90.0, 300.0, 5.0],
        }
    )
    r = rfm_scores(summary, AS_OF).set_index("customer_id")
    assert r.loc["a", "rfm_score"] == "555"
    assert r.loc["e", "r"] == 1 and r.loc["e", "m"] == 1
    # b and e both bought once: a tie shares one F score
    assert r.loc["b", "f"] == r.loc["e", "f"]
    assert set(r["r"]) == {1, 2, 3, 4, 5}


def test_preferred_channel_weights_clicks_over_opens():
    inter = pd.DataFrame(
        {
            "customer_id": ["a"] * 4 + ["b"] * 2,
            "type": ["email_open", "email_open", "web_visit", "web_visit", "email_click", "web_visit"],
            "channel": ["email", "email", "web", "web", "email", "web"],
            "ts": [ts("2025-01-01")] * 6,
        }
    )
    pref = preferred_channel(inter)
    assert pref["b"] == "email"  # one click (3) beats one visit (1)
    # a: a 2-2 tie; the tie goes to the most recent, here equal, then the sort is stable on channel order
    assert pref["a"] in {"email", "web"}


def test_engagement_score_orders_active_over_lapsed():
    tx = transaction_summary(_tx(), AS_OF)
    inter = pd.DataFrame(
        {
            "customer_id": ["a"] * 10 + ["b"],
            "type": ["web_visit"] * 11,
            "channel": ["web"] * 11,
            "ts": [ts("2025-12-20")] * 10 + [ts("2024-01-01")],
            "attributes": [None] * 11,
        }
    )
    isum = interaction_summary(inter, AS_OF)
    e = engagement_score(tx, isum, AS_OF).set_index("customer_id")
    assert 0 <= e.loc["b", "engagement_score"] < e.loc["a", "engagement_score"] <= 100
    # a: last activity 12 days ago, 1 order in the last year, 10 interactions in the last 90 days
    import math

    expected = 100 * (0.4 * math.exp(-12 / 90) + 0.3 * (1 / 12) + 0.3 * math.log1p(10) / math.log1p(30))
    assert e.loc["a", "engagement_score"] == round(expected)


def test_unresolved_references_are_kept_with_null_customer():
    id_map = pd.DataFrame({"source": ["shop"], "source_record_id": ["u1"], "customer_id": ["c1"]})
    recs = pd.DataFrame({"source": ["shop", "shop"], "customer_ref": ["u1", "u2"], "x": [1, 2]})
    out = attach_customer_ids(recs, id_map)
    assert len(out) == 2
    assert out.set_index("x").loc[1, "customer_id"] == "c1"
    assert pd.isna(out.set_index("x").loc[2, "customer_id"])


def test_support_sentiment_is_the_mean_of_ticket_and_mention_scores():
    inter = pd.DataFrame(
        {
            "customer_id": ["a", "a", "a", "a", "b", "c"],
            "type": ["support_ticket", "social_mention", "support_ticket", "web_visit", "support_ticket",
                     "web_visit"],
            "attributes": ['{"status":"open"}', None, '{"status":"solved"}', None, "not json", None],
            "sentiment": [-0.5, 0.9, None, 0.7, 0.2, 0.3],  # a: blank third text; web rows never count
        }
    )  # fmt: skip
    s = support_sentiment(inter, inter["sentiment"]).set_index("customer_id")
    assert s.loc["a", "avg_sentiment"] == pytest.approx((-0.5 + 0.9) / 2)
    assert s.loc["a", "open_tickets"] == 1 and s.loc["b", "open_tickets"] == 0
    assert s.loc["b", "avg_sentiment"] == pytest.approx(0.2)
    assert "c" not in s.index
