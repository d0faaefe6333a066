"""`profiles` over Ray on a small demo workspace: values vs the standardized data (money converted into the
reporting currency with the rates file, worked out here independently), sentiment, incremental, merges."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from c360.errors import AmbiguousIdentifierError, NotFoundError, StoreUnavailableError
from c360.facts.sentiment import score_texts
from c360.identity.corrections import add_correction
from c360.identity.resolve import resolve
from c360.identity.store import IdentityStore
from c360.profile.build import _settle_shared_identifiers, build_profiles, read_profiles
from c360.profile.feature_tables import FEATURE_COLUMNS
from c360.profile.store import IDENTIFIER_FIELDS, identifier_key, open_profile_store
from c360.settings import ProfileStoreSettings
from c360.workspace import Workspace
from tests.profile_data import demo_workspace, keyed, reporting_factors

pytestmark = pytest.mark.ray
AS_OF = datetime(2026, 11, 1, tzinfo=UTC)
REPORTING = "USD"  # the template's reporting_currency; the demo's money is in GBP, USD and EUR


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


def expected_spend(ws: Workspace, reporting: str) -> tuple[pd.Series, pd.Series, pd.Series, pd.Series]:
    """(net spend, gross, returned amount, orders) per customer from the standardized rows, every amount
    converted into `reporting` at its date with the standardized rates (lines with no rate left out)."""
    tx = keyed(ws, "transaction")
    tx = tx[tx["ts"] <= pd.Timestamp(AS_OF)]
    factor = reporting_factors(ws, tx, reporting)
    assert factor.notna().mean() > 0.99, "nearly every demo line has a rate"
    assert (tx["currency"] != reporting).mean() > 0.3  # the check covers conversion
    assert (factor[tx["currency"] != reporting] != 1.0).all()
    tx, factor = tx[factor.notna()], factor[factor.notna()]
    amount = tx["amount"].astype(float) * factor
    purchases = amount.where(tx["kind"] == "purchase", 0.0).groupby(tx["customer_id"]).sum()
    returns = amount.abs().where(tx["kind"] == "return", 0.0).groupby(tx["customer_id"]).sum()
    orders = tx[tx["kind"] == "purchase"].groupby("customer_id")["order_id"].nunique()
    assert returns.gt(0).any()  # the check covers returns
    return (purchases - returns).round(2), purchases, returns, orders


def test_transaction_values_match_the_standardized_rows_in_the_reporting_currency(built):
    ws, _ = built
    net, gross, returned, orders = expected_spend(ws, REPORTING)
    profiles = read_profiles(ws.lake).set_index("customer_id")
    pd.testing.assert_series_equal(profiles.loc[net.index, "total_spend"], net, check_names=False, atol=0.01)
    pd.testing.assert_series_equal(
        profiles.loc[returned.index, "return_amount"], returned, check_names=False, atol=0.01
    )
    aov = gross[orders.index] / orders  # the profile rounds to cents
    pd.testing.assert_series_equal(
        profiles.loc[aov.index, "avg_order_value"], aov, check_names=False, atol=0.01
    )
    assert (profiles.loc[orders.index, "total_purchases"] == orders).all()
    without = profiles.index.difference(orders.index)
    assert (profiles.loc[without, "total_purchases"] == 0).all()
    assert (profiles["currency"] == REPORTING).all()


def test_avg_sentiment_is_the_mean_of_ticket_and_mention_scores(built):
    ws, _ = built
    inter = keyed(ws, "interaction")
    texts = inter[
        inter["type"].isin(["support_ticket", "social_mention"]) & (inter["ts"] <= pd.Timestamp(AS_OF))
    ]
    scores = score_texts(pa.array(texts["text"].tolist(), pa.string()))[0].to_numpy(zero_copy_only=False)
    expected = pd.Series(scores, index=texts.index).groupby(texts["customer_id"]).mean().dropna()
    profiles = read_profiles(ws.lake).set_index("customer_id")
    ticketed = profiles.index[profiles["support_tickets"] > 0]
    assert len(ticketed) > 20 and profiles.loc[ticketed, "avg_sentiment"].notna().all()
    pd.testing.assert_series_equal(
        profiles.loc[expected.index, "avg_sentiment"], expected, check_names=False, atol=1e-9
    )
    quiet = profiles.index.difference(texts["customer_id"].unique())
    assert profiles.loc[quiet, "avg_sentiment"].isna().all()
    rows = pd.concat(pd.read_parquet(f) for f in ws.lake.glob("features/support_sentiment/*.parquet"))
    rows = rows.set_index("customer_id")
    pd.testing.assert_series_equal(
        rows.loc[expected.index, "avg_sentiment"], expected, check_names=False, atol=1e-9
    )
    someone = expected.index[0]
    with open_profile_store(ws) as store:
        assert store.get(someone)["interactions"]["sentiment"] == pytest.approx(expected[someone])


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
        assert doc["transactions"]["currency"] == REPORTING
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


def _identifiers_by_key(profiles: pd.DataFrame) -> dict[str, tuple[str, str, set[str]]]:
    """Index key -> (kind, one value, the customers holding it), from the documents in `profiles/`."""
    out: dict[str, tuple[str, str, set[str]]] = {}
    for cid, document in zip(profiles["customer_id"], profiles["document"], strict=True):
        identities = json.loads(document)["identities"]
        for kind, field in IDENTIFIER_FIELDS.items():
            for value in identities.get(field) or []:
                key = identifier_key(kind, value)
                out.setdefault(key, (kind, value, set()))[2].add(cid)
    return out


def test_identifiers_several_customers_hold_name_nobody(built):
    ws, _ = built
    by_key = _identifiers_by_key(read_profiles(ws.lake))
    shared = {key for key, (_, _, holders) in by_key.items() if len(holders) > 1}
    assert shared, "the demo has households sharing a device"
    with open_profile_store(ws) as store:
        assert store.shared_identifiers() == shared
        for key in sorted(shared)[:5]:
            kind, value, _ = by_key[key]
            with pytest.raises(AmbiguousIdentifierError):
                store.lookup(kind, value)
        # An identifier that stops being shared answers its one holder again, even when the former holder
        # that last claimed its index entry took the entry with it.
        key = min(k for k, (_, _, holders) in by_key.items() if len(holders) == 1)
        kind, value, (holder,) = by_key[key]
        store.upsert({"customerId": "zz-former", "identities": {IDENTIFIER_FIELDS[kind]: [value]}})
        store.replace_shared_identifiers(shared | {key})
        store.delete("zz-former")
        with pytest.raises(AmbiguousIdentifierError):
            store.lookup(kind, value)
        assert _settle_shared_identifiers(ws.lake, store) == 1
        assert store.lookup(kind, value) == holder
        assert store.shared_identifiers() == shared


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
    # The next run writes no alias again (the store has it), and the old id keeps answering.
    again = build_profiles(ws, as_of=datetime(2026, 11, 3, 1, tzinfo=UTC))
    assert again.aliases == 0 and again.rebuilt == 0
    with open_profile_store(ws) as store:
        assert store.get(gone)["customerId"] == survivor


STORE_KINDS = {"email": "email", "phone": "phone", "device_id": "device", "cookie_id": "cookie"}
"""Identifier column of the record snapshot -> the profile store's identifier kind."""
DOC_FIELDS = {"email": "email", "phone": "phone", "device_id": "deviceIds", "cookie_id": "cookieIds"}


