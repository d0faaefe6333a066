"""The churn classifier on synthetic customers whose churn has known drivers: held-out quality close to the
true probabilities', calibration, reasons naming the planted driver, save/load, named refusals."""

from __future__ import annotations

import os

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from c360.errors import NotFoundError
from c360.models.base import Model, ModelError
from c360.models.churn import ChurnModel, expected_calibration_error, top_reasons

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
FEATURES = ["days_since_last_purchase", "contract", "orders", "noise", "region"]


def customers(n: int, seed: int) -> pd.DataFrame:
    """Churn driven by days since the last purchase (strongly) and a month-to-month contract; `noise` and
    `region` carry nothing. Missing values sprinkled in; the true probability kept as `p_true`."""
    rng = np.random.default_rng(seed)
    days = rng.gamma(2.0, 30.0, n)
    contract = rng.choice(["monthly", "yearly", "two_year"], n, p=[0.5, 0.3, 0.2])
    orders = rng.poisson(5, n).astype(float)
    logit = -2.0 + 0.035 * days + 1.2 * (contract == "monthly") - 0.1 * orders
    p = 1 / (1 + np.exp(-logit))
    frame = pd.DataFrame(
        {
            "customer_id": [f"c{i}" for i in range(n)],
            "days_since_last_purchase": days,
            "contract": contract,
            "orders": orders,
            "noise": rng.normal(size=n),
            "region": rng.choice(["north", "south", "east", "west"], n),
            "label": rng.binomial(1, p),
            "p_true": p,
        }
    )
    frame.loc[rng.random(n) < 0.05, "orders"] = np.nan
    frame.loc[rng.random(n) < 0.05, "region"] = None
    return frame


@pytest.fixture(scope="module")
def data() -> tuple[pd.DataFrame, pd.DataFrame]:
    return customers(4000, seed=1), customers(2000, seed=2)


@pytest.fixture(scope="module")
def fitted(data) -> tuple[ChurnModel, dict[str, float]]:
    train, _ = data
    model = ChurnModel({"n_estimators": 600, "learning_rate": 0.05})
    metrics = model.fit(train, FEATURES, data[1])
    return model, metrics


def test_held_out_quality_close_to_the_truth(data, fitted) -> None:
    _, valid = data
    model, metrics = fitted
    oracle = roc_auc_score(valid["label"], valid["p_true"])
    assert metrics["auc"] >= oracle - 0.03, (metrics, oracle)
    prevalence = valid["label"].mean()
    constant_ll = -(prevalence * np.log(prevalence) + (1 - prevalence) * np.log(1 - prevalence))
    assert metrics["log_loss"] < constant_ll - 0.1
    assert metrics["brier"] < 0.2
    assert model.card.metrics == metrics
    assert model.card.features == FEATURES


def test_probabilities_are_calibrated(data, fitted) -> None:
    _, valid = data
    model, metrics = fitted
    risk = model.predict(valid)["churn_risk"].to_numpy()
    assert metrics["ece"] < 0.04, metrics
    assert abs(risk.mean() - valid["label"].mean()) < 0.03
    # close to the true probabilities, not only ranked like them
    assert np.mean(np.abs(risk - valid["p_true"])) < 0.07


@pytest.mark.parametrize("method", ["approx", "shap"])
def test_reasons_name_the_planted_driver(data, fitted, method) -> None:
    _, valid = data
    model, _ = fitted
    model.params["reasons_method"] = method
    try:
        out = model.predict(valid)
    finally:
        model.params["reasons_method"] = "approx"
    assert list(out.columns[:2]) == ["churn_risk", "reasons"]
    assert out.index.equals(valid.index)
    top = out.nlargest(200, "churn_risk")
    first = top["reasons"].map(lambda r: r[0] if r else None)
    assert (first == "days_since_last_purchase").mean() > 0.7, first.value_counts()
    assert top["reasons"].map(len).max() <= 3
    assert all(set(r) <= set(FEATURES) for r in out["reasons"])
    # the pure-noise features rarely lead
    assert (first.isin(["noise", "region"])).mean() < 0.05


def test_unseen_category_and_missing_values_score(fitted) -> None:
    model, _ = fitted
    rows = pd.DataFrame(
        {
            "days_since_last_purchase": [200.0, np.nan],
            "contract": ["lifetime", None],
            "orders": [np.nan, 3.0],
            "noise": [0.0, 0.0],
            "region": ["mars", "north"],
        },
        index=[10, 11],
    )
    out = model.predict(rows)
    assert out.index.tolist() == [10, 11]
    assert out["churn_risk"].between(0, 1).all()
    assert out["churn_risk"].iloc[0] > 0.5  # 200 days without a purchase


