"""Support tickets, social mentions and IoT readings.

Tickets and mentions come at a rate and with a negativity that grow with the latent churn risk, and churners
add a burst of mostly negative contacts in the months before they leave: bad experiences precede churn. IoT
devices report usage that thins out as their owner disengages.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from c360.demo import vec
from c360.demo.catalogue import N_CATEGORIES
from c360.demo.people import People
from c360.demo.records import SourceRecords, members
from c360.demo.world import World

NEGATIVE, NEUTRAL, POSITIVE = 0, 1, 2
METRICS = (
    ("thermostat", "temperature_c", 19.0, 2.0),
    ("smart_plug", "energy_kwh", 3.5, 1.5),
    ("speaker", "play_minutes", 95.0, 40.0),
    ("camera", "motion_events", 14.0, 6.0),
)


@dataclass
class Contacts:
    """Tickets or mentions: who, when, the sentiment and the product they are about."""

    person: np.ndarray
    ts: np.ndarray
    sentiment: np.ndarray
    category: np.ndarray
    noun: pa.Array


@dataclass
class Readings:
    record: np.ndarray  # registration index
    ts: np.ndarray
    metric: np.ndarray
    value_tenths: np.ndarray
    battery: np.ndarray


def _sentiment(
    people: People,
    person: np.ndarray,
    burst: np.ndarray,
    p_neg_base: float,
    p_neg_risk: float,
    p_pos: float,
    rng: np.random.Generator,
) -> np.ndarray:
    p_neg = np.where(burst, 0.8, p_neg_base + p_neg_risk * people.risk[person])
    u = rng.random(len(person))
    positive = rng.random(len(person)) < p_pos
    return np.where(u < p_neg, NEGATIVE, np.where(positive, POSITIVE, NEUTRAL))


def _contacts(
    world: World,
    people: People,
    persons: np.ndarray,
    t0: np.ndarray,
    t1: np.ndarray,
    base_per_month: np.ndarray,
    burst_mean: float,
    sentiment_args: tuple[float, float, float],
    rng: np.random.Generator,
    at_least_one: bool,
) -> Contacts:
    owner, ts = vec.poisson_events(base_per_month / 30.44, t0, t1, rng)
    person = persons[owner]
    burst_start = np.maximum(
        people.churn_ts[persons] - (people.decline_days[persons] * vec.DAY).astype(np.int64), t0
    )
    churners = people.churned[persons]
    b_owner, b_ts = vec.poisson_events(
        np.where(churners, burst_mean, 0.0) / np.maximum(people.decline_days[persons], 1.0),
        burst_start,
        np.minimum(people.churn_ts[persons], t1),
        rng,
    )
    person = np.concatenate([person, persons[b_owner]])
    ts = np.concatenate([ts, b_ts])
    burst = np.concatenate([np.zeros(len(owner), bool), np.ones(len(b_owner), bool)])
    if at_least_one:
        seen = np.zeros(people.n, bool)
        seen[person] = True
        lonely = persons[~seen[persons]]
        lo, hi = t0[~seen[persons]], t1[~seen[persons]]
        person = np.concatenate([person, lonely])
        ts = np.concatenate([ts, lo + (rng.random(len(lonely)) * np.maximum(hi - lo, 1)).astype(np.int64)])
        burst = np.concatenate([burst, people.in_decline(lonely, ts[len(ts) - len(lonely) :])])
    order = np.lexsort((ts, person))
    person, ts, burst = person[order], ts[order], burst[order]
    sentiment = _sentiment(people, person, burst, *sentiment_args, rng)
    category = vec.categorical_rows(people.prefs, person, rng)
    category = np.where(rng.random(len(person)) < 0.2, rng.integers(0, N_CATEGORIES, len(person)), category)
    noun = vec.take(world.catalogue.noun, world.catalogue.sampler.sample(category * 3 + 1, rng))
    return Contacts(person, ts, sentiment, category, noun)


def simulate_tickets(world: World, people: People, rng: np.random.Generator) -> Contacts:
    persons = members(people, "support")
    t0 = np.where(
        people.buyer[persons], people.active_start[persons], np.maximum(people.acq_ts[persons], world.start)
    )
    t1 = np.maximum(people.active_end(world.end)[persons], t0 + vec.DAY)
    t1 = np.minimum(t1, world.end)
    rate = 0.02 + 0.10 * people.risk[persons]
    return _contacts(world, people, persons, t0, t1, rate, 1.6, (0.12, 0.45, 0.45), rng, at_least_one=True)


def simulate_mentions(
    world: World, people: People, social: SourceRecords, rng: np.random.Generator
) -> Contacts:
    persons = np.flatnonzero(social.count_of > 0)
    joined = social.created[social.first_of[persons]]
    t0 = np.maximum(np.maximum(people.active_start[persons], joined), world.start)
    stop = np.where(people.churned[persons], people.churn_ts[persons] + 30 * vec.DAY, world.end)
    t1 = np.maximum(np.minimum(stop, world.end), t0)
    rate = np.clip(0.10 + 0.05 * people.engagement[persons], 0.02, 0.3)
    return _contacts(world, people, persons, t0, t1, rate, 1.2, (0.10, 0.30, 0.6), rng, at_least_one=False)


def simulate_readings(world: World, people: People, iot: SourceRecords, rng: np.random.Generator) -> Readings:
    """About one reading a month per device from its first registration, thinned by the owner's decline."""
    assert iot.device is not None and iot.shared is not None
    owners = np.flatnonzero(~iot.shared)
    p = iot.person[owners]
    stop = np.where(people.churned[p], people.churn_ts[p] + rng.integers(0, 60 * vec.DAY, len(p)), world.end)
    t0 = np.maximum(iot.created[owners], world.start)
    t1 = np.maximum(np.minimum(stop, world.end), t0)
    owner, ts = vec.poisson_events(np.full(len(owners), 1.2 / 30.44), t0, t1, rng)
    keep = rng.random(len(ts)) < people.ramp(p[owner], ts, floor=0.2)
    owner, ts = owner[keep], ts[keep]
    metric = (iot.device[owners] % len(METRICS))[owner]
    mean = np.array([m[2] for m in METRICS])[metric]
    sd = np.array([m[3] for m in METRICS])[metric]
    level = rng.normal(1.0, 0.15, len(owners))[owner]
    value = np.maximum(mean * level + rng.normal(0, sd), 0)
    battery = np.clip(100 - ((ts - t0[owner]) // (4 * vec.DAY)) % 100 + rng.integers(-3, 3, len(ts)), 1, 100)
    return Readings(owners[owner], ts, metric, np.round(value * 10).astype(np.int64), battery)
