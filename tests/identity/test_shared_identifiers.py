"""Shared identifiers (a family tablet, a cookie): a household on one device stays two people, one person on
two records of a device stays one, and a refused link says why."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from c360.identity.compare import comparison_columns
from c360.identity.config import IdentifierSettings, IdentitySettings, comparison_level_names
from c360.identity.deterministic import deterministic_links
from c360.identity.estimate import effective_settings
from c360.identity.model import FSModel
from c360.identity.normalize import prepare_records
from c360.identity.shared import household_identifiers, kept_evidence, pair_verdicts, shared_links

pytestmark = pytest.mark.unit

RECORDS = [
    # A household of two on one tablet: different first names, birth dates and emails.
    ("crm", "1", "Anna", "Smith", "1980-01-01", "anna@example.org", "tab-1", None),
    ("web", "2", "Ben", "Smith", "2010-05-05", "ben@example.net", "tab-1", None),
    # One person on a phone: a named shop record and a named app record (one device, the names agree), and
    # an anonymous visit from it (nothing else to compare); the phone's browser cookie links a web record.
    ("shop", "3", "Carl", "Jones", "1975-03-03", "carl@example.com", "phone-2", None),
    ("app", "4", "Carl", "Jones", None, None, "phone-2", "ck-9"),
    ("web", "5", None, None, None, None, "phone-2", None),
    ("web", "9", "Carl", None, None, "carl@example.com", None, "ck-9"),
    # A family laptop: two people with their emails, and an anonymous visit that could be either.
    ("web", "6", None, None, None, "dana@example.org", "fam-3", None),
    ("web", "7", None, None, None, "eli@example.org", "fam-3", None),
    ("web", "8", None, None, None, None, "fam-3", None),
]


def _prepared(settings: IdentitySettings) -> pd.DataFrame:
    cols = ["source", "source_record_id", "first_name", "last_name", "birth_date", "email", "device_id"]
    df = pd.DataFrame(RECORDS, columns=[*cols, "cookie_id"])
    prepared = prepare_records(pa.Table.from_pandas(df, preserve_index=False), settings)
    prepared["rid"] = np.arange(len(prepared), dtype=np.int64)
    return prepared


def _arrow(prepared: pd.DataFrame, settings: IdentitySettings) -> pa.Table:
    for c in settings.comparisons:
        if c.tf_adjustment:
            prepared[f"{c.field}__tf"] = np.nan
    cols = comparison_columns(settings)
    return pa.table({c: pa.array(prepared[c].astype(object).where(prepared[c].notna(), None)) for c in cols})


def _model(settings: IdentitySettings) -> FSModel:
    """Agreement is evidence for, the lowest level evidence against (m and u by hand)."""
    levels = {c.field: comparison_level_names(c) for c in settings.comparisons}
    m = {f: list(np.linspace(0.9, 0.05, len(v))) for f, v in levels.items()}
    u = {f: list(np.linspace(0.01, 0.9, len(v))) for f, v in levels.items()}
    return FSModel(list(levels), levels, m, u, prior=1e-4, n_records=8)


def _run(settings: IdentitySettings, household: frozenset[str] = frozenset()):
    model = _model(settings)
    settings = effective_settings(settings, model)  # as a run applies them once the model is known
    prepared = _prepared(settings)
    key = dict(zip(prepared["source_record_id"], prepared["rid"], strict=True))
    links, refused = deterministic_links(prepared, settings)
    judge = pair_verdicts(_arrow(prepared, settings), model, settings)
    return key, shared_links(prepared, settings, links, refused, judge, household)


def _pairs(frame: pd.DataFrame, key: dict[str, int]) -> dict[tuple[str, str], pd.Series]:
    rid_to = {v: k for k, v in key.items()}
    return {(rid_to[r.rid_l], rid_to[r.rid_r]): r for _, r in frame.iterrows()}


def test_a_household_on_one_device_does_not_link_and_says_why():
    key, out = _run(IdentitySettings())
    links, evidence = _pairs(out.links, key), _pairs(out.evidence, key)
    pair = ("1", "2") if key["1"] < key["2"] else ("2", "1")
    assert pair not in links
    assert evidence[pair]["rule"] == "device_id"
    assert evidence[pair]["refusal"] == "shared device_id: first_name and birth_date differ"
    refused = out.refused.set_index(["field", "value"])
    assert refused.loc[("device_id", "tab-1"), "reason"] == "shared_conflict"
    assert refused.loc[("device_id", "tab-1"), "records"] == 2


def test_one_person_on_a_device_and_a_cookie_links():
    key, out = _run(IdentitySettings())
    links = {tuple(sorted(p)): r["rule"] for p, r in _pairs(out.links, key).items()}
    assert links[("3", "4")] == "device_id"
    assert links[("4", "9")] == "cookie_id"
    assert links[("3", "9")] == "email"
    # The anonymous visit could be anyone who uses the phone: evidence, not a link, at the default prior.
    evidence = {tuple(sorted(p)): r["refusal"] for p, r in _pairs(out.evidence, key).items()}
    assert evidence[("3", "5")] == "shared device_id: too little else agrees (p=0.90)"
    assert not any("5" in p for p in links)


def test_a_trusted_device_links_what_has_nothing_else_to_compare():
    trusted = IdentifierSettings(field="device_id", shared_match_probability=0.999)
    key, out = _run(
        IdentitySettings(identifiers=[IdentifierSettings(field="email", normalize="email"), trusted])
    )
    linked = {tuple(sorted(p)) for p in _pairs(out.links, key)}
    assert {("3", "5"), ("4", "5")} <= linked
    assert ("1", "2") not in linked and ("6", "8") not in linked  # a contradiction still refuses its value


def test_a_value_showing_two_people_links_none_of_its_records():
    key, out = _run(IdentitySettings())
    family = {"6", "7", "8"}
    assert not [p for p in _pairs(out.links, key) if set(p) <= family]
    evidence = {
        tuple(sorted(p)): r["refusal"] for p, r in _pairs(out.evidence, key).items() if set(p) <= family
    }
    assert evidence[("6", "7")].startswith("shared device_id: its comparison weighs -")
    assert evidence[("6", "8")] == "shared device_id: its other records show several people"
    assert len(evidence) == 3


def test_an_identifier_not_shared_links_as_before_where_households_do_not_share_it():
    settings = IdentitySettings(
        identifiers=[
            IdentifierSettings(field="email", normalize="email"),
            IdentifierSettings(field="device_id", shared=False),
            IdentifierSettings(field="cookie_id"),
        ]
    )
    key, out = _run(settings)
    linked = {tuple(sorted(p)) for p in _pairs(out.links, key)}
    assert ("1", "2") in linked and ("6", "7") in linked
    assert set(out.evidence["rule"]) <= {"cookie_id"}


def test_an_identifier_households_share_links_unless_its_records_show_several_people():
    """Not shared by nature, but the data shows a household's members share it (a landline: the model's
    `household_<field>` estimate): a value links all its records outright (the laptop's anonymous visits,
    Carl's phone) unless they are two people (Anna and Ben: two first names, two birth dates); then its
    pairs are evidence, as a shared value's are."""
    settings = IdentitySettings(
        identifiers=[
            IdentifierSettings(field="email", normalize="email"),
            IdentifierSettings(field="device_id", shared=False),
            IdentifierSettings(field="cookie_id"),
        ]
    )
    key, out = _run(settings, frozenset({"device_id"}))
    linked = {tuple(sorted(p)) for p in _pairs(out.links, key)}
    assert {("3", "4"), ("4", "5"), ("6", "7"), ("6", "8")} <= linked  # stars on the smallest record key
    assert ("1", "2") not in linked
    evidence = _pairs(out.evidence, key)
    refusal = {tuple(sorted(p)): r["refusal"] for p, r in evidence.items()}
    assert refusal[("1", "2")] == "device_id: first_name and birth_date differ"
    several = out.refused[out.refused["reason"] == "several_people"]
    assert several[["field", "value", "records"]].values.tolist() == [["device_id", "tab-1", 2]]


def test_household_identifiers_are_those_the_model_found_households_share():
    settings = IdentitySettings()
    model = _model(settings)
    assert household_identifiers(model, settings) == frozenset()
    model.estimated = {"household_fields": "last_name+street", "household_bits": 5.0, "household_phone": 9.0}
    assert household_identifiers(model, settings) == frozenset({"phone"})


def test_kept_evidence_replaces_only_the_recomputed_identifiers():
    old = pd.DataFrame(
        {
            "record_key_l": ["a", "c"],
            "record_key_r": ["b", "d"],
            "rule": ["cookie_id+device_id", "device_id"],
            "reason": ["shared device_id: x", "shared device_id: y"],
        }
    )
    fresh = pd.DataFrame(
        {
            "record_key_l": ["c"],
            "record_key_r": ["e"],
            "rule": ["device_id"],
            "refusal": ["shared device_id: z"],
        }
    )
    out = kept_evidence(old, {"device_id__id": pa.array(["a", "c"])}, fresh)
    assert out.to_dict("records") == [
        {"record_key_l": "a", "record_key_r": "b", "rule": "cookie_id", "refusal": "shared device_id: x"},
        {"record_key_l": "c", "record_key_r": "e", "rule": "device_id", "refusal": "shared device_id: z"},
    ]
