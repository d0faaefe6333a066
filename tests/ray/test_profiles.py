"""`profiles` over Ray on a small demo workspace: values vs the standardized data, incremental, merges."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pandas as pd
import pytest

from c360.errors import NotFoundError, StoreUnavailableError
from c360.identity.corrections import add_correction
from c360.identity.resolve import resolve
from c360.identity.store import IdentityStore
from c360.profile.build import build_profiles, read_profiles
from c360.profile.feature_tables import FEATURE_COLUMNS
from c360.profile.store import open_profile_store
from c360.settings import ProfileStoreSettings
from tests.profile_data import demo_workspace, keyed

pytestmark = pytest.mark.ray
AS_OF = datetime(2026, 11, 1, tzinfo=UTC)


@pytest.fixture(scope="module")
def built(ray_session, tmp_path_factory: pytest.TempPathFactory):
    ws = demo_workspace(tmp_path_factory.mktemp("profiles"), customers=400, seed=11)
    report = build_profiles(ws, as_of=AS_OF, partitions=4)
    return ws, report


def test_every_golden_customer_gets_one_profile(built):
    ws, report = built
    golden = IdentityStore(ws.lake).read("golden")
    profiles = read_profiles(ws.lake)
    assert report.customers == report.rebuilt == len(golden) == len(profiles) > 300
    assert profiles["customer_id"].is_unique
    assert set(profiles["customer_id"]) == set(golden["customer_id"])


def test_transaction_values_match_the_standardized_rows(built):
    ws, _ = built
    tx = keyed(ws, "transaction")
    tx = tx[tx["ts"] <= pd.Timestamp(AS_OF)]
    amount = tx["amount"].astype(float)
    purchases = amount.where(tx["kind"] == "purchase", 0.0).groupby(tx["customer_id"]).sum()
    returns = amount.abs().where(tx["kind"] == "return", 0.0).groupby(tx["customer_id"]).sum()
    orders = tx[tx["kind"] == "purchase"].groupby("customer_id")["order_id"].nunique()
    profiles = read_profiles(ws.lake).set_index("customer_id")
    expected = (purchases - returns).round(2)
    assert returns.gt(0).any()  # the check covers returns
    pd.testing.assert_series_equal(
        profiles.loc[expected.index, "total_spend"], expected, check_names=False, atol=0.01
    )
    assert (profiles.loc[orders.index, "total_purchases"] == orders).all()
    without = profiles.index.difference(orders.index)
    assert (profiles.loc[without, "total_purchases"] == 0).all()


def test_documents_follow_the_seed_schema(built):
    ws, _ = built
    profiles = read_profiles(ws.lake)
    buyer = profiles.sort_values("total_spend").iloc[-1]
    with open_profile_store(ws) as store:
        doc = store.get(buyer["customer_id"])
        for section in ("identities", "demographics", "transactions", "engagement", "interactions",
                        "preferences", "consent", "mlScores", "realtime", "lineage"):  # fmt: skip
            assert section in doc
        assert doc["transactions"]["totalSpend"] == pytest.approx(buyer["total_spend"])
        assert doc["engagement"]["rfmScore"] in {
            f"{r}{f}{m}" for r in "12345" for f in "12345" for m in "12345"
        }
        assert 0 <= doc["engagement"]["engagementScore"] <= 100
        assert doc["mlScores"] == {
            "churnRisk": None,
            "clv": None,
            "nextProductPropensity": None,
            "segment": None,
        }
        email = doc["identities"]["email"][0]
        assert store.lookup("email", email) == buyer["customer_id"]
        with pytest.raises(NotFoundError):
            store.get("cus_does_not_exist")
    # RFM quintiles are global: about a fifth of the buyers in each frequency score
    buyers = profiles[profiles["total_purchases"] > 0]
    assert buyers["r"].value_counts(normalize=True).max() < 0.4
    consent = keyed(ws, "consent")
    someone = consent["customer_id"].iloc[0]
    doc = json.loads(profiles.set_index("customer_id").loc[someone, "document"])
    last = consent[consent["customer_id"] == someone].sort_values("ts").iloc[-1]
    entry = doc["consent"][last["purpose"]][last["channel"]]
    assert isinstance(entry["granted"], bool) and entry["source"] in {"crm", "marketing"}


def test_feature_rows_for_every_view(built):
    ws, _ = built
    for view, cols in FEATURE_COLUMNS.items():
        files = ws.lake.glob(f"features/{view}/*.parquet")
        frame = pd.concat([pd.read_parquet(f) for f in files])
        assert list(frame.columns) == ["customer_id", "event_timestamp", *cols]
        assert frame["event_timestamp"].eq(pd.Timestamp(AS_OF)).all()


def test_a_second_run_rebuilds_nothing(built):
    ws, _ = built
    before = {f: ws.lake.fs.info(f)["size"] for f in ws.lake.glob("features/**/*.parquet")}
    again = build_profiles(ws, as_of=datetime(2026, 11, 2, tzinfo=UTC))
    assert again.rebuilt == 0 and again.removed == 0 and again.upserted == 0
    assert {f: ws.lake.fs.info(f)["size"] for f in ws.lake.glob("features/**/*.parquet")} == before


def test_a_merge_rekeys_and_the_old_id_still_answers(built):
    ws, _ = built
    profiles = read_profiles(ws.lake).sort_values("customer_id")
    a, b = profiles["customer_id"].iloc[0], profiles["customer_id"].iloc[1]
    spend = profiles.set_index("customer_id").loc[[a, b], "total_spend"].sum()
    add_correction(ws, "link", a, b)
    resolve(ws, progress=False)
    report = build_profiles(ws, as_of=datetime(2026, 11, 3, tzinfo=UTC))
    assert report.removed == 1 and report.rebuilt >= 1 and report.aliases >= 1
    after = read_profiles(ws.lake).set_index("customer_id")
    survivor = a if a in after.index else b
    gone = b if survivor == a else a
    assert gone not in after.index
    assert after.loc[survivor, "total_spend"] == pytest.approx(spend, abs=0.02)
    with open_profile_store(ws) as store:
        assert store.get(gone)["customerId"] == survivor
        assert store.resolve(gone) == survivor
    rows = pd.concat(pd.read_parquet(f) for f in ws.lake.glob("features/transactions/*.parquet"))
    latest = rows[rows["customer_id"] == survivor].sort_values("event_timestamp").iloc[-1]
    assert latest["total_spend"] == pytest.approx(spend, abs=0.02)


def test_a_store_that_is_down_is_named(built, monkeypatch):
    ws, _ = built
    down = ProfileStoreSettings(backend="redis", redis_url="redis://127.0.0.1:1/0")
    monkeypatch.setattr(ws.settings.stores, "profile", down)
    with pytest.raises(StoreUnavailableError, match="127.0.0.1:1"):
        build_profiles(ws, as_of=datetime(2026, 11, 4, tzinfo=UTC), full=True)
