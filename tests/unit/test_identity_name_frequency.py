"""A full name's frequency where names depend on the country: "Henryk Beckmann" is rarer across a British and
German customer base than either name's frequency says, but not as rare as their product says."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from c360.identity.compare import FULL_NAME
from c360.identity.config import IdentitySettings
from c360.identity.model import FSModel, term_frequencies
from c360.identity.name_frequency import dependence, full_name_bits, record_ratios

pytestmark = pytest.mark.unit


def records(rows: list[tuple[str, str, str | None]]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["first_name", "last_name", "country"])


# 8 British records (john/mary x smith/jones, every pairing twice) and 2 German ones (henryk beckmann, anna
# beckmann): in Germany "henryk" and "beckmann" go together far more often than across all ten records
ROWS = [(f, last, "gb") for f in ("john", "mary") for last in ("smith", "jones") for _ in range(2)] + [
    ("henryk", "beckmann", "de"),
    ("anna", "beckmann", "de"),
]


def test_the_ratio_is_the_full_name_frequency_within_countries_over_the_product_of_the_names() -> None:
    ratios = dependence(records(ROWS), IdentitySettings())
    # P(henryk, beckmann) = P(de) P(henryk | de) P(beckmann | de) = 0.2 * 0.5 * 1 = 0.1;
    # P(henryk) P(beckmann) = 0.1 * 0.2 = 0.02: five times as common as the product says
    assert ratios["henryk\x1fbeckmann"] == pytest.approx(5.0)
    # P(john, smith) = 0.8 * 0.5 * 0.5 = 0.2; P(john) P(smith) = 0.4 * 0.4 = 0.16
    assert ratios["john\x1fsmith"] == pytest.approx(1.25)


def test_no_grouping_column_or_one_country_changes_nothing() -> None:
    settings = IdentitySettings()
    assert dependence(records(ROWS).drop(columns=["country"]), settings) == {}
    assert dependence(records(ROWS).assign(country="gb"), settings) == {}
    without_tf = settings.model_copy(
        update={
            "comparisons": [
                c.model_copy(update={"tf_adjustment": False}) if c.field == "last_name" else c
                for c in settings.comparisons
            ]
        }
    )
    assert dependence(records(ROWS), without_tf) == {}


def test_records_without_a_country_are_left_out_of_the_estimate_but_take_its_ratio() -> None:
    rows = [*ROWS, ("henryk", "beckmann", None)]
    ratios = dependence(records(rows), IdentitySettings())
    assert ratios["henryk\x1fbeckmann"] == pytest.approx(5.0)
    got = record_ratios(
        records([("henryk", "beckmann", None), ("nobody", "known", "gb"), (None, "x", "de")]), ratios
    )
    assert got.tolist() == pytest.approx([5.0, 1.0, 1.0])


def test_only_pairs_agreeing_exactly_on_both_names_weigh_less() -> None:
    g_first = np.array([0, 0, 1, 0, -1])
    g_last = np.array([0, 1, 0, 0, 0])
    ratio = np.array([8.0, 8.0, 8.0, 0.5, 8.0])  # a ratio under 1 never adds evidence
    assert full_name_bits(g_first, g_last, ratio).tolist() == pytest.approx([-3.0, 0, 0, 0, 0])


def test_the_model_learns_the_ratios_with_its_term_frequencies_and_applies_them() -> None:
    settings = IdentitySettings()
    tf = term_frequencies(records(ROWS), settings)
    assert tf[FULL_NAME]["henryk\x1fbeckmann"] == pytest.approx(5.0)
    model = FSModel(
        fields=["first_name", "last_name"],
        levels={"first_name": ["exact", "different"], "last_name": ["exact", "different"]},
        m={"first_name": [0.9, 0.1], "last_name": [0.9, 0.1]},
        u={"first_name": [0.01, 0.99], "last_name": [0.01, 0.99]},
        prior=1e-4,
        n_records=10,
        tf=tf,
    )
    pairs = pd.DataFrame({"g_first_name": [0, 0], "g_last_name": [0, 0], "tf_full_name": [5.0, 1.0]})
    weights = model.field_weights(pairs)
    assert weights[FULL_NAME].tolist() == pytest.approx([-math.log2(5.0), 0.0])
    # a model learned before the correction existed (no ratios kept) weighs as it did
    older = FSModel(**{**model.__dict__, "tf": {k: v for k, v in tf.items() if k != FULL_NAME}})
    assert FULL_NAME not in older.field_weights(pairs)


def test_resolve_says_what_it_estimated() -> None:
    from c360.identity.estimate import describe

    settings = IdentitySettings()
    model = FSModel(["first_name"], {}, {}, {}, 1e-4, 10, tf=term_frequencies(records(ROWS), settings))
    assert any(
        line.startswith("full names: 6 go together in one country") and "up to 2.3 bits less" in line
        for line in describe(settings, model)
    )
