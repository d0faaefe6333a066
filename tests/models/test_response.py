"""Campaign response on synthetic exposures with planted drivers: the customer's engagement, an offer that
suits their segment, the channel and the creative variant. Trained on earlier sends, judged on later ones."""

from __future__ import annotations

import os

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from sklearn.metrics import roc_auc_score

from c360.facts.schemas import EXPOSURES, SCHEMAS
from c360.models.base import Model, ModelError
from c360.models.response import HISTORY_FEATURES, Response, exposure_context, exposure_history
from c360.workspace import Workspace, init_workspace

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
OFFERS = ["discount_10", "discount_25", "free_shipping", "new_arrivals", "loyalty_points"]
SEGMENTS = ["bargain", "loyal", "vip"]
AFFINITY = np.array([[0.8, 1.4, 0.8, -0.6, -0.4], [0.0, 0.2, 0.3, 0.4, 0.9], [-0.5, -0.2, 0.0, 1.1, 0.9]])
FEATURES = ["engagement_score", "total_spend", "days_since_last_purchase", "segment_hint"]


def exposures(customers: int = 2000, sends: int = 24_000, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    seg = rng.integers(0, 3, customers)
    engagement = rng.normal(0, 1, customers)
    spend = rng.gamma(2, 100, customers) * (1 + seg)
    who = rng.integers(0, customers, sends)
    offer = rng.integers(0, len(OFFERS), sends)
    channel = rng.choice(["email", "sms", "push"], sends, p=[0.6, 0.25, 0.15])
    variant = rng.choice(["A", "B"], sends)
    logit = (
        -2.2
        + 0.9 * engagement[who]
        + AFFINITY[seg[who], offer]
        + np.where(channel == "sms", 0.5, np.where(channel == "push", -0.5, 0.0))
        + np.where(variant == "B", 0.3, 0.0)
    )
    converted = rng.random(sends) < 1 / (1 + np.exp(-logit))
    days = pd.to_timedelta(np.sort(rng.uniform(0, 360, sends)), unit="D")
    ts = (pd.Timestamp("2025-01-01", tz="UTC") + days).floor("s")
    # features as of the send: observable, noisy views of the planted traits
    hint = np.where(rng.random(sends) < 0.8, np.array(SEGMENTS)[seg[who]], rng.choice(SEGMENTS, sends))
    return pd.DataFrame(
        {
            "customer_id": [f"cus_{w:05d}" for w in who],
            "exposure_id": [f"crm:{i}" for i in range(sends)],
            "event_timestamp": ts,
            "label": converted.astype(int),
            "engagement_score": np.round((engagement[who] + rng.normal(0, 0.5, sends)) * 10 + 50),
            "total_spend": spend[who] * rng.lognormal(0, 0.2, sends),
            "days_since_last_purchase": rng.exponential(60, sends),
            "segment_hint": hint,
            "offer_id": np.array(OFFERS)[offer],
            "channel": channel,
            "variant": variant,
            "campaign_id": "CMP-" + pd.Series(ts).dt.strftime("%Y-%m").to_numpy(),
            "_logit": logit,
        }
    )


@pytest.fixture(scope="module")
def split():
    data = exposures()
    cut = data["event_timestamp"].quantile(0.75)
    return data[data["event_timestamp"] <= cut], data[data["event_timestamp"] > cut]


def test_response_uses_the_exposure_context_and_beats_the_baselines(split):
    train, held = split
    model = Response({"seed": 1})
    metrics = model.fit(train, FEATURES, valid=held)
    assert {"offer_id", "channel", "variant"} <= set(model.card.features)
    # campaign ids change monthly: the newest sends carry ids older ones never had, so they are left out
    assert "campaign_id" not in model.card.features
    assert model.card.extra["context_left_out"] == ["campaign_id"]
    without = Response({"seed": 1, "context": []})
    blind = without.fit(train, FEATURES, valid=held)
    assert metrics["auc"] > blind["auc"] + 0.03, (metrics, blind)
    offer_rate = held["offer_id"].map(train.groupby("offer_id")["label"].mean())
    assert metrics["auc"] > roc_auc_score(held["label"], offer_rate) + 0.1
    # the planted logit uses the true engagement and segment; the features are noisy views of them
    oracle = roc_auc_score(held["label"], held["_logit"])
    assert metrics["auc"] > oracle - 0.06, (metrics, oracle)
    assert metrics["lift_top_decile"] > 2.0
    importance = model.feature_importance()
    assert importance.index[0] in {"engagement_score", "offer_id"}  # the strongest planted drivers


def test_a_recurring_campaign_id_is_used(split):
    train, _ = split
    always_on = train.assign(campaign_id=np.where(train["offer_id"] == "discount_25", "CMP-vip", "CMP-all"))
    model = Response({"n_estimators": 30})
    model.fit(always_on, FEATURES)
    assert "campaign_id" in model.card.features


def test_response_probabilities_are_calibrated(split):
    train, held = split
    model = Response({"seed": 1})
    model.fit(train, FEATURES)
    p = model.predict(held)["response"]
    assert abs(p.mean() - held["label"].mean()) < 0.02


def test_exposure_context_joins_the_facts_by_exposure_id(tmp_path, split):
    init_workspace(tmp_path / "ws")
    ws = Workspace.load(tmp_path / "ws")
    train, _ = split
    facts = train.iloc[:500]
    cols = {
        f.name: pa.array(
            facts["event_timestamp"] if f.name == "ts" else facts[f.name], type=f.type, from_pandas=True
        )
        if f.name in facts or f.name == "ts"
        else pa.nulls(len(facts), f.type)
        for f in SCHEMAS[EXPOSURES]
    }
    ws.lake.write_table(
        pa.table(cols, schema=SCHEMAS[EXPOSURES]), ws.lake.path("facts", EXPOSURES, "part-00000.parquet")
    )
    bare = train.iloc[:600].drop(columns=["offer_id", "channel", "variant", "campaign_id"])
    joined = exposure_context(ws, bare)
    assert list(joined.index) == list(bare.index)
    assert (joined["offer_id"].iloc[:500].to_numpy() == facts["offer_id"].to_numpy()).all()
    assert joined["offer_id"].iloc[500:].isna().all()  # not in the facts: null, never dropped


def test_save_load_and_bad_input(split, tmp_path):
    train, held = split
    model = Response({"n_estimators": 40})
    model.fit(train, FEATURES)
    model.save(tmp_path / "r")
    loaded = Model.load(tmp_path / "r")
    np.testing.assert_allclose(loaded.predict(held)["response"], model.predict(held)["response"])
    with pytest.raises(ModelError, match="single class"):
        Response().fit(train.assign(label=1), FEATURES)
    with pytest.raises(ModelError, match="missing"):
        Response().fit(train, [*FEATURES, "no_such_feature"])


def test_exposure_history_counts_only_what_happened_before_each_row():
    t = pd.Timestamp("2025-03-01", tz="UTC")
    day = pd.Timedelta(days=1)
    ex = pd.DataFrame(
        {
            "customer_id": ["a", "a", "a", "b"],
            "ts": [t - 10 * day, t - 5 * day, t, t - 3 * day],
            "offer_id": ["x", "y", "x", "x"],
            "first_open_ts": [t - 9 * day, t + day, pd.NaT, t - 2 * day],  # a's 2nd opened after the row
            "first_click_ts": [t - 9 * day, pd.NaT, pd.NaT, pd.NaT],
            "conversion_ts": [t - 8 * day, pd.NaT, pd.NaT, pd.NaT],
        }
    )
    rows = pd.DataFrame({"customer_id": ["a", "b", "c"], "event_timestamp": [t, t, t], "offer_id": ["x"] * 3})
    out = exposure_history(ex, rows).set_index("customer_id")
    assert out.loc["a", list(HISTORY_FEATURES)].tolist() == [2, 1, 1, 1, 1, 1]  # the send at t is not prior
    assert out.loc["b", list(HISTORY_FEATURES)].tolist() == [1, 1, 0, 0, 1, 0]
    assert out.loc["c", list(HISTORY_FEATURES)].tolist() == [0] * 6
