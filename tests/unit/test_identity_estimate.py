"""Settings the data decides: the conflict veto is strict where the data holds look-alikes (a household's
members share a surname and an address) and stands aside where it holds none, corrupted records or not."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from c360.identity.config import AUTO, ComparisonSettings, IdentitySettings
from c360.identity.estimate import (
    conflict_probability,
    describe,
    effective_settings,
    estimate_settings,
    lookalikes,
)
from c360.identity.model import FSModel, train_model

pytestmark = pytest.mark.unit

SETTINGS = IdentitySettings(
    blocking_rules=[{"keys": ["postcode"]}],
    comparisons=[
        ComparisonSettings(field="first_name", method="name", conflict=True),
        ComparisonSettings(field="last_name", method="name"),
        ComparisonSettings(field="birth_date", method="date", conflict=True),
        ComparisonSettings(field="street", method="address", thresholds=[0.9, 0.8]),
    ],
    conflict_match_probability=AUTO,
)
LEVELS = {"first_name": 5, "last_name": 5, "birth_date": 5, "street": 12}
RECORDS = 2_000  # few enough that two strangers rarely share a surname and an address by chance


def ends(n: int, first: float) -> list[float]:
    """Probabilities over n levels: `first` at exact, the rest at 'different'."""
    return [first] + [0.0] * (n - 2) + [1.0 - first]


M = {f: ends(n, 0.9) for f, n in LEVELS.items()}
U = {f: ends(n, 0.01) for f, n in LEVELS.items()} | {"last_name": ends(5, 0.002), "street": ends(12, 0.0002)}
FAMILY = {"g_first_name": 4, "g_last_name": 0, "g_birth_date": 4, "g_street": 0}


def candidates(corrupted: float, households: int, seed: int = 0) -> pd.DataFrame:
    """6,000 matches (birth dates differing in `corrupted` of them), 12,000 blocked non-matches, and
    `households` pairs of two people sharing a surname and an address."""
    rng = np.random.default_rng(seed)
    m = M | {"birth_date": ends(5, 1.0 - corrupted)}

    def draw(p: dict[str, list[float]], size: int) -> pd.DataFrame:
        return pd.DataFrame({f"g_{f}": rng.choice(len(q), size, p=q) for f, q in p.items()})

    family = pd.DataFrame(FAMILY, index=range(households))
    return pd.concat([draw(m, 6_000), draw(U, 12_000), family], ignore_index=True).assign(rules_mask=1)


def known_model(corrupted: float) -> FSModel:
    """The model a careful EM learns: m of matches (with their corruption), u of random pairs."""
    m = M | {"birth_date": ends(5, 1.0 - corrupted)}
    return FSModel(list(LEVELS), {}, m, U, prior=6_000 / (RECORDS * (RECORDS - 1) / 2), n_records=RECORDS)


def learned(corrupted: float, seed: int = 0) -> FSModel:
    """A model learned by EM from `candidates` without households and random pairs drawn from u."""
    rng = np.random.default_rng(seed + 1)
    random_pairs = pd.DataFrame({f"g_{f}": rng.choice(len(q), 100_000, p=q) for f, q in U.items()})
    return train_model(
        candidates(corrupted, 0, seed), random_pairs, pd.DataFrame(index=range(RECORDS)), SETTINGS
    )


def test_households_are_lookalikes_the_model_does_not_expect() -> None:
    model = known_model(0.002)
    with_families = lookalikes(candidates(0.002, 1_500), model, SETTINGS, 6_000.0)
    top = with_families[0]
    assert top.observed >= 1_500 and top.bits > 4  # far more than independence and m together predict
    p = conflict_probability(model, SETTINGS, with_families)
    bits = np.log2(p / (1 - p)) - np.log2(SETTINGS.match_threshold / (1 - SETTINGS.match_threshold))
    assert bits == pytest.approx(top.bits)  # the threshold raised by the overstatement
    assert p > 0.999


@pytest.mark.parametrize("corrupted", [0.002, 0.15])
def test_without_households_corrupted_matches_are_no_lookalikes(corrupted: float) -> None:
    model = known_model(corrupted)
    found = lookalikes(candidates(corrupted, 0), model, SETTINGS, 6_000.0)
    assert all(abs(f.bits) < 1 for f in found)  # the model predicts what is seen
    assert conflict_probability(model, SETTINGS, found) == model.prior


@pytest.mark.parametrize("corrupted", [0.002, 0.15])
def test_em_learned_model_stands_the_veto_aside_without_households(corrupted: float) -> None:
    model = learned(corrupted)
    # the veto stands aside: a conflicting pair shares a cluster unless its comparison is against a match
    assert model.estimated["conflict_match_probability"] == pytest.approx(model.prior)
    assert abs(float(model.estimated["lookalike_bits"])) < 1
    assert "no look-alikes, the prior" in describe(SETTINGS, model)[-1]


def test_a_written_value_wins_and_auto_applies_the_models_estimate() -> None:
    model = learned(0.15)
    written = SETTINGS.model_copy(update={"conflict_match_probability": 0.5})
    assert effective_settings(written, model).conflict_match_probability == 0.5
    assert "set in identity:" in describe(written, model)[-1]
    auto = effective_settings(SETTINGS, model)
    assert auto.conflict_match_probability == model.estimated["conflict_match_probability"]
    # the estimate travels with the model: an incremental run or explain applies the full run's choice
    again = FSModel.from_json(model.to_json())
    assert effective_settings(SETTINGS, again) == auto


def test_lookalikes_need_a_shared_surname_or_address_to_compare() -> None:
    model = learned(0.002)
    no_names = pd.DataFrame({"g_first_name": [4], "g_birth_date": [4]})
    assert lookalikes(no_names, model, SETTINGS, 100.0) == []


def test_without_lookalikes_the_address_is_compared_apart() -> None:
    model = learned(0.15)
    assert model.estimated["address_comparison"] == "apart"
    apart = effective_settings(SETTINGS, model)
    methods = {c.field: c.method for c in apart.comparisons}
    assert (
        methods["street"] == "string" and methods["city"] == "string" and methods["postcode"] == "identifier"
    )
    assert "address_comparison apart (estimated: no look-alikes)" in describe(SETTINGS, model)
    # a config that says how wins over the estimate
    one = SETTINGS.model_copy(update={"address_comparison": "one"})
    assert effective_settings(one, model).comparisons == one.comparisons


def test_households_keep_the_address_one_piece() -> None:
    model = known_model(0.002)
    found = estimate_settings(candidates(0.002, 1_500), model, SETTINGS, 6_000.0)
    assert found["address_comparison"] == "one"
    model.estimated = found
    assert effective_settings(SETTINGS, model).comparisons[3].method == "address"


def test_household_agreement_is_read_on_the_largest_lookalike_set_not_the_one_of_most_bits() -> None:
    from c360.identity.estimate import Lookalikes, _widest

    loyalty = Lookalikes("loyalty_id", observed=18_957, expected=220.0)
    first = Lookalikes("first_name", observed=135_407, expected=1_806.0)
    assert loyalty.bits > first.bits
    assert _widest([loyalty, first]).field == "first_name"
    # a set at or under the bar is not read while one above it is, however large
    assert _widest([Lookalikes("birth_date", 500_000, 400_000.0), loyalty]).field == "loyalty_id"
