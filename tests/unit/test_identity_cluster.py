"""Clustering: anti-chaining on strong attributes, size guard, corrections; deterministic hygiene."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from c360.identity.cluster import cluster_records
from c360.identity.config import IDENTITY_FIELDS, IdentitySettings
from c360.identity.deterministic import deterministic_links
from c360.identity.normalize import prepare_records

pytestmark = pytest.mark.unit


def links(rows: list[tuple[int, int, float]], direct: bool = False) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "rid_l": [r[0] for r in rows],
            "rid_r": [r[1] for r in rows],
            "weight": [r[2] for r in rows],
            "direct": direct,
        }
    )


def dob(*values: str | None) -> dict[str, np.ndarray]:
    return {"birth_date": np.array(values, dtype=object)}


def groups(labels: np.ndarray) -> set[frozenset[int]]:
    out: dict[int, set[int]] = {}
    for rid, lab in enumerate(labels):
        out.setdefault(int(lab), set()).add(rid)
    return {frozenset(g) for g in out.values()}


def test_conflicting_birth_dates_never_join_through_a_chain() -> None:
    # 0 and 2 have different birth dates; 1 has none and links to both. The weaker link is refused.
    result = cluster_records(
        3, links([(0, 1, 30.0), (1, 2, 20.0)]), dob("19800101", None, "19551231"), IdentitySettings()
    )
    assert groups(result.labels) == {frozenset({0, 1}), frozenset({2})}
    assert result.refused[["rid_l", "rid_r", "reason"]].values.tolist() == [[1, 2, "conflict:birth_date"]]


def test_typo_and_swapped_dates_are_not_conflicts() -> None:
    settings = IdentitySettings()
    swapped = cluster_records(
        3, links([(0, 1, 30.0), (1, 2, 20.0)]), dob("19800102", "19800201", None), settings
    )
    assert groups(swapped.labels) == {frozenset({0, 1, 2})} and swapped.refused.empty
    typo = cluster_records(
        3, links([(0, 1, 30.0), (1, 2, 20.0)]), dob("19800102", None, "19800103"), settings
    )
    assert groups(typo.labels) == {frozenset({0, 1, 2})} and typo.refused.empty
    # Swap and typo together are two steps away from 19800102 -> 19800301 would conflict.
    far = cluster_records(3, links([(0, 1, 30.0), (1, 2, 20.0)]), dob("19800102", None, "19800301"), settings)
    assert len(groups(far.labels)) == 2


def test_direct_evidence_may_join_conflicting_records_but_a_chain_may_not() -> None:
    settings = IdentitySettings()
    conflicting = dob("19800101", "19551231")
    assert (
        len(groups(cluster_records(2, links([(0, 1, 30.0)], direct=False), conflicting, settings).labels))
        == 2
    )
    assert (
        len(groups(cluster_records(2, links([(0, 1, 30.0)], direct=True), conflicting, settings).labels)) == 1
    )
    # With a scorer that says the two conflicting records do not match on their own, the chain is cut.
    chain = links([(0, 1, 30.0), (1, 2, 20.0)], direct=True)
    res = cluster_records(
        3, chain, dob("19800101", None, "19551231"), settings, pair_is_match=lambda a, b: a < 0
    )
    assert groups(res.labels) == {frozenset({0, 1}), frozenset({2})}


def test_oversized_component_splits_at_weakest_links_and_is_reported() -> None:
    settings = IdentitySettings(max_cluster_size=3)
    # A path 0-1-2-3-4-5 whose middle link is the weakest: that is where it splits.
    res = cluster_records(6, links([(0, 1, 50), (1, 2, 40), (2, 3, 5), (3, 4, 40), (4, 5, 50)]), {}, settings)
    assert groups(res.labels) == {frozenset({0, 1, 2}), frozenset({3, 4, 5})}
    assert res.refused[["rid_l", "rid_r", "reason"]].values.tolist() == [[2, 3, "max_cluster_size"]]
    assert res.oversized == [0]
    res = cluster_records(5, links([(0, 1, 50), (1, 2, 40), (2, 3, 30), (3, 4, 20)]), {}, settings)
    assert groups(res.labels) == {frozenset({0, 1, 2}), frozenset({3, 4})}
    assert set(res.refused["reason"]) == {"max_cluster_size"} and res.oversized == [0]


def test_corrections_must_link_and_do_not_link() -> None:
    settings = IdentitySettings()
    res = cluster_records(
        4, links([(0, 1, 30.0)]), {}, settings, must_links=[[2, 3]], cannot_links=[([0], [1])]
    )
    assert groups(res.labels) == {frozenset({0}), frozenset({1}), frozenset({2, 3})}
    assert res.refused["reason"].tolist() == ["do_not_link"]
    # Labels are the smallest rid of each cluster, whatever the processing order.
    assert sorted(set(res.labels.tolist())) == [0, 1, 2]


def identity_rows(rows: list[dict]) -> pd.DataFrame:
    cols = tuple(f for f in IDENTITY_FIELDS if f != "source")
    df = pd.DataFrame(
        [{**dict.fromkeys(cols), "source": "s", "source_record_id": str(i), **r} for i, r in enumerate(rows)]
    )
    df["record_key"] = "s:" + df["source_record_id"]
    return df


def test_deterministic_hygiene_block_list_placeholder_and_cardinality() -> None:
    settings = IdentitySettings(max_people_per_identifier=2)
    people = [("ann", "lee"), ("bob", "ray"), ("cat", "fox")]
    rows = [{"email": "Ann@Example.org", "first_name": "ann", "last_name": "lee"},
            {"email": "ann@example.org ", "first_name": "ann", "last_name": "lee"},
            *({"email": "test@test.com", "first_name": f, "last_name": la} for f, la in people[:2]),
            *({"phone": "+15550000000", "first_name": f, "last_name": la} for f, la in people),
            *({"phone": "+10000000000", "first_name": f, "last_name": la} for f, la in people[:2]),
            {"device_id": "dev-1"}, {"device_id": "DEV-1"}]  # fmt: skip
    prep = prepare_records(identity_rows(rows), settings)
    det, refused = deterministic_links(prep, settings)
    linked = set(zip(det["rid_l"], det["rid_r"], strict=True))
    assert linked == {(0, 1), (9, 10)}  # the real email (case and spaces normalized), the anonymous device
    reasons = dict(zip(refused["value"], refused["reason"], strict=True))
    assert reasons == {
        "test@test.com": "block_list",
        "15550000000": "cardinality",
        "10000000000": "block_list",
    }
    assert refused.loc[refused["reason"] == "cardinality", "people"].item() == 3


def test_a_misspelt_nickname_is_no_conflict_but_another_name_is() -> None:
    from c360.identity.cluster import compatible_fn

    first = next(c for c in IdentitySettings().comparisons if c.field == "first_name")
    same_person = compatible_fn(first)
    # a nickname and a typo together: "aleex" (alex), "mndy" (mandy), "bcky" (becky)
    assert same_person("alexander", "aleex")
    assert same_person("mndy", "amanda")
    assert same_person("rebecca", "bcky")
    assert not same_person("john", "jane")
    assert not same_person("alexander", "mary")
    # a typo of a name in no group of the other's is still a conflict
    assert not same_person("amanda", "bekky")
