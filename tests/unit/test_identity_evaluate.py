"""Clustering quality against ground truth, and recall over the true pairs that share evidence."""

from __future__ import annotations

import pandas as pd
import pytest

from c360.identity.evaluate import clustering_quality, evidence_groups, evidence_quality

# Person A: records 0-2 share a full name (1 also an email with 0); record 3 is a bare cookie.
# Person B: records 4 and 5 share an email only; record 6 shares a surname and a postcode with 5.
RECORDS = pd.DataFrame(
    {
        "email__id": ["ann@x", "ann@x", None, None, "bob@x", "bob@x", None],
        "cookie_id__id": [None, None, None, "ck-9", None, None, None],
        "first_name": ["ann", "ann", "ann", None, "bob", None, "robert"],
        "last_name": ["lee", "lee", "lee", None, None, "ray", "ray"],
        "postcode": [None, None, None, None, None, "n1 9gu", "n1 9gu"],
    }
)
TRUTH = pd.Series(list("AAAABBB"))


def test_evidence_groups_join_records_by_identifiers_or_two_quasi_identifiers() -> None:
    groups = evidence_groups(TRUTH, RECORDS)
    assert groups[0] == groups[1] == groups[2]
    assert groups[3] != groups[0]  # a cookie nobody else carries
    assert groups[4] == groups[5] == groups[6]  # an email, then surname + postcode


def test_one_shared_quasi_identifier_or_another_entity_is_not_evidence() -> None:
    records = pd.DataFrame({"first_name": ["ann", "ann", "ann"], "last_name": ["lee", "kay", "lee"]})
    groups = evidence_groups(pd.Series(["A", "A", "B"]), records)
    assert groups[0] != groups[1]  # a first name alone
    assert groups[0] != groups[2]  # the same name, but another person


def test_evidence_quality_counts_recall_over_evidenced_pairs_only() -> None:
    groups = evidence_groups(TRUTH, RECORDS)
    predicted = pd.Series([1, 1, 2, 3, 4, 4, 5])
    q = evidence_quality(predicted, TRUTH, groups)
    assert q.true_pairs == 6 + 3
    assert q.evidenced_pairs == 3 + 3  # the cookie's three pairs have no evidence
    assert q.ceiling == pytest.approx(6 / 9)
    assert q.evidenced_recall == pytest.approx(2 / 6)  # (0, 1) and (4, 5)
    assert q.pairwise_precision == 1.0
    assert q.pairwise_precision == clustering_quality(predicted, TRUTH).pairwise_precision
    assert q.evidenced_f1 == pytest.approx(2 * (1 / 3) / (1 + 1 / 3))


def test_a_wrong_merge_costs_precision_against_the_whole_truth() -> None:
    groups = evidence_groups(TRUTH, RECORDS)
    q = evidence_quality(pd.Series([1, 1, 1, 2, 1, 1, 1]), TRUTH, groups)
    assert q.evidenced_recall == pytest.approx(6 / 6)
    # Predicted pairs: 6 of one cluster (15 pairs), 3 + 3 true ones among them.
    assert q.pairwise_precision == pytest.approx((3 + 3) / 15)
