"""Comparison levels and candidate pairs on small hand-made tables."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pyarrow as pa
import pytest

from c360.identity.compare import (
    blocking_keys,
    candidate_pairs,
    comparison_columns,
    comparison_vectors,
)
from c360.identity.config import IdentitySettings
from c360.identity.normalize import prepare_records
from tests.identity_data import identity_records

pytestmark = pytest.mark.unit


def levels(left: dict, right: dict, settings: IdentitySettings | None = None) -> dict[str, str]:
    s = settings or IdentitySettings()
    prep = prepare_records(identity_records([left, right]), s)
    for c in s.comparisons:
        if c.tf_adjustment:
            prep[f"{c.field}__tf"] = 0.01
    rec = pa.Table.from_pandas(prep[comparison_columns(s)], preserve_index=False)
    g = comparison_vectors(rec, pa.table({"rid_l": [0], "rid_r": [1]}), s).to_pylist()[0]
    out = {}
    for c in s.comparisons:
        lvl = g[f"g_{c.field}"]
        out[c.field] = "missing" if lvl < 0 else c.level_names[lvl]
    return out


def test_name_levels_exact_nickname_fuzzy_different() -> None:
    assert levels({"first_name": "Robert"}, {"first_name": "robert"})["first_name"] == "exact"
    assert levels({"first_name": "Robert"}, {"first_name": "Bob"})["first_name"] == "nickname"
    assert levels({"first_name": "Katherine"}, {"first_name": "Katharine"})["first_name"] == "jw>=0.92"
    assert levels({"first_name": "Robert"}, {"first_name": "Zoe"})["first_name"] == "different"
    assert levels({"first_name": "Robert"}, {})["first_name"] == "missing"
    assert levels({"first_name": "José"}, {"first_name": "jose"})["first_name"] == "exact"


def test_date_levels_swap_and_typo() -> None:
    d = dt.date
    assert levels({"birth_date": d(1980, 3, 7)}, {"birth_date": d(1980, 3, 7)})["birth_date"] == "exact"
    assert (
        levels({"birth_date": d(1980, 3, 7)}, {"birth_date": d(1980, 7, 3)})["birth_date"]
        == "swapped_day_month"
    )
    assert levels({"birth_date": d(1980, 3, 7)}, {"birth_date": d(1981, 3, 7)})["birth_date"] == "edits<=1"
    assert levels({"birth_date": d(1980, 3, 7)}, {"birth_date": d(1952, 11, 30)})["birth_date"] == "different"


def test_address_and_identifier_levels() -> None:
    got = levels(
        {"street": "12 Main Street", "loyalty_id": "L-1234567"},
        {"street": "12 main st", "loyalty_id": "l1234576"},
    )
    assert got["street"] == "exact"  # abbreviations and case are normalized away
    assert got["loyalty_id"] == "edits<=2"  # a transposition, not a different card
    got = levels({"street": "12 Main Street"}, {"street": "12 Maine Street"})
    assert got["street"] == "street jw>=0.9"


def test_candidate_pairs_once_each_and_new_only() -> None:
    s = IdentitySettings()
    rows = [
        {"first_name": "ann", "last_name": "lee", "birth_date": dt.date(1990, 1, 2), "postcode": "2000"},
        {"first_name": "ann", "last_name": "lee", "birth_date": dt.date(1990, 1, 2), "postcode": "2000"},
        {"first_name": "ann", "last_name": "lee", "birth_date": dt.date(1970, 5, 5), "postcode": "3000"},
        {"first_name": "bob", "last_name": "ray", "birth_date": dt.date(1970, 5, 5), "postcode": "4000"},
    ]
    prep = prepare_records(identity_records(rows), s)
    rec = pa.Table.from_pandas(
        prep[[c for c in comparison_columns(s) if not c.endswith("__tf")]], preserve_index=False
    )
    keys = pa.Table.from_pandas(
        blocking_keys(prep, len(s.blocking_rules), 1).drop(columns="partition"), preserve_index=False
    )
    pairs = candidate_pairs(keys, rec, len(s.blocking_rules)).to_pandas()
    got = set(zip(pairs["rid_l"], pairs["rid_r"], strict=True))
    # 0-1 share everything; 0-2 and 1-2 share the name; 3 shares nothing with a rule except no one
    assert got == {(0, 1), (0, 2), (1, 2)}
    assert len(pairs) == 3  # pair 0-1 satisfies several rules but is produced once
    assert pairs.loc[(pairs.rid_l == 0) & (pairs.rid_r == 1), "rule"].item() == 0
    assert pairs.loc[(pairs.rid_l == 0) & (pairs.rid_r == 1), "rules_mask"].item() > 1
    # Incremental: record 2 is the only new one -> only its pairs.
    new = prep["rid"].isin([2]).to_numpy()
    keys_new = blocking_keys(prep, len(s.blocking_rules), 1, new)
    keys_new_t = pa.Table.from_pandas(keys_new.drop(columns="partition"), preserve_index=False)
    pairs_new = candidate_pairs(keys_new_t, rec, len(s.blocking_rules), new_only=True).to_pandas()
    assert set(zip(pairs_new["rid_l"], pairs_new["rid_r"], strict=True)) == {(0, 2), (1, 2)}


def test_blocking_key_hashes_do_not_depend_on_the_batch() -> None:
    """A value hashes to the same exact 64-bit key whether or not other rows of its batch are null (a
    float round trip used to round every key of a batch holding a null, so an incremental batch without
    nulls missed its old neighbours)."""
    from c360.identity.normalize import key_hash

    with_null = key_hash([pd.Series(["marampon", "smith", None]), pd.Series(["3806", "2000", "1"])])
    without = key_hash([pd.Series(["marampon", "smith"]), pd.Series(["3806", "2000"])])
    assert with_null.dtype == "Int64" and pd.isna(with_null[2])
    assert with_null[:2].tolist() == without.tolist()
