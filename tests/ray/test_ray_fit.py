"""Ray Train path: the booster trained inside XGBoostTrainer / LightGBMTrainer workers is the plain path's
booster (one worker: same rows, order and parameters), so the model's held-out quality is the same."""

from __future__ import annotations

import os

import numpy as np
import pytest

from c360.models.base import ModelError
from c360.models.boosting import BoosterData, plain_fit
from c360.models.churn import ChurnModel
from c360.models.ray_fit import RayTrainFit, fit_with_ray, supports_ray_train
from c360.models.survival import SurvivalModel
from tests.models.test_churn import FEATURES, customers

pytestmark = pytest.mark.ray
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")


def test_churn_through_xgboost_trainer_is_the_plain_model(ray_session, tmp_path) -> None:
    train, valid = customers(3000, seed=11), customers(1000, seed=12)
    params = {"n_estimators": 300, "learning_rate": 0.08}
    plain = ChurnModel(params)
    plain_metrics = plain.fit(train, FEATURES, valid)
    ray_model = ChurnModel(params)
    ray_metrics = fit_with_ray(ray_model, train, FEATURES, valid, storage_path=tmp_path)
    assert ray_metrics == pytest.approx(plain_metrics)
    assert ray_metrics["auc"] > 0.75
    assert ray_model.booster_.save_raw() == plain.booster_.save_raw()
    a, b = plain.predict(valid), ray_model.predict(valid)
    np.testing.assert_array_equal(a["churn_risk"], b["churn_risk"])
    assert not any(tmp_path.iterdir())  # the run folder goes once the booster is read back


def test_lightgbm_trainer_gives_the_plain_booster(ray_session) -> None:
    frame = customers(2000, seed=13)
    X = frame[["days_since_last_purchase", "orders", "noise"]].assign(
        contract=frame["contract"].map({"monthly": 0.0, "yearly": 1.0, "two_year": 2.0})
    )
    y = frame["label"].to_numpy()
    train = BoosterData(X.iloc[:1500], {"label": y[:1500]}, ["contract"])
    valid = BoosterData(X.iloc[1500:], {"label": y[1500:]}, ["contract"])
    params = {"objective": "binary", "learning_rate": 0.05, "num_leaves": 15, "num_threads": 1, "seed": 3}
    plain = plain_fit("lightgbm", params, train, valid, 200, 30)
    fit = RayTrainFit(num_workers=1)
    via_ray = fit("lightgbm", params, train, valid, 200, 30)
    np.testing.assert_allclose(
        via_ray.predict(valid.X), plain.predict(valid.X, num_iteration=plain.best_iteration)
    )
    assert set(fit.timings) == {"startup", "data", "train", "finish", "total"}


@pytest.mark.slow
def test_survival_through_ray_datasets_ingest(ray_session) -> None:
    from tests.models.test_survival import FEATURES as SURVIVAL_FEATURES
    from tests.models.test_survival import lifetimes

    train, valid = lifetimes(1500, 21), lifetimes(500, 22)
    params = {"duration": "tenure", "n_estimators": 200, "learning_rate": 0.08}
    plain = SurvivalModel(params)
    plain_metrics = plain.fit(train, SURVIVAL_FEATURES, valid)
    ray_model = SurvivalModel(params)
    ray_metrics = fit_with_ray(ray_model, train, SURVIVAL_FEATURES, valid, ingest="dataset")
    assert ray_metrics["concordance"] == pytest.approx(plain_metrics["concordance"])
    assert ray_model.booster_.save_raw() == plain.booster_.save_raw()


def test_refusals(ray_session) -> None:
    class NotBoosted:
        name = "segments"

    assert supports_ray_train(ChurnModel()) and supports_ray_train(SurvivalModel())
    assert not supports_ray_train(NotBoosted())  # type: ignore[arg-type]
    with pytest.raises(ModelError, match="not a booster model"):
        fit_with_ray(NotBoosted(), None, [])  # type: ignore[arg-type]
    with pytest.raises(ModelError, match="ingest"):
        RayTrainFit(ingest="carrier pigeon")
    with pytest.raises(ModelError, match="num_workers"):
        RayTrainFit(num_workers=0)


@pytest.mark.slow
@pytest.mark.timeout(400)
@pytest.mark.parametrize("library", ["xgboost", "lightgbm"])
def test_two_workers_with_early_stopping(ray_session, library) -> None:
    """Data-parallel on 2 workers with a validation set: each worker evaluates the whole set, so early
    stopping agrees everywhere (LightGBM deadlocked when each worker stopped on its own shard)."""
    from sklearn.metrics import roc_auc_score

    frame = customers(3000, seed=14)
    X = frame[["days_since_last_purchase", "orders", "noise"]]
    y = frame["label"].to_numpy()
    train = BoosterData(X.iloc[:2000], {"label": y[:2000]}, [])
    valid = BoosterData(X.iloc[2000:], {"label": y[2000:]}, [])
    params = (
        {"objective": "binary:logistic", "eval_metric": "logloss", "nthread": 1, "seed": 0}
        if library == "xgboost"
        else {"objective": "binary", "num_threads": 1, "verbose": -1, "seed": 0}
    )
    plain = plain_fit(library, params, train, valid, 300, 20)
    booster = RayTrainFit(num_workers=2)(library, params, train, valid, 300, 20)
    if library == "xgboost":
        import xgboost as xgb

        got = booster.predict(xgb.DMatrix(valid.X))
        want = plain.predict(xgb.DMatrix(valid.X))
    else:
        got, want = booster.predict(valid.X), plain.predict(valid.X, num_iteration=plain.best_iteration)
    assert roc_auc_score(y[2000:], got) > roc_auc_score(y[2000:], want) - 0.02
