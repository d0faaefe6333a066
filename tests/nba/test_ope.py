"""Off-policy estimators on synthetic logs whose true policy value is known analytically."""

from __future__ import annotations

import numpy as np
import pytest

from c360.nba.catalog import load_catalog
from c360.nba.decisions import Decision, Reward
from c360.nba.ope import estimate, evaluate_policy

pytestmark = pytest.mark.unit

# two contexts (equally likely), three actions; mean reward per (context, action)
MU = np.array([[0.10, 0.30, 0.05], [0.40, 0.05, 0.20]])
LOGGING = np.array([[0.6, 0.2, 0.2], [0.2, 0.5, 0.3]])  # the logging policy's probabilities
TARGET = np.array([1, 0])  # deterministic target: action 1 in context 0, action 0 in context 1
TRUE_VALUE = 0.5 * MU[0, 1] + 0.5 * MU[1, 0]  # 0.35; the logging policy's own value is 0.1575


def _log(n, seed):
    rng = np.random.default_rng(seed)
    x = rng.integers(0, 2, n)
    a = np.array([rng.choice(3, p=LOGGING[c]) for c in x])
    r = (rng.random(n) < MU[x, a]).astype(float)
    return x, a, r


def test_ips_snips_dr_recover_the_true_value():
    x, a, r = _log(20_000, 1)
    p = LOGGING[x, a]
    pi = (a == TARGET[x]).astype(float)
    q_logged = MU[x, a] + 0.05  # a deliberately biased reward model: DR must still be right
    q_target = MU[x, TARGET[x]] + 0.05
    est = {e.estimator: e for e in estimate(r, p, pi, q_logged, q_target, n_boot=300, seed=2)}
    assert set(est) == {"IPS", "SNIPS", "DR"}
    for e in est.values():
        assert e.low <= TRUE_VALUE <= e.high, e
        assert abs(e.value - TRUE_VALUE) < 0.02, e
        assert e.high - e.low < 0.06
    # w is 1/0.2 in context 0 and 1/0.2 in context 1 on matches (a fifth of rows): ESS = n / 5
    assert est["IPS"].ess == pytest.approx(20_000 * 0.2, rel=0.05)
    # the logging policy evaluated on its own log: weights are all 1, ESS = n, IPS = the sample mean
    same = estimate(r, p, p, n_boot=50)
    assert same[0].ess == pytest.approx(len(r))
    assert same[0].value == pytest.approx(r.mean())


def test_evaluate_policy_end_to_end_with_a_fitted_reward_model():
    catalog = load_catalog()
    actions = [a for a in catalog.actions if a.id in ("d10_email", "ship_push", "new_web")]
    x, a, r = _log(6_000, 3)
    rows = []
    for i, (c, k, rew) in enumerate(zip(x, a, r, strict=True)):
        d = Decision(
            decision_id=str(i),
            ts="2026-12-01T00:00:00+00:00",
            customer_id=f"C{i}",
            context={"ctx": f"c{c}"},
            actions=[act.id for act in actions],
            action_index=int(k),
            action_id=actions[k].id,
            probability=float(LOGGING[c, k]),
            pmf=LOGGING[c].tolist(),
            draw=0.0,
            model_version="test",
        )
        reward = Reward(i, str(i), d.customer_id, d.ts, False, bool(rew), 0.0, float(rew)) if i % 10 else None
        rows.append((d, reward))
    # every tenth decision has no reward in the log: it counts as 0, so the truth is 0.9 * TRUE_VALUE
    truth = 0.9 * TRUE_VALUE

    def target(context, acts):
        best = TARGET[int(context["ctx"][1])]
        return [1.0 if j == best else 0.0 for j in range(len(acts))]

    est = evaluate_policy(rows, catalog, target, n_boot=200, seed=4)
    for e in est:
        assert e.low <= truth <= e.high, e
        assert abs(e.value - truth) < 0.04, e
    dr = next(e for e in est if e.estimator == "DR")
    ips = next(e for e in est if e.estimator == "IPS")
    assert dr.high - dr.low <= ips.high - ips.low  # the reward model removes variance


def test_zero_logged_probability_refused():
    with pytest.raises(ValueError):
        estimate(np.array([1.0]), np.array([0.0]), np.array([1.0]))
