"""The seeded demo-data generator: files, determinism, ground truth and the signal later stages learn."""

from __future__ import annotations

import contextlib
import hashlib
import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import phonenumbers
import pytest
from rapidfuzz.distance import Levenshtein

from c360.demo import (
    FILE_SETS,
    JUNK_EMAILS,
    JUNK_PHONES,
    NICKNAMES,
    formal_names,
    generate_demo_data,
    same_given_name,
)
from c360.schemas import ENUM_FIELDS, QUARANTINE_REASONS
from c360.settings import parse_settings
from c360.workspace import Workspace, default_config_text, init_workspace

pytestmark = pytest.mark.unit

CUSTOMERS = 4000
BAD_RATE = 0.01
IDENTITY_SETS = [fs for fs in FILE_SETS if fs.record == "identity"]


def _make(root: Path, customers: int, seed: int, **kw) -> Workspace:
    init_workspace(root)
    ws = Workspace.load(root)
    generate_demo_data(ws, customers=customers, seed=seed, **kw)
    return ws


@pytest.fixture(scope="module")
def ws(tmp_path_factory) -> Workspace:
    return _make(
        tmp_path_factory.mktemp("demo"), CUSTOMERS, seed=11, bad_row_rate=BAD_RATE, chunk_size=2000, workers=1
    )


def _truth(ws: Workspace, name: str) -> pd.DataFrame:
    return ws.lake.read_table(ws.lake.path("ground_truth", f"{name}.parquet")).to_pandas()


_CACHE: dict[tuple[str, str, str], pd.DataFrame] = {}


def _raw(ws: Workspace, source: str, name: str) -> pd.DataFrame:
    """All part files of a file set as strings ('' / NaN where empty), with `_file` and 1-based `_row`."""
    key = (str(ws.root), source, name)
    if key in _CACHE:
        return _CACHE[key]
    fs = next(f for f in FILE_SETS if (f.source, f.name) == (source, name))
    frames = []
    for path in ws.lake.glob(fs.glob):
        if fs.format == "csv":
            df = pd.read_csv(path, sep=fs.delimiter, dtype=str, keep_default_na=False)
        elif fs.format == "jsonl":
            df = pd.read_json(path, lines=True, dtype=False, convert_dates=False)
        else:
            df = pd.read_parquet(path)
        df["_file"] = ws.lake.relative(path)
        df["_row"] = np.arange(1, len(df) + 1)
        frames.append(df)
    _CACHE[key] = pd.concat(frames, ignore_index=True)
    return _CACHE[key]


def _people_of(
    ws: Workspace, source: str, name: str, id_column: str, identity_set: str | None = None
) -> pd.DataFrame:
    """Rows of a file set with the true person behind `id_column` (a record id of `identity_set`)."""
    raw = _raw(ws, source, name)
    idm = _truth(ws, "identity_map")
    idm = idm[(idm.source == source) & (idm.file_set == (identity_set or name))]
    return raw.merge(idm[["source_record_id", "person_id"]], left_on=id_column, right_on="source_record_id")


# ----------------------------------------------------------------------------------------- files and config


def test_template_validates_and_declares_exactly_the_file_sets_written(ws):
    settings = parse_settings(default_config_text())
    declared = {(s, f) for s, src in settings.sources.items() for f in src.files}
    assert declared == {(fs.source, fs.name) for fs in FILE_SETS}
    for fs in FILE_SETS:
        src = settings.sources[fs.source]
        assert src.kind == fs.source_kind
        conf = src.files[fs.name]
        assert (conf.path, conf.format, conf.record, conf.id_column) == (
            fs.glob,
            fs.format,
            fs.record,
            fs.id_column,
        )
        if fs.format == "csv":
            assert conf.csv.delimiter == fs.delimiter
        raw = _raw(ws, fs.source, fs.name)
        missing = set(conf.mapping.values()) - set(raw.columns)
        assert not missing, (fs.source, fs.name, missing)
        if fs.id_column is not None:  # the rates file has none: its rows are keyed by file and row
            assert raw[fs.id_column].notna().all() and raw[fs.id_column].is_unique, (fs.source, fs.name)


