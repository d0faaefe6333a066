"""Feature history through Feast: a training row is what the facts said at its cutoff; online equals offline.

A small demo workspace goes through ingest, resolve, facts and `backfill` (weekly cutoffs); then, for random
customers at random cutoffs, Feast's point-in-time join (entity timestamp = the cutoff) must equal the
features recomputed here by hand from the fact tables truncated at the cutoff: plain pandas over one
customer's rows, written without c360/features/history.py or the profile's aggregates. Then the latest rows
are materialized and an online read at an instant (as_of passed as request data) must equal the offline
row at the same instant.
"""

from __future__ import annotations

import math
import random

import pandas as pd
import pytest

from c360.facts.build import build_facts, read_facts
from c360.facts.schemas import INTERACTIONS, TRANSACTION_LINES
from c360.features.backfill import backfill, fact_time_range
from c360.features.request import online_rows
from c360.features.store import apply, open_feature_store
from c360.features.training import historical_features
from tests.profile_data import demo_workspace

pytestmark = [
    pytest.mark.feast,
    pytest.mark.ray,
    pytest.mark.filterwarnings("ignore:Stream feature views are experimental"),
    pytest.mark.filterwarnings("ignore:On demand feature view is an experimental feature"),
    pytest.mark.filterwarnings("ignore:Downcasting object dtype arrays:FutureWarning"),
]

REFS = [
    "transactions:total_spend",
    "transactions:total_purchases",
    "transactions:orders_last_365d",
    "engagement_rfm:interactions_last_90d",
    "support_sentiment:avg_sentiment",
    "elapsed_days:days_since_last_purchase",
]
NAMES = [r.split(":")[1] for r in REFS]
VIEWS = ["profile", "transactions", "engagement_rfm", "support_sentiment"]  # with elapsed_days' inputs


