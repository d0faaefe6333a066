"""Feature history (c360/features/history.py) equals the profile's pandas aggregates on the same facts.

The reference path is c360/profile/aggregates.py as the profiles stage calls it (transaction_summary on the
reporting-currency amounts, interaction_summary, support_sentiment with the facts' sentiment, engagement,
global-edge RFM), over the population known at each cutoff, computed here without history.py.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from c360.features.history import (
    PRICE_BANDS,
    customer_rows,
    features_at,
    first_facts,
    product_activity,
    product_rows,
    score_rfm,
    summaries,
    thresholds_of,
)
from c360.profile.aggregates import (
    engagement_score,
    interaction_summary,
    rfm_inputs,
    rfm_scores_global,
    rfm_thresholds,
    support_sentiment,
    transaction_summary,
)
from c360.profile.document import assemble
from c360.profile.feature_tables import CUSTOMER_VIEWS, FEATURE_COLUMNS, feature_frames
from tests.history_data import Facts, synthetic_facts

pytestmark = pytest.mark.unit

CUTOFFS = [pd.Timestamp(d, tz="UTC") for d in ("2024-02-10", "2024-09-01T13:30", "2025-06-30", "2026-01-05")]


@pytest.fixture(scope="module")
def facts():
    return synthetic_facts(customers=300, seed=7)


def reference(facts, cutoff: pd.Timestamp) -> dict[str, pd.DataFrame]:
    """The profile's pandas functions on the facts, for the customers the profile has first seen (its
    `first_seen`: golden first_observed, first line, first interaction) at or before the cutoff."""
    tx = facts.tx.to_pandas()
    tx["amount"] = tx["amount_rc"]
    inter = facts.inter.to_pandas()
    tx_sum = transaction_summary(tx, cutoff)
    in_sum = interaction_summary(inter, cutoff)
    sent = support_sentiment(inter[inter["ts"] <= cutoff], scores=inter["sentiment"])
    eng = engagement_score(tx_sum, in_sum, cutoff)
    built = assemble(facts.golden, tx_sum, in_sum, sent, eng, pd.Series(dtype=object), cutoff)
    built = built[built["first_seen"] <= cutoff].reset_index(drop=True)
    inputs = rfm_inputs(built, cutoff)
    built = built.merge(rfm_scores_global(inputs, rfm_thresholds(inputs)), on="customer_id")
    return feature_frames(built, CUSTOMER_VIEWS)


CENTS = {"total_spend", "avg_order_value"}
"""Rounded to cents by both paths: a sum on a half cent can round either way with the order floats are added
in (pandas' and DuckDB's differ), so these may differ by one cent on a rare row."""


def assert_same(got: pd.DataFrame, want: pd.DataFrame, view: str) -> None:
    got = got.sort_values("customer_id").reset_index(drop=True)
    want = want.sort_values("customer_id").reset_index(drop=True)
    assert (
        list(got.columns) == list(want.columns) == ["customer_id", "event_timestamp", *FEATURE_COLUMNS[view]]
    )
    assert got["customer_id"].tolist() == want["customer_id"].tolist(), view
    for col in got.columns:
        a, b = got[col], want[col]
        if col in CENTS:
            diff = (a.astype(float) - b.astype(float)).abs()
            assert diff.max() <= 0.0100001 and (diff > 1e-9).mean() <= 0.01, col
        elif pd.api.types.is_float_dtype(b) or pd.api.types.is_float_dtype(a):
            np.testing.assert_allclose(a.astype(float), b.astype(float), rtol=1e-9, atol=1e-9, err_msg=col)
        elif pd.api.types.is_datetime64_any_dtype(b):
            assert (pd.to_datetime(a, utc=True).fillna(pd.Timestamp(0, tz="UTC"))
                    == pd.to_datetime(b, utc=True).fillna(pd.Timestamp(0, tz="UTC"))).all(), col  # fmt: skip
        else:
            assert (
                a.astype(object).where(a.notna(), None).tolist()
                == b.astype(object).where(b.notna(), None).tolist()
            ), f"{view}.{col}"


@pytest.mark.parametrize("cutoff", CUTOFFS, ids=[c.isoformat() for c in CUTOFFS])
def test_history_equals_the_profile_aggregates(facts, cutoff):
    got = features_at(facts.golden, facts.tx, facts.inter, cutoff)
    want = reference(facts, cutoff)
    assert set(got) == set(CUSTOMER_VIEWS)
    for view in CUSTOMER_VIEWS:
        assert len(want[view]) > 0 or cutoff == CUTOFFS[0]
        assert_same(got[view], want[view], view)
    # the values moved between cutoffs, so equality above is not equality of empty or constant frames
    t = got["transactions"]
    assert t["total_spend"].nunique() > 10 or cutoff == CUTOFFS[0]


def odd_first_seen(facts: Facts) -> tuple[Facts, dict[str, str]]:
    """The facts with golden records a resolve of data nobody here wrote leaves: first_observed null (no
    observation time mapped) or after the first fact (the day of the ingest), and a customer whose only
    lines are cancellations, one with only interactions, one with neither."""
    tx = facts.tx.to_pandas()
    inter = facts.inter.to_pandas()
    first = first_facts(facts.tx, facts.inter)
    buyers = sorted(set(tx["customer_id"]) - set(inter["customer_id"]))
    talkers = sorted(set(inter["customer_id"]) - set(tx["customer_id"]))
    both = sorted(set(tx["customer_id"]) & set(inter["customer_id"]))
    silent = sorted(set(facts.golden["customer_id"]) - set(first.index))
    who = {"null": both[0], "late": both[1], "cancels": buyers[0], "talker": talkers[0]}
    if silent:
        who["silent"] = silent[0]
    tx.loc[tx["customer_id"] == who["cancels"], "kind"] = "cancel"
    golden = facts.golden.copy()
    late = golden["customer_id"].isin([who["late"], who["cancels"], who["talker"]])
    golden.loc[late, "first_observed"] = pd.Timestamp("2026-12-01", tz="UTC")  # ingested today
    golden.loc[golden.index % 3 == 0, "first_observed"] = pd.NaT  # a third with no observation time
    golden.loc[golden["customer_id"].isin([who["null"], *silent]), "first_observed"] = pd.NaT
    odd = Facts(
        golden, pa.Table.from_pandas(tx, schema=facts.tx.schema, preserve_index=False), facts.inter,
        facts.products,
    )  # fmt: skip
    return odd, who


@pytest.mark.parametrize("cutoff", CUTOFFS, ids=[c.isoformat() for c in CUTOFFS])
def test_first_seen_is_the_first_fact_when_first_observed_is_null_or_later(facts, cutoff):
    odd, who = odd_first_seen(facts)
    got = features_at(odd.golden, odd.tx, odd.inter, cutoff)
    want = reference(odd, cutoff)
    for view in CUSTOMER_VIEWS:
        assert_same(got[view], want[view], view)
    first = first_facts(odd.tx, odd.inter)
    profile = got["profile"].set_index("customer_id")
    for name in ("null", "late", "cancels", "talker"):
        cid = who[name]
        if first[cid] <= cutoff:  # in the view from the first fact, dated by it
            assert profile.loc[cid, "first_seen_at"] == first[cid], name
        else:
            assert cid not in profile.index, name
    assert who.get("silent") not in profile.index  # null first_observed and no fact: never seen
    # every customer with a row in a behaviour view has one in the profile view
    for view in CUSTOMER_VIEWS:
        assert set(got[view]["customer_id"]) == set(profile.index), view


def test_every_cutoff_at_once_equals_one_at_a_time(facts):
    s = summaries(facts.tx, facts.inter, CUTOFFS)
    first = first_facts(facts.tx, facts.inter)
    for k, cutoff in enumerate(CUTOFFS):
        rows = customer_rows(facts.golden, s.tx[k], s.interactions[k], s.sentiment[k], first, cutoff)
        got = score_rfm(rows, thresholds_of([rows.rfm_inputs]))
        want = features_at(facts.golden, facts.tx, facts.inter, cutoff)
        for view in CUSTOMER_VIEWS:
            pd.testing.assert_frame_equal(got[view], want[view])


def test_partitions_score_rfm_against_the_whole_population(facts):
    cutoff = CUTOFFS[2]
    whole = features_at(facts.golden, facts.tx, facts.inter, cutoff)["engagement_rfm"]
    halves = []
    first = first_facts(facts.tx, facts.inter)
    for odd in (0, 1):
        ids = facts.golden["customer_id"].iloc[odd::2]
        mask = pa.array(np.isin(facts.tx["customer_id"].to_numpy(zero_copy_only=False), ids))
        tx = facts.tx.filter(mask)
        inter = facts.inter.filter(
            pa.array(np.isin(facts.inter["customer_id"].to_numpy(zero_copy_only=False), ids))
        )
        s = summaries(tx, inter, [cutoff])
        golden = facts.golden[facts.golden["customer_id"].isin(ids)]
        halves.append(customer_rows(golden, s.tx[0], s.interactions[0], s.sentiment[0], first, cutoff))
    edges = thresholds_of([h.rfm_inputs for h in halves])
    both = pd.concat([score_rfm(h, edges)["engagement_rfm"] for h in halves])
    both = both.sort_values("customer_id").reset_index(drop=True)
    pd.testing.assert_frame_equal(both, whole.sort_values("customer_id").reset_index(drop=True))
    assert whole["rfm_score"].nunique() > 10


def test_nothing_after_the_cutoff_is_read(facts):
    cutoff = CUTOFFS[2]
    before = features_at(facts.golden, facts.tx, facts.inter, cutoff)
    # Rewrite everything after the cutoff (amounts, kinds, sentiment); the rows at the cutoff stay.
    tx = facts.tx.to_pandas()
    late = tx["ts"] > cutoff
    tx.loc[late, "amount_rc"] = 1e6
    tx.loc[late, "kind"] = "purchase"
    inter = facts.inter.to_pandas()
    inter.loc[inter["ts"] > cutoff, "sentiment"] = -1.0
    after = features_at(
        facts.golden,
        pa.Table.from_pandas(tx, schema=facts.tx.schema, preserve_index=False),
        pa.Table.from_pandas(inter, schema=facts.inter.schema, preserve_index=False),
        cutoff,
    )
    for view in CUSTOMER_VIEWS:
        pd.testing.assert_frame_equal(before[view], after[view])


def test_product_stats_count_purchases_in_trailing_windows(facts):
    cutoff = CUTOFFS[2]
    act = product_activity(facts.tx, [cutoff]).to_pandas().drop(columns="k")
    got = product_rows(facts.products.to_pandas(), act, cutoff).set_index("product_id")
    tx = facts.tx.to_pandas()
    bought = tx[(tx["kind"] == "purchase") & (tx["ts"] <= cutoff)]
    for pid in ("p001", "p017", "p038"):
        mine = bought[bought["product_id"] == pid]
        for col, days in (("purchases_7d", 7), ("purchases_30d", 30), ("purchases_90d", 90)):
            assert got.loc[pid, col] == (mine["ts"] > cutoff - pd.Timedelta(days=days)).sum()
        recent = mine[mine["ts"] > cutoff - pd.Timedelta(days=30)]
        assert got.loc[pid, "buyers_30d"] == recent["customer_id"].nunique()
    assert got["purchases_90d"].sum() > 0
    assert set(got["price_band"].dropna()) == set(PRICE_BANDS)
    assert pd.isna(got.loc["p038", "price_rc"]) and got.loc["p038", "category"] is not None
    assert (got["event_timestamp"] == cutoff).all()