def test_varied_formats_like_real_systems():
    settings = parse_settings(default_config_text())
    files = [f for src in settings.sources.values() for f in src.files.values()]
    assert {f.format for f in files} == {"csv", "jsonl", "parquet"}
    assert any(f.csv.delimiter == ";" for f in files if f.format == "csv")
    assert any(f.timestamp_format == "%d/%m/%Y %H:%M" for f in files)


def test_every_file_set_has_part_files_and_counts_match(ws):
    counts = _truth(ws, "counts").set_index(["source", "file_set"])
    for fs in FILE_SETS:
        paths = ws.lake.glob(fs.glob)
        assert paths, (fs.source, fs.name)
        assert all(re.search(r"/part-\d{5}\." + fs.ext + "$", p) for p in paths)
        expected_parts = 1 if fs.record in ("product", "fx_rate") else CUSTOMERS // 2000
        assert len(paths) == expected_parts
        raw = _raw(ws, fs.source, fs.name)
        assert len(raw) > 0
        assert counts.loc[(fs.source, fs.name), "rows_written"] == len(raw)
        assert counts.loc[(fs.source, fs.name), "files"] == len(paths)
    per_customer = counts.rows_written.sum() / CUSTOMERS
    assert 20 <= per_customer <= 32


def _digest(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file() and ("ground_truth" in p.parts or "raw" in p.parts)
    }


def test_same_seed_gives_identical_bytes_and_another_seed_does_not(tmp_path):
    a = _make(tmp_path / "a", 500, seed=3, chunk_size=250, workers=1)
    b = _make(tmp_path / "b", 500, seed=3, chunk_size=250, workers=2)  # a process pool changes nothing
    c = _make(tmp_path / "c", 500, seed=4, chunk_size=250, workers=1)
    da, db, dc = (_digest(Path(w.lake.root)) for w in (a, b, c))
    assert len(da) > 20
    assert da == db
    assert set(da) == set(dc)
    changed = [k for k in da if da[k] != dc[k]]
    assert len(changed) >= len(da) - 1  # everything but, at most, a file set too small to differ


# ----------------------------------------------------------------------------------------- identity truth


def test_identity_map_covers_every_identity_row_and_nothing_else(ws):
    idm = _truth(ws, "identity_map")
    people = _truth(ws, "people")
    assert set(idm.person_id) <= set(people.person_id)
    for fs in IDENTITY_SETS:
        raw = _raw(ws, fs.source, fs.name)
        mapped = idm[(idm.source == fs.source) & (idm.file_set == fs.name)]
        assert set(raw[fs.id_column]) == set(mapped.source_record_id), (fs.source, fs.name)
        assert mapped.source_record_id.is_unique
    assert set(idm.source) == {fs.source for fs in IDENTITY_SETS}


def test_each_person_is_known_to_one_to_six_sources(ws):
    idm = _truth(ws, "identity_map")
    per_person = idm.groupby("person_id").source.nunique()
    people = _truth(ws, "people").set_index("person_id")
    assert per_person.min() >= 1 and per_person.max() <= 6
    assert (per_person == 1).any() and (per_person >= 5).any()
    assert len(per_person) == len(people)
    assert (people.loc[per_person.index].sources.map(len) == per_person).all()


