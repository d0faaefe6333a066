"""Lifetime value: BG/NBD + Gamma-Gamma against the published CDNOW fits and simulated data, the clv model
(P(buy) x run rate, and its plain regression) against the naive rate baseline on held-out synthetic customers
and on Online Retail through the example workspace, value tiers, save/load, named refusals."""

from __future__ import annotations

import importlib.util

import numpy as np
import pandas as pd
import pytest

from c360.models.base import Model, ModelError
from c360.models.bgnbd import BgNbdParams, bgnbd_expected, bgnbd_loglik, fit_bgnbd, fit_gamma_gamma
from c360.models.clv import TIERS, ClvBgNbd, ClvModel, clv_metrics, naive_rate, value_tiers
from c360.models.rfm_summary import cdnow_summary, holdout_outcomes, rfm_summary

pytestmark = pytest.mark.unit

needs_lifetimes = pytest.mark.skipif(
    importlib.util.find_spec("lifetimes") is None, reason="the CDNOW summary ships with lifetimes (dev extra)"
)


def _close(got: float, want: float, rel: float) -> bool:
    return abs(got - want) <= rel * abs(want)


@needs_lifetimes
def test_bgnbd_recovers_the_published_cdnow_parameters() -> None:
    s = cdnow_summary()
    assert len(s) == 2357
    params, ll = fit_bgnbd(s["frequency"], s["recency"], s["T"])
    # Fader, Hardie & Lee (2005): r=0.243, alpha=4.414, a=0.793, b=2.426, LL=-9582.4
    for got, want in zip(
        (params.r, params.alpha, params.a, params.b), (0.243, 4.414, 0.793, 2.426), strict=True
    ):
        assert _close(got, want, 0.01), (params, want)
    assert ll == pytest.approx(-9582.4, abs=0.5)
    # their worked example: x=2, t_x=30.43, T=38.86 weeks expects 1.226 purchases in the next 39 weeks
    expected = bgnbd_expected(params, 39.0, np.array([2.0]), np.array([30.43]), np.array([38.86]))
    assert expected[0] == pytest.approx(1.226, abs=0.005)


@needs_lifetimes
def test_gamma_gamma_recovers_the_published_cdnow_parameters() -> None:
    s = cdnow_summary(with_monetary=True)
    assert (s["frequency"] > 0).sum() == 946
    params, _ = fit_gamma_gamma(s["frequency"], s["monetary"])
    # Fader, Hardie & Lee, "RFM and CLV" (2005) / Fader & Hardie's Gamma-Gamma note: p=6.25, q=3.74, v=15.44
    for got, want in zip((params.p, params.q, params.v), (6.25, 3.74, 15.44), strict=True):
        assert _close(got, want, 0.01), (params, want)


def _simulate_bgnbd(n: int, truth: BgNbdParams, seed: int) -> pd.DataFrame:
    """Customers first seen at time 0 with T uniform in [30, 360] days: purchases at rate lambda ~ Gamma(r,
    alpha), each repeat purchase followed by dropout with probability p ~ Beta(a, b)."""
    rng = np.random.default_rng(seed)
    lam = rng.gamma(truth.r, 1.0 / truth.alpha, n)
    p = rng.beta(truth.a, truth.b, n)
    t_end = rng.uniform(30, 360, n)
    x = np.zeros(n)
    tx = np.zeros(n)
    for i in range(n):
        t = 0.0
        while True:
            t += rng.exponential(1.0 / lam[i])
            if t > t_end[i]:
                break
            x[i] += 1
            tx[i] = t
            if rng.random() < p[i]:
                break
    return pd.DataFrame({"frequency": x, "recency": tx, "T": t_end})


