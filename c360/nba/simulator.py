"""A seeded simulator of next-best-action decisions over the demo generator's customers.

Customers are the demo generator's own people (`c360.demo`: `build_world(seed)` then
`simulate_people`), with the traits it plants: segment, engagement, preferred channel, churn risk, age. The
hidden response rule is the generator's for offers, extended to channels by a fixed rule documented here:

    logit P(convert | customer, action, visit) = -3.0
        + OFFER_AFFINITY[segment, offer]           the generator's planted segment-by-offer preferences
        + 0.3 * engagement                         as the generator's click rule
        + 0.7 if the action's channel is the customer's preferred one (web->web, app->push, email->email,
              store->sms: the generator has no sms or push, so its app and store preferences stand in)
        + variant_effect[segment, variant]         seeded: normal(0, 0.25) per (segment, variant)
        + 0.5 push on a mobile visit, -0.3 web on mobile, +0.3 email at a desktop, +0.3 sms in the evening
        + taste[customer, offer]                   seeded: normal(0, 0.3); never shown to the policy

`no_action` converts with probability 0: the reward is the conversion an action causes. Marketing consent
per channel is drawn with the generator's grant rates (email 0.85, sms 0.35, push 0.5, web 0.75), so about
one customer in a hundred consents to nothing and can only get `no_action`. Visits arrive one a minute, a
uniformly drawn customer each, so frequency caps and cooldowns bind as they would in production.

The policy sees what a profile would hold (segment, age band, preferred channel, engagement, churn score)
plus the visit's real-time context (device, daypart); the simulator alone knows `expected_reward`.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import numpy as np

from c360.demo.people import simulate_people
from c360.demo.world import CHANNELS, OFFER_AFFINITY, OFFERS, SEGMENTS, World, build_world
from c360.nba.catalog import NO_ACTION, Action, Catalog, Contact, eligible_actions
from c360.nba.decisions import Decision
from c360.nba.engine import NextBestAction

PREFERRED_TO_CHANNEL = {"web": "web", "app": "push", "email": "email", "store": "sms"}
GRANT = {"email": 0.85, "sms": 0.35, "push": 0.5, "web": 0.75}
DEVICES = ("mobile", "desktop")
DAYPARTS = ("morning", "afternoon", "evening")
START = datetime(2026, 11, 1, tzinfo=UTC)


@functools.lru_cache(maxsize=2)
def _world(seed: int) -> World:
    return build_world(seed)  # a few seconds (locale pools): built once per seed and process


@dataclass(frozen=True)
class Visit:
    step: int
    customer: int
    customer_id: str
    now: datetime
    device: str
    daypart: str
    context: dict[str, str | float]
    channels: frozenset[str]


class Simulator:
    """Visits, eligibility with contact history, and rewards drawn from the hidden rule."""

    def __init__(
        self,
        catalog: Catalog,
        seed: int = 0,
        customers: int = 20_000,
        start: datetime = START,
        stream: int = 0,
    ) -> None:
        """`seed` fixes the people and their hidden preferences; `stream` (and `start`) another run of visits
        and outcomes over the same people, so a second `c360 nba simulate` continues instead of repeating."""
        self.catalog = catalog
        self.seed = seed
        self.start = start
        world = _world(seed)
        rng = np.random.default_rng([seed, 11])
        people = simulate_people(world, 0, customers, customers, rng)
        self.n = customers
        self.segment = people.segment
        self.engagement = people.engagement
        self.pref = np.array([PREFERRED_TO_CHANNEL[CHANNELS[c]] for c in people.pref_channel])
        self.pref_name = np.array([CHANNELS[c] for c in people.pref_channel])
        age = (world.end // 86_400 - people.birth_day) / 365.25
        self.age_band = np.where(
            age < 30, "u30", np.where(age < 50, "30_49", np.where(age < 65, "50_64", "65p"))
        )
        self.risk = people.risk
        self.consent = {ch: rng.random(customers) < p for ch, p in GRANT.items()}
        variants = sorted({a.variant for a in catalog.actions})
        self._variant = {v: i for i, v in enumerate(variants)}
        self.variant_effect = rng.normal(0, 0.25, (len(SEGMENTS), len(variants)))
        self.taste = rng.normal(0, 0.3, (customers, len(OFFERS)))
        self._offer = {o: i for i, o in enumerate(OFFERS)}
        unknown = {a.offer for a in catalog.actions if a.id != NO_ACTION} - set(OFFERS)
        if unknown:
            raise ValueError(f"the simulator knows the generator's offers only, not {sorted(unknown)}")
        tail = [stream] if stream else []
        self._contexts = np.random.default_rng([seed, 12, *tail])
        self._outcomes = np.random.default_rng([seed, 13, *tail])
        self.history: dict[int, list[Contact]] = {}
        self.step = 0

    def visit(self) -> Visit:
        rng = self._contexts
        c = int(rng.integers(0, self.n))
        device = DEVICES[int(rng.random() < 0.45)]
        daypart = DAYPARTS[int(rng.integers(0, 3))]
        ctx: dict[str, str | float] = {
            "seg": SEGMENTS[self.segment[c]],
            "age": str(self.age_band[c]),
            "pch": str(self.pref_name[c]),
            "eng": round(float(self.engagement[c]), 2),
            "churn": round(float(self.risk[c]), 2),
            "dev": device,
            "day": daypart,
        }
        channels = frozenset(ch for ch, granted in self.consent.items() if granted[c])
        v = Visit(
            self.step,
            c,
            f"C{c:06d}",
            self.start + timedelta(minutes=self.step),
            device,
            daypart,
            ctx,
            channels,
        )
        self.step += 1
        return v

    def eligible(self, v: Visit) -> tuple[Action, ...]:
        return eligible_actions(self.catalog, v.channels, self.history.get(v.customer, ()), v.now).actions

    def expected_reward(self, customer: int, device: str, daypart: str, action: Action) -> float:
        if action.id == NO_ACTION or action.channel is None:
            return 0.0
        seg = self.segment[customer]
        o = self._offer[action.offer]
        logit = -3.0 + OFFER_AFFINITY[seg, o] + 0.3 * self.engagement[customer] + self.taste[customer, o]
        logit += 0.7 * (self.pref[customer] == action.channel)
        logit += self.variant_effect[seg, self._variant[action.variant]]
        if device == "mobile":
            logit += 0.5 * (action.channel == "push") - 0.3 * (action.channel == "web")
        else:
            logit += 0.3 * (action.channel == "email")
        logit += 0.3 * (daypart == "evening" and action.channel == "sms")
        return float(1.0 / (1.0 + np.exp(-logit)))

    def respond(self, v: Visit, action: Action) -> float:
        """Draw the outcome of showing `action` on this visit and record the contact; returns 0 or 1."""
        p = self.expected_reward(v.customer, v.device, v.daypart, action)
        if action.channel is not None and action.id != NO_ACTION:
            self.history.setdefault(v.customer, []).append(Contact(v.now, action.id, action.channel))
        return float(self._outcomes.random() < p)


ChoosePolicy = Callable[[Visit, Sequence[Action]], int]


@dataclass
class RunResult:
    rewards: np.ndarray  # realised reward of each decision
    expected: np.ndarray  # the simulator's expected reward of each chosen action


def run_policy(sim: Simulator, choose: ChoosePolicy, n: int) -> RunResult:
    """Run `n` decisions of a policy that picks an index among the eligible actions."""
    rewards = np.zeros(n)
    expected = np.zeros(n)
    for i in range(n):
        v = sim.visit()
        actions = sim.eligible(v)
        a = actions[choose(v, actions)]
        expected[i] = sim.expected_reward(v.customer, v.device, v.daypart, a)
        rewards[i] = sim.respond(v, a)
    return RunResult(rewards, expected)


def run_bandit(sim: Simulator, engine: NextBestAction, n: int, learn: bool = True) -> RunResult:
    """Run `n` decisions through the engine (eligibility, bandit, decision log), each rewarded a minute later
    and learned online (`learn=False`: logged only, the model stays frozen)."""
    rewards = np.zeros(n)
    expected = np.zeros(n)
    for i in range(n):
        v = sim.visit()
        actions = sim.eligible(v)
        d = engine.decide_among(v.customer_id, v.context, actions, v.now)
        a = actions[d.action_index]
        expected[i] = sim.expected_reward(v.customer, v.device, v.daypart, a)
        rewards[i] = r = sim.respond(v, a)
        engine.reward(d.decision_id, conversion=bool(r), ts=v.now + timedelta(minutes=1), learn=learn)
    return RunResult(rewards, expected)


def true_value(sim: Simulator, decision: Decision, policy_probs: Sequence[float]) -> float:
    """The simulator's expected reward of a policy on one logged decision's visit."""
    customer = int(decision.customer_id[1:])
    by_id = sim.catalog.by_id()
    return sum(
        p
        * sim.expected_reward(customer, str(decision.context["dev"]), str(decision.context["day"]), by_id[a])
        for a, p in zip(decision.actions, policy_probs, strict=True)
        if p > 0
    )


def random_policy(seed: int) -> ChoosePolicy:
    rng = np.random.default_rng([seed, 21])
    return lambda v, actions: int(rng.integers(0, len(actions)))


def fixed_policy(action_id: str, seed: int) -> ChoosePolicy:
    """Always `action_id` when eligible, else a uniformly random eligible action (documented fallback)."""
    rng = np.random.default_rng([seed, 22])

    def choose(v: Visit, actions: Sequence[Action]) -> int:
        for i, a in enumerate(actions):
            if a.id == action_id:
                return i
        return int(rng.integers(0, len(actions)))

    return choose


def best_fixed_action(catalog: Catalog, seed: int, customers: int = 20_000, visits: int = 20_000) -> str:
    """The action with the highest true expected reward over visits, with the simulator's knowledge
    (consent applied: where it is not eligible the fixed policy falls back to a random eligible action)."""
    sim = Simulator(catalog, seed, customers)
    ids = [a.id for a in catalog.actions if a.id != NO_ACTION]
    totals = dict.fromkeys(ids, 0.0)
    for _ in range(visits):
        v = sim.visit()
        eligible = eligible_actions(catalog, v.channels).actions
        fallback = float(np.mean([sim.expected_reward(v.customer, v.device, v.daypart, a) for a in eligible]))
        allowed = {a.id: a for a in eligible}
        for aid in ids:
            a = allowed.get(aid)
            totals[aid] += sim.expected_reward(v.customer, v.device, v.daypart, a) if a else fallback
    return max(totals, key=lambda k: totals[k])
