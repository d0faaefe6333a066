"""Time to churn on synthetic customers with a known lifetime distribution: Harrell's C against a brute-force
count, held-out concordance close to the truth's, sigma recovered, remaining lifetime ordered like the truth,
save/load, named refusals."""

from __future__ import annotations

import os

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from c360.models.base import Model, ModelError
from c360.models.survival import SurvivalModel, concordance_index, fit_scale, restricted_mean_residual

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
FEATURES = ["engagement", "contract", "noise"]
SIGMA = 0.5


def brute_force_c(t: np.ndarray, p: np.ndarray, e: np.ndarray) -> float:
    concordant = tied = pairs = 0.0
    for i in range(len(t)):
        if not e[i]:
            continue
        for j in range(len(t)):
            if t[i] < t[j] or (t[i] == t[j] and not e[j]):
                pairs += 1
                concordant += p[i] < p[j]
                tied += p[i] == p[j]
    return (concordant + 0.5 * tied) / pairs


def test_concordance_matches_brute_force() -> None:
    rng = np.random.default_rng(0)
    for n in (5, 40, 300):
        t = rng.integers(1, 12, n).astype(float)  # many ties in time
        p = np.round(rng.normal(size=n), 1)  # and in predictions
        e = rng.random(n) < 0.4
        assert concordance_index(t, p, e, chunk=7) == pytest.approx(brute_force_c(t, p, e), abs=1e-12)
    t = np.arange(1.0, 11.0)
    assert concordance_index(t, t, np.ones(10)) == 1.0
    assert concordance_index(t, -t, np.ones(10)) == 0.0
    assert np.isnan(concordance_index(t, t, np.zeros(10)))


def lifetimes(n: int, seed: int) -> pd.DataFrame:
    """log T = 3 + 1.0 * engagement - 0.8 * [monthly] + 0.5 Z (months); observed up to a uniform censoring
    time; `tenure` is the observed duration, `label` 1 when churned then."""
    rng = np.random.default_rng(seed)
    engagement = rng.normal(size=n)
    contract = rng.choice(["monthly", "yearly"], n)
    mu = 3.0 + 1.0 * engagement - 0.8 * (contract == "monthly")
    life = np.exp(mu + SIGMA * rng.normal(size=n))
    censor = rng.uniform(5, 80, n)
    return pd.DataFrame(
        {
            "customer_id": np.arange(n),
            "engagement": engagement,
            "contract": contract,
            "noise": rng.normal(size=n),
            "tenure": np.minimum(life, censor).round(2),
            "label": (life <= censor).astype(int),
            "mu_true": mu,
        }
    )


@pytest.fixture(scope="module")
def fitted() -> tuple[SurvivalModel, dict[str, float], pd.DataFrame]:
    train, valid = lifetimes(3000, 1), lifetimes(1500, 2)
    model = SurvivalModel({"duration": "tenure", "n_estimators": 800, "learning_rate": 0.05})
    return model, model.fit(train, FEATURES + ["tenure"], valid), valid


def test_held_out_concordance_close_to_the_truth(fitted) -> None:
    model, metrics, valid = fitted
    oracle = concordance_index(valid["tenure"], valid["mu_true"], valid["label"])
    assert metrics["concordance"] >= oracle - 0.03, (metrics, oracle)
    assert metrics["concordance"] > 0.75
    assert "tenure" not in model.card.features  # the duration is never a feature
    assert model.sigma_ == pytest.approx(SIGMA, abs=0.15)


def test_remaining_lifetime_follows_the_truth(fitted) -> None:
    model, _, valid = fitted
    out = model.predict(valid)
    assert list(out.columns) == ["expected_remaining_lifetime", "median_lifetime"]
    assert out.index.equals(valid.index)
    assert (out["expected_remaining_lifetime"] >= 0).all()
    assert (out["expected_remaining_lifetime"] <= model.horizon_ + 1e-9).all()
    assert stats.spearmanr(out["median_lifetime"], valid["mu_true"]).statistic > 0.9
    # Same customer later in life: less of the (bounded) lifetime remains
    young = model.predict(valid.assign(tenure=1.0))["expected_remaining_lifetime"]
    old = model.predict(valid.assign(tenure=60.0))["expected_remaining_lifetime"]
    assert (young.mean() > old.mean()) and stats.spearmanr(young, valid["mu_true"]).statistic > 0.85