def _identifiers(rows: pd.DataFrame) -> set[tuple[str, str]]:
    return {(k, str(v)) for k in STORE_KINDS for v in rows[k].dropna() if str(v)}


def _connected(keys: list[str], links: pd.DataFrame) -> bool:
    """Whether accepted links among `keys` alone join them all (union-find)."""
    parent = {k: k for k in keys}

    def root(k: str) -> str:
        while parent[k] != k:
            parent[k] = parent[parent[k]]
            k = parent[k]
        return k

    inside = links[links["record_key_l"].isin(parent) & links["record_key_r"].isin(parent)]
    for left, right in zip(inside["record_key_l"], inside["record_key_r"], strict=True):
        parent[root(left)] = root(right)
    return len({root(k) for k in keys}) == 1


def _split_candidate(ws) -> tuple[str, str, set[tuple[str, str]], set[tuple[str, str]]]:
    """(customer, record to split off, identifiers only that record holds, identifiers only the rest hold).

    A customer of three or more records whose other records stay linked without the one split off, so the
    split makes exactly two parts; the first such customer and record in id order.
    """
    store = IdentityStore(ws.lake)
    records = store.read("records").merge(
        store.read("id_map")[["record_key", "customer_id"]], on="record_key"
    )
    links = store.read("links")
    links = links[links["accepted"].astype(bool)]
    sizes = records.groupby("customer_id").size()
    for cid in sorted(sizes[sizes >= 3].index):
        mine = records[records["customer_id"] == cid].sort_values("record_key")
        for key in mine["record_key"]:
            rest = mine[mine["record_key"] != key]
            # identifiers another customer also holds (a family's device) are indexed to one of them: left out
            others = _identifiers(records[records["customer_id"] != cid])
            own = _identifiers(mine[mine["record_key"] == key]) - _identifiers(rest) - others
            kept = _identifiers(rest) - _identifiers(mine[mine["record_key"] == key]) - others
            if own and kept and _connected(rest["record_key"].tolist(), links):
                return cid, key, own, kept
    raise AssertionError("no customer to split in the demo data")


