"""Orders, returns and cancellations: the transactional signal churn, CLV and recommendations learn from.

Purchases follow a Poisson process per customer, thinned by seasonality (November / December peaks) and by a
linear decline before a churner's churn date, so falling purchase frequency precedes churn. Categories follow
each customer's Dirichlet preferences, price tiers their segment, products a Zipf popularity within the tier.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from c360.demo import vec
from c360.demo.catalogue import CATEGORIES
from c360.demo.people import People
from c360.demo.world import FX_FROM_USD, OFFER_DISCOUNT, SEASON, World

PURCHASE, RETURN, CANCEL = 0, 1, 2
ORDER_CHANNELS = ("web", "app", "store")
CATEGORY_RETURN = np.array([c[3] for c in CATEGORIES])


@dataclass
class Orders:
    """One row per order line event (purchase, return or cancel line)."""

    person: np.ndarray
    order: np.ndarray  # chunk-local order number
    ts: np.ndarray
    product: np.ndarray
    category: np.ndarray
    quantity: np.ndarray
    unit_cents: np.ndarray
    amount_cents: np.ndarray
    country: np.ndarray
    kind: np.ndarray
    channel: np.ndarray
    campaign: np.ndarray  # index into world.campaigns, -1 if none
    # per order (index = order number)
    order_person: np.ndarray
    order_ts: np.ndarray
    order_channel: np.ndarray
    order_lines: np.ndarray
    order_total_cents: np.ndarray

    def __len__(self) -> int:
        return len(self.person)


@dataclass
class CampaignOrders:
    """Orders triggered by a campaign conversion (from the marketing simulation)."""

    person: np.ndarray
    ts: np.ndarray
    campaign: np.ndarray


def _order_channel(people: People, persons: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    pref = people.pref_channel[persons]
    probs = np.array([[0.7, 0.15, 0.15], [0.2, 0.7, 0.1], [0.2, 0.1, 0.7], [0.6, 0.25, 0.15]])
    return vec.categorical_rows(probs, pref, rng)


def simulate_orders(world: World, people: People, extra: CampaignOrders, rng: np.random.Generator) -> Orders:
    buyers = np.flatnonzero(people.buyer)
    t0 = people.active_start[buyers]
    t1 = people.active_end(world.end)[buyers]
    peak = SEASON.max()
    owner, ts = vec.poisson_events(people.rate[buyers] * peak / 30.44, t0, t1, rng)
    person = buyers[owner]
    accept = SEASON[vec.month_of(ts) - 1] / peak * people.ramp(person, ts)
    keep = rng.random(len(ts)) < accept
    person, ts = person[keep], ts[keep]
    campaign = np.full(len(ts), -1, dtype=np.int64)
    person = np.concatenate([person, extra.person])
    ts = np.concatenate([ts, extra.ts])
    campaign = np.concatenate([campaign, extra.campaign])
    order = np.lexsort((ts, person))
    o_person, o_ts, o_campaign = person[order], ts[order], campaign[order]
    n_orders = len(o_person)

    o_channel = _order_channel(people, o_person, rng)
    o_channel = np.where(o_campaign >= 0, 0, o_channel)
    n_lines = 1 + rng.poisson(people.basket[o_person])
    line_order = vec.expand(n_lines)
    lp = o_person[line_order]
    category = vec.categorical_rows(people.prefs, lp, rng)
    first_line = vec.rank_within(line_order) == 0
    target = np.where(o_campaign >= 0, world.campaigns.target_category[np.maximum(o_campaign, 0)], -1)
    category = np.where(first_line & (target[line_order] >= 0), target[line_order], category)
    tier = vec.categorical_rows(people.tiers, lp, rng)
    product = world.catalogue.sampler.sample(category * 3 + tier, rng)
    u = rng.random(len(lp))
    quantity = 1 + (u < 0.12) + (u < 0.03)

    l_ts = o_ts[line_order]
    month, day = vec.civil(l_ts)[1:3]
    sale = (month == 11) & (day >= 20) & (rng.random(len(lp)) < 0.5)
    offer = np.where(o_campaign >= 0, world.campaigns.offer[np.maximum(o_campaign, 0)], -1)[line_order]
    discount = np.where(offer >= 0, OFFER_DISCOUNT[np.maximum(offer, 0)], np.where(sale, 0.2, 0.0))
    country = people.country[lp]
    unit = np.round(world.catalogue.price_cents[product] * FX_FROM_USD[country] * (1 - discount))
    unit = np.maximum(unit.astype(np.int64), 1)
    amount = unit * quantity

    order_total = np.bincount(line_order, weights=amount, minlength=n_orders).astype(np.int64)
    cancelled = (rng.random(n_orders) < 0.02) & (o_channel != 2)
    c_lines = np.flatnonzero(cancelled[line_order])
    ret_p = people.return_rate[lp] * CATEGORY_RETURN[category]
    ret_p = np.where(people.in_decline(lp, l_ts), 2.0 * ret_p, ret_p)
    ret_p = np.where(o_channel[line_order] == 2, 0.5 * ret_p, ret_p)
    ret_ts = l_ts + rng.integers(3 * vec.DAY, 30 * vec.DAY, len(lp))
    returned = (rng.random(len(lp)) < np.minimum(ret_p, 0.9)) & ~cancelled[line_order] & (ret_ts <= world.end)
    r_lines = np.flatnonzero(returned)
    cancel_ts = l_ts[c_lines] + rng.integers(600, 6 * 3600, len(c_lines))
    cancel_ts = np.minimum(cancel_ts, world.end)

    src = np.concatenate([np.arange(len(lp)), c_lines, r_lines])
    kind = np.concatenate(
        [np.zeros(len(lp), np.int64), np.full(len(c_lines), CANCEL), np.full(len(r_lines), RETURN)]
    )
    ev_ts = np.concatenate([l_ts, cancel_ts, ret_ts[r_lines]])
    # file order: by order, then time, purchases first
    sort = np.lexsort((kind, ev_ts, line_order[src]))
    src, kind, ev_ts = src[sort], kind[sort], ev_ts[sort]
    return Orders(
        person=lp[src],
        order=line_order[src],
        ts=ev_ts,
        product=product[src],
        category=category[src],
        quantity=quantity[src],
        unit_cents=unit[src],
        amount_cents=amount[src],
        country=country[src],
        kind=kind,
        channel=o_channel[line_order[src]],
        campaign=o_campaign[line_order[src]],
        order_person=o_person,
        order_ts=o_ts,
        order_channel=o_channel,
        order_lines=n_lines,
        order_total_cents=order_total,
    )
