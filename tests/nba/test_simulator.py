"""The bandit learns on the simulator (demo generator customers, hidden preferences); warm start works."""

from __future__ import annotations

import tempfile

import numpy as np
import pandas as pd
import pytest

from c360.io.lake import Lake
from c360.nba.bandit import Bandit
from c360.nba.catalog import NO_ACTION, load_catalog
from c360.nba.decisions import DecisionLog
from c360.nba.engine import NextBestAction
from c360.nba.simulator import START, Simulator, random_policy, run_bandit, run_policy
from c360.nba.warmstart import examples_from_exposures, warm_start

pytestmark = pytest.mark.unit
CUSTOMERS = 5_000


@pytest.fixture(scope="module")
def catalog():
    return load_catalog()


def test_simulator_is_seeded_and_plants_segment_preferences(catalog):
    a, b = Simulator(catalog, 3, CUSTOMERS), Simulator(catalog, 3, CUSTOMERS)
    va, vb = [a.visit() for _ in range(50)], [b.visit() for _ in range(50)]
    assert [v.context for v in va] == [v.context for v in vb]
    by_id = catalog.by_id()
    # the generator's planted affinity: bargain hunters answer 25% off better than vips do, vips new arrivals
    seg = a.segment
    hunters, vips = np.flatnonzero(seg == 2)[:200], np.flatnonzero(seg == 4)[:200]

    def mean(customers, action):
        return np.mean([a.expected_reward(int(c), "desktop", "morning", by_id[action]) for c in customers])

    assert mean(hunters, "d25_email") > mean(vips, "d25_email")
    assert mean(vips, "new_web") > mean(hunters, "new_web")
    assert a.expected_reward(0, "mobile", "evening", by_id[NO_ACTION]) == 0.0


def test_bandit_learns_and_beats_random(catalog):
    n = 5_000
    with tempfile.TemporaryDirectory() as tmp:
        log = DecisionLog(Lake(tmp), attribution_days=catalog.attribution_days, now=START)
        engine = NextBestAction(catalog, Bandit(seed=1), log)
        bandit = run_bandit(Simulator(catalog, 1, CUSTOMERS), engine, n)
        log.close()
    rand = run_policy(Simulator(catalog, 1, CUSTOMERS), random_policy(1), n)
    late_bandit, late_random = bandit.expected[-2_000:].mean(), rand.expected[-2_000:].mean()
    early_bandit = bandit.expected[:1_000].mean()
    assert late_bandit > 1.25 * late_random, (late_bandit, late_random)
    assert late_bandit > early_bandit * 1.1  # it improved with experience
    assert bandit.rewards.sum() > rand.rewards.sum()


def test_warm_start_from_exposures_learns_the_better_email_offer(catalog):
    sim = Simulator(catalog, 2, CUSTOMERS)
    emails = [a for a in catalog.actions if a.channel == "email"]
    rng = np.random.default_rng(0)
    rows, contexts = [], {}
    for _ in range(4_000):  # a uniformly random email campaign history
        v = sim.visit()
        a = emails[int(rng.integers(0, len(emails)))]
        conv = rng.random() < sim.expected_reward(v.customer, v.device, v.daypart, a)
        contexts[v.customer_id] = v.context
        rows.append((v.customer_id, "email", a.offer, a.variant, bool(conv), bool(conv), 0.0))
    rows.append(("C999999", "email", "unknown_offer", "x", True, True, 0.0))  # not in the catalogue: skipped
    rows.append(("C999998", "email", "discount_25", None, False, False, 0.0))  # no variant: (offer, channel)
    exposures = pd.DataFrame(
        rows, columns=["customer_id", "channel", "offer_id", "variant", "clicked", "converted", "revenue_rc"]
    )
    warm = examples_from_exposures(exposures, catalog, contexts)
    assert warm.skipped == 1 and len(warm.examples) == 4_001
    assert warm.examples[-1].actions[warm.examples[-1].index].id == "d25_email"
    assert all(0.2 < ex.probability < 0.3 for ex in warm.examples)  # four email actions, uniform sends
    bandit = Bandit(seed=0)
    warm_start(bandit, warm, passes=2)
    assert bandit.rewards_learned_ == 0  # not log rewards: a checkpoint's replay point is unchanged
    greedy, uniform = [], []
    for _ in range(1_500):
        v = sim.visit()
        pmf = bandit.pmf(v.context, emails)
        pick = emails[int(np.argmax(pmf))]
        greedy.append(sim.expected_reward(v.customer, v.device, v.daypart, pick))
        uniform.append(np.mean([sim.expected_reward(v.customer, v.device, v.daypart, a) for a in emails]))
    assert np.mean(greedy) > 1.15 * np.mean(uniform), (np.mean(greedy), np.mean(uniform))
