"""Segments: RFM names for customers built to sit in known quintiles, k by silhouette on planted clusters,
cluster labels stable across a retrain on shuffled rows, the history appended per run and erased."""

from __future__ import annotations

import os

import numpy as np
import pandas as pd
import pytest

from c360.models.base import Model, ModelError
from c360.models.erasure import SEGMENTS_STEP
from c360.models.segments import (
    RFM_SEGMENTS,
    Segments,
    append_history,
    match_labels,
    quintile_score,
    read_history,
    rfm_name,
)
from c360.privacy.subject import Subject
from c360.workspace import Workspace, init_workspace

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
FEATURES = ["days_since_last_purchase", "total_purchases", "total_spend", "web_visits", "avg_sentiment"]


def blobs(k: int, n: int, seed: int, spread: float = 0.35) -> pd.DataFrame:
    """n customers in k behavioural groups with distinct centres on five features (two skewed counts)."""
    rng = np.random.default_rng(seed)
    centres = rng.uniform(-3, 3, (k, 5))
    group = rng.integers(0, k, n)
    x = centres[group] + rng.normal(0, spread, (n, 5))
    return pd.DataFrame(
        {
            "customer_id": [f"cus_{i:05d}" for i in range(n)],
            "days_since_last_purchase": np.exp(x[:, 0] + 3),
            "total_purchases": np.round(np.exp(x[:, 1] / 2 + 1.5)),
            "total_spend": np.exp(x[:, 2] / 2 + 5),
            "web_visits": x[:, 3] * 4 + 20,
            "avg_sentiment": np.tanh(x[:, 4] / 3),
            "group": group,
        }
    )


def test_the_rfm_grid_names_every_cell_with_the_standard_names():
    r, f = np.meshgrid(np.arange(1, 6), np.arange(1, 6), indexing="ij")
    names = rfm_name(r.ravel(), f.ravel(), f.ravel())
    assert set(names) == set(RFM_SEGMENTS)
    assert rfm_name([5], [5], [5])[0] == "Champions"
    assert rfm_name([5], [1], [1])[0] == "New customers"
    assert rfm_name([1], [5], [5])[0] == "Can't lose them"
    assert rfm_name([1], [1], [1])[0] == "Lost"
    assert rfm_name([2], [1], [2])[0] == "Hibernating"  # FM = round(1.5) = 2
    assert rfm_name([3], [3], [3])[0] == "Need attention"
    assert rfm_name([2], [4], [3])[0] == "At risk"  # FM = round(3.5) = 4


def test_quintile_scores_follow_the_training_population_and_ties_share_a_score():
    grid = np.quantile(np.arange(100.0), np.linspace(0, 1, 1001))
    assert list(quintile_score([0, 25, 50, 75, 99], grid)) == [1, 2, 3, 4, 5]
    assert list(quintile_score([0, 99], grid, higher_is_better=False)) == [5, 1]
    tied = np.quantile(np.r_[np.ones(50), np.arange(2.0, 52)], np.linspace(0, 1, 1001))
    assert len(set(quintile_score(np.ones(5), tied))) == 1


def constructed() -> tuple[pd.DataFrame, dict[str, str]]:
    """A population of 1,000 uniform customers plus named ones at the extremes of each quintile."""
    rng = np.random.default_rng(1)
    n = 1000
    pop = pd.DataFrame(
        {
            "customer_id": [f"pop_{i}" for i in range(n)],
            "days_since_last_purchase": rng.uniform(0, 500, n),
            "total_purchases": rng.integers(1, 51, n).astype(float),
            "total_spend": rng.uniform(10, 5000, n),
        }
    )
    # (recency days, purchases, spend) -> expected name; quintiles: days 0-100 R5 ... 400-500 R1
    people = {
        "champion": ((5, 49, 4900), "Champions"),
        "newbie": ((3, 1, 20), "New customers"),
        "loyal": ((250, 45, 4500), "Loyal"),
        "cant_lose": ((480, 48, 4950), "Can't lose them"),
        "lost": ((490, 1, 15), "Lost"),
        "at_risk": ((350, 30, 3000), "At risk"),
        "sleepy": ((250, 3, 200), "About to sleep"),
        "never": ((np.nan, 0, 0), "Lost"),
    }
    rows = pd.DataFrame(
        [
            {"customer_id": k, "days_since_last_purchase": d, "total_purchases": f, "total_spend": m}
            for k, ((d, f, m), _) in people.items()
        ]
    )
    return pd.concat([pop, rows], ignore_index=True), {k: name for k, (_, name) in people.items()}


