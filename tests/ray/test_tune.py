"""`c360 tune churn` with a tiny search (3 trials, ASHA over 2 data rungs) on the planted-churn workspace: the
results table is printed, saved in the lake and logged to MLflow trial by trial; `--promote` refits the best
trial's parameters, which become the champion and rank the held-out cutoff well; an unknown
hyper-parameter in the search space is refused before any trial."""

from __future__ import annotations

import pandas as pd
import pytest
import yaml

from c360.cli import run_cli
from c360.models.base import ModelError
from c360.models.tune import tracking_uri, tune_model
from tests.models.churn_world import churn_workspace

pytestmark = [pytest.mark.ray, pytest.mark.feast, pytest.mark.filterwarnings("ignore::UserWarning")]
CONFIG = {
    "model": "churn",
    "metric": "auc",
    "mode": "max",
    "ray": False,
    "params": {"n_estimators": 100, "nthread": 1},
    "tune": {
        "num_samples": 3,
        "scheduler": {"name": "asha", "max_t": 2, "grace_period": 1, "reduction_factor": 2},
        "search_space": {"max_depth": {"randint": [2, 4]}, "learning_rate": {"choice": [0.05, 0.2]}},
    },
}


@pytest.fixture(scope="module")
def ws(ray_session, tmp_path_factory: pytest.TempPathFactory):
    return churn_workspace(tmp_path_factory.mktemp("tune") / "ws", customers=300, seed=9)


@pytest.fixture(scope="module")
def tuned(ws, tmp_path_factory: pytest.TempPathFactory):
    path = tmp_path_factory.mktemp("config") / "churn.yaml"
    path.write_text(yaml.safe_dump(CONFIG))
    return path


def test_a_tiny_search_prints_saves_logs_and_promotes_the_best(ws, tuned, capsys):
    import mlflow

    from c360.models import registry

    assert run_cli(["tune", "churn", "--config", str(tuned), "--promote", "-w", str(ws.root)]) == 0
    out = capsys.readouterr().out
    assert "3 trial(s), auc (max) on validation" in out and "(champion)" in out

    (csv,) = ws.lake.glob("tuning/churn/*/results.csv")
    table = pd.read_csv(csv)
    assert len(table) == 3 and list(table["trial"].sort_values()) == [1, 2, 3]
    assert table["auc"].is_monotonic_decreasing  # best first
    assert set(table["status"]) <= {"done", "stopped early"} and (table["status"] == "done").any()
    assert table["max_depth"].between(2, 4).all() and set(table["learning_rate"]) <= {0.05, 0.2}
    assert table["auc"].iloc[0] > 0.85  # validation: the training rows' own last cutoff
    parquet = pd.read_parquet(csv.replace(".csv", ".parquet"))
    pd.testing.assert_frame_equal(parquet, table, check_dtype=False)

    client = mlflow.MlflowClient(tracking_uri=tracking_uri(ws))
    runs = client.search_runs([client.get_experiment_by_name("c360-tune-churn").experiment_id])
    assert len(runs) == 3
    assert sorted(r.data.metrics["auc"] for r in runs) == pytest.approx(sorted(table["auc"]))

    champion = registry.load_champion(ws, "churn")
    best = table.iloc[0]
    assert champion.params["max_depth"] == best["max_depth"]
    assert champion.params["learning_rate"] == best["learning_rate"]
    assert champion.card.metrics["auc"] > 0.85  # the held-out cutoff, never seen by the search


def test_an_unknown_hyper_parameter_in_the_search_space_is_refused_before_any_trial(ws):
    bad = {**CONFIG, "tune": {**CONFIG["tune"], "search_space": {"max_dpth": {"randint": [2, 4]}}}}
    before = ws.lake.glob("tuning/churn/*/results.csv")
    with pytest.raises(ModelError, match=r"unknown hyper-parameter\(s\) max_dpth"):
        tune_model(ws, "churn", bad)
    assert ws.lake.glob("tuning/churn/*/results.csv") == before
