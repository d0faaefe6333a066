"""The identity bench's evidence: an identifier a household shares by nature evidences a pair only together
with one more agreeing field."""

from __future__ import annotations

import pandas as pd
import pytest

from c360.bench.identity import demo_evidence_groups
from c360.identity.config import IdentitySettings
from c360.identity.evaluate import evidence_groups

pytestmark = pytest.mark.unit

# Person A: 0 and 1 are two anonymous cookies on one device; 2 shares the device and a first name with 3;
# 4 shares an email with 3. Person B: 5 shares a loyalty id (not shared by nature) with 6.
RECORDS = pd.DataFrame(
    {
        "device_id__id": ["tab-1", "tab-1", "tab-1", "tab-1", None, None, None],
        "email__id": [None, None, None, "ann@x", "ann@x", None, None],
        "loyalty_id__id": [None, None, None, None, None, "L1", "L1"],
        "first_name": [None, None, "ann", "ann", None, None, None],
    }
)
TRUTH = pd.Series(list("AAAAABB"))


def test_a_shared_device_alone_is_no_evidence() -> None:
    groups = demo_evidence_groups(TRUTH, RECORDS, IdentitySettings())
    assert groups[0] != groups[1] and groups[0] != groups[2]  # the device alone, as a family tablet's
    assert groups[2] == groups[3] == groups[4]  # the device and a first name, then an email
    assert groups[5] == groups[6]  # an identifier not shared by nature is evidence alone
    # the definition before: the device alone joined every record of A
    before = evidence_groups(TRUTH, RECORDS)
    assert before[0] == before[1] == before[2] == before[4]


def test_an_identifier_marked_personal_is_evidence_alone() -> None:
    settings = IdentitySettings.model_validate(
        {"identifiers": [{"field": "device_id", "shared": False}, {"field": "email"}]}
    )
    groups = demo_evidence_groups(TRUTH, RECORDS, settings)
    assert groups[0] == groups[1] == groups[2] == groups[4]