def test_rfm_names_of_constructed_customers():
    frame, expected = constructed()
    model = Segments({"k_min": 2, "k_max": 3})
    model.fit(frame, ["days_since_last_purchase", "total_purchases", "total_spend"])
    out = model.predict(frame).set_index(frame["customer_id"])
    assert out.loc[list(expected), "segment"].to_dict() == expected
    assert out.loc["champion", ["r_score", "f_score", "m_score"]].tolist() == [5, 5, 5]
    shares = out["segment"].value_counts(normalize=True)
    assert shares.max() < 0.35  # a uniform population spreads over the grid


def test_k_by_silhouette_finds_the_planted_k_and_clusters_recover_the_groups():
    from sklearn.metrics import adjusted_rand_score

    data = blobs(k=5, n=3000, seed=7)
    train, held = data.iloc[:2400], data.iloc[2400:]
    model = Segments({"k_min": 3, "k_max": 8, "silhouette_sample": 1500})
    metrics = model.fit(train, FEATURES, valid=held)
    assert metrics["k"] == 5
    assert metrics["silhouette"] > 0.5
    assert adjusted_rand_score(held["group"], model.predict(held)["cluster"]) > 0.95


def test_cluster_features_limit_what_k_means_sees():
    data = blobs(k=4, n=1500, seed=2)
    data["noise"] = np.random.default_rng(0).normal(0, 1, len(data))
    model = Segments({"k_min": 3, "k_max": 5, "cluster_features": ["total_spend", "web_visits", "absent"]})
    model.fit(data, [*FEATURES, "noise"])
    assert model.card.features == ["total_spend", "web_visits"]
    assert set(model.predict(data)["cluster"]) <= set(model.labels_)


def test_labels_stay_stable_across_a_retrain_on_shuffled_rows(tmp_path):
    data = blobs(k=4, n=2000, seed=11)
    first = Segments({"k_min": 3, "k_max": 6, "seed": 1})
    first.fit(data, FEATURES)
    before = first.predict(data)["cluster"].to_numpy()
    first.save(tmp_path / "v1")
    previous = Model.load(tmp_path / "v1")

    shuffled = data.sample(frac=1.0, random_state=5).reset_index(drop=True)
    plain = Segments({"k_min": 3, "k_max": 6, "seed": 9})
    plain.fit(shuffled, FEATURES)
    matched = Segments({"k_min": 3, "k_max": 6, "seed": 9})
    matched.fit(shuffled, FEATURES, previous=previous)
    assert matched.card.extra["matched_previous"]

    after = matched.predict(data)["cluster"].to_numpy()
    assert (after == before).mean() > 0.99
    # without matching the numbering is k-means' own order, which the shuffle and seed changed
    assert (plain.predict(data)["cluster"].to_numpy() == before).mean() < 0.99


def test_matching_gives_fresh_labels_when_k_grows():
    old = np.array([[0.0, 0.0], [10.0, 10.0]])
    new = np.array([[10.1, 9.9], [5.0, -5.0], [0.2, 0.1]])
    assert match_labels(new, old, [3, 7]) == [7, 8, 3]


def test_bad_input_is_named():
    with pytest.raises(ModelError, match="empty"):
        Segments().fit(pd.DataFrame(), FEATURES)
    with pytest.raises(ModelError, match="numeric"):
        Segments().fit(pd.DataFrame({"customer_id": ["a", "b"], "country": ["GB", "US"]}), ["country"])
    with pytest.raises(ModelError, match="unknown hyper-parameter"):
        Segments({"k": 4})


def test_history_is_appended_per_run_and_erased(tmp_path):
    init_workspace(tmp_path / "ws")
    ws = Workspace.load(tmp_path / "ws")
    data = blobs(k=3, n=300, seed=3)
    model = Segments({"k_min": 2, "k_max": 4})
    model.fit(data, FEATURES)
    scored = pd.concat([data[["customer_id"]], model.predict(data)], axis=1)
    append_history(ws, scored, "2026-01-01", 1)
    append_history(ws, scored, "2026-02-01", 2)
    append_history(ws, scored, "2026-02-01", 2)  # the same run again replaces its file
    history = read_history(ws)
    assert len(history) == 2 * len(data)
    one = read_history(ws, ["cus_00007"])
    assert list(one["model_version"]) == ["1", "2"]
    assert one["as_of"].dt.month.tolist() == [1, 2]
    assert set(one["rfm_segment"]) <= set(RFM_SEGMENTS)

    counts = SEGMENTS_STEP.run(ws, Subject("cus_00007", {"cus_00007"}))
    assert counts is not None
    left = read_history(ws)
    assert "cus_00007" not in set(left["customer_id"])
    assert len(left) == 2 * (len(data) - 1)
    SEGMENTS_STEP.run(ws, Subject("cus_00007", {"cus_00007"}))  # idempotent
    assert len(read_history(ws)) == len(left)


def test_the_erasure_plan_runs_the_segments_step():
    from c360.erasure_plan import erasure_plan

    assert "segments" in [s.name for s in erasure_plan().steps]
