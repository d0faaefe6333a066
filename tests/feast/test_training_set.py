"""`c360 features training-set` on small workspaces: labels from facts, features through Feast, no leakage.

Most tests run on synthetic facts, precise and fast: partition files in `c360.facts.schemas` (150 customers
over 2024-2026, purchases, returns, cancellations, visits and email sends) and feature rows written at four
build times with values that change at every build, in the types the registered views declare. Labels are
recomputed here row by row from the fact files, and every feature value is checked against the feature rows
written at or before its cutoff and against the row written after it. The last test takes the user's path
on demo data: ingest, resolve, `build_facts`, profiles at three times, then the command.
"""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from feast import types as ft

from c360.cli import run_cli
from c360.facts.schemas import EXPOSURES, INTERACTIONS, SCHEMAS, TRANSACTION_LINES
from c360.features.store import apply, open_feature_store
from c360.features.training_set import build_training_set
from c360.profile.staging import partition_of
from c360.workspace import Workspace, init_workspace

pytestmark = [
    pytest.mark.feast,
    pytest.mark.ray,
    pytest.mark.filterwarnings("ignore:Stream feature views are experimental"),
]
START, END = pd.Timestamp("2024-01-01", tz="UTC"), pd.Timestamp("2026-06-30", tz="UTC")
BUILDS = [pd.Timestamp(d, tz="UTC") for d in ("2024-10-01", "2025-04-01", "2025-10-01", "2026-04-01")]
CUTOFFS = ["2025-01-01", "2025-07-01"]  # each between two builds
NOT_WRITTEN = {"ml_scores", "realtime_signals"}  # other stages' views: left without rows
ARROW = {ft.Int64: pa.int64(), ft.Int32: pa.int32(), ft.Float64: pa.float64(), ft.Float32: pa.float32()}


def write_facts(ws: Workspace, table: str, frame: pd.DataFrame, partitions: int = 2) -> None:
    schema = SCHEMAS[table]
    frame = frame.sort_values(["customer_id", "ts"], ignore_index=True)
    part = partition_of(frame["customer_id"], partitions)
    for p in range(partitions):
        rows = frame[part == p]
        cols = {
            f.name: pa.array(rows[f.name], type=f.type, from_pandas=True)
            if f.name in rows
            else pa.nulls(len(rows), f.type)
            for f in schema
        }
        ws.lake.write_table(
            pa.table(cols, schema=schema), ws.lake.path("facts", table, f"part-{p:05d}.parquet")
        )


def synthetic_facts(rng: np.random.Generator, customers: int = 150) -> dict[str, pd.DataFrame]:
    span = (END - START).total_seconds()
    lines, visits = [], []
    for i in range(customers):
        cid = f"cus_{i:04d}"
        first = START + pd.Timedelta(seconds=int(rng.uniform(0, span * 0.6)))
        last = first + pd.Timedelta(days=rng.uniform(30, 900))  # stops buying at some point
        n = rng.integers(0, 12)
        for k, ts in enumerate(
            sorted(first + pd.Timedelta(seconds=int(x)) for x in rng.uniform(0, 1, n) * span)
        ):
            if ts > min(last, END):
                break
            kind = rng.choice(["purchase"] * 8 + ["return", "cancel"])
            amount = round(float(rng.uniform(5, 200)), 2) * (-1 if kind == "return" and k % 2 else 1)
            cur, rate = [("USD", 1.0), ("GBP", 1.25), ("EUR", 1.1)][k % 3]
            lines.append(
                {
                    "customer_id": cid, "order_id": f"o{i}-{k}", "line": 1, "ts": ts, "kind": kind,
                    "category": rng.choice(["shoes", "books", "toys"]), "quantity": 1, "amount": amount,
                    "unit_price": amount, "currency": cur, "fx_rate": rate,
                    "amount_rc": round(amount * rate, 2),
                }
            )  # fmt: skip
        visits.append({"customer_id": cid, "ts": first - pd.Timedelta(days=3), "type": "web_visit"})
        for j in range(rng.integers(0, 4)):
            visits.append({"customer_id": cid, "ts": first + pd.Timedelta(days=40 * j), "type": "email_send"})
    lines.append({"customer_id": "cus_0000", "order_id": "end", "line": 1, "ts": END, "kind": "purchase",
                  "category": "books", "quantity": 1, "amount": 1.0, "amount_rc": 1.0})  # fmt: skip
    tx, it = pd.DataFrame(lines), pd.DataFrame(visits)
    it = it[(it["ts"] >= START) & (it["ts"] <= END)].reset_index(drop=True)
    sends = it[it["type"] == "email_send"].copy()
    sends["exposure_id"] = "crm:" + sends.index.astype(str)
    sends["window_end"] = sends["ts"] + pd.Timedelta(days=7)
    sends["converted"] = rng.uniform(0, 1, len(sends)) < 0.3
    return {TRANSACTION_LINES: tx, INTERACTIONS: it, EXPOSURES: sends}