def test_save_load_round_trip(tmp_path, data, fitted) -> None:
    _, valid = data
    model, metrics = fitted
    model.card.feature_service = "churn_v1"
    folder = model.save(tmp_path / "churn" / "1")
    again = Model.load(folder, feature_service="churn_v1")
    assert isinstance(again, ChurnModel)
    assert again.card.metrics == pytest.approx(metrics)
    a, b = model.predict(valid), again.predict(valid)
    np.testing.assert_allclose(a["churn_risk"], b["churn_risk"], rtol=0, atol=1e-7)
    assert a["reasons"].tolist() == b["reasons"].tolist()
    with pytest.raises(ModelError, match="feature service"):
        ChurnModel.load(folder, feature_service="churn_v2")


def test_isotonic_calibration_and_no_calibration(data) -> None:
    train, valid = data
    iso = ChurnModel({"calibration": "isotonic", "n_estimators": 300, "learning_rate": 0.08})
    m_iso = iso.fit(train, FEATURES, valid)
    assert m_iso["ece"] < 0.05 and m_iso["auc"] > 0.75
    raw = ChurnModel({"calibration": "none", "n_estimators": 300, "learning_rate": 0.08})
    m_raw = raw.fit(train, FEATURES, valid)
    assert raw.calibrator_["method"] == "none" and m_raw["auc"] > 0.75


def test_refusals_are_named(data) -> None:
    train, _ = data
    with pytest.raises(ModelError, match="empty"):
        ChurnModel().fit(train.iloc[:0], FEATURES)
    with pytest.raises(ModelError, match="single class"):
        ChurnModel().fit(train.assign(label=0), FEATURES)
    with pytest.raises(ModelError, match="unknown hyper-parameter"):
        ChurnModel({"max_deph": 3})
    with pytest.raises(ModelError, match="calibration"):
        ChurnModel({"calibration": "magic"})
    with pytest.raises(ModelError, match="reasons_method"):
        ChurnModel({"reasons_method": "vibes"})
    with pytest.raises(ModelError, match="missing"):
        ChurnModel().fit(train, [*FEATURES, "nope"])
    with pytest.raises(ModelError, match="0/1"):
        ChurnModel().fit(train.assign(label=train["label"] * 2), FEATURES)
    with pytest.raises(ModelError, match="not fitted"):
        ChurnModel().predict(train)
    with pytest.raises(NotFoundError):
        Model.load("/nonexistent/churn")


def test_helpers() -> None:
    y = np.array([0, 1, 0, 1])
    assert expected_calibration_error(y, np.array([0.0, 1.0, 0.0, 1.0])) == 0.0
    assert expected_calibration_error(y, np.full(4, 0.5)) == 0.0  # one bin, 50% observed
    contribs = np.array([[0.5, -1.0, 2.0, 0.1], [-0.1, -0.2, -0.3, -0.4]])
    assert top_reasons(contribs, ["a", "b", "c", "d"], 3) == [["c", "a", "d"], []]


def test_timestamps_become_days_before_the_row_time() -> None:
    """A stored timestamp feature (`last_event_time` in the churn service) is read as days before the row's
    `event_timestamp`: rows at different cutoffs with the same gap look the same, and scoring without a
    cutoff measures from now."""
    frame = customers(3000, seed=5)
    cutoffs = pd.to_datetime("2025-01-01", utc=True) + pd.to_timedelta(np.arange(3000) % 6 * 60, unit="D")
    frame["event_timestamp"] = cutoffs
    frame["last_purchase_at"] = cutoffs - pd.to_timedelta(frame["days_since_last_purchase"], unit="D")
    features = ["last_purchase_at", "contract", "orders", "noise"]
    model = ChurnModel({"n_estimators": 300, "learning_rate": 0.08})
    metrics = model.fit(frame.iloc[:2000], features, frame.iloc[2000:])
    assert model.encoder_.timestamps == ["last_purchase_at"]
    assert metrics["auc"] > 0.75
    now = pd.Timestamp.now(tz="UTC")
    scoring = frame.iloc[2000:].drop(columns=["event_timestamp"])
    scoring["last_purchase_at"] = now - pd.to_timedelta(scoring["days_since_last_purchase"], unit="D")
    np.testing.assert_allclose(
        model.predict(scoring)["churn_risk"], model.predict(frame.iloc[2000:])["churn_risk"], atol=1e-3
    )
