"""Household look-alikes: two people of one household share a surname, an address and often a landline, so
their agreement on those says less than the fields' own weights (each priced as if people agreed on it by
chance, independently of the others). The correction is measured from the data and applied to every pair
agreeing on what a household shares, not only to pairs whose first names or birth dates conflict; data
without households (FEBRL) gets none."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from c360.identity.config import AUTO, ComparisonSettings, IdentitySettings
from c360.identity.estimate import HOUSEHOLD, describe, estimate_settings
from c360.identity.model import FSModel

pytestmark = pytest.mark.unit

SETTINGS = IdentitySettings(
    blocking_rules=[{"keys": ["postcode"]}],
    comparisons=[
        ComparisonSettings(field="first_name", method="name", conflict=True),
        ComparisonSettings(field="last_name", method="name"),
        ComparisonSettings(field="birth_date", method="date", conflict=True),
        ComparisonSettings(field="street", method="address", thresholds=[0.9, 0.8]),
        ComparisonSettings(field="phone", method="exact"),
        ComparisonSettings(field="gender", method="exact"),
    ],
    conflict_match_probability=AUTO,
)
LEVELS = {"first_name": 5, "last_name": 5, "birth_date": 5, "street": 12, "phone": 2, "gender": 2}
RECORDS = 2_000
MATCHES = 6_000


def ends(n: int, first: float) -> list[float]:
    """Probabilities over n levels: `first` at exact, the rest at 'different'."""
    return [first] + [0.0] * (n - 2) + [1.0 - first]


M = {f: ends(n, 0.9) for f, n in LEVELS.items()} | {
    "first_name": ends(5, 0.995),
    "birth_date": ends(5, 0.995),
}
U = {f: ends(n, 0.01) for f, n in LEVELS.items()} | {
    "last_name": ends(5, 0.002),
    "street": ends(12, 0.0002),
    "phone": ends(2, 0.0001),
    "gender": ends(2, 0.5),
}


def model() -> FSModel:
    return FSModel(list(LEVELS), {}, M, U, prior=MATCHES / (RECORDS * (RECORDS - 1) / 2), n_records=RECORDS)


def candidates(households: int, seed: int = 0) -> pd.DataFrame:
    """Matches, blocked strangers, and `households` pairs of two people of one surname and address (first
    names and birth dates apart), half of them on the household's landline, gender as between strangers."""
    rng = np.random.default_rng(seed)

    def draw(p: dict[str, list[float]], size: int) -> pd.DataFrame:
        return pd.DataFrame({f"g_{f}": rng.choice(len(q), size, p=q) for f, q in p.items()})

    family = pd.DataFrame(
        {
            "g_first_name": 4,
            "g_last_name": 0,
            "g_birth_date": 4,
            "g_street": 0,
            "g_phone": np.where(np.arange(households) % 2 == 0, 0, 1),
            "g_gender": rng.choice(2, households),
        }
    )
    return pd.concat([draw(M, MATCHES), draw(U, 12_000), family], ignore_index=True).assign(rules_mask=1)


def test_households_are_measured_with_what_they_share_besides_surname_and_address():
    found = estimate_settings(candidates(1_500), model(), SETTINGS, float(MATCHES))
    assert found["household_fields"] == "last_name+street"
    assert float(found["household_bits"]) > 4  # far more pairs share surname and address than u predicts
    # half the look-alikes share a landline that two strangers share once in 10,000 pairs: ~12 bits
    assert 10 < float(found[f"{HOUSEHOLD}_phone"]) < 14
    assert f"{HOUSEHOLD}_gender" not in found  # a household's members agree on gender no more than strangers


def test_data_without_households_gets_no_correction():
    m = model()
    m.estimated = estimate_settings(candidates(0), m, SETTINGS, float(MATCHES))
    assert not any(k.startswith(HOUSEHOLD) for k in m.estimated)
    assert HOUSEHOLD not in m.field_weights(candidates(0).head(50))
    assert not any(line.startswith("household") for line in describe(SETTINGS, m))


def test_every_pair_agreeing_on_the_household_weighs_less_not_only_a_conflicting_one():
    m = model()
    m.estimated = estimate_settings(candidates(1_500), m, SETTINGS, float(MATCHES))
    bits, phone = float(m.estimated["household_bits"]), float(m.estimated[f"{HOUSEHOLD}_phone"])
    pairs = pd.DataFrame(
        {
            # namesakes (first names agree) on the landline / off it / an address only partly known /
            # two strangers on one phone number at different addresses
            "g_first_name": [0, 0, 0, 0],
            "g_last_name": [0, 0, 0, 4],
            "g_birth_date": [-1, -1, -1, -1],
            "g_street": [0, 0, 9, 11],
            "g_phone": [0, 1, 0, 0],
            "g_gender": [0, 0, 0, 0],
        }
    )
    before = FSModel(list(LEVELS), {}, M, U, prior=m.prior, n_records=RECORDS).match_weight(pairs)
    after = m.match_weight(pairs)
    assert after - before == pytest.approx([-bits - phone, -bits, 0.0, 0.0])
    lines = describe(SETTINGS, m)
    assert any(
        line.startswith("household look-alikes: pairs agreeing exactly on last_name and street")
        for line in lines
    )