def random_values(rng: np.random.Generator, dtype: object, n: int, at: pd.Timestamp) -> pa.Array:
    if dtype in ARROW:
        values = rng.integers(0, 10_000, n) if "int" in str(ARROW[dtype]) else rng.uniform(0, 1000, n)
        return pa.array(values, type=ARROW[dtype])
    if dtype == ft.UnixTimestamp:
        return pa.array(
            at - pd.to_timedelta(rng.integers(0, 400, n), unit="D"), type=pa.timestamp("us", "UTC")
        )
    if dtype == ft.Bool:
        return pa.array(rng.uniform(0, 1, n) < 0.5)
    return pa.array(rng.choice(["a", "b", "c"], n), type=pa.string())


def write_feature_history(ws: Workspace, facts: dict[str, pd.DataFrame], rng: np.random.Generator) -> None:
    """Feature rows at each build for the customers seen by then, as `profiles` or a backfill would."""
    seen = pd.concat(
        [facts[TRANSACTION_LINES][["customer_id", "ts"]], facts[INTERACTIONS][["customer_id", "ts"]]]
    )
    first = seen.groupby("customer_id")["ts"].min()
    views = [v for v in open_feature_store(ws).list_feature_views() if v.entity_columns]
    for view in views:
        if view.name in NOT_WRITTEN or [c.name for c in view.entity_columns] != ["customer_id"]:
            continue
        for b, at in enumerate(BUILDS):
            ids = sorted(first[first <= at].index)
            cols = {
                "customer_id": pa.array(ids, pa.string()),
                "event_timestamp": pa.array([at] * len(ids), pa.timestamp("us", "UTC")),
                **{f.name: random_values(rng, f.dtype, len(ids), at) for f in view.features},
            }
            ws.lake.write_table(pa.table(cols), ws.lake.path("features", view.name, f"part-{b}.parquet"))


@pytest.fixture(scope="module")
def ws(tmp_path_factory: pytest.TempPathFactory) -> Workspace:
    root = tmp_path_factory.mktemp("training_set")
    init_workspace(root)
    ws = Workspace.load(root)
    rng = np.random.default_rng(7)
    facts = synthetic_facts(rng)
    for table, frame in facts.items():
        write_facts(ws, table, frame)
    apply(ws)
    write_feature_history(ws, facts, rng)
    return ws


def fact_rows(ws: Workspace, table: str) -> pd.DataFrame:
    return pd.concat(
        [pd.read_parquet(p) for p in ws.lake.glob(f"facts/{table}/*.parquet")], ignore_index=True
    )


def feature_rows(ws: Workspace, view: str) -> pd.DataFrame:
    return pd.concat(
        [pd.read_parquet(f) for f in ws.lake.glob(f"features/{view}/*.parquet")], ignore_index=True
    )


def cli(ws: Workspace, *args: str) -> int:
    return run_cli(["features", "training-set", "-w", str(ws.root), *args])


