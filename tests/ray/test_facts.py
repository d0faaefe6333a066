"""`c360 facts` on a small demo workspace (ingest and resolve run on Ray): every line converted at a rate
worked out here from the rates file, exposures per send, a run with nothing new, a delivery that touches
one customer, a merge that re-keys history, and an erasure."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow.compute as pc
import pytest

from c360.erasure_plan import erase_customer
from c360.facts.build import build_facts, facts_partition_paths, read_facts
from c360.facts.schemas import (
    CUSTOMER_TABLES,
    EXPOSURES,
    INTERACTIONS,
    PRODUCT_SIMILARITY,
    PRODUCTS,
    SCHEMAS,
    TRANSACTION_LINES,
)
from c360.identity.corrections import add_correction
from c360.identity.resolve import resolve
from c360.profile.staging import partition_of
from c360.sources.ingest import ingest
from c360.sources.layout import read_quarantine, read_standardized
from tests.profile_data import demo_workspace, keyed

pytestmark = pytest.mark.ray
PARTITIONS = 8


@pytest.fixture(scope="module")
def built(ray_session, tmp_path_factory: pytest.TempPathFactory):
    root = tmp_path_factory.mktemp("facts")
    ws = demo_workspace(root, customers=300, seed=5)
    ws.settings.facts.partitions = PARTITIONS
    return ws, build_facts(ws)


def _rates_to(ws, rows: pd.DataFrame, reporting: str, max_age: int) -> pd.Series:
    """Reporting units per unit of each row's currency at its UTC date, from standardized/fx_rate alone
    (through the file's base currency): newest fixing on or before the date, at most `max_age` days old."""
    fx = read_standardized(ws.lake, "fx_rate").to_pandas()
    base = fx["base"].iloc[0]
    assert (fx["base"] == base).all()
    fx = fx.drop_duplicates(["date", "currency"], keep="last")
    fx = pd.concat([fx, fx.drop_duplicates("date").assign(currency=base, rate=1.0)])
    fx["day"] = pd.to_datetime(fx["date"]).astype("datetime64[ns]")
    day = rows["ts"].dt.tz_convert("UTC").dt.tz_localize(None).dt.floor("D").astype("datetime64[ns]")

    def per_base(currency: pd.Series) -> np.ndarray:  # units of `currency` per base at each row's day
        out = np.full(len(rows), np.nan)
        for cur in currency.unique():
            table = fx[fx["currency"] == cur].sort_values("day")
            mask = (currency == cur).to_numpy()
            probe = pd.DataFrame({"day": day[mask].to_numpy(), "i": np.flatnonzero(mask)}).sort_values("day")
            hit = pd.merge_asof(probe, table[["day", "rate"]], on="day", tolerance=pd.Timedelta(days=max_age))
            out[hit["i"].to_numpy()] = hit["rate"].to_numpy()
        return out

    factor = per_base(pd.Series(reporting, index=rows.index)) / per_base(rows["currency"])
    return pd.Series(np.where(rows["currency"] == reporting, 1.0, factor), index=rows.index)


def test_every_resolved_transaction_is_one_line_converted_at_its_dates_rate(built):
    ws, report = built
    assert report.reporting_currency == "USD"
    tx = keyed(ws, "transaction")
    tx["factor"] = _rates_to(ws, tx, "USD", ws.settings.facts.fx_max_age_days)
    table = read_facts(ws.lake, TRANSACTION_LINES)
    assert table.schema == SCHEMAS[TRANSACTION_LINES]
    lines = table.to_pandas()
    with_rate = tx[tx["factor"].notna()]
    assert len(with_rate) > 0.9 * len(tx)
    assert not lines.duplicated(["source", "source_record_id"]).any()
    merged = with_rate.merge(lines, on=["source", "source_record_id"], suffixes=("_std", ""))
    assert len(merged) == len(with_rate) == len(lines)
    assert (merged["customer_id_std"] == merged["customer_id"]).all()
    expected = merged["amount_std"].astype(float) * merged["factor"]
    assert np.allclose(merged["amount_rc"], expected, rtol=1e-9)
    assert np.allclose(merged["fx_rate"], merged["factor"], rtol=1e-9)
    # lines are numbered 1..n within each order
    for _, order in lines.groupby(["source", "order_id"]):
        assert sorted(order["line"]) == list(range(1, len(order) + 1))
    # each partition file holds exactly the customers that hash to it, sorted by (customer_id, ts)
    for path in facts_partition_paths(ws.lake, TRANSACTION_LINES):
        part = pd.read_parquet(path)
        p = int(path.rsplit("-", 1)[-1].split(".")[0])
        assert set(partition_of(part["customer_id"].to_numpy(), PARTITIONS)) == {p}
        ordered = part.sort_values(["customer_id", "ts"], kind="stable")
        assert part[["customer_id", "ts"]].equals(ordered[["customer_id", "ts"]])


def test_interactions_and_exposures_cover_every_resolved_row(built):
    ws, _ = built
    ix = keyed(ws, "interaction")
    facts = read_facts(ws.lake, INTERACTIONS).to_pandas()
    assert len(facts) == len(ix)
    assert set(zip(facts["source"], facts["source_record_id"], strict=True)) == set(
        zip(ix["source"], ix["source_record_id"], strict=True)
    )
    has_text = facts["text"].fillna("").str.strip() != ""
    assert has_text.sum() > 0 and (facts["sentiment"].notna() == has_text).all()
    web = facts["type"].isin(["web_visit", "app_session"])
    assert facts.loc[web, "pages"].notna().all() and facts.loc[~web, "cart_items"].isna().all()
    exposures = read_facts(ws.lake, EXPOSURES).to_pandas()
    assert len(exposures) == (ix["type"] == "email_send").sum()
    assert exposures["opened"].any() and exposures["campaign_id"].notna().all()


def test_products_are_the_latest_version_with_similar_items(built):
    ws, _ = built
    std = read_standardized(ws.lake, "product").to_pandas()
    products = read_facts(ws.lake, PRODUCTS).to_pandas()
    assert len(products) == std["product_id"].nunique() and products["product_id"].is_unique
    rate = _rates_to(
        ws, products.rename(columns={"updated_at": "ts"}), "USD", ws.settings.facts.fx_max_age_days
    )
    assert np.allclose(products["price_rc"], products["price"] * rate, equal_nan=True)
    similar = read_facts(ws.lake, PRODUCT_SIMILARITY).to_pandas()
    k = ws.settings.facts.similar_items
    assert (similar["product_id"] != similar["similar_product_id"]).all()
    assert similar.groupby("product_id")["rank"].max().max() <= k
    assert set(similar["product_id"]) <= set(products["product_id"])
    # the nearest neighbour shares the category far more often than chance
    cat = products.set_index("product_id")["category"]
    first = similar[similar["rank"] == 1]
    same = (cat.loc[first["product_id"]].to_numpy() == cat.loc[first["similar_product_id"]].to_numpy()).mean()
    assert same > 0.8


def _files(ws) -> dict[str, tuple[int, float]]:
    """Every customer-table file -> (size, modification time)."""
    infos = {p: ws.lake.fs.info(p) for t in CUSTOMER_TABLES for p in facts_partition_paths(ws.lake, t)}
    return {p: (i["size"], i["mtime"]) for p, i in infos.items()}


def test_a_second_run_with_nothing_new_rewrites_nothing(built):
    ws, _ = built
    before = _files(ws)
    again = build_facts(ws)
    assert again.unchanged and again.partitions_written == {}
    assert _files(ws) == before


def test_a_delivery_rewrites_only_the_partitions_of_the_customers_it_touches(built):
    ws, _ = built
    raw = ws.lake.path("raw", "ecommerce", "orders", "part-00000.csv")
    orders = pd.read_csv(raw, dtype=str, keep_default_na=False)
    ref = orders["customer_id"].iloc[0]
    new = orders[orders["customer_id"] == ref].head(2).copy()
    new["line_id"] = "LNEW" + new["line_id"]
    new["order_id"] = "ORDNEW"
    new.iloc[1, new.columns.get_loc("currency")] = "JPY"  # no rate for yen: quarantined, not written
    new.to_csv(ws.lake.path("raw", "ecommerce", "orders", "part-00001.csv"), index=False)
    ingest(ws, progress=False)
    cid = keyed(ws, "transaction").set_index("source_record_id").loc[new["line_id"].iloc[0], "customer_id"]
    before = _files(ws)
    report = build_facts(ws)
    part = int(partition_of(np.array([cid], dtype=object), PARTITIONS)[0])
    # only new rows: appended as a delta file beside the customer's partition, nothing recomputed
    assert report.appended and report.partitions_recomputed == 0 and report.partitions_appended == 1
    assert report.partitions_written[TRANSACTION_LINES] == 1
    changed = {p for p, v in _files(ws).items() if before.get(p) != v}
    delta = [p for p in changed if "/transaction_lines/" in p]
    assert len(delta) == 1 and delta[0].rsplit("/", 1)[-1].startswith(f"part-{part:05d}.d")
    # the customer's exposures are rebuilt (the order may carry a campaign); no other partition is touched
    assert changed - set(delta) <= {ws.lake.path("facts", EXPOSURES, f"part-{part:05d}.parquet")}
    lines = read_facts(ws.lake, TRANSACTION_LINES, filter=pc.field("order_id") == "ORDNEW").to_pandas()
    assert lines["source_record_id"].tolist() == [new["line_id"].iloc[0]]
    assert lines["customer_id"].tolist() == [cid]
    quarantine = read_quarantine(ws.lake, "ecommerce").to_pandas()
    held = quarantine[quarantine["reason"] == "no_fx_rate"]
    assert len(held) == report.no_fx_rate >= 1 and held["message"].str.contains("JPY").any()
    assert held["file"].str.endswith("part-00001.csv").any()


def test_a_merge_rekeys_history_and_the_old_id_keeps_no_rows(built):
    ws, _ = built
    lines = read_facts(ws.lake, TRANSACTION_LINES).to_pandas()
    counts = lines.groupby("customer_id").size().sort_index()
    a, b = counts.index[0], counts.index[1]
    mine = set(lines.loc[lines["customer_id"].isin([a, b]), "source_record_id"])
    add_correction(ws, "link", a, b)
    resolve(ws, progress=False)
    report = build_facts(ws)
    assert not report.unchanged and report.partitions_recomputed <= 2
    after = read_facts(ws.lake, TRANSACTION_LINES).to_pandas()
    ids = set(after.loc[after["source_record_id"].isin(mine), "customer_id"])
    assert len(ids) == 1
    gone = ({a, b} - ids).pop()
    for table in CUSTOMER_TABLES:
        assert read_facts(ws.lake, table, filter=pc.field("customer_id") == gone).num_rows == 0


def test_an_erasure_removes_the_persons_facts_and_a_rebuild_keeps_them_out(built):
    ws, _ = built
    lines = read_facts(ws.lake, TRANSACTION_LINES).to_pandas()
    cid = lines["customer_id"].value_counts().index[0]
    erase_customer(ws, cid)
    for table in CUSTOMER_TABLES:
        assert read_facts(ws.lake, table, filter=pc.field("customer_id") == cid).num_rows == 0
    build_facts(ws)
    for table in CUSTOMER_TABLES:
        assert read_facts(ws.lake, table, filter=pc.field("customer_id") == cid).num_rows == 0
