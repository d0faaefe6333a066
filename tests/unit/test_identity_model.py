"""Fellegi-Sunter estimation: EM recovers m from unlabeled pairs; term frequencies reward rare agreement."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from c360.identity.model import FSModel, _median_m, em, pattern_counts

pytestmark = pytest.mark.unit


def test_em_recovers_m_and_lambda_from_unlabeled_pairs() -> None:
    rng = np.random.default_rng(0)
    n, lam = 20_000, 0.3
    true_m = [np.array([0.85, 0.10, 0.05]), np.array([0.9, 0.1]), np.array([0.7, 0.2, 0.1])]
    u = [np.array([0.02, 0.08, 0.90]), np.array([0.05, 0.95]), np.array([0.01, 0.04, 0.95])]
    is_match = rng.random(n) < lam
    cols = {}
    for j, (m_j, u_j) in enumerate(zip(true_m, u, strict=True)):
        draw_m = rng.choice(len(m_j), size=n, p=m_j)
        draw_u = rng.choice(len(u_j), size=n, p=u_j)
        g = np.where(is_match, draw_m, draw_u)
        g[rng.random(n) < 0.05] = -1  # some values missing
        cols[f"g_{j}"] = g
    pats, counts = pattern_counts(pd.DataFrame(cols), list(cols))
    assert pats.shape[0] < 60  # EM runs over distinct patterns, not 20,000 rows
    start = [np.full(len(m), 1 / len(m)) for m in true_m]
    start = [np.array([0.6] + [0.4 / (len(m) - 1)] * (len(m) - 1)) for m in true_m]
    m, lam_hat, iterations = em(pats, counts, start, u, 0.5, [True, True, True], 200, 1e-8)
    assert abs(lam_hat - lam) < 0.02
    for got, want in zip(m, true_m, strict=True):
        assert np.abs(got - want).max() < 0.03
    assert iterations > 1


def test_em_leaves_untrained_comparisons_alone() -> None:
    pats = np.array([[0, 0], [1, 1]], dtype=np.int8)
    counts = np.array([100.0, 900.0])
    m0 = [np.array([0.5, 0.5]), np.array([0.9, 0.1])]
    u = [np.array([0.1, 0.9]), np.array([0.1, 0.9])]
    m, _, _ = em(pats, counts, m0, u, 0.1, [True, False], 50, 1e-9)
    assert np.allclose(m[1], m0[1])


def test_m_of_a_level_comes_from_the_rules_whose_blocks_show_it() -> None:
    """Levels: exact, "city agrees, street unknown", different. Rule 0 blocks on names and holds social
    profiles (city, no street): 2% of its pairs are at level 1. Rules 1-3 block on birth dates, which social
    profiles lack: 0.2% of their pairs are, and their m describes shop accounts, not matches at large. Rule 3
    is full of look-alikes that EM took for matches: its "different" must be outvoted, not followed."""
    estimates = [
        np.array([0.90, 0.06, 0.04]),
        np.array([0.97, 0.002, 0.028]),
        np.array([0.97, 0.002, 0.028]),
        np.array([0.60, 0.002, 0.398]),
    ]
    seen = [
        np.array([60_000.0, 2_000.0, 38_000.0]),
        np.array([45_000.0, 100.0, 4_900.0]),
        np.array([45_000.0, 100.0, 4_900.0]),
        np.array([30_000.0, 60.0, 19_940.0]),
    ]
    m = _median_m(estimates, seen)
    raw = np.array([np.median([0.90, 0.97, 0.97, 0.60]), 0.06, np.median([0.04, 0.028, 0.028, 0.398])])
    assert m == pytest.approx(raw / raw.sum(), abs=1e-5)
    # A level no rule shows often keeps the median over every rule that saw it at all.
    rare = [np.array([0.9, 0.001, 0.099]), np.array([0.9, 0.003, 0.097]), np.array([0.9, 0.002, 0.098])]
    rare_seen = [np.array([900.0, 0.0, 100.0]), np.array([900.0, 20.0, 80.0]), np.array([900.0, 30.0, 70.0])]
    assert _median_m(rare, rare_seen)[1] == pytest.approx(0.0025 / (0.9 + 0.0025 + 0.098), rel=1e-3)


def model_with_tf() -> FSModel:
    return FSModel(
        fields=["last_name"],
        levels={"last_name": ["exact", "different"]},
        m={"last_name": [0.9, 0.1]},
        u={"last_name": [0.01, 0.99]},
        prior=1e-4,
        n_records=10_000,
        tf={"last_name": {"smith": 0.05, "zyzzyva": 0.0001}},
    )


def test_term_frequency_makes_rare_names_weigh_more() -> None:
    model = model_with_tf()
    tf = model.tf_of("last_name", pd.Series(["smith", "zyzzyva", "unseen", None]))
    gammas = pd.DataFrame({"g_last_name": [0, 0, 0, 1], "tf_last_name": tf.to_numpy()})
    w = model.field_weights(gammas)["last_name"].to_numpy()
    assert w[1] > w[0]  # agreeing on a rare surname is stronger evidence than on Smith
    assert w[0] < np.log2(0.9 / 0.01)  # Smith is commoner than the average agreement
    assert w[2] >= w[1]  # unseen values count as seen once
    assert w[3] == pytest.approx(np.log2(0.1 / 0.99))  # no adjustment when the names differ


def test_model_round_trips_through_json() -> None:
    model = model_with_tf()
    back = FSModel.from_json(model.to_json(), model.tf_table())
    assert back.m == model.m and back.u == model.u and back.prior == model.prior
    assert back.tf == model.tf
    light = FSModel.from_json(model.to_json())
    assert set(light.tf) == {"last_name"}  # still known as tf-adjusted without the tables