def test_behaviour_rows_reference_identity_records_of_their_own_source(ws):
    idm = _truth(ws, "identity_map")
    bad = _truth(ws, "bad_rows")
    refs = {
        ("crm", "consent"): ("customer_no", "customers"),
        ("ecommerce", "orders"): ("customer_id", "customers"),
        ("support", "tickets"): ("contact_id", "contacts"),
        ("marketing", "events"): ("subscriber_id", "contacts"),
        ("marketing", "consent"): ("subscriber_id", "contacts"),
        ("web", "sessions"): ("visitor_id", "visitors"),
        ("iot", "readings"): ("registration_id", "devices"),
        ("social", "mentions"): ("profile_id", "profiles"),
    }
    for (source, name), (column, identity_set) in refs.items():
        raw = _raw(ws, source, name)
        spoiled = bad[(bad.source == source) & (bad.file_set == name) & (bad.column == column)]
        keep = ~pd.MultiIndex.from_frame(raw[["_file", "_row"]]).isin(
            pd.MultiIndex.from_frame(spoiled[["file", "row"]])
        )
        ids = set(idm[(idm.source == source) & (idm.file_set == identity_set)].source_record_id)
        assert raw.loc[keep, column].isin(ids).all(), (source, name)


def test_households_share_addresses_and_landlines(ws):
    people = _truth(ws, "people")
    shared = people.groupby("household_id").filter(lambda g: len(g) > 1)
    assert shared.household_id.nunique() > 200
    for col in ("street", "city", "postcode"):
        assert (shared.groupby("household_id")[col].nunique() == 1).all()
    crm = _people_of(ws, "crm", "customers", "customer_no").merge(people[["person_id", "household_id"]])
    digits = crm.phone.str.replace(r"\D", "", regex=True).str[-10:]
    by_phone = crm.assign(d=digits)[digits.str.len() == 10].groupby("d")
    hh_phones = by_phone.filter(lambda g: g.person_id.nunique() > 1 and g.household_id.nunique() == 1)
    assert hh_phones.d.nunique() >= 10  # one landline, several people: a hard negative
    devices = _people_of(ws, "iot", "devices", "registration_id")
    multi = devices.groupby("device_id").person_id.nunique()
    assert (multi > 1).sum() >= 5  # household members registering one device


def test_junk_values_are_shared_by_many_people(ws):
    idm = _truth(ws, "identity_map")
    seen = []
    for fs, col in (
        (("ecommerce", "customers"), "email"),
        (("support", "contacts"), "email"),
        (("crm", "customers"), "phone"),
        (("support", "contacts"), "phone"),
    ):
        id_col = next(f.id_column for f in FILE_SETS if (f.source, f.name) == fs)
        df = _people_of(ws, *fs, id_col)
        seen.append(df[[col, "person_id"]].rename(columns={col: "value"}))
    values = pd.concat(seen)
    for junk in ("test@test.com", "none@none.com", "0000000000"):
        assert junk in JUNK_EMAILS + JUNK_PHONES
        assert values[values.value == junk].person_id.nunique() >= 5, junk
    assert len(idm) > 0


def test_common_names_belong_to_many_different_people(ws):
    people = _truth(ws, "people")
    counts = people.groupby(["first_name", "last_name"]).size().sort_values(ascending=False)
    assert counts.iloc[0] >= 3
    assert people.groupby("last_name").size().max() >= 0.01 * len(people)  # Zipf-like head


def test_sources_disagree_like_real_ones(ws):
    people = _truth(ws, "people").set_index("person_id")
    frames = []
    for fs, first in (
        (("crm", "customers"), "first_name"),
        (("ecommerce", "customers"), "first_name"),
        (("social", "profiles"), "first_name"),
        (("thirdparty", "enrichment"), "forename"),
    ):
        id_col = next(f.id_column for f in FILE_SETS if (f.source, f.name) == fs)
        df = _people_of(ws, *fs, id_col)
        frames.append(
            pd.DataFrame({"seen": df[first], "true": people.loc[df.person_id, "first_name"].values})
        )
    names = pd.concat(frames).dropna()
    names = names[names.seen != ""]
    different = names[names.seen != names["true"]]
    nick = different.apply(lambda r: same_given_name(r.seen, r["true"]), axis=1)
    one_edit = different.apply(lambda r: Levenshtein.distance(r.seen, r["true"]) == 1, axis=1)
    caps = different.seen.str.isupper()
    assert nick.sum() >= 50 and one_edit.sum() >= 20 and caps.sum() >= 20
    assert (names.seen == names["true"]).mean() > 0.6  # noisy, not random

    crm = _raw(ws, "crm", "customers")
    emails = crm.email[crm.email != ""]
    assert (emails != emails.str.strip()).any() and (emails != emails.str.lower()).any()
    assert (
        crm.first_name.str.contains(r"[éèüöñçáíó]", regex=True).any()
        or _raw(ws, "ecommerce", "customers").first_name.str.contains(r"[éèüöñçáíó]", regex=True).any()
    )

    moved = people[people.moved_at.notna()]
    tp = _people_of(ws, "thirdparty", "enrichment", "record_id")
    tp = tp[tp.person_id.isin(moved.index) & tp.address_line.notna()]
    stale = tp.address_line.str.upper() != moved.loc[tp.person_id, "street"].str.upper().values
    assert stale.sum() >= 5


