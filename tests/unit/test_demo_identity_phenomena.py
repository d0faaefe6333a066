"""What real identity data holds and the demo writes on purpose, each at a modest non-zero rate, with the
ground truth behind it: household devices, email variants, unassigned area codes, one-field names, Jr and Sr,
mixed date formats, zips that lost their leading zeros."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
import phonenumbers
import pytest

from c360.demo import FILE_SETS, generate_demo_data
from c360.demo.phones import UNASSIGNED_AREA_CODES
from c360.identity.emails import canonical_email
from c360.identity.names import parse_full_name
from c360.workspace import Workspace, init_workspace

pytestmark = pytest.mark.unit


@pytest.fixture(scope="module")
def ws(tmp_path_factory) -> Workspace:
    root: Path = tmp_path_factory.mktemp("phenomena")
    init_workspace(root)
    ws = Workspace.load(root)
    generate_demo_data(ws, customers=4000, seed=5, bad_row_rate=0.0, chunk_size=2000, workers=1)
    return ws


def _raw(ws: Workspace, source: str, name: str) -> pd.DataFrame:
    fs = next(f for f in FILE_SETS if (f.source, f.name) == (source, name))
    frames = []
    for path in sorted(ws.lake.glob(fs.glob)):
        if fs.format == "csv":
            df = pd.read_csv(path, sep=fs.delimiter, dtype=str, keep_default_na=False)
        elif fs.format == "jsonl":
            df = pd.read_json(path, lines=True, dtype=False, convert_dates=False)
        else:
            df = pd.read_parquet(path)
        frames.append(df.assign(_file=ws.lake.relative(path)))
    return pd.concat(frames, ignore_index=True)


def _truth(ws: Workspace, name: str) -> pd.DataFrame:
    return ws.lake.read_table(ws.lake.path("ground_truth", f"{name}.parquet")).to_pandas()


def _with_people(ws: Workspace, source: str, name: str, id_column: str) -> pd.DataFrame:
    idm = _truth(ws, "identity_map")
    idm = idm[(idm.source == source) & (idm.file_set == name)]
    people = _truth(ws, "people")
    rows = _raw(ws, source, name).merge(
        idm[["source_record_id", "person_id"]], left_on=id_column, right_on="source_record_id"
    )
    return rows.merge(people, on="person_id", suffixes=("", "_true"))


def test_household_members_share_a_device_and_stay_distinct_people(ws):
    web = _with_people(ws, "web", "visitors", "visitor_id")
    per_device = web.groupby("device_id").agg(
        people=("person_id", "nunique"),
        households=("household_id", "nunique"),
        records=("visitor_id", "size"),
    )
    shared = per_device[per_device["people"] >= 2]
    assert len(shared) > 0
    assert (shared["households"] == 1).all()  # a family device, never strangers
    share = per_device["people"].ge(2).mean()
    assert 0.01 < share < 0.3, share
    # One person's cookies also meet on their own device: the case a device id must still link.
    own = per_device[(per_device["people"] == 1) & (per_device["records"] >= 2)]
    assert len(own) > 0


def test_email_variants_reach_one_mailbox(ws):
    rows = pd.concat(
        [
            _with_people(ws, "ecommerce", "customers", "customer_id")[["email", "person_id"]],
            _with_people(ws, "marketing", "contacts", "subscriber_id").rename(
                columns={"email_address": "email"}
            )[["email", "person_id"]],
        ]
    ).dropna()
    email = rows["email"].str.strip().str.lower()
    tagged = email.str.contains(r"\+(shop|news)@", regex=True)
    typo = email.str.contains(r"@(gmial|hotmial|yaho|outlok|iclod)\.com$", regex=True)
    assert 0 < tagged.mean() < 0.05 and 0 < typo.mean() < 0.05
    # Every variant has the key of an address written plainly for the same person somewhere.
    keys = rows.assign(key=email.map(canonical_email))
    plain = keys.loc[~(tagged | typo)].groupby("person_id")["key"].agg(set)
    variant = keys.loc[tagged | typo]
    hits = [k in plain.get(p, set()) for p, k in zip(variant["person_id"], variant["key"], strict=True)]
    assert np.mean(hits) > 0.5


def test_some_us_mobiles_have_an_unassigned_area_code(ws):
    shop = _raw(ws, "ecommerce", "customers")
    odd = 0
    for raw in shop["phone"].dropna():
        digits = re.sub(r"\D", "", str(raw))
        if len(digits) >= 10 and digits[-10:-7] in UNASSIGNED_AREA_CODES:
            number = phonenumbers.parse("+1" + digits[-10:])
            assert phonenumbers.is_possible_number(number) and not phonenumbers.is_valid_number(number)
            odd += 1
    assert 0 < odd < 0.05 * len(shop)


def test_support_writes_one_name_field_in_both_orders(ws):
    assert {"name"} <= set(_raw(ws, "support", "contacts").columns)
    assert not {"first_name", "last_name"} & set(_raw(ws, "support", "contacts").columns)
    support = _with_people(ws, "support", "contacts", "contact_id")
    names = support["name"].dropna()
    reversed_ = names.str.contains(",")
    assert 0.1 < reversed_.mean() < 0.6
    parsed = names.map(lambda n: parse_full_name(n)[1])
    last_true = support.loc[names.index, "last_name"].str.lower()
    agree = (parsed.str.lower() == last_true) | parsed.isna()
    assert agree.mean() > 0.8  # typos and nicknames aside, the last name comes back out


def test_a_son_named_after_his_father_is_another_person(ws):
    people = _truth(ws, "people")
    juniors = people[people["name_suffix"] == "Jr"]
    assert len(juniors) > 0
    seniors = people[people["name_suffix"] == "Sr"].set_index("household_id")
    for _, jr in juniors.iterrows():
        sr = seniors.loc[jr["household_id"]]
        assert (sr["first_name"], sr["last_name"]) == (jr["first_name"], jr["last_name"])
        assert sr["birth_date"] != jr["birth_date"] and sr["person_id"] != jr["person_id"]
    crm = _with_people(ws, "crm", "customers", "customer_no")
    written = crm["last_name"].str.contains(r"[ ,]\s*(Jr|Sr)$", regex=True, na=False)
    assert written.sum() > 0
    assert set(crm.loc[written, "name_suffix"]) <= {"Jr", "Sr"}


def test_household_members_share_a_first_name_only_as_jr_and_sr(ws):
    people = _truth(ws, "people")
    people = people.assign(first=people["first_name"].str.lower())
    alike = people[people.duplicated(["household_id", "first"], keep=False)]
    assert len(alike) > 0  # the Jr and Sr pairs
    assert set(alike["name_suffix"]) == {"Jr", "Sr"}
    assert (alike.groupby("household_id").size() == 2).all()


def test_crm_birth_dates_come_in_several_formats(ws):
    crm = _raw(ws, "crm", "customers")
    dob = crm["date_of_birth"].replace("", np.nan).dropna()
    iso = dob.str.match(r"^\d{4}-\d{2}-\d{2}$")
    assert 0.05 < iso.mean() < 0.3
    slashed = crm.loc[dob.index[~iso]]
    parts = slashed["date_of_birth"].str.split("/", expand=True).astype(int)
    day_first_files = set(slashed.loc[parts[0] > 12, "_file"])
    month_first_files = set(slashed.loc[parts[1] > 12, "_file"])
    assert day_first_files and month_first_files and not day_first_files & month_first_files


def test_spreadsheet_zips_lost_their_leading_zeros(ws):
    mkt = _with_people(ws, "marketing", "contacts", "subscriber_id")
    zips = mkt[
        mkt["zip"].str.fullmatch(r"\d+", na=False) & mkt["country"].isin(["US", "DE", "FR", "IT", "ES"])
    ]
    short = zips[zips["zip"].str.len() < 5]
    assert len(short) > 0
    padded = short["zip"].str.zfill(5)
    true = short["postcode"]
    assert (padded == true).mean() > 0.9  # the rest: an address before a move
