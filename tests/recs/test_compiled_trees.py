"""The hybrid's ranker compiled to machine code: it scores as LightGBM does, pickles, and falls back."""

from __future__ import annotations

import logging
import pickle

import lightgbm as lgb
import numpy as np
import pytest

from c360.recs import compiled_trees
from c360.recs.compiled_trees import CompiledBooster

pytestmark = pytest.mark.unit


@pytest.fixture(scope="module")
def ranker() -> tuple[lgb.Booster, np.ndarray]:
    """A lambdarank booster over features with missing values (the hybrid's have NaN: no repeat, no
    interval), and rows it never saw."""
    rng = np.random.default_rng(4)
    x = rng.normal(size=(3000, 12)).astype(np.float32)
    x[rng.random(x.shape) < 0.15] = np.nan
    y = (np.nan_to_num(x[:, 0]) + np.nan_to_num(x[:, 3]) * 0.5 + rng.normal(size=3000) > 1.0).astype(float)
    params = {"objective": "lambdarank", "num_leaves": 15, "min_data_in_leaf": 5, "verbose": -1, "seed": 0}
    booster = lgb.train(params, lgb.Dataset(x, y, group=[30] * 100), 40)
    fresh = rng.normal(size=(500, 12)).astype(np.float32)
    fresh[rng.random(fresh.shape) < 0.15] = np.nan
    fresh[:5] = np.nan  # rows with nothing known
    return booster, fresh


def test_compiled_scores_equal_lightgbm_scores(ranker):
    booster, x = ranker
    compiled = CompiledBooster(booster)
    got = compiled.predict(x)
    assert compiled.compiled  # the compiled code answered, not the fallback
    np.testing.assert_allclose(got, booster.predict(x, num_threads=1), rtol=0, atol=1e-12)
    # one customer's candidates at a time, as a list is served
    np.testing.assert_allclose(compiled.predict(x[7:8]), booster.predict(x[7:8]), rtol=0, atol=1e-12)
    assert len(np.unique(got)) > 100  # the trees split: the comparison is not between constants


def test_a_pickled_ranker_compiles_again_where_it_is_unpickled(ranker):
    booster, x = ranker
    compiled = CompiledBooster(booster)
    compiled.compile()
    again = pickle.loads(pickle.dumps(compiled))
    assert not again.compiled  # the text travelled, not the machine code
    np.testing.assert_allclose(again.predict(x), compiled.predict(x), rtol=0, atol=1e-12)
    assert again.compiled and again.model_to_string() == booster.model_to_string()


def test_lightgbm_scores_where_the_trees_cannot_be_compiled(ranker, monkeypatch, caplog):
    booster, x = ranker

    def broken(text: str) -> None:
        raise OSError("no llvmlite for this platform")

    monkeypatch.setattr(compiled_trees, "_compile", broken)
    compiled = CompiledBooster(booster)
    with caplog.at_level(logging.WARNING, logger="c360.recs"):
        first, second = compiled.predict(x), compiled.predict(x[:3])
    assert not compiled.compiled
    np.testing.assert_array_equal(first, booster.predict(x, num_threads=1))
    np.testing.assert_array_equal(second, booster.predict(x[:3], num_threads=1))
    warnings = [r for r in caplog.records if "could not be compiled" in r.getMessage()]
    assert len(warnings) == 1 and "no llvmlite" in warnings[0].getMessage()  # said once, not per list
