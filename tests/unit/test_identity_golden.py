"""Golden records: survivorship rules from config, lineage per attribute."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from c360.identity.config import IdentitySettings, SurvivorshipRule
from c360.identity.golden import golden_records

pytestmark = pytest.mark.unit


def recs() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "record_key": ["crm:1", "web:2", "shop:3", "crm:4"],
            "source": ["crm", "web", "shop", "crm"],
            "first_name": ["Robert", "Bob", "Robert", "Rob"],
            "email": ["old@x.org", "new@x.org", None, "old@x.org"],
            "street": ["1 Long Road", "1 Long Rd", "1 Long Road, Flat 2", None],
            "city": ["Leeds", "York", "Hull", "Bath"],
            "observed_at": pd.to_datetime(["2020-01-01", "2024-06-01", "2023-01-01", "2019-01-01"], utc=True),
        }
    )


def test_survivorship_rules_and_lineage() -> None:
    settings = IdentitySettings(
        survivorship={
            "email": SurvivorshipRule(rule="most_recent"),
            "street": SurvivorshipRule(rule="most_complete"),
            "city": SurvivorshipRule(rule="source_priority", source_priority=["shop", "crm"]),
        },
        default_survivorship=SurvivorshipRule(rule="most_frequent"),
    )
    g = golden_records(recs(), np.array(["C1"] * 4), settings).iloc[0]
    assert (g.first_name, g.first_name__from) == ("Robert", "shop:3")  # most frequent; its latest record
    assert (g.email, g.email__from) == ("new@x.org", "web:2")  # most recent non-null
    assert (g.street, g.street__from) == ("1 Long Road, Flat 2", "shop:3")  # most complete
    assert (g.city, g.city__from) == ("Hull", "shop:3")  # the most trusted source
    assert g.emails == ["new@x.org", "old@x.org"] and g.n_records == 4
    assert g.sources == ["crm", "shop", "web"]
    assert pd.isna(g.birth_date) and pd.isna(g.birth_date__from)


def test_one_golden_row_per_customer() -> None:
    g = golden_records(recs(), np.array(["C1", "C1", "C2", "C2"]), IdentitySettings())
    assert g["customer_id"].tolist() == ["C1", "C2"]
    assert g.set_index("customer_id").loc["C2", "first_name__from"] == "shop:3"
