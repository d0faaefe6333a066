"""ALS through a Ray task gives the factors bare implicit gives for the same seed, and `c360 tune recs`
compares its trials on the validation window before the held-out one (Ray Tune on the session's Ray)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from c360.recs.als import confidence
from c360.recs.data import build_interactions
from c360.recs.model import RecsModel
from c360.recs.ray_fit import AlsParams, als_factors, als_factors_on_ray
from tests.recs import SPLIT, make_world

pytestmark = [pytest.mark.ray, pytest.mark.filterwarnings("ignore::DeprecationWarning")]
LINES = make_world(customers=300, seed=6)


def test_the_ray_task_returns_the_factors_of_bare_implicit(ray_session):
    data = build_interactions(LINES, SPLIT)
    params = AlsParams(factors=16, iterations=6, random_state=3)
    conf = confidence(data.weights, 10.0)
    bare_users, bare_items = als_factors(conf, params)
    ray_users, ray_items = als_factors_on_ray(conf, params)
    assert ray_items.shape == (data.shape[1], 16) and ray_users.shape == (data.shape[0], 16)
    np.testing.assert_allclose(ray_items, bare_items, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(ray_users, bare_users, rtol=1e-5, atol=1e-6)
    other_users, _ = als_factors(conf, AlsParams(factors=16, iterations=6, random_state=4))
    assert not np.allclose(other_users, bare_users)  # the seed matters: equality above is not vacuous


def test_the_registered_model_fits_als_through_ray_to_the_same_lists(ray_session):
    data = build_interactions(LINES, SPLIT)
    params = {"method": "als", "factors": 16, "iterations": 6}
    on_ray, bare = RecsModel(params), RecsModel(params)
    a, b = on_ray.fit_interactions(data, use_ray=True), bare.fit_interactions(data, use_ray=False)
    np.testing.assert_allclose(on_ray.item_state_, bare.item_state_, rtol=1e-5, atol=1e-6)
    customers = list(data.customers[:20])
    pd.testing.assert_frame_equal(a.recommend(customers), b.recommend(customers))


def test_tune_compares_trials_on_the_validation_window_only(ray_session, tmp_path):
    from c360.recs.tune import tune_recs, validation_window
    from tests.recs.workspace import recs_workspace

    ws, lines = recs_workspace(tmp_path / "ws", customers=200, seed=8)
    config = {
        "ray": False,
        "holdout_days": 21,
        "validation_days": 21,
        "tune": {"num_samples": 1, "search_space": {"lambda_": {"grid": [1.0, 5000.0]}}},
    }
    result = tune_recs(ws, config)
    start, end = validation_window(lines.assign(ts=pd.to_datetime(lines["ts"], utc=True)), load(config))
    assert result.validation == (start.isoformat(), end.isoformat())
    assert end < pd.Timestamp(lines["ts"].max()) - pd.Timedelta(days=20)  # before the held-out window
    assert list(result.table["status"]) == ["done", "done"]
    assert (
        result.table["ndcg"].notna().all() and (result.table["ndcg"] > result.table["popularity_ndcg"]).any()
    )
    assert result.best_params["lambda_"] == result.table.iloc[0]["lambda_"]
    assert ws.lake.exists(result.saved[0]) and result.mlflow_runs == 2


def load(config: dict):
    from c360.recs.config import load_recs_config

    return load_recs_config(config)


def test_the_overhead_benchmark_prints_both_times_the_ratio_and_the_load(ray_session):
    import io

    from rich.console import Console

    from c360.bench.recs_als import run

    buffer = io.StringIO()
    result = run(console=Console(file=buffer, width=200), synthetic=True, repeats=1)
    text = buffer.getvalue()
    assert len(result.bare) == len(result.ray) == 1 and result.nnz > 50_000
    assert "bare implicit" in text and "Ray task" in text and f"{result.ratio:.3f}x" in text
    assert "load average" in text


def test_the_tune_table_prints_one_row_per_trial():
    import io

    from rich.console import Console

    from c360.recs.tune import RecsTuneResult, print_result

    table = pd.DataFrame(
        {
            "trial": [2, 1],
            "lambda_": [200.0, 50.0],
            "ndcg": [0.0945, float("nan")],
            "status": ["done", "error"],
        }
    )
    result = RecsTuneResult("r", "ndcg", table, {"lambda_": 200.0}, 0.0945, ("2011-10-15", "2011-11-12"))
    buffer = io.StringIO()
    print_result(result, Console(file=buffer, width=150))
    text = buffer.getvalue()
    assert "0.0945" in text and "error" in text and "\\x0a" not in text and "{'lambda_': 200.0}" in text
