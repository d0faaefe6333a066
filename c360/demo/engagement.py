"""Marketing and web behaviour: consent over time, campaign sends / opens / clicks / conversions, sessions.

Campaign response depends on the customer (segment, engagement, preferred channel, category preferences) and
on the offer, through `world.OFFER_AFFINITY`; sends respect the marketing-email consent in force at send time;
opens fade as a customer declines towards churn. Web sessions include abandoned carts and the converting
session behind every online order.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from c360.demo import vec
from c360.demo.commerce import CampaignOrders, Orders
from c360.demo.people import People
from c360.demo.records import SourceRecords
from c360.demo.world import OFFER_AFFINITY, SEASON, World

SEND, OPEN, CLICK, RESPONSE = 0, 1, 2, 3
PURPOSES = ("marketing", "analytics", "personalization", "third_party")
CONSENT_CHANNELS = ("email", "sms", "push", "ads", "web")
MARKETING_COMBOS = ((0, 0), (0, 2), (2, 4))  # (purpose, channel) recorded by the email platform
CRM_COMBOS = ((0, 1), (1, 4), (3, 3))
MARKETING_GRANT = np.array([0.88, 0.3, 0.7])
CRM_GRANT = np.array([0.4, 0.75, 0.25])


@dataclass
class Consents:
    record: np.ndarray  # index into the source's records
    ts: np.ndarray
    purpose: np.ndarray
    channel: np.ndarray
    granted: np.ndarray


@dataclass
class EmailEvents:
    record: np.ndarray
    ts: np.ndarray
    kind: np.ndarray  # SEND, OPEN, CLICK, RESPONSE
    campaign: np.ndarray


@dataclass
class Sessions:
    person: np.ndarray
    ts: np.ndarray
    app: np.ndarray  # app session rather than web visit
    device: np.ndarray  # 0 desktop, 1 mobile, 2 tablet
    pages: np.ndarray
    category: np.ndarray
    cart_items: np.ndarray
    cart_cents: np.ndarray
    purchased: np.ndarray


def consent_history(
    world: World,
    people: People,
    rec: SourceRecords,
    combos: tuple[tuple[int, int], ...],
    grant_p: np.ndarray,
    rng: np.random.Generator,
) -> tuple[Consents, np.ndarray]:
    """Consent rows per record: a choice at creation, later withdrawals (likelier for risky and churning
    people) and occasional re-grants. Also returns, per record, when the first combo stops being granted."""
    r, k = len(rec), len(combos)
    p = rec.person
    t0 = rec.created
    granted0 = rng.random((r, k)) < grant_p
    mean_days = 2000.0 / (1.0 + 3.0 * people.risk[p])
    withdraw = t0[:, None] + (rng.exponential(1.0, (r, k)) * mean_days[:, None] * vec.DAY).astype(np.int64)
    churner = people.churned[p] & (rng.random(r) < 0.6)
    around_churn = people.churn_ts[p] + rng.integers(-60 * vec.DAY, 120 * vec.DAY, r)
    withdraw = np.where(
        churner[:, None], np.minimum(withdraw, np.maximum(around_churn, t0 + 1)[:, None]), withdraw
    )
    withdraw = np.where(granted0, withdraw, vec.DAY * 10**7)
    late_grant = np.where(
        ~granted0 & (rng.random((r, k)) < 0.1),
        t0[:, None] + rng.integers(30 * vec.DAY, 700 * vec.DAY, (r, k)),
        vec.DAY * 10**7,
    )
    regrant = np.where(
        rng.random((r, k)) < 0.1,
        withdraw + rng.integers(30 * vec.DAY, 400 * vec.DAY, (r, k)),
        vec.DAY * 10**7,
    )
    rows = [
        (np.ones((r, k), bool), np.broadcast_to(t0[:, None], (r, k)), granted0),
        (withdraw <= world.end, withdraw, np.zeros((r, k), bool)),
        (regrant <= world.end, regrant, np.ones((r, k), bool)),
        (late_grant <= world.end, late_grant, np.ones((r, k), bool)),
    ]
    rec_idx, ts, combo, granted = [], [], [], []
    for present, when, value in rows:
        i, j = np.nonzero(present)
        rec_idx.append(i)
        ts.append(np.asarray(when)[i, j])
        combo.append(j)
        granted.append(np.asarray(value)[i, j])
    rec_idx, ts, combo, granted = (np.concatenate(x) for x in (rec_idx, ts, combo, granted))
    order = np.lexsort((combo, ts, rec_idx))
    combos_arr = np.array(combos)
    c = combo[order]
    consents = Consents(rec_idx[order], ts[order], combos_arr[c, 0], combos_arr[c, 1], granted[order])
    # the first combo (marketing by email for the email platform) is granted on [t0, withdraw) or after a
    # late grant / re-grant
    grant_from = np.where(granted0[:, 0], t0, np.minimum(late_grant[:, 0], vec.DAY * 10**7))
    grant_until = np.where(granted0[:, 0], np.minimum(withdraw[:, 0], world.end + 1), world.end + 1)
    regrant_from = np.where(granted0[:, 0], regrant[:, 0], vec.DAY * 10**7)
    return consents, np.stack([grant_from, grant_until, regrant_from], axis=1)


def simulate_campaigns(
    world: World, people: People, rec: SourceRecords, email_window: np.ndarray, rng: np.random.Generator
) -> tuple[EmailEvents, CampaignOrders]:
    camp = world.campaigns
    p = rec.person
    send_ts = camp.send_ts[None, :] + rng.integers(0, 3 * 3600, (len(rec), len(camp.send_ts)))
    consented = ((send_ts >= email_window[:, :1]) & (send_ts < email_window[:, 1:2])) | (
        send_ts >= email_window[:, 2:3]
    )
    target = camp.target_category
    top3 = np.argsort(-people.prefs[p], axis=1)[:, :3]
    likes = (target[None, :] >= 0) & (top3[:, :, None] == target[None, None, :]).any(axis=1)
    audience = np.where(target[None, :] >= 0, np.where(likes, 0.4, 0.12), 0.25)
    sent = consented & (send_ts > rec.created[:, None]) & (rng.random(send_ts.shape) < audience)
    i, j = np.nonzero(sent)
    ts = send_ts[i, j]
    person = p[i]
    after_churn = ts > people.churn_ts[person]
    email_pref = people.pref_channel[person] == 3
    open_logit = (
        -1.0
        + people.engagement[person]
        + 0.8 * email_pref
        - 2.0 * after_churn
        - 0.8 * people.in_decline(person, ts)
    )
    opened = rng.random(len(i)) < 1 / (1 + np.exp(-open_logit))
    offer = camp.offer[j]
    seg = people.segment[person]
    affinity = OFFER_AFFINITY[seg, offer]
    click_logit = -1.5 + affinity + 0.7 * likes[i, j] + 0.3 * people.engagement[person]
    clicked = opened & (rng.random(len(i)) < 1 / (1 + np.exp(-click_logit)))
    conv_logit = -0.8 + affinity + 0.5 * likes[i, j]
    converted = (
        clicked & people.buyer[person] & ~after_churn & (rng.random(len(i)) < 1 / (1 + np.exp(-conv_logit)))
    )
    open_ts = ts + (rng.exponential(5 * 3600, len(i))).astype(np.int64)
    click_ts = open_ts + (rng.exponential(15 * 60, len(i))).astype(np.int64) + 5
    conv_ts = click_ts + (rng.exponential(2 * 3600, len(i))).astype(np.int64) + 30
    opened &= open_ts <= world.end
    clicked &= opened & (click_ts <= world.end)
    converted &= clicked & (conv_ts <= world.end) & (conv_ts < people.churn_ts[person])
    parts = [
        (np.ones(len(i), bool), ts, SEND),
        (opened, open_ts, OPEN),
        (clicked, click_ts, CLICK),
        (converted, conv_ts, RESPONSE),
    ]
    recs = np.concatenate([i[m] for m, _, _ in parts])
    times = np.concatenate([t[m] for m, t, _ in parts])
    kinds = np.concatenate([np.full(int(m.sum()), k) for m, _, k in parts])
    camps = np.concatenate([j[m] for m, _, _ in parts])
    order = np.lexsort((kinds, times, recs))
    events = EmailEvents(recs[order], times[order], kinds[order], camps[order])
    extra = CampaignOrders(
        person[converted], conv_ts[converted] + rng.integers(0, 600, int(converted.sum())), j[converted]
    )
    return events, extra


def simulate_sessions(
    world: World, people: People, web: SourceRecords, orders: Orders, rng: np.random.Generator
) -> Sessions:
    """Browsing sessions (some with carts left behind) plus the converting session of each online order."""
    persons = np.flatnonzero(web.count_of > 0)
    first_seen = web.created[web.first_of[persons]]
    t0 = np.maximum(first_seen, world.start)
    t1 = people.active_end(world.end)[persons]
    base = np.where(people.buyer[persons], 0.08 + 0.4 * np.sqrt(people.rate[persons]), 0.2) / 30.44
    peak = SEASON.max()
    owner, ts = vec.poisson_events(base * peak, t0, t1, rng)
    person = persons[owner]
    keep = rng.random(len(ts)) < SEASON[vec.month_of(ts) - 1] / peak * people.ramp(person, ts)
    person, ts = person[keep], ts[keep]
    n = len(ts)
    category = vec.categorical_rows(people.prefs, person, rng)
    tier = vec.categorical_rows(people.tiers, person, rng)
    has_cart = rng.random(n) < np.where(people.segment[person] == 2, 0.4, 0.28)
    items = np.where(has_cart, 1 + rng.poisson(0.5, n), 0)
    value = items * world.catalogue.mean_price_cents[category, tier] * rng.lognormal(0, 0.3, n)
    app = (people.pref_channel[person] == 1) & (rng.random(n) < 0.6)

    online = np.flatnonzero((orders.order_channel < 2) & (web.count_of[orders.order_person] > 0))
    o_person = orders.order_person[online]
    o_ts = np.maximum(orders.order_ts[online] - rng.integers(120, 2400, len(online)), world.start)
    first_cat = np.zeros(len(orders.order_person), dtype=np.int64)
    first_cat[orders.order[::-1]] = orders.category[::-1]
    sessions = Sessions(
        person=np.concatenate([person, o_person]),
        ts=np.concatenate([ts, o_ts]),
        app=np.concatenate([app, orders.order_channel[online] == 1]),
        device=np.concatenate(
            [rng.choice(3, n, p=[0.45, 0.45, 0.1]), rng.choice(3, len(online), p=[0.5, 0.42, 0.08])]
        ),
        pages=np.concatenate([1 + rng.poisson(3.0, n), 3 + rng.poisson(5.0, len(online))]),
        category=np.concatenate([category, first_cat[online]]),
        cart_items=np.concatenate([items, orders.order_lines[online]]),
        cart_cents=np.concatenate([value.astype(np.int64), orders.order_total_cents[online]]),
        purchased=np.concatenate([np.zeros(n, bool), np.ones(len(online), bool)]),
    )
    order = np.lexsort((sessions.ts, sessions.person))
    for name, values in vars(sessions).items():
        setattr(sessions, name, values[order])
    return sessions