def test_bgnbd_recovers_parameters_of_simulated_customers() -> None:
    truth = BgNbdParams(r=0.8, alpha=40.0, a=0.6, b=2.5)
    s = _simulate_bgnbd(6000, truth, seed=3)
    fitted, ll = fit_bgnbd(s["frequency"], s["recency"], s["T"])
    # r, alpha: within 15%; the dropout ratio a / (a + b) within 20% (a and b trade off against each other)
    assert _close(fitted.r, truth.r, 0.15), fitted
    assert _close(fitted.alpha, truth.alpha, 0.15), fitted
    assert _close(fitted.a / (fitted.a + fitted.b), truth.a / (truth.a + truth.b), 0.2), fitted
    at_truth = bgnbd_loglik(
        (truth.r, truth.alpha, truth.a, truth.b), *(s[c].to_numpy() for c in ("frequency", "recency", "T"))
    )
    assert ll >= at_truth.sum() - 1e-6  # the maximum is at least as likely as the truth


def test_a_fit_started_on_a_sample_reaches_the_full_data_maximum(monkeypatch: pytest.MonkeyPatch) -> None:
    """On many customers Nelder-Mead runs on a sample and L-BFGS-B polishes on all of them: the same
    maximum as Nelder-Mead on all of them (a million-customer fit took over 20 minutes that way)."""
    import c360.models.bgnbd as bgnbd

    s = _simulate_bgnbd(6000, BgNbdParams(r=0.8, alpha=40.0, a=0.6, b=2.5), seed=4)
    columns = [s[c].to_numpy() for c in ("frequency", "recency", "T")]
    full, full_ll = fit_bgnbd(*columns)
    monkeypatch.setattr(bgnbd, "COARSE_ROWS", 300)
    sampled, sampled_ll = fit_bgnbd(*columns)
    assert sampled_ll == pytest.approx(full_ll, rel=1e-7)
    for name in ("r", "alpha", "a", "b"):
        assert getattr(sampled, name) == pytest.approx(getattr(full, name), rel=1e-3), (sampled, full)


def _lines(rows: list[tuple[str, str, str, float]]) -> pd.DataFrame:
    return pd.DataFrame(
        [
            {
                "customer_id": c,
                "order_id": o,
                "ts": pd.Timestamp(ts, tz="UTC"),
                "kind": "purchase",
                "amount_rc": a,
            }
            for c, o, ts, a in rows
        ]
    )


def test_rfm_summary_and_holdout_outcomes() -> None:
    lines = _lines(
        [
            ("a", "1", "2024-01-01 10:00", 10.0),
            ("a", "2", "2024-01-01 15:00", 5.0),  # same day: one transaction by day, two by order
            ("a", "3", "2024-01-11 09:00", 30.0),
            ("a", "4", "2024-01-21 09:00", 50.0),
            ("b", "5", "2024-01-25 09:00", 8.0),
            ("a", "6", "2024-02-05 09:00", 99.0),  # after the cutoff
        ]
    )
    cutoff = "2024-02-01"
    by_day = rfm_summary(lines, cutoff)
    a = by_day.loc["a"]
    assert (a["frequency"], a["recency"], a["T"]) == (2.0, 20.0, 31.0)
    assert a["monetary"] == pytest.approx(40.0) and a["spend"] == pytest.approx(95.0)
    assert (
        by_day.loc["b", "frequency"] == 0 and by_day.loc["b", "monetary"] == 0 and by_day.loc["b", "T"] == 7
    )
    by_order = rfm_summary(lines, cutoff, unit="order")
    assert by_order.loc["a", "frequency"] == 3.0
    assert by_order.loc["a", "monetary"] == pytest.approx((5 + 30 + 50) / 3)
    returns = pd.DataFrame(
        [
            {
                "customer_id": "a",
                "order_id": "7",
                "ts": pd.Timestamp("2024-02-06", tz="UTC"),
                "kind": "return",
                "amount_rc": -20.0,
            }
        ]
    )
    out = holdout_outcomes(pd.concat([lines, returns], ignore_index=True), cutoff, "2024-03-01")
    assert out.loc["a", "purchases"] == 1 and out.loc["a", "spend"] == pytest.approx(79.0)
    with pytest.raises(ModelError, match="unit"):
        rfm_summary(lines, cutoff, unit="week")


