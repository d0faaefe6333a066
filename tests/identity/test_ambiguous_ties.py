"""A record the clustering could give to either of two people (namesakes of one household, told apart only
by birth dates it does not carry) goes to neither unless one tie is stronger by the match threshold's bits;
the records it brought leave with it."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from c360.identity.cluster import cluster_records
from c360.identity.config import IdentitySettings

pytestmark = pytest.mark.unit

# 0: the father (his birth date); 2: the son (his); 1 and 3: the son's shop account and newsletter sign-up,
# no birth date, one email between them (40 bits); 1 matches the father's record, 3 the son's.
DOB = {"birth_date": np.array(["19600101", None, "19851231", None], dtype=object)}


def cluster(father_tie: float, son_tie: float):
    links = pd.DataFrame(
        {
            "rid_l": [1, 0, 2],
            "rid_r": [3, 1, 3],
            "weight": [40.0, father_tie, son_tie],
            "direct": False,
        }
    )
    return cluster_records(4, links, DOB, IdentitySettings())


def groups(labels: np.ndarray) -> set[frozenset[int]]:
    out: dict[int, set[int]] = {}
    for rid, label in enumerate(labels):
        out.setdefault(int(label), set()).add(rid)
    return {frozenset(g) for g in out.values()}


def test_a_tie_no_stronger_than_the_refused_one_is_cut_and_what_it_brought_leaves_with_it():
    result = cluster(father_tie=12.0, son_tie=11.0)
    assert groups(result.labels) == {frozenset({0}), frozenset({1, 3}), frozenset({2})}
    reasons = result.refused[["rid_l", "rid_r", "reason"]].values.tolist()
    assert [0, 1, "ambiguous"] in reasons and [2, 3, "conflict:birth_date"] in reasons


def test_a_tie_stronger_by_the_match_threshold_holds():
    # 30 bits against 11: the father's by odds of 2^19, far past 0.99
    result = cluster(father_tie=30.0, son_tie=11.0)
    assert groups(result.labels) == {frozenset({0, 1, 3}), frozenset({2})}
    assert "ambiguous" not in set(result.refused["reason"])