def test_cookies_are_known_by_their_login_or_campaign_email_and_accounts_by_social_login(ws):
    """Web analytics learns a cookie's person from a shop login or a campaign click; some shop accounts are
    opened through a social network. That is the evidence a CDP stitches by: it must point at the right
    person, and leave some cookies anonymous."""
    visitors = _people_of(ws, "web", "visitors", "visitor_id")
    emails = pd.concat(
        [
            _people_of(ws, "ecommerce", "customers", "customer_id")[["email", "person_id"]],
            _people_of(ws, "marketing", "contacts", "subscriber_id").rename(
                columns={"email_address": "email"}
            )[["email", "person_id"]],
        ]
    )
    emails = emails[emails.email.notna() & (emails.email != "")]
    norm = emails.assign(email=emails.email.str.strip().str.lower()).drop_duplicates()
    known = visitors[visitors.email.notna()].assign(email=lambda d: d.email.str.strip().str.lower())
    hits = known.merge(norm, on="email", suffixes=("", "_account"))
    junk = hits.email.isin([e.lower() for e in JUNK_EMAILS])
    own = hits[hits.person_id == hits.person_id_account].drop_duplicates("visitor_id")
    assert len(own) > 0.9 * len(known)
    assert (hits.person_id[~junk] == hits.person_id_account[~junk]).mean() > 0.99
    assert 0.05 < visitors.email.isna().mean() < 0.6  # anonymous cookies remain

    accounts = _people_of(ws, "ecommerce", "customers", "customer_id")
    logins = accounts[accounts.social_login.notna()]
    profiles = _people_of(ws, "social", "profiles", "profile_id")
    assert 0.05 < len(logins) / len(accounts) < 0.4
    assert (accounts.loc[accounts.guest == "true", "social_login"].isna()).all()
    handle_of = profiles.drop_duplicates("person_id").set_index("person_id").handle
    assert (logins.social_login.values == handle_of.reindex(logins.person_id).values).all()


def test_phones_are_valid_numbers_written_many_ways(ws):
    settings = parse_settings(default_config_text())
    styles = set()
    valid = total = 0
    for source, name, col in (
        ("crm", "customers", "phone"),
        ("ecommerce", "customers", "phone"),
        ("support", "contacts", "phone"),
        ("thirdparty", "enrichment", "phone"),
    ):
        region = settings.sources[source].files[name].default_region
        phones = _raw(ws, source, name)[col].dropna()
        phones = phones[(phones != "") & ~phones.isin(JUNK_PHONES)]
        for p in phones.iloc[:400]:
            total += 1
            with contextlib.suppress(phonenumbers.NumberParseException):
                valid += phonenumbers.is_valid_number(phonenumbers.parse(p, region))
            styles.add(re.sub(r"\d", "9", p)[:5])
    assert valid / total > 0.97
    assert {"+44 7", "0044 ", "(999)"} <= styles or len(styles) >= 8


def test_nickname_table_is_exported_for_identity_resolution():
    assert "Bob" in NICKNAMES["Robert"] and "Bill" in NICKNAMES["William"] and "Liz" in NICKNAMES["Elizabeth"]
    assert same_given_name("bill", "William") and same_given_name("William", "Bill")
    assert not same_given_name("Bill", "Robert")
    assert "Samuel" in formal_names()["sam"] and "Samantha" in formal_names()["sam"]


