"""Purchase propensity on synthetic purchase lines with planted drivers: each customer buys at their own
rate, in categories by their own preferences. Trained on early cutoffs, judged on a later one."""

from __future__ import annotations

import os

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from c360.models.base import Model, ModelError, model_class
from c360.models.propensity import (
    CATEGORY_FEATURES,
    Propensity,
    category_rows,
    classification_metrics,
    lift_at,
    top_categories,
)

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
CATEGORIES = ["books", "garden", "shoes", "toys", "wine"]
START = pd.Timestamp("2024-01-01", tz="UTC")
CUTOFFS = [START + pd.Timedelta(days=d) for d in (240, 300, 360, 420, 480, 540)]
HORIZON = 30


def purchase_lines(customers: int = 1200, seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Lines over 20 months and each customer's planted rate (orders a month) and preferences."""
    rng = np.random.default_rng(seed)
    rate = rng.gamma(0.8, 1.0, customers)  # orders per month
    prefs = rng.dirichlet(np.full(len(CATEGORIES), 0.4), customers)
    span_days = 600
    counts = rng.poisson(rate * span_days / 30.4)
    who = np.repeat(np.arange(customers), counts)
    days = rng.uniform(0, span_days, len(who))
    cat = np.array([rng.choice(len(CATEGORIES), p=prefs[w]) for w in who])
    lines = pd.DataFrame(
        {
            "customer_id": [f"cus_{w:05d}" for w in who],
            "ts": START + pd.to_timedelta(days, unit="D"),
            "kind": "purchase",
            "category": np.array(CATEGORIES)[cat],
            "amount_rc": rng.gamma(2.0, 20.0, len(who)).round(2),
        }
    )
    truth = pd.DataFrame(
        {"customer_id": [f"cus_{i:05d}" for i in range(customers)], "rate": rate}
        | {f"pref_{c}": prefs[:, j] for j, c in enumerate(CATEGORIES)}
    )
    return lines, truth


def customer_rows(lines: pd.DataFrame, customers: pd.Series, cutoffs: list[pd.Timestamp]) -> pd.DataFrame:
    """Customer-level features at each cutoff (only lines at or before it), as a feature service gives."""
    parts = []
    for cutoff in cutoffs:
        past = lines[lines["ts"] <= cutoff]
        g = past.groupby("customer_id")
        recent = past[past["ts"] > cutoff - pd.Timedelta(days=90)].groupby("customer_id").size()
        frame = pd.DataFrame({"customer_id": customers, "event_timestamp": cutoff})
        frame["total_purchases"] = g.size().reindex(customers).fillna(0).to_numpy()
        frame["purchases_90d"] = recent.reindex(customers).fillna(0).to_numpy()
        frame["total_spend"] = g["amount_rc"].sum().reindex(customers).fillna(0).to_numpy()
        last = g["ts"].max().reindex(customers)
        frame["days_since_last_purchase"] = ((cutoff - last).dt.total_seconds() / 86400).to_numpy()
        frame["favorite_category"] = (
            past.groupby("customer_id")["category"]
            .agg(lambda s: s.mode().iloc[0])
            .reindex(customers)
            .to_numpy()
        )
        parts.append(frame)
    return pd.concat(parts, ignore_index=True)


def overall_labels(lines: pd.DataFrame, rows: pd.DataFrame) -> pd.Series:
    out = np.zeros(len(rows), dtype=int)
    for cutoff in rows["event_timestamp"].unique():
        later = lines[(lines["ts"] > cutoff) & (lines["ts"] <= cutoff + pd.Timedelta(days=HORIZON))]
        at = (rows["event_timestamp"] == cutoff).to_numpy()
        out[at] = rows.loc[at, "customer_id"].isin(set(later["customer_id"])).to_numpy()
    return pd.Series(out, index=rows.index)


@pytest.fixture(scope="module")
def data():
    lines, truth = purchase_lines()
    rows = customer_rows(lines, truth["customer_id"], CUTOFFS)
    return lines, truth, rows


FEATURES = [
    "total_purchases",
    "purchases_90d",
    "total_spend",
    "days_since_last_purchase",
    "favorite_category",
]


def test_overall_propensity_beats_recency_and_is_calibrated(data):
    lines, truth, rows = data
    rows = rows.assign(label=overall_labels(lines, rows))
    train, held = rows[rows["event_timestamp"] < CUTOFFS[-1]], rows[rows["event_timestamp"] == CUTOFFS[-1]]
    model = Propensity({"seed": 3})
    metrics = model.fit(train, FEATURES, valid=held)
    naive = roc_auc_score(held["label"], held["purchases_90d"])  # a count of recent orders
    oracle = roc_auc_score(held["label"], truth.set_index("customer_id").loc[held["customer_id"], "rate"])
    assert metrics["auc"] > naive + 0.01, (metrics, naive)
    assert metrics["auc"] > oracle - 0.05, (metrics, oracle)
    assert metrics["lift_top_decile"] > 1.5
    constant = classification_metrics(held["label"], np.full(len(held), train["label"].mean()))
    assert metrics["log_loss"] < constant["log_loss"] - 0.05


def test_probabilities_are_calibrated_on_customers_not_trained_on(data):
    lines, _, rows = data
    rows = rows.assign(label=overall_labels(lines, rows))
    unseen = rows["customer_id"].str[-1].isin(["0", "1"])  # a fifth of the customers, every cutoff
    model = Propensity({"seed": 3})
    model.fit(rows[~unseen], FEATURES)
    held = rows[unseen]
    p = model.predict(held)["propensity"].to_numpy()
    assert abs(p.mean() - held["label"].mean()) < 0.02
    bins = pd.qcut(p, 5, labels=False)
    observed = held["label"].groupby(bins).mean().to_numpy()
    predicted = pd.Series(p).groupby(bins).mean().to_numpy()
    assert np.abs(observed - predicted).max() < 0.08, (observed, predicted)


def test_per_category_propensity_recovers_the_planted_preferences(data):
    lines, truth, rows = data
    long = category_rows(rows, lines, CATEGORIES, days=HORIZON)
    assert len(long) == len(rows) * len(CATEGORIES)
    train = long[long["event_timestamp"] < CUTOFFS[-1]]
    held = long[long["event_timestamp"] == CUTOFFS[-1]]
    model = Propensity({"seed": 3})
    metrics = model.fit(train, [*FEATURES, *CATEGORY_FEATURES], valid=held)
    popularity = held["category"].map(train.groupby("category")["label"].mean())
    assert metrics["auc"] > roc_auc_score(held["label"], popularity) + 0.15
    # here a customer's count of past lines in the category is nearly sufficient (rate x preference x
    # time); the model must not lose to it, and must come close to the planted truth
    assert metrics["auc"] > roc_auc_score(held["label"], held["category_purchases"]) - 0.005
    truth_by_id = truth.set_index("customer_id")
    planted = [
        truth_by_id.at[c, "rate"] * truth_by_id.at[c, f"pref_{k}"]
        for c, k in zip(held["customer_id"], held["category"], strict=True)
    ]
    assert metrics["auc"] > roc_auc_score(held["label"], planted) - 0.04  # estimation from finite history

    # the best-scored category is the customer's planted favourite far more often than chance
    top = top_categories(model, held, n=1).set_index("customer_id")
    prefs = truth.set_index("customer_id")[[f"pref_{c}" for c in CATEGORIES]]
    favourite = prefs.idxmax(axis=1).str.removeprefix("pref_")
    buyers = top.index[top.index.isin(lines[lines["ts"] <= CUTOFFS[-1]]["customer_id"])]
    hit = (top.loc[buyers, "category"] == favourite.loc[buyers]).mean()
    assert hit > 0.6, hit  # chance: 0.2


def test_no_future_line_feeds_a_category_feature(data):
    lines, _, rows = data
    cutoff = CUTOFFS[0]
    long = category_rows(rows[rows["event_timestamp"] == cutoff], lines, CATEGORIES)
    later = lines[lines["ts"] > cutoff].assign(ts=lambda f: f["ts"] + pd.Timedelta(days=1))
    again = category_rows(rows[rows["event_timestamp"] == cutoff], pd.concat([lines, later]), CATEGORIES)
    pd.testing.assert_frame_equal(long, again)
    assert "label" not in long


def test_save_load_round_trip_and_registration(data, tmp_path):
    lines, _, rows = data
    rows = rows.assign(label=overall_labels(lines, rows)).iloc[:3000]
    model = Propensity({"n_estimators": 50})
    model.fit(rows, FEATURES)
    model.save(tmp_path / "m")
    loaded = Model.load(tmp_path / "m")
    assert model_class("propensity") is Propensity and isinstance(loaded, Propensity)
    np.testing.assert_allclose(loaded.predict(rows)["propensity"], model.predict(rows)["propensity"])
    assert loaded.card.features == FEATURES


def test_bad_input_is_named(data):
    _, _, rows = data
    with pytest.raises(ModelError, match="single class"):
        Propensity().fit(rows.assign(label=0), FEATURES)
    with pytest.raises(ModelError, match="empty"):
        Propensity().fit(rows.iloc[:0].assign(label=0), FEATURES)
    with pytest.raises(ModelError, match="unknown hyper-parameter"):
        Propensity({"max_depth_x": 3})


def test_lift_at_the_top_decile():
    y = np.r_[np.ones(10), np.zeros(90)]
    assert lift_at(y, np.arange(100)[::-1]) == pytest.approx(10.0)
    assert lift_at(y, np.arange(100)) == pytest.approx(0.0)