@pytest.fixture(scope="module")
def history(ray_session, tmp_path_factory: pytest.TempPathFactory):
    ws = demo_workspace(tmp_path_factory.mktemp("history"), customers=200, seed=21)
    build_facts(ws)
    oldest, newest = fact_time_range(ws.lake)
    end = newest.normalize()
    start = max(oldest.normalize() + pd.Timedelta(days=1), end - pd.Timedelta(weeks=9))
    start = end - ((end - start) // pd.Timedelta(weeks=1)) * pd.Timedelta(weeks=1)  # end lies on the grid
    report = backfill(ws, start.date().isoformat(), end.date().isoformat(), "7d")
    apply(ws)
    tx = read_facts(ws.lake, TRANSACTION_LINES).to_pandas()
    inter = read_facts(ws.lake, INTERACTIONS).to_pandas()
    return ws, report, tx, inter


def by_hand(tx: pd.DataFrame, inter: pd.DataFrame, cid: str, cutoff: pd.Timestamp) -> dict[str, object]:
    """The six features of one customer at one cutoff, from their fact rows at or before it."""
    lines = tx[(tx["customer_id"] == cid) & (tx["ts"] <= cutoff)]
    bought = lines[lines["kind"] == "purchase"]
    order_time = {o: g["ts"].max() for o, g in bought.groupby("order_id")}
    returned = lines[lines["kind"] == "return"]["amount_rc"].abs().sum()
    spend = round(float(bought["amount_rc"].sum()) - float(returned), 2)
    year_ago = cutoff - pd.Timedelta(days=365)
    rows = inter[(inter["customer_id"] == cid) & (inter["ts"] <= cutoff)]
    texts = rows[rows["type"].isin(["support_ticket", "social_mention"])]["sentiment"].dropna()
    last = max(order_time.values()) if order_time else None
    return {
        "total_spend": spend,
        "total_purchases": len(order_time),
        "orders_last_365d": sum(1 for t in order_time.values() if t > year_ago),
        "interactions_last_90d": int((rows["ts"] > cutoff - pd.Timedelta(days=90)).sum()),
        "avg_sentiment": float(texts.mean()) if len(texts) else None,
        "days_since_last_purchase": (cutoff - last).days if last is not None else None,
    }


def same(a: object, b: object) -> bool:
    missing = (a is None or (isinstance(a, float) and math.isnan(a)), b is None or pd.isna(b))
    if any(missing):
        return all(missing)
    return math.isclose(float(a), float(b), rel_tol=1e-9, abs_tol=0.0100001)  # cents: half-cent rounding


def test_training_rows_equal_features_recomputed_by_hand_from_truncated_facts(history):
    ws, report, tx, inter = history
    cutoffs = [pd.Timestamp(c, tz="UTC") for c in report.cutoffs]
    assert len(cutoffs) >= 6
    rng = random.Random(5)
    first_fact = pd.concat([tx[["customer_id", "ts"]], inter[["customer_id", "ts"]]]).groupby("customer_id")
    first_fact = first_fact["ts"].min()
    pairs: set[tuple[str, pd.Timestamp]] = set()
    while len(pairs) < 60:
        cid, cutoff = rng.choice(first_fact.index.tolist()), rng.choice(cutoffs)
        if first_fact[cid] <= cutoff:  # the customer existed (in the facts) by then
            pairs.add((cid, cutoff))
    ordered = sorted(pairs)
    entity = pd.DataFrame(
        {"customer_id": [c for c, _ in ordered], "event_timestamp": [t for _, t in ordered]}
    )
    got = historical_features(ws, entity, REFS).to_pandas()
    assert len(got) == len(entity)
    assert not {"last_purchase_at", "first_seen_at", "last_interaction_at"} & set(got.columns)
    got["event_timestamp"] = pd.to_datetime(got["event_timestamp"], utc=True)
    mismatches, moving = [], set()
    for row in got.itertuples(index=False):
        want = by_hand(tx, inter, row.customer_id, row.event_timestamp)
        for name in NAMES:
            if not same(getattr(row, name), want[name]):
                mismatches.append(
                    (row.customer_id, row.event_timestamp, name, getattr(row, name), want[name])
                )
        moving.add(want["total_spend"])
    assert mismatches == []
    assert len(moving) > 20  # the sample is not a crowd of zeros
    assert got["avg_sentiment"].notna().sum() > 5 and got["days_since_last_purchase"].notna().sum() > 20


def test_an_online_read_equals_the_offline_row_at_the_same_instant(history):
    ws, report, tx, inter = history
    instant = pd.Timestamp(report.cutoffs[-1], tz="UTC") + pd.Timedelta(days=3, hours=7)
    customers = sorted(tx["customer_id"].unique())[:40]
    store = open_feature_store(ws)
    # the latest rows of the views these features read (the last cutoff's) into the online store
    first = pd.Timestamp(report.cutoffs[0], tz="UTC").to_pydatetime()
    store.materialize(first, instant.to_pydatetime(), feature_views=VIEWS)
    online = store.get_online_features(
        features=REFS,
        entity_rows=online_rows([{"customer_id": c} for c in customers], as_of=instant.to_pydatetime()),
    ).to_df()
    entity = pd.DataFrame({"customer_id": customers, "event_timestamp": [instant] * len(customers)})
    offline = historical_features(ws, entity, REFS).to_pandas()
    online = online.set_index("customer_id").loc[customers]
    offline = offline.set_index("customer_id").loc[customers]
    for name in NAMES:
        for cid in customers:
            assert same(online.loc[cid, name], offline.loc[cid, name]), (cid, name)
    # the day count grew from the cutoff to the read: it is computed at read time, not frozen
    at_cutoff = by_hand(tx, inter, customers[0], pd.Timestamp(report.cutoffs[-1], tz="UTC"))
    if at_cutoff["days_since_last_purchase"] is not None:
        assert (
            online.loc[customers[0], "days_since_last_purchase"] == at_cutoff["days_since_last_purchase"] + 3
        )