@pytest.fixture(scope="module")
def churn_set(ws) -> tuple[pd.DataFrame, dict]:
    assert cli(ws, "--label", "churn", "--cutoffs", ",".join(CUTOFFS)) == 0
    (folder,) = {Path(p).parent for p in ws.lake.glob("training_sets/churn/*/data.parquet")}
    return pd.read_parquet(folder / "data.parquet"), json.loads((folder / "spec.json").read_text())


def test_the_cli_writes_data_and_its_spec(ws, churn_set):
    data, spec = churn_set
    assert spec["label"] == {"name": "churn", "kind": "churn", "days": 90, "months": None, "category": None}
    assert spec["feature_service"] == "churn"
    assert spec["missing_views"] == ["realtime_signals"]  # no event stream in this workspace
    assert "transactions:total_spend" in spec["features"] and "profile:age" in spec["features"]
    assert spec["cutoffs"] == [pd.Timestamp(c, tz="UTC").isoformat() for c in CUTOFFS]
    assert spec["rows"] == len(data) and spec["positives"] == int(data["label"].sum())
    assert sum(v["rows"] for v in spec["per_cutoff"].values()) == len(data)
    assert spec["facts"]["fingerprint"] and spec["facts"]["newest"] == END.isoformat()
    assert list(data.columns[:3]) == ["customer_id", "event_timestamp", "label"]
    assert {f.split(":")[1] for f in spec["features"]} == set(data.columns[3:])
    assert data.equals(data.sort_values(["event_timestamp", "customer_id"], ignore_index=True))
    assert 0 < spec["positives"] < spec["rows"]


def test_labels_equal_labels_recomputed_from_the_facts(ws, churn_set):
    data, _ = churn_set
    lines = fact_rows(ws, TRANSACTION_LINES)
    buys = lines[lines["kind"] == "purchase"]
    expected = {}
    for cutoff in (pd.Timestamp(c, tz="UTC") for c in CUTOFFS):
        end = cutoff + timedelta(days=90)
        for cid, ts in buys.groupby("customer_id")["ts"]:
            if (ts <= cutoff).any():
                expected[(cid, cutoff)] = int(not ((ts > cutoff) & (ts <= end)).any())
    got = {(r.customer_id, r.event_timestamp): r.label for r in data.itertuples()}
    assert got == expected


def test_no_feature_value_comes_from_after_its_cutoff(ws, churn_set):
    data, _ = churn_set
    rows = feature_rows(ws, "transactions")
    later = 0
    for r in data.itertuples():
        mine = rows[rows["customer_id"] == r.customer_id].sort_values("event_timestamp")
        valid = mine[mine["event_timestamp"] <= r.event_timestamp]
        if valid.empty:
            assert pd.isna(r.total_spend)
            continue
        assert r.total_spend == pytest.approx(valid.iloc[-1]["total_spend"])
        after = mine[mine["event_timestamp"] > r.event_timestamp]
        if not after.empty and after.iloc[0]["total_spend"] != valid.iloc[-1]["total_spend"]:
            later += 1  # a later row that differs: a leak would have shown it
    assert later >= 10


def test_the_same_request_gives_the_same_set_and_a_ray_dataset(ws, churn_set, ray_session):
    data, spec = churn_set
    again = build_training_set(ws, "churn", CUTOFFS)
    assert again.set_id == spec["set_id"] and again.rows == len(data)
    assert again.table().to_pandas().equals(data)
    ds = again.dataset()
    assert ds.count() == len(data)
    other = build_training_set(ws, "churn", CUTOFFS[:1])
    assert other.set_id != again.set_id and other.rows == spec["per_cutoff"][spec["cutoffs"][0]]["rows"]


