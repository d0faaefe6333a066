"""A father and his son of one name and address: a record that writes neither a generational suffix nor a
birth date may be either of them, so its first name is no evidence against a Jr or Sr record, and it joins a
cluster holding one only on direct evidence."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from c360.identity.cluster import cluster_records, conflict_values
from c360.identity.compare import NAMESAKE, comparison_columns, comparison_vectors
from c360.identity.config import IdentitySettings
from c360.identity.namesakes import namesake_records
from c360.identity.normalize import prepare_records
from tests.identity_data import identity_records

pytestmark = pytest.mark.unit

# ingest splits "Smith Jr" into last name and suffix (c360.sources.identity_fields)
SON = {"first_name": "John", "last_name": "Smith", "name_suffix": "Jr", "birth_date": dt.date(1990, 5, 1)}
BARE = {"first_name": "John", "last_name": "Smith"}  # no suffix, no birth date: father or son
ADDRESS = {"street": "12 Oak Street", "postcode": "02139", "city": "Cambridge"}


def prepared(rows: list[dict]) -> pd.DataFrame:
    return prepare_records(identity_records(rows), IdentitySettings())


def first_name_level(left: dict, right: dict) -> str:
    s = IdentitySettings()
    prep = prepared([{**ADDRESS, **left}, {**ADDRESS, **right}])
    for c in s.comparisons:
        if c.tf_adjustment:
            prep[f"{c.field}__tf"] = 0.01
    rec = pa.Table.from_pandas(prep[comparison_columns(s)], preserve_index=False)
    level = comparison_vectors(rec, pa.table({"rid_l": [0], "rid_r": [1]}), s).to_pylist()[0]["g_first_name"]
    names = next(c for c in s.comparisons if c.field == "first_name").level_names
    return "missing" if level < 0 else names[level]


def test_a_first_name_shared_with_a_record_that_may_be_either_generation_is_no_evidence() -> None:
    assert first_name_level(SON, BARE) == "missing"
    # the birth date missing on the suffixed side is as ambiguous
    assert (
        first_name_level({**SON, "birth_date": None}, {**BARE, "birth_date": dt.date(1962, 2, 3)})
        == "missing"
    )


def test_the_first_name_counts_where_the_generation_is_known_or_irrelevant() -> None:
    # both birth dates known: the birth-date comparison tells father from son
    assert first_name_level(SON, {**BARE, "birth_date": dt.date(1990, 5, 1)}) == "exact"
    assert first_name_level(BARE, {**BARE, "street": "12 oak st"}) == "exact"  # no suffix on either side
    assert first_name_level(SON, {**SON, "birth_date": None}) == "exact"  # the same suffix on both
    # a first name that differs stays evidence against the pair
    assert first_name_level(SON, {**BARE, "first_name": "Mary"}) == "different"


def test_a_bare_record_joins_no_cluster_holding_a_suffix_through_a_chain() -> None:
    s = IdentitySettings()
    # 0: the son as Jr; 1: the son without suffix (his birth date); 2: bare, links strongly to 1
    prep = prepared([SON, {**BARE, "birth_date": dt.date(1990, 5, 1)}, BARE])
    conflicts = conflict_values(prep, s)
    chain = pd.DataFrame({"rid_l": [0, 1], "rid_r": [1, 2], "weight": [30.0, 25.0], "direct": [True, True]})
    labels = cluster_records(3, chain, conflicts, s).labels
    assert labels.tolist() == [0, 0, 2]
    # direct evidence between the bare record and the Jr one (an email they share) joins them
    direct = pd.concat(
        [chain, pd.DataFrame({"rid_l": [0], "rid_r": [2], "weight": [40.0], "direct": [True]})]
    )
    assert np.unique(cluster_records(3, direct, conflicts, s).labels).tolist() == [0]


def test_without_suffixed_records_nothing_changes() -> None:
    s = IdentitySettings()
    prep = prepared([{**BARE, "birth_date": dt.date(1990, 5, 1)}, BARE])
    links = pd.DataFrame({"rid_l": [0], "rid_r": [1], "weight": [25.0], "direct": [False]})
    assert cluster_records(2, links, conflict_values(prep, s), s).labels.tolist() == [0, 0]


def test_an_email_the_bare_record_shares_with_the_jr_joins_them_however_little_else_agrees() -> None:
    s = IdentitySettings()
    prep = prepared([SON, BARE])  # the bare record: a sign-up with the son's email, nothing else of his
    conflicts = conflict_values(prep, s)
    weak = pd.DataFrame({"rid_l": [0], "rid_r": [1], "weight": [7.0], "direct": [False]})
    assert cluster_records(2, weak, conflicts, s).labels.tolist() == [0, 1]  # a name and address: no
    on_email = weak.assign(outright=[True])  # a deterministic link on a personal identifier: yes
    assert cluster_records(2, on_email, conflicts, s).labels.tolist() == [0, 0]
    # the outright link vouches for the generation only: a first name that differs is still a conflict
    prep = prepared([SON, {**BARE, "first_name": "Mary"}])
    assert cluster_records(2, on_email, conflict_values(prep, s), s).labels.tolist() == [0, 1]


def test_a_record_without_a_first_name_is_nobodys_namesake() -> None:
    s = IdentitySettings()
    prep = prepared([SON, {"email": "john.smith@example.com"}])  # a web visit that gave an email only
    conflicts = conflict_values(prep, s)
    assert pd.isna(conflicts["name_suffix"][1])
    links = pd.DataFrame({"rid_l": [0], "rid_r": [1], "weight": [-1.6], "direct": [False]})
    assert cluster_records(2, links, conflicts, s).labels.tolist() == [0, 0]


def pair_level(rows: list[dict], pair: tuple[int, int]) -> str:
    """The first-name level of two of `rows`, the namesake flags read from all of them (as a run does)."""
    s = IdentitySettings()
    prep = prepared([{**ADDRESS, **r} for r in rows])
    for c in s.comparisons:
        if c.tf_adjustment:
            prep[f"{c.field}__tf"] = 0.01
    prep[NAMESAKE] = namesake_records(prep)
    rec = pa.Table.from_pandas(prep[[*comparison_columns(s), NAMESAKE]], preserve_index=False)
    table = pa.table({"rid_l": [pair[0]], "rid_r": [pair[1]]})
    level = comparison_vectors(rec, table, s).to_pylist()[0]["g_first_name"]
    names = next(c for c in s.comparisons if c.field == "first_name").level_names
    return "missing" if level < 0 else names[level]


FATHER = {**BARE, "name_suffix": "Sr", "birth_date": dt.date(1962, 2, 3)}


def test_where_the_records_show_a_jr_and_a_sr_two_records_that_say_neither_are_not_linked_by_the_name() -> (
    None
):
    # 2 and 3: an online order and a social profile of "John Smith" at the Smiths' address
    assert pair_level([SON, FATHER, BARE, BARE], (2, 3)) == "missing"
    # a birth date on one side only does not tell the generation either
    assert pair_level([SON, FATHER, {**BARE, "birth_date": dt.date(1990, 5, 1)}, BARE], (2, 3)) == "missing"
    # both birth dates given: they tell father from son, and the first name counts
    both = [
        SON,
        FATHER,
        {**BARE, "birth_date": dt.date(1990, 5, 1)},
        {**BARE, "birth_date": dt.date(1990, 5, 1)},
    ]
    assert pair_level(both, (2, 3)) == "exact"
    # birth years a generation apart under one name and address show the two as well as suffixes do
    apart = [
        {**BARE, "birth_date": dt.date(1990, 5, 1)},
        {**BARE, "birth_date": dt.date(1962, 2, 3)},
        BARE,
        BARE,
    ]
    assert pair_level(apart, (2, 3)) == "missing"


def test_a_name_one_generation_holds_links_on_the_first_name_as_before() -> None:
    assert pair_level([SON, BARE, BARE], (1, 2)) == "exact"  # only a Jr: no second John Smith shown
    elsewhere = {**ADDRESS, "postcode": "90210", "city": "Beverly Hills"}
    assert pair_level([{**SON, **elsewhere}, {**FATHER, **elsewhere}, BARE, BARE], (2, 3)) == "exact"
    assert not namesake_records(prepared([SON, {**SON, "birth_date": dt.date(1990, 5, 2)}])).any()


def test_a_birth_year_typo_is_not_a_second_generation() -> None:
    typo = [{**BARE, "birth_date": dt.date(1985, 3, 12)}, {**BARE, "birth_date": dt.date(1958, 3, 12)}, BARE]
    assert not namesake_records(prepared([{**ADDRESS, **r} for r in typo])).any()
