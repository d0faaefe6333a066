"""First and last names written in each other's fields ("Doe, Jane" read as first name Doe, a form filled
the wrong way round) are compared crosswise, and such a record meets its person's others in blocking; a
name shared in the wrong field by coincidence is no evidence."""

from __future__ import annotations

import pandas as pd
import pyarrow as pa
import pytest

from c360.identity.compare import NAMES_SWAPPED, blocking_keys, comparison_columns, comparison_vectors
from c360.identity.config import IdentitySettings, comparison_level_names
from c360.identity.model import FSModel, threshold_weight
from c360.identity.normalize import prepare_records
from c360.identity.scoring import score_partition
from tests.identity_data import identity_records

pytestmark = pytest.mark.unit


def _table(
    prep: pd.DataFrame, settings: IdentitySettings, tf: dict[str, list[float]] | None = None
) -> pa.Table:
    prep = prep.copy()
    for c in settings.comparisons:
        if c.tf_adjustment:
            prep[f"{c.field}__tf"] = (tf or {}).get(c.field, [0.01] * len(prep))
    return pa.Table.from_pandas(prep[comparison_columns(settings)], preserve_index=False)


def _compare(left: dict, right: dict, tf: dict[str, list[float]] | None = None) -> dict:
    s = IdentitySettings()
    table = _table(prepare_records(identity_records([left, right]), s), s, tf)
    row = comparison_vectors(table, pa.table({"rid_l": [0], "rid_r": [1]}), s).to_pylist()[0]
    levels = {f: comparison_level_names(c) for f, c in ((c.field, c) for c in s.comparisons)}
    named = {
        f: ("missing" if row[f"g_{f}"] < 0 else levels[f][row[f"g_{f}"]]) for f in ("first_name", "last_name")
    }
    return {**named, "swapped": row[NAMES_SWAPPED], "tf_first_name": row["tf_first_name"]}


def test_swapped_names_agree_crosswise_at_the_comparisons_own_levels():
    exact = _compare({"first_name": "Jane", "last_name": "Doe"}, {"first_name": "Doe", "last_name": "Jane"})
    assert exact == {**exact, "first_name": "exact", "last_name": "exact", "swapped": True}
    # a typo on each side: the fuzzy levels, crosswise
    typo = _compare(
        {"first_name": "Josha", "last_name": "Campbell"}, {"first_name": "Campblel", "last_name": "Joshua"}
    )
    assert typo["first_name"].startswith("jw") and typo["last_name"].startswith("jw") and typo["swapped"]


def test_one_name_in_the_wrong_field_by_coincidence_is_no_evidence():
    # Thomas Smith and John Thomas share "Thomas", first name of one and last name of the other: the other
    # names differ, so nothing is compared crosswise
    got = _compare(
        {"first_name": "Thomas", "last_name": "Smith"}, {"first_name": "John", "last_name": "Thomas"}
    )
    assert got == {**got, "first_name": "different", "last_name": "different", "swapped": False}
    # names that agree as written are never swapped
    same = _compare({"first_name": "Anna", "last_name": "Ann"}, {"first_name": "Anna", "last_name": "Anne"})
    assert not same["swapped"] and same["first_name"] == "exact"


def test_a_swapped_exact_agreement_takes_the_common_reading_of_its_frequency():
    # the swapped record holds "doe" as a first name, a value rare in that field: the pair's agreement is
    # worth what the ordinary reading (jane as a first name) says, not the rare one
    got = _compare(
        {"first_name": "Jane", "last_name": "Doe"},
        {"first_name": "Doe", "last_name": "Jane"},
        tf={"first_name": [0.02, 0.0001], "last_name": [0.03, 0.0001]},
    )
    assert got["swapped"] and got["tf_first_name"] == pytest.approx(0.02)


def _model(settings: IdentitySettings) -> FSModel:
    """Plain name and date evidence: exact agreement +6.5 bits, fuzzy +3, different -5.6 (-2 for the date)."""
    fields = ["first_name", "last_name", "birth_date"]
    levels = {
        f: comparison_level_names(next(c for c in settings.comparisons if c.field == f)) for f in fields
    }
    m, u = {}, {}
    for f, names in levels.items():
        k = len(names)
        m[f] = [0.9] + [0.08 / (k - 2)] * (k - 2) + [0.02]
        u[f] = [0.01] + [0.01] * (k - 2) + [1 - 0.01 * (k - 1)]
    return FSModel(fields=fields, levels=levels, m=m, u=u, prior=1e-3, n_records=1000)


def test_a_swapped_record_is_a_candidate_and_links_and_a_coincidence_does_not():
    settings = IdentitySettings()
    rows = [
        {"first_name": "Jane", "last_name": "Doe", "birth_date": "1980-04-03", "postcode": "2000"},
        # the same person, names swapped, another address: no blocking rule met her before
        {"first_name": "Doe", "last_name": "Jane", "birth_date": "1980-04-03", "postcode": "3000"},
        {"first_name": "Thomas", "last_name": "Smith", "birth_date": "1975-01-01", "postcode": "4000"},
        # one name in the wrong field, same birth date and postcode: a candidate, not a link
        {"first_name": "John", "last_name": "Thomas", "birth_date": "1975-01-01", "postcode": "4000"},
    ]
    prep = prepare_records(identity_records(rows), settings)
    keys = blocking_keys(prep, len(settings.blocking_rules), 1)
    table = _table(prep, settings)
    keys_table = pa.Table.from_pandas(keys.drop(columns=["partition"]), preserve_index=False)
    pairs = score_partition(keys_table, table, settings, None, None, False).to_pandas()
    assert set(zip(pairs["rid_l"], pairs["rid_r"], strict=True)) == {(0, 1), (2, 3)}
    model = _model(settings)
    pairs["weight"] = model.match_weight(pairs)
    linked = pairs.loc[pairs["weight"] >= threshold_weight(settings.match_threshold), ["rid_l", "rid_r"]]
    assert linked.values.tolist() == [[0, 1]]
    assert pairs.set_index("rid_l")[NAMES_SWAPPED].to_dict() == {0: True, 2: False}