def test_clv_and_response_sets(ws):
    lines = fact_rows(ws, TRANSACTION_LINES)
    clv = build_training_set(ws, "clv", ["2025-06-01"]).table().to_pandas()
    cutoff, end = pd.Timestamp("2025-06-01", tz="UTC"), pd.Timestamp("2026-06-01", tz="UTC")
    window = lines[(lines["ts"] > cutoff) & (lines["ts"] <= end)]
    net = window["amount_rc"].where(window["kind"] == "purchase", 0.0) - window["amount_rc"].abs().where(
        window["kind"] == "return", 0.0
    )
    spend = net.groupby(window["customer_id"]).sum().round(2)
    got = clv.set_index("customer_id")["label"]
    assert got.reindex(spend.index).dropna().round(2).to_dict() == pytest.approx(
        spend.reindex(got.index).dropna().to_dict()
    )
    assert (got[~got.index.isin(spend.index)] == 0).all()

    response = build_training_set(ws, "response", ["2026-06-01"])
    table = response.table().to_pandas()
    sends = fact_rows(ws, EXPOSURES)
    closed = sends[sends["window_end"] <= pd.Timestamp("2026-06-01", tz="UTC")]
    assert sorted(table["exposure_id"]) == sorted(closed["exposure_id"])
    assert table["label"].sum() == closed["converted"].sum()
    assert response.feature_service == "next_best_action"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--label", "churn", "--cutoffs", "2026-05-01"], "needs data through 2026-07-30"),
        (["--label", "clv", "--start", "2025-01-01", "--end", "2026-01-01", "--every", "4w"], "facts end at"),
        (["--label", "churn", "--cutoffs", "2020-01-01"], "before the oldest fact"),
        (["--label", "nope", "--cutoffs", "2025-06-01"], "churn, clv, propensity, response"),
        (["--label", "churn", "--cutoffs", "2025-13-01"], "is not a date"),
        (["--label", "churn"], "give either --cutoffs or --start and --end"),
        (["--label", "churn", "--cutoffs", "2025-06-01", "--features", "nope"], "no feature service 'nope'"),
    ],
)
def test_bad_input_is_named_before_any_work(ws, capsys, args, message):
    before = set(ws.lake.glob("training_sets/**"))
    assert cli(ws, *args) == 2
    assert message in capsys.readouterr().err.replace("\n", " ")
    assert set(ws.lake.glob("training_sets/**")) == before


def test_feature_rows_written_just_after_the_cutoff_change_nothing_but_the_id(ws, churn_set):
    data, spec = churn_set
    last = pd.Timestamp(CUTOFFS[-1], tz="UTC")
    later = feature_rows(ws, "transactions").drop_duplicates("customer_id")
    later = later.assign(event_timestamp=last + pd.Timedelta(seconds=1))
    later["total_spend"] = np.random.default_rng(3).uniform(
        10_000, 20_000, len(later)
    )  # no real row has these
    later.to_parquet(ws.lake.path("features", "transactions", "later.parquet"), index=False)
    after = build_training_set(ws, "churn", CUTOFFS)
    assert after.set_id != spec["set_id"]  # the feature history changed
    assert after.table().to_pandas().equals(data)  # but nothing after a row's cutoff reached it
    # At that instant they are read, also for customers whose profile rows all come later (first seen after
    # the build before): Feast's file store, joining views together, would drop those rows whole.
    got = build_training_set(ws, "churn", [last + pd.Timedelta(seconds=1)]).table().to_pandas()
    assert (got["total_spend"] >= 10_000).all()
    assert got["age"].isna().sum() > 0  # those customers: no profile row yet


def test_a_service_whose_feature_names_clash_is_refused(ws):
    from types import SimpleNamespace as NS

    from c360.errors import ValidationError

    def projection(view: str, *names: str) -> NS:
        return NS(name=view, name_to_use=lambda: view, features=[NS(name=n) for n in names])

    service = NS(
        feature_view_projections=[projection("transactions", "total_spend"), projection("profile", "label")]
    )
    store = NS(get_feature_service=lambda name: service, list_on_demand_feature_views=lambda: [])
    with pytest.raises(ValidationError, match="feature name.s. label are not unique"):
        build_training_set(ws, "churn", CUTOFFS, features="clashing", store=store)