def test_residual_lifetime_against_monte_carlo() -> None:
    rng = np.random.default_rng(3)
    mu, sigma, t0, horizon = np.array([2.5, 3.5]), 0.6, np.array([5.0, 20.0]), 60.0
    got = restricted_mean_residual(mu, sigma, t0, horizon, "normal", points=400)
    for k in range(2):
        draws = np.exp(mu[k] + sigma * rng.normal(size=400_000))
        alive = draws[draws > t0[k]]
        want = np.mean(np.minimum(alive, t0[k] + horizon) - t0[k])
        assert got[k] == pytest.approx(want, rel=0.01)


def test_scale_by_censored_maximum_likelihood() -> None:
    rng = np.random.default_rng(4)
    mu = rng.normal(3, 1, 20_000)
    log_life = mu + 0.7 * rng.normal(size=20_000)
    log_censor = np.log(rng.uniform(5, 60, 20_000))
    events = log_life <= log_censor
    assert fit_scale(np.minimum(log_life, log_censor), mu, events, "normal") == pytest.approx(0.7, abs=0.03)


def test_save_load_round_trip(tmp_path, fitted) -> None:
    model, _, valid = fitted
    again = Model.load(model.save(tmp_path / "m"))
    assert isinstance(again, SurvivalModel)
    pd.testing.assert_frame_equal(model.predict(valid), again.predict(valid))


def test_event_window_labels_and_missing_durations() -> None:
    """A c360 churn label: at a cutoff t (the tenure then), did the customer churn within the next 10
    months? Lifetimes are interval-censored; the model still ranks them like the truth. Rows without a
    duration are left out of training and get no remaining lifetime."""
    rng = np.random.default_rng(9)
    truth = lifetimes(4000, 8)
    life = np.exp(truth["mu_true"] + SIGMA * rng.normal(size=len(truth)))
    cutoff = rng.uniform(0, 1, len(truth)) * life * 1.2  # some already gone: drop them, as a label would
    alive = cutoff < life
    frame = truth.loc[alive].assign(
        tenure=cutoff[alive], label=(life[alive] <= cutoff[alive] + 10).astype(int)
    )
    frame.loc[frame.index[:50], "tenure"] = np.nan
    train, valid = frame.iloc[:2500], frame.iloc[2500:]
    model = SurvivalModel(
        {"duration": "tenure", "event_window": 10, "n_estimators": 400, "learning_rate": 0.05}
    )
    metrics = model.fit(train, FEATURES, valid)
    assert model.card.extra["rows_without_duration"] == 50
    assert stats.spearmanr(model.predict(valid)["median_lifetime"], valid["mu_true"]).statistic > 0.85
    assert metrics["concordance"] > 0.65
    out = model.predict(frame.iloc[:60])
    assert out["expected_remaining_lifetime"].iloc[:50].isna().all()
    assert out["expected_remaining_lifetime"].iloc[50:].notna().all()


def test_refusals_are_named() -> None:
    train = lifetimes(200, 5)
    with pytest.raises(ModelError, match="empty"):
        SurvivalModel({"duration": "tenure"}).fit(train.iloc[:0], FEATURES)
    with pytest.raises(ModelError, match="no churn event"):
        SurvivalModel({"duration": "tenure"}).fit(train.assign(label=0), FEATURES)
    with pytest.raises(ModelError, match="duration column"):
        SurvivalModel().fit(train, FEATURES)  # default duration tenure_days is not in this frame
    with pytest.raises(ModelError, match="must be >= 0"):
        SurvivalModel({"duration": "tenure"}).fit(train.assign(tenure=-1.0), FEATURES)
    with pytest.raises(ModelError, match="unknown hyper-parameter"):
        SurvivalModel({"sigma": 1.0})
    with pytest.raises(ModelError, match="distribution"):
        SurvivalModel({"distribution": "weibull"})