# ----------------------------------------------------------------------------------------- behaviour signal


def _orders(ws: Workspace) -> pd.DataFrame:
    o = _people_of(ws, "ecommerce", "orders", "customer_id", "customers")
    o = o[o.status == "SALE"].copy()
    o["ts"] = pd.to_datetime(o.created_at, format="%Y-%m-%dT%H:%M:%SZ", errors="coerce", utc=True)
    return o.dropna(subset=["ts"]).drop_duplicates("order_id")


def test_churners_buy_less_in_their_last_six_months_than_their_first(ws):
    people = _truth(ws, "people").set_index("person_id")
    ch = people[people.churned].copy()
    ch["start"] = pd.to_datetime(ch.acquired_at).clip(lower=pd.Timestamp("2023-11-01", tz="UTC"))
    ch["end"] = pd.to_datetime(ch.churn_date).dt.tz_localize("UTC")
    ch = ch[(ch.end - ch.start).dt.days >= 365]
    assert len(ch) >= 100
    o = _orders(ws).join(ch[["start", "end"]], on="person_id", how="inner")
    half_year = pd.Timedelta(days=182)
    first = ((o.ts >= o.start) & (o.ts < o.start + half_year)).sum()
    last = ((o.ts >= o.end - half_year) & (o.ts < o.end)).sum()
    after = (o.ts > o.end + pd.Timedelta(days=1)).sum()
    assert last < 0.75 * first
    assert after == 0


def test_churn_follows_latent_risk_not_a_coin_flip(ws):
    buyers = _truth(ws, "people")
    buyers = buyers[buyers.segment != "prospect"]
    q = pd.qcut(buyers.churn_risk, 4, labels=False)
    rates = buyers.groupby(q).churned.mean()
    assert rates.iloc[3] > 2 * rates.iloc[0]
    assert 0.1 < buyers.churned.mean() < 0.45
    assert not _truth(ws, "people").query("segment == 'prospect'").churned.any()


def test_seasonality_peaks_in_november_and_december(ws):
    o = _orders(ws)
    by_month = o.groupby(o.ts.dt.month).size()
    assert by_month.loc[[11, 12]].mean() > 1.3 * by_month.drop([11, 12]).mean()


def test_category_preferences_show_in_purchases(ws):
    o = _orders(ws)
    people = _truth(ws, "people").set_index("person_id")
    lines = _people_of(ws, "ecommerce", "orders", "customer_id", "customers")
    lines = lines[lines.status == "SALE"]
    top = people.loc[lines.person_id, "preferred_categories"].map(lambda c: c[0]).values
    assert (lines.category.values == top).mean() > 0.3  # 12 categories: chance is ~0.08
    assert len(o) > 0


def test_support_and_social_sentiment_carries_signal(ws):
    from sklearn.feature_extraction.text import CountVectorizer
    from sklearn.linear_model import LogisticRegression

    labels = _truth(ws, "sentiment").set_index("source_record_id").label
    assert set(labels) == {"negative", "neutral", "positive"}
    tickets = _raw(ws, "support", "tickets").set_index("ticket_id")
    mentions = _raw(ws, "social", "mentions").set_index("mention_id")
    texts = pd.concat([tickets.body, mentions.text])
    assert set(texts.index) == set(labels.index)
    df = pd.DataFrame({"text": texts, "label": labels.loc[texts.index]})
    df = df[df.label != "neutral"].sample(frac=1.0, random_state=0)
    half = len(df) // 2
    vec = CountVectorizer(ngram_range=(1, 2), min_df=2)
    model = LogisticRegression(max_iter=500).fit(vec.fit_transform(df.text[:half]), df.label[:half])
    accuracy = (model.predict(vec.transform(df.text[half:])) == df.label[half:]).mean()
    assert accuracy > 0.85
    assert df.text.nunique() > 0.5 * len(df)  # variety, not a handful of fixed sentences

    people = _truth(ws, "people").set_index("person_id")
    t = _people_of(ws, "support", "tickets", "contact_id", "contacts")
    t = t.assign(
        label=labels.loc[t.ticket_id].values,
        ts=pd.to_datetime(t.opened_at, format="%d/%m/%Y %H:%M", errors="coerce", utc=True),
    )
    t = t.dropna(subset=["ts"]).join(people[["churned", "churn_date"]], on="person_id")
    end = pd.to_datetime(t.churn_date).dt.tz_localize("UTC")
    before_churn = t.churned & (t.ts >= end - pd.Timedelta(days=150)) & (t.ts <= end)
    neg_before = (t[before_churn].label == "negative").mean()
    neg_loyal = (t[~t.churned].label == "negative").mean()
    assert neg_before > neg_loyal + 0.2