def _value_world(n: int, seed: int) -> pd.DataFrame:
    """Customers whose future spend is driven by planted features (segment, engagement), of which their past
    spend in a short window is a noisy echo: the naive rate sees only the echo."""
    rng = np.random.default_rng(seed)
    segment = rng.choice(["wholesale", "regular", "occasional"], n, p=[0.1, 0.4, 0.5])
    base = np.select([segment == "wholesale", segment == "regular"], [40.0, 8.0], 1.5)
    engagement = rng.uniform(0, 1, n)
    rate = base * (0.2 + 1.6 * engagement)  # spend per day, set by the planted drivers
    past = rng.poisson(rate * 10 * rng.gamma(1.5, 1 / 1.5, n)) * 1.0  # 10 days, through a passing mood
    future = rng.poisson(rate * 30 * rng.gamma(4.0, 0.25, n)) * 1.0
    return pd.DataFrame(
        {
            "segment": segment,
            "engagement": engagement,
            "past_spend": past,
            "noise": rng.normal(size=n),
            "label": future,
        }
    )


def test_the_plain_regression_beats_the_naive_rate_on_held_out_customers() -> None:
    train, test = _value_world(3000, 1), _value_world(2000, 2)
    model = ClvModel({"anchor": "none"})
    metrics = model.fit(train, ["segment", "engagement", "past_spend", "noise"], valid=test)
    naive = clv_metrics(test["label"], naive_rate(test["past_spend"], 10, 30))
    assert metrics["rmse"] < 0.8 * naive["rmse"], (metrics, naive)
    assert metrics["spearman"] > naive["spearman"] + 0.05, (metrics, naive)
    assert metrics["top_decile"] > naive["top_decile"], (metrics, naive)
    out = model.predict(test)
    assert list(out.columns[:2]) == ["clv", "value_tier"] and out.index.equals(test.index)


RUN_RATE_COLUMNS = ["tenure_days", "days_since_last_purchase", "total_purchases", "total_spend"]


def _lapsing_world(n: int, seed: int) -> pd.DataFrame:
    """Customers seen for most of a year at one cutoff, the clv feature service's day counts and totals, and
    their spend over the next 90 days: 40% stopped buying some time ago (they still carry their past spend,
    which is all the naive rate sees); the others keep their own rate and basket."""
    rng = np.random.default_rng(seed)
    tenure = rng.uniform(270, 365, n)
    rate = rng.gamma(2.0, 0.02, n)  # purchases per day while active
    basket = rng.gamma(4.0, 25.0, n)
    alive = rng.random(n) < 0.6
    active_days = np.where(alive, tenure, tenure * rng.uniform(0.2, 0.7, n))
    purchases = 1 + rng.poisson(rate * active_days)
    since = np.where(alive, np.minimum(rng.exponential(1 / rate), tenure), tenure - active_days)
    future = np.where(alive, rng.poisson(rate * 90), 0)
    return pd.DataFrame(
        {
            "event_timestamp": pd.Timestamp("2025-06-01", tz="UTC"),
            "tenure_days": np.floor(tenure),
            "days_since_last_purchase": np.floor(since),
            "total_purchases": purchases,
            "total_spend": purchases * basket,
            "label": future * basket * rng.gamma(10.0, 0.1, n),
        }
    )


def test_the_clv_model_is_the_run_rate_times_a_learned_chance_of_buying() -> None:
    """Lapsed customers keep their past spend, so the naive rate still values them; the clv model learns
    from the day counts that they will not buy, and scales everyone else's run rate by their chance."""
    train, test = _lapsing_world(3000, 1), _lapsing_world(2000, 2)
    model = ClvModel({"horizon_days": 90.0})
    metrics = model.fit(train, RUN_RATE_COLUMNS, valid=test)
    window = (test["event_timestamp"] - model.origin_) / pd.Timedelta(days=1)
    naive = clv_metrics(test["label"], naive_rate(test["total_spend"], window, 90.0))
    assert metrics["rmse"] < 0.9 * naive["rmse"], (metrics, naive)
    assert metrics["spearman"] > naive["spearman"] + 0.05, (metrics, naive)
    assert metrics["top_decile"] > naive["top_decile"], (metrics, naive)
    out = model.predict(test)
    assert list(out.columns) == ["clv", "p_buy", "value_tier"] and out.index.equals(test.index)
    assert out["p_buy"].between(0, 1).all()
    np.testing.assert_allclose(out["clv"], out["p_buy"] * test["total_spend"] / window * 90.0)
    assert model.card.extra["anchor"] == "spend" and model.card.extra["validation_rows"] > 0