def test_a_split_rekeys_and_both_parts_answer(built):
    ws, _ = built
    cid, key, own, kept_ids = _split_candidate(ws)
    id_map = IdentityStore(ws.lake).read("id_map")
    rest = sorted(id_map.loc[(id_map["customer_id"] == cid) & (id_map["record_key"] != key), "record_key"])
    before = read_profiles(ws.lake).set_index("customer_id").loc[cid]
    with open_profile_store(ws) as store:
        doc = store.get(cid)
        for kind, value in own:
            assert value in doc["identities"][DOC_FIELDS[kind]]  # the split-off record's data is counted

    correction = add_correction(ws, "unlink", key, cid)
    assert correction.left_keys == [key] and correction.right_keys == rest
    run = resolve(ws, progress=False)
    report = build_profiles(ws, as_of=datetime(2026, 11, 3, 12, tzinfo=UTC))

    assert run.mode == "incremental" and run.changes == {"split": 1}
    id_map = IdentityStore(ws.lake).read("id_map").set_index("record_key")["customer_id"]
    new = id_map[key]
    assert new != cid and new.startswith("cus_")
    assert (id_map[rest] == cid).all(), "the larger part keeps the customer id"
    changes = IdentityStore(ws.lake).read_changes()
    split = changes[(changes["run_id"] == run.run_id) & (changes["kind"] == "split")]
    assert split[["customer_id", "other_customer_id", "records"]].values.tolist() == [[new, cid, 1]]
    assert split["reason"].iloc[0] == f"correction {correction.correction_id}"
    assert report.removed == 0 and report.rebuilt >= 2
    aliases = IdentityStore(ws.lake).read("aliases")
    assert not {cid, new} & set(aliases["alias_id"]), "a split retires no id"

    after = read_profiles(ws.lake).set_index("customer_id")
    assert {cid, new} <= set(after.index)
    assert after.loc[cid, "total_spend"] + after.loc[new, "total_spend"] == pytest.approx(
        before["total_spend"], abs=0.02
    )
    with open_profile_store(ws) as store:
        kept, split_off = store.get(cid), store.get(new)
        assert kept["customerId"] == cid and split_off["customerId"] == new
        assert store.resolve(new) == new and store.resolve(cid) == cid
        for kind, value in own:
            assert value not in kept["identities"][DOC_FIELDS[kind]]
            assert value in split_off["identities"][DOC_FIELDS[kind]]
            assert store.lookup(STORE_KINDS[kind], value) == new
        for kind, value in kept_ids:
            assert value in kept["identities"][DOC_FIELDS[kind]]
            assert store.lookup(STORE_KINDS[kind], value) == cid
        assert key not in kept["lineage"].values()
        assert set(split_off["lineage"].values()) == {key}
        assert kept["transactions"]["totalSpend"] == pytest.approx(after.loc[cid, "total_spend"])
    assert json.loads(after.loc[new, "document"])["customerId"] == new


def test_a_store_that_is_down_is_named(built, monkeypatch):
    ws, _ = built
    down = ProfileStoreSettings(backend="redis", redis_url="redis://127.0.0.1:1/0")
    monkeypatch.setattr(ws.settings.stores, "profile", down)
    with pytest.raises(StoreUnavailableError, match="127.0.0.1:1"):
        build_profiles(ws, as_of=datetime(2026, 11, 4, tzinfo=UTC), full=True)


def test_another_reporting_currency_rebuilds_everyone(built):
    """Last in the module: it changes the workspace's config."""
    ws, _ = built
    config = ws.root / "c360.yaml"
    text = config.read_text()
    assert f"reporting_currency: {REPORTING}" in text
    config.write_text(text.replace(f"reporting_currency: {REPORTING}", "reporting_currency: EUR"))
    eur = Workspace.load(ws.root)
    report = build_profiles(eur, as_of=datetime(2026, 11, 5, tzinfo=UTC))
    profiles = read_profiles(eur.lake).set_index("customer_id")
    assert report.currency == "EUR" and report.rebuilt == report.customers == len(profiles)
    assert (profiles["currency"] == "EUR").all()
    net = expected_spend(eur, "EUR")[0]
    pd.testing.assert_series_equal(profiles.loc[net.index, "total_spend"], net, check_names=False, atol=0.01)
    someone = net.index[np.argmax(net.to_numpy())]
    with open_profile_store(eur) as store:
        doc = store.get(someone)
    assert doc["transactions"]["currency"] == "EUR"
    assert doc["transactions"]["totalSpend"] == pytest.approx(net[someone], abs=0.01)