def test_campaign_response_depends_on_segment_and_offer(ws):
    ev = _people_of(ws, "marketing", "events", "subscriber_id", "contacts")
    ev = ev[ev.properties.notna()]
    ev["offer"] = ev.properties.map(lambda s: json.loads(s)["offer"])
    segment = _truth(ws, "people").set_index("person_id").segment
    ev["segment"] = segment.loc[ev.person_id].values
    counts = ev.groupby(["segment", "offer", "event"]).size().unstack("event").fillna(0)
    ctr = counts.clicked / counts.sent
    assert ctr["bargain_hunter", "discount_25"] > 1.5 * ctr["vip", "discount_25"]
    assert ctr["vip", "new_arrivals"] > 1.5 * ctr["bargain_hunter", "new_arrivals"]
    assert counts.converted.sum() > 0 and (counts.opened <= counts.sent).all()
    orders = _raw(ws, "ecommerce", "orders")
    assert orders.campaign_id.replace("", np.nan).notna().sum() > 0  # conversions become orders


def test_abandoned_carts_and_consent_withdrawals_exist(ws):
    sessions = _raw(ws, "web", "sessions")
    data = sessions.data.dropna().map(json.loads)
    abandoned = data.map(lambda d: d["cart_items"] > 0 and not d["purchased"])
    bought = data.map(lambda d: d["purchased"])
    assert abandoned.sum() > 100 and bought.sum() > 100
    consent = _raw(ws, "marketing", "consent")
    per = consent[consent.opted_in.isin([True, False])].groupby(["subscriber_id", "purpose", "channel"])
    flips = per.opted_in.agg(lambda s: s.iloc[0] is True and (s == False).any())  # noqa: E712
    assert flips.sum() > 50