def test_a_cutoff_with_nobody_to_label_is_named(ws):
    from c360.errors import ValidationError

    oldest = min(fact_rows(ws, t)["ts"].min() for t in (TRANSACTION_LINES, INTERACTIONS))
    # the oldest fact is a visit three days before that customer's first purchase: nobody has bought yet
    with pytest.raises(ValidationError, match="no customers who bought before it at cutoff"):
        build_training_set(ws, "churn", [oldest])
    assert build_training_set(ws, "propensity", [oldest]).rows == 1  # the visitor is known


def test_erased_customers_are_left_out(ws, churn_set):
    from c360.privacy.suppression import CUSTOMER, add_to_suppression

    data, _ = churn_set
    gone = data["customer_id"].iloc[0]
    add_to_suppression(ws.lake, "erasure-test", [(CUSTOMER, gone)])
    after = build_training_set(ws, "churn", CUTOFFS).table().to_pandas()
    assert gone not in set(after["customer_id"])
    assert len(after) == len(data) - int((data["customer_id"] == gone).sum())


DEMO_BUILDS = [pd.Timestamp(d, tz="UTC").to_pydatetime() for d in ("2025-03-01", "2025-09-01", "2026-03-01")]


@pytest.fixture(scope="module")
def demo_ws(ray_session, tmp_path_factory: pytest.TempPathFactory) -> Workspace:
    from c360.facts.build import build_facts
    from c360.profile.build import build_profiles
    from tests.profile_data import demo_workspace

    ws = demo_workspace(tmp_path_factory.mktemp("training_set_demo"), customers=100, seed=3)
    build_facts(ws)
    for when in DEMO_BUILDS:
        build_profiles(ws, as_of=when, full=True, partitions=2)
    apply(ws)
    return ws


def test_the_users_path_from_demo_data_to_a_training_set(demo_ws):
    from c360.facts.store import read_facts

    ws = demo_ws
    assert (
        cli(ws, "--label", "propensity", "--start", "2025-05-01", "--end", "2025-12-01", "--every", "13w")
        == 0
    )
    (folder,) = {Path(p).parent for p in ws.lake.glob("training_sets/propensity/*/data.parquet")}
    data, spec = pd.read_parquet(folder / "data.parquet"), json.loads((folder / "spec.json").read_text())
    cutoffs = [pd.Timestamp(c) for c in spec["cutoffs"]]
    assert [c.date().isoformat() for c in cutoffs] == ["2025-05-01", "2025-07-31", "2025-10-30"]
    assert (
        spec["facts"]["source"] == "facts/_state/facts.json" and spec["feature_service"] == "next_best_action"
    )
    # propensity: every customer with a line or an interaction at or before the cutoff; 1 = a purchase after
    lines = read_facts(ws.lake, TRANSACTION_LINES, ["customer_id", "ts", "kind"]).to_pandas()
    seen = pd.concat(
        [lines[["customer_id", "ts"]], read_facts(ws.lake, INTERACTIONS, ["customer_id", "ts"]).to_pandas()]
    )
    expected = {}
    for cutoff in cutoffs:
        for cid in set(seen.loc[seen["ts"] <= cutoff, "customer_id"]):
            mine = lines[(lines["customer_id"] == cid) & (lines["kind"] == "purchase")]["ts"]
            expected[(cid, cutoff)] = int(((mine > cutoff) & (mine <= cutoff + timedelta(days=30))).any())
    assert {(r.customer_id, r.event_timestamp): r.label for r in data.itertuples()} == expected
    assert 0 < data["label"].sum() < len(data)
    rows = feature_rows(ws, "transactions")
    for r in data.itertuples():
        valid = rows[(rows["customer_id"] == r.customer_id) & (rows["event_timestamp"] <= r.event_timestamp)]
        if valid.empty:
            assert pd.isna(r.total_spend)
        else:
            assert r.total_spend == pytest.approx(
                valid.sort_values("event_timestamp").iloc[-1]["total_spend"]
            )