def test_the_run_rate_is_last_years_when_the_window_is_longer() -> None:
    """With `orders_last_365d`, the rate is that year's orders at the customer's mean order value over
    min(window, a year): the same as the whole window's rate when the window is a year or less, what the
    customer does now when it is longer."""
    train, test = _lapsing_world(2000, 1), _lapsing_world(500, 2)
    model = ClvModel({"horizon_days": 90.0})
    model.fit(train, RUN_RATE_COLUMNS)
    window = ((test["event_timestamp"] - model.origin_) / pd.Timedelta(days=1)).clip(lower=1.0)
    whole = model.predict(test)
    same = model.predict(test.assign(orders_last_365d=test["total_purchases"]))
    assert window.max() <= 365  # tenures of 270 to 365 days: last year's rate is the whole window's
    np.testing.assert_allclose(same["clv"], whole["clv"])
    half = test.assign(orders_last_365d=test["total_purchases"] // 2)
    later = half.assign(event_timestamp=test["event_timestamp"] + pd.Timedelta(days=400))
    out = model.predict(later)
    rate = later["total_spend"] * (half["orders_last_365d"] / half["total_purchases"]) / 365.0
    np.testing.assert_allclose(out["clv"], out["p_buy"] * rate * 90.0)


def test_value_tiers_partition_by_value() -> None:
    values = pd.Series(np.random.default_rng(0).lognormal(size=1000), index=np.arange(1000) * 3)
    tiers = value_tiers(values)
    assert tiers.index.equals(values.index)
    counts = tiers.value_counts()
    assert (counts["top5"], counts["next15"], counts["rest"]) == (50, 150, 800)
    assert values[tiers == "top5"].min() >= values[tiers == "next15"].max()
    assert values[tiers == "next15"].min() >= values[tiers == "rest"].max()
    assert set(value_tiers(pd.Series([1.0, np.nan, 3.0]))) <= set(TIERS)
    assert value_tiers(pd.Series([np.nan, 1.0]))[0] == "rest"
    assert len(value_tiers(pd.Series([], dtype=float))) == 0


def test_save_load_round_trip(tmp_path) -> None:
    train, test = _value_world(800, 4), _value_world(200, 5)
    model = ClvModel({"n_estimators": 50, "anchor": "none"})
    model.fit(train, ["segment", "engagement", "past_spend"])
    back = Model.load(model.save(tmp_path / "clv"))
    assert isinstance(back, ClvModel)
    pd.testing.assert_frame_equal(back.predict(test), model.predict(test))

    train, test = _lapsing_world(800, 4), _lapsing_world(200, 5)
    anchored = ClvModel({"horizon_days": 90.0})
    anchored.fit(train, RUN_RATE_COLUMNS)
    back = Model.load(anchored.save(tmp_path / "clv_anchored"))
    assert isinstance(back, ClvModel) and back.origin_ == anchored.origin_
    pd.testing.assert_frame_equal(back.predict(test), anchored.predict(test))

    s = _simulate_bgnbd(1500, BgNbdParams(0.8, 40.0, 0.6, 2.5), seed=6)
    s["monetary"] = np.where(s["frequency"] > 0, np.random.default_rng(7).gamma(5.0, 10.0, len(s)), 0.0)
    bg = ClvBgNbd({"horizon_days": 90})
    bg.fit(s)
    back_bg = Model.load(bg.save(tmp_path / "bg"))
    assert isinstance(back_bg, ClvBgNbd)
    pd.testing.assert_frame_equal(back_bg.predict(s), bg.predict(s))
    out = bg.predict(s)
    assert list(out.columns) == ["clv", "purchases", "p_alive", "spend_per_purchase", "value_tier"]
    assert ((out["p_alive"] >= 0) & (out["p_alive"] <= 1)).all() and (out["purchases"] >= 0).all()


def test_refusals_are_named() -> None:
    empty = pd.DataFrame({"x": pd.Series(dtype=float), "label": pd.Series(dtype=float)})
    with pytest.raises(ModelError, match="empty"):
        ClvModel().fit(empty, ["x"])
    with pytest.raises(ModelError, match="empty"):
        ClvBgNbd().fit(pd.DataFrame(columns=["frequency", "recency", "T", "monetary"]))
    with pytest.raises(ModelError, match="unknown hyper-parameter"):
        ClvModel({"depth": 3})
    with pytest.raises(ModelError, match="anchor"):
        ClvModel({"anchor": "margin"})
    with pytest.raises(ModelError, match="missing: tenure_days"):  # the run rate needs the day counts
        ClvModel().fit(_value_world(100, 1).assign(total_purchases=1, total_spend=5.0), ["engagement"])
    with pytest.raises(ModelError, match="repeat"):
        ClvBgNbd().fit(
            pd.DataFrame(
                {"frequency": [0.0, 0.0], "recency": [0.0, 0.0], "T": [5.0, 9.0], "monetary": [0.0, 0.0]}
            )
        )
    with pytest.raises(ModelError, match="profile features"):
        ClvBgNbd().fit(pd.DataFrame({"x": [1.0]}))


def test_bgnbd_scores_rows_of_profile_features() -> None:
    at = pd.Timestamp("2024-07-01", tz="UTC")
    profile = pd.DataFrame(
        {
            "event_timestamp": [at, at, at],
            "first_seen_at": pd.to_datetime(["2024-01-01", "2024-01-01", "2024-06-20"], utc=True),
            "last_purchase_at": pd.to_datetime(["2024-06-25", "2024-02-01", "2024-06-20"], utc=True),
            "total_purchases": [12, 12, 1],
            "avg_order_value": [50.0, 50.0, 80.0],
        }
    )
    s = _simulate_bgnbd(3000, BgNbdParams(0.8, 40.0, 0.6, 2.5), seed=8)
    s["monetary"] = np.where(s["frequency"] > 0, 50.0, 0.0)
    model = ClvBgNbd({"horizon_days": 180})
    model.fit(s)
    out = model.predict(profile)
    # same history, recent buyer worth more than one silent for five months; both alive-probabilities sane
    assert out.loc[0, "clv"] > out.loc[1, "clv"] > 0
    assert out.loc[0, "p_alive"] > out.loc[1, "p_alive"]
    assert out.loc[2, "p_alive"] == 1.0
    unknown = profile.assign(first_seen_at=pd.NaT)
    assert model.predict(unknown)["clv"].isna().all()  # no age, no value (never a made-up one)
    with pytest.raises(ModelError, match="known age"):
        ClvBgNbd().fit(unknown)


@pytest.mark.slow
@pytest.mark.ray
def test_online_retail_bench_through_the_example_workspace(online_retail_workspace) -> None:
    """The benchmark's path end to end (setup.sh, ingest, resolve, facts, features, models) on the real
    dataset: the naive baseline lands on the issue's figures (the protocols agree), every model is far from
    chance, and the product's clv model (chosen on Online Retail II 2009-2010) beats the naive rate on the
    held-out half year on all three: RMSE of orders, Spearman of spend, the top decile's share of revenue (by
    hairlines: 2.963 / 0.591 / 0.593 against 2.976 / 0.589 / 0.592 when written, one thread)."""
    from c360.bench import models_retail
    from c360.bench.retail_data import Facts

    facts = Facts(online_retail_workspace)
    rows = {(r.part, r.method, r.metric): r.value for r in models_retail.measure(facts)}
    assert rows[("clv", "naive", "rmse_purchases")] == pytest.approx(3.02, abs=0.1)
    assert rows[("clv", "naive", "spearman")] == pytest.approx(0.594, abs=0.02)
    for method in ("BG/NBD+GG", models_retail.CLV_METHOD, "mean of the three"):
        assert rows[("clv", method, "spearman")] > 0.45
        assert rows[("clv", method, "top_decile")] > 0.5
    clv = {
        m: rows[("clv", models_retail.CLV_METHOD, m)] for m in ("rmse_purchases", "spearman", "top_decile")
    }
    naive = {m: rows[("clv", "naive", m)] for m in clv}
    assert clv["spearman"] > naive["spearman"] and clv["top_decile"] > naive["top_decile"], (clv, naive)
    assert clv["rmse_purchases"] < naive["rmse_purchases"], (clv, naive)
    aucs = {k[1]: v for k, v in rows.items() if k[0] == "churn"}
    assert len(aucs) == 3 and min(aucs.values()) > 0.7


@pytest.mark.slow
@pytest.mark.ray
def test_the_clv_model_through_ray_train_gives_the_plain_booster(ray_session) -> None:
    from c360.models.ray_fit import fit_with_ray, supports_ray_train

    train, test = _lapsing_world(1500, 1), _lapsing_world(400, 2)
    features = RUN_RATE_COLUMNS
    plain = ClvModel({"n_estimators": 40, "horizon_days": 90.0})
    plain_metrics = plain.fit(train, features, valid=test)
    ray_model = ClvModel({"n_estimators": 40, "horizon_days": 90.0})
    assert supports_ray_train(ray_model)
    assert fit_with_ray(ray_model, train, features, valid=test) == plain_metrics
    np.testing.assert_allclose(ray_model.predict(test)["clv"], plain.predict(test)["clv"])


def test_the_summary_from_the_clv_feature_services_day_counts() -> None:
    from c360.models.rfm_summary import summary_from_features, summary_of

    rows = pd.DataFrame(
        {
            "tenure_days": pd.array([200, 200, 30, None], dtype="Int64"),
            "days_since_last_purchase": pd.array([10, 150, None, 5], dtype="Int64"),
            "total_purchases": [5, 1, 0, 3],
            "total_spend": [500.0, 80.0, 0.0, 90.0],
        }
    )
    s = summary_of(rows)
    pd.testing.assert_frame_equal(s, summary_from_features(rows))
    assert s["frequency"].tolist() == [4.0, 0.0, 0.0, 2.0]  # repeat purchases
    # recency: T - days since the last purchase; 0 without repeat purchases
    assert s["recency"].tolist() == [190.0, 0.0, 0.0, 0.0]
    assert s.loc[:2, "T"].tolist() == [200.0, 200.0, 30.0] and np.isnan(s.loc[3, "T"])  # no tenure: no age
    assert s["monetary"].tolist() == [100.0, 0.0, 0.0, 30.0]  # spend per purchase, repeat customers only
    with pytest.raises(ModelError, match="missing: avg_order_value"):
        summary_from_features(rows.drop(columns=["total_spend"]))


def test_a_probability_learnt_over_the_label_window_is_stretched_to_the_horizon() -> None:
    """P(no purchase in 2L) = P(no purchase in L) ** 2 for a customer buying as a Poisson process; without
    `label_days` (the product's case: labels over the horizon itself) the probability is used as is."""
    model = ClvModel({"horizon_days": 180.0, "label_days": 90.0})
    np.testing.assert_allclose(model._over_horizon(np.array([0.0, 0.5, 0.9, 1.0])), [0.0, 0.75, 0.99, 1.0])
    same = ClvModel({"horizon_days": 180.0})
    np.testing.assert_allclose(same._over_horizon(np.array([0.2, 0.5])), [0.2, 0.5])