def test_fx_rates_cover_every_order_and_agree_with_the_prices_written(ws):
    """ECB-style rates (base EUR, business days): every order has a fixing at most 4 days before it, and a
    GBP or EUR line converted to USD at its day's rate comes back to the catalogue's USD price."""
    rates = _raw(ws, "fx", "rates")
    assert list(rates.columns[:4]) == ["date", "base", "currency", "rate"]
    assert (rates.base == "EUR").all() and set(rates.currency) == {"USD", "GBP"}
    rates["date"] = pd.to_datetime(rates.date, format="%Y-%m-%d")
    rates["rate"] = rates.rate.astype(float)
    assert (rates.rate > 0).all() and not rates.duplicated(["date", "currency"]).any()
    assert rates.date.dt.dayofweek.max() <= 4 and not (rates.date.dt.strftime("%m-%d") == "12-25").any()
    wide = rates.pivot(index="date", columns="currency", values="rate").sort_index()
    daily = wide.pct_change().abs().max()
    assert (daily < 0.03).all() and wide.std().gt(0).all()  # a walk, not a constant nor a jump

    lines = _raw(ws, "ecommerce", "orders")
    lines = lines[(lines.status == "SALE") & (lines.sku != "")].copy()  # spoiled rows aside
    lines["ts"] = pd.to_datetime(lines.created_at, format="%Y-%m-%dT%H:%M:%SZ", errors="coerce")
    lines = lines.dropna(subset=["ts"]).sort_values("ts")
    lines["day"] = lines.ts.dt.normalize()
    joined = pd.merge_asof(lines, wide.reset_index().rename(columns={"date": "fixed"}), left_on="day",
                           right_on="fixed", direction="backward")  # fmt: skip
    assert joined.fixed.notna().all()
    assert (joined.day - joined.fixed).dt.days.max() <= 4  # Easter: Thursday to Tuesday
    products = _raw(ws, "ecommerce", "products").set_index("sku")
    joined["list_usd"] = products.loc[joined.sku, "price"].astype(float).values
    usd_per_unit = {"USD": 1.0}
    unit = joined.unit_price.astype(float)
    for cur in ("GBP", "EUR"):
        mine = joined.currency == cur
        per_eur = joined.loc[mine, "USD"] / (joined.loc[mine, "GBP"] if cur == "GBP" else 1.0)
        ratio = unit[mine] * per_eur / joined.loc[mine, "list_usd"]
        assert mine.sum() > 100 and abs(ratio.median() - 1.0) < 0.03, (cur, ratio.median())
        usd_per_unit[cur] = float(per_eur.median())
    assert 1.2 < usd_per_unit["GBP"] < 1.35 and 1.0 < usd_per_unit["EUR"] < 1.15


# ----------------------------------------------------------------------------------------- defects


def test_bad_rows_describe_exactly_the_defects_injected(ws):
    bad = _truth(ws, "bad_rows")
    counts = _truth(ws, "counts").set_index(["source", "file_set"])
    assert set(bad.reason) <= set(QUARANTINE_REASONS)
    assert len(bad) > 100
    assert not bad.duplicated(["file", "row"]).any()  # one defect per row
    for fs in FILE_SETS:
        mine = bad[(bad.source == fs.source) & (bad.file_set == fs.name)]
        if fs.record == "identity" or not fs.defects:
            assert mine.empty and counts.loc[(fs.source, fs.name), "bad_rows"] == 0
            continue
        assert counts.loc[(fs.source, fs.name), "bad_rows"] == len(mine)
        raw = _raw(ws, fs.source, fs.name).set_index(["_file", "_row"])
        for spec in fs.defects:
            same_value = mine.value.isna() if spec.value is None else mine.value == spec.value
            rows = mine[(mine.column == spec.column) & same_value]
            if spec.value is None:
                hit = raw[spec.column].isna() | (raw[spec.column].astype(str) == "")
            else:
                hit = raw[spec.column].astype(str) == spec.value
            assert set(raw.index[hit]) == set(zip(rows.file, rows.row, strict=True)), (
                fs.source,
                fs.name,
                spec,
            )
            assert (rows.field == spec.field).all() and (rows.reason == spec.reason).all()
        rate = len(mine) / len(raw)
        assert rate < 3 * BAD_RATE


def test_clean_rows_use_only_mapped_vocabulary(ws):
    settings = parse_settings(default_config_text())
    bad = _truth(ws, "bad_rows")
    for fs in FILE_SETS:
        conf = settings.sources[fs.source].files[fs.name]
        raw = _raw(ws, fs.source, fs.name)
        spoiled = bad[(bad.source == fs.source) & (bad.file_set == fs.name)]
        clean = raw[
            ~raw.set_index(["_file", "_row"]).index.isin(list(zip(spoiled.file, spoiled.row, strict=True)))
        ]
        for field, vocab in ENUM_FIELDS.get(fs.record, {}).items():
            if field in conf.constants:
                assert conf.constants[field] in vocab
                continue
            values = clean[conf.mapping[field]].astype(str)
            value_map = conf.value_maps.get(field, {})
            mapped = values.map(lambda v, m=value_map: m.get(v, v).lower())
            assert mapped.isin(vocab).all(), (fs.source, fs.name, field, set(mapped) - set(vocab))
