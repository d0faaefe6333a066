"""Feature tables written by `profiles` against the Feast repo: columns, materialize, training sets, consent.

One small demo workspace, profiles built at three past times; the leakage test asks for label times between
them and checks every row got the value valid at its time, never a later one.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pandas as pd
import pytest

from c360.errors import NotFoundError
from c360.features.materialize import materialize
from c360.features.store import apply, open_feature_store
from c360.features.training import historical_features, training_dataset
from c360.profile.build import build_profiles, read_profiles
from c360.profile.consent_updates import record_consent
from c360.profile.feature_tables import FEATURE_COLUMNS
from c360.profile.store import open_profile_store
from c360.workspace import Workspace
from tests.profile_data import demo_workspace

pytestmark = [
    pytest.mark.feast,
    pytest.mark.ray,
    pytest.mark.filterwarnings("ignore:Stream feature views are experimental"),
]
BUILDS = [
    datetime(2025, 6, 1, tzinfo=UTC),
    datetime(2025, 12, 1, tzinfo=UTC),
    datetime(2026, 6, 1, tzinfo=UTC),
]


@pytest.fixture(scope="module")
def ws(ray_session, tmp_path_factory: pytest.TempPathFactory) -> Workspace:
    ws = demo_workspace(tmp_path_factory.mktemp("features"), customers=300, seed=5)
    for when in BUILDS:
        build_profiles(ws, as_of=when, full=True, partitions=2)
    apply(ws)
    return ws


def feature_rows(ws: Workspace, view: str) -> pd.DataFrame:
    return pd.concat(
        [pd.read_parquet(f) for f in ws.lake.glob(f"features/{view}/*.parquet")], ignore_index=True
    )


def test_written_columns_are_exactly_the_feature_views(ws):
    store = open_feature_store(ws)
    declared = {v.name: [f.name for f in v.features] for v in store.list_feature_views()}
    for view, cols in FEATURE_COLUMNS.items():
        assert declared[view] == list(cols), view
        assert list(feature_rows(ws, view).columns) == ["customer_id", "event_timestamp", *declared[view]]
    assert {"ml_scores"} <= set(declared) - set(FEATURE_COLUMNS)  # written by the models stage, not here


def test_materialize_is_incremental_and_serves_the_latest_values(ws):
    first = materialize(ws)
    expected = {view: len(feature_rows(ws, view)) for view in FEATURE_COLUMNS}
    assert first.views == expected and first.rows == sum(expected.values())
    again = materialize(ws)
    assert again.rows == 0
    latest = (
        feature_rows(ws, "transactions")
        .sort_values("event_timestamp")
        .drop_duplicates("customer_id", keep="last")
    )
    sample = latest.sample(20, random_state=1)
    online = (
        open_feature_store(ws)
        .get_online_features(
            features=["transactions:total_spend", "transactions:total_purchases"],
            entity_rows=[{"customer_id": c} for c in sample["customer_id"]],
        )
        .to_df()
    )
    assert online["total_spend"].round(2).tolist() == sample["total_spend"].round(2).tolist()


def test_training_sets_never_see_values_from_after_the_label_time(ws):
    rows = feature_rows(ws, "transactions")
    wide = rows.pivot_table(index="customer_id", columns="event_timestamp", values="total_spend")
    moving = wide[wide.nunique(axis=1) == len(BUILDS)].index[:25]  # values differ at every build
    assert len(moving) >= 10
    labels = [BUILDS[0] - timedelta(days=1), *(b + timedelta(days=10) for b in BUILDS)]
    entity = pd.DataFrame(
        [{"customer_id": c, "event_timestamp": t, "label": i} for c in moving for i, t in enumerate(labels)]
    )
    got = historical_features(
        ws, entity, ["transactions:total_spend", "engagement_rfm:rfm_score"]
    ).to_pandas()
    # Feast's file offline store drops entity rows that precede every feature row instead of returning
    # nulls; either way such a row must carry no value. Every later row is answered.
    early = got["event_timestamp"] < pd.Timestamp(BUILDS[0])
    assert got.loc[early, "total_spend"].isna().all()
    assert (~early).sum() == len(moving) * len(BUILDS)
    for r in got.itertuples():
        valid = rows[(rows["customer_id"] == r.customer_id) & (rows["event_timestamp"] <= r.event_timestamp)]
        if valid.empty:
            assert pd.isna(r.total_spend)
        else:
            assert r.total_spend == pytest.approx(
                valid.sort_values("event_timestamp").iloc[-1]["total_spend"]
            )
    ds = training_dataset(ws, entity, "clv")
    # With the service's on-demand day counts Feast keeps the rows before every feature row (nulls)
    # instead of dropping them; either way they carry no value, and every later row is answered.
    table = ds.to_pandas()
    before = pd.to_datetime(table["event_timestamp"], utc=True) < pd.Timestamp(BUILDS[0])
    assert table.loc[before, "total_spend"].isna().all() and table.loc[before, "tenure_days"].isna().all()
    assert (~before).sum() == len(moving) * len(BUILDS)
    assert table.loc[~before, "tenure_days"].notna().all()
    assert {"total_spend", "rfm_score", "age", "label", "days_since_last_purchase"} <= set(ds.schema().names)


def sms_granted_in_batch(ws) -> str:
    """Someone whose batch row grants marketing sms, so a late batch write would visibly bring it back: the
    customer the withdrawal test withdraws, and the next test finds in the ledger."""
    batch = pd.concat([pd.read_parquet(f) for f in ws.lake.glob("features/consent/*.parquet")])
    batch = batch.sort_values("event_timestamp").drop_duplicates("customer_id", keep="last")
    return sorted(batch.loc[batch["marketing_sms"] == 1, "customer_id"])[0]


def test_a_withdrawal_reaches_the_profile_store_and_the_online_store_at_once(ws):
    materialize(ws)
    cid = sms_granted_in_batch(ws)
    store = open_feature_store(ws)

    def online() -> int:
        out = store.get_online_features(
            features=["consent:marketing_sms"], entity_rows=[{"customer_id": cid}]
        )
        return out.to_dict()["marketing_sms"][0]

    assert online() == 1  # the batch grant, materialized
    now = datetime.now(UTC)
    record_consent(ws, cid, "marketing", "sms", True, "api", ts=now, feature_store=store)
    assert online() == 1
    change = record_consent(ws, cid, "marketing", "sms", False, "api", ts=now + timedelta(seconds=1))
    assert change.changed and change.pushed
    assert online() == 0
    # a late materialization of the batch rows (stamped when profiles ran, before the push) does not bring
    # the grant back: the online store skips writes older than the stored row
    store.materialize(now - timedelta(days=3650), now + timedelta(days=1), feature_views=["consent"])
    assert online() == 0
    with open_profile_store(ws) as profiles:
        doc = profiles.get(cid)
    assert doc["consent"]["marketing"]["sms"] == {
        "granted": False,
        "ts": (now + timedelta(seconds=1)).isoformat(),
        "source": "api",
    }
    assert "sms" not in doc["preferences"]["marketingChannels"]
    # an older statement loses: latest wins
    stale = record_consent(ws, cid, "marketing", "sms", True, "crm", ts=now - timedelta(days=1))
    assert not stale.changed and online() == 0
    with pytest.raises(NotFoundError):
        record_consent(ws, "cus_nobody", "marketing", "sms", False, "api")


def test_the_next_build_folds_api_consent_into_the_ledger(ws):
    cid = sms_granted_in_batch(ws)  # withdrawn through the API by the test before
    build_profiles(ws, as_of=datetime.now(UTC) + timedelta(minutes=1))
    profiles = read_profiles(ws.lake).set_index("customer_id")
    import json

    assert json.loads(profiles.loc[cid, "consent"])["marketing"]["sms"]["granted"] is False
    consent = feature_rows(ws, "consent")
    assert (
        consent[consent["customer_id"] == cid].sort_values("event_timestamp").iloc[-1]["marketing_sms"] == 0
    )


def test_training_sets_leave_out_erased_customers(ws):
    from c360.privacy.suppression import CUSTOMER, add_to_suppression

    ids = read_profiles(ws.lake, ["customer_id"])["customer_id"].iloc[:5].tolist()
    entity = pd.DataFrame({"customer_id": ids, "event_timestamp": [BUILDS[-1] + timedelta(days=1)] * 5})
    assert sorted(
        historical_features(ws, entity, ["transactions:total_spend"])["customer_id"].to_pylist()
    ) == sorted(ids)
    add_to_suppression(ws.lake, "erasure-test", [(CUSTOMER, ids[0])])
    got = historical_features(ws, entity, ["transactions:total_spend"])["customer_id"].to_pylist()
    assert sorted(got) == sorted(ids[1:])


def test_a_merge_removes_the_old_id_online_and_serves_the_survivor(ws):
    from c360.identity.corrections import add_correction
    from c360.identity.resolve import resolve
    from c360.privacy.suppression import CUSTOMER, SuppressionList

    materialize(ws)
    ids = read_profiles(ws.lake, ["customer_id"])["customer_id"].sort_values().tolist()
    a, b = ids[-1], ids[-2]
    # A customer erased by an earlier test is still profiled: the next run removes them too.
    erased = int(SuppressionList.load(ws.lake).mask(CUSTOMER, ids).sum())
    store = open_feature_store(ws)

    def online(cid: str) -> float | None:
        out = store.get_online_features(
            features=["transactions:total_spend"], entity_rows=[{"customer_id": cid}]
        )
        return out.to_dict()["total_spend"][0]

    assert online(a) is not None and online(b) is not None
    add_correction(ws, "link", a, b)
    resolve(ws, progress=False)
    report = build_profiles(ws, as_of=datetime.now(UTC) + timedelta(minutes=2))
    assert report.removed == 1 + erased
    after = set(read_profiles(ws.lake, ["customer_id"])["customer_id"])
    survivor, gone = (a, b) if a in after else (b, a)
    assert online(gone) is None  # deleted from the online store by the profiles stage
    materialize(ws)
    spend = read_profiles(ws.lake).set_index("customer_id").loc[survivor, "total_spend"]
    assert online(survivor) == pytest.approx(spend)
    with open_profile_store(ws) as profiles:
        assert profiles.get(gone)["customerId"] == survivor
