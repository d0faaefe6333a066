"""The true people of one chunk: households, names, addresses, contacts, latent traits and churn.

Everything a source later writes about a person is a noisy view of these arrays, and the ground truth is
written from them. Households are formed inside a chunk: members share an address, a landline, often a last
name, sometimes a family email address and (in the IoT source) devices.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from c360.demo import phones, vec
from c360.demo.catalogue import CATEGORY_NAMES, N_CATEGORIES
from c360.demo.world import COUNTRIES, COUNTRY_WEIGHTS, NUMBER_AFTER_STREET, SEGMENT_WEIGHTS, World

SOURCES: tuple[str, ...] = ("crm", "ecommerce", "support", "marketing", "web", "iot", "social", "thirdparty")
NEVER = 2**62  # "no such time" for move and churn timestamps

# per segment (prospect, occasional, bargain_hunter, loyal, vip)
SEG_RATE = np.array([0.0, 0.07, 0.2, 0.27, 0.65])  # orders per month
SEG_BASKET = np.array([0.0, 0.25, 0.45, 0.55, 0.95])  # extra lines per order (Poisson mean)
SEG_TIERS = np.array(
    [[0.4, 0.4, 0.2], [0.35, 0.45, 0.2], [0.7, 0.25, 0.05], [0.3, 0.45, 0.25], [0.1, 0.35, 0.55]]
)
SEG_RISK = np.array([[3.0, 4.0], [3.0, 4.0], [3.0, 5.0], [2.0, 8.0], [1.5, 10.0]])  # Beta(a, b)
SEG_RETURN = np.array([0.05, 0.06, 0.12, 0.07, 0.08])
SEG_ENGAGEMENT = np.array([-0.3, -0.4, 0.1, 0.4, 0.6])
SEG_CHANNEL = np.array(
    [
        [0.5, 0.2, 0.1, 0.2],
        [0.45, 0.15, 0.3, 0.1],
        [0.4, 0.3, 0.1, 0.2],
        [0.35, 0.3, 0.2, 0.15],
        [0.3, 0.35, 0.2, 0.15],
    ]
)  # web, app, store, email
# probability of being known to each source (rows: segments; columns: SOURCES); support depends on risk
SEG_SOURCES = np.array(
    [
        [0.08, 0.0, 0.03, 0.70, 0.60, 0.02, 0.25, 0.30],
        [0.45, 1.0, 0.0, 0.50, 0.45, 0.08, 0.12, 0.30],
        [0.55, 1.0, 0.0, 0.70, 0.55, 0.08, 0.18, 0.30],
        [0.85, 1.0, 0.0, 0.60, 0.55, 0.15, 0.15, 0.30],
        [0.95, 1.0, 0.0, 0.65, 0.60, 0.25, 0.20, 0.30],
    ]
)


JUNIOR_SHARE_US = 0.25
JUNIOR_SHARE = 0.03
"""Of the sons (third household members, male, of a male head), the share named after their father: an
American habit (Jr and Sr), rare in Europe."""


def monthly_hazard(risk: np.ndarray) -> np.ndarray:
    """Monthly churn hazard of a customer with latent risk in [0, 1]."""
    return 0.003 + 0.05 * risk**1.5


@dataclass
class People:
    n: int
    gid: np.ndarray
    person_id: pa.Array
    household: np.ndarray  # local household index
    household_gid: np.ndarray
    member: np.ndarray  # rank within the household (0 = head)
    hh_size: np.ndarray
    country: np.ndarray
    gender: np.ndarray  # 0 female, 1 male, 2 other
    first_idx: np.ndarray
    first: pa.Array
    last: pa.Array
    suffix: pa.Array  # generational suffix ("Jr" for a son named after his father, "Sr" for him), else null
    birth_day: np.ndarray  # epoch days
    address: dict[str, pa.Array]  # street, city, postcode, state (current)
    old_address: dict[str, pa.Array]  # before the move; equal to address when not moved
    locality: np.ndarray
    move_ts: np.ndarray
    emails: dict[str, pa.Array]  # personal, personal2, work, family (null where absent)
    mobile: pa.Array
    mobile_plan: np.ndarray
    landline: pa.Array
    landline_plan: np.ndarray
    loyalty_id: pa.Array
    handle: pa.Array
    segment: np.ndarray
    risk: np.ndarray
    rate: np.ndarray
    basket: np.ndarray
    tiers: np.ndarray  # [n, 3]
    prefs: np.ndarray  # [n, categories]
    return_rate: np.ndarray
    engagement: np.ndarray
    pref_channel: np.ndarray
    acq_ts: np.ndarray
    active_start: np.ndarray
    churned: np.ndarray
    churn_ts: np.ndarray  # NEVER when not churned
    decline_days: np.ndarray
    in_source: np.ndarray  # [n, len(SOURCES)]

    @property
    def buyer(self) -> np.ndarray:
        return self.segment > 0

    def active_end(self, end: int) -> np.ndarray:
        return np.minimum(self.churn_ts, end)

    def ramp(self, idx: np.ndarray, ts: np.ndarray, floor: float = 0.08) -> np.ndarray:
        """Activity multiplier at `ts`: 1, falling linearly to `floor` over the decline before churn."""
        left = (self.churn_ts[idx] - ts) / (self.decline_days[idx] * vec.DAY)
        return np.where(self.churned[idx], np.clip(left, floor, 1.0), 1.0)

    def in_decline(self, idx: np.ndarray, ts: np.ndarray) -> np.ndarray:
        return self.churned[idx] & (ts >= self.churn_ts[idx] - self.decline_days[idx] * vec.DAY)


def _households(n: int, rng: np.random.Generator) -> np.ndarray:
    sizes = rng.choice(np.arange(1, 6), size=n, p=[0.52, 0.30, 0.10, 0.06, 0.02])
    cum = np.cumsum(sizes)
    h = int(np.searchsorted(cum, n)) + 1
    sizes = sizes[:h].copy()
    sizes[-1] -= cum[h - 1] - n
    return sizes


def _addresses(
    world: World, country: np.ndarray, rng: np.random.Generator
) -> tuple[dict[str, pa.Array], np.ndarray]:
    h = len(country)
    locality = world.locality_sampler.sample(country, rng)
    lo, hi = world.street_offsets[country], world.street_offsets[country + 1]
    street = vec.take(world.streets, lo + (rng.random(h) * (hi - lo)).astype(np.int64))
    number = vec.num(np.where(rng.random(h) < 0.8, rng.integers(1, 120, h), rng.integers(120, 400, h)))
    after = NUMBER_AFTER_STREET[country]
    line = vec.pick(after, vec.join(street, " ", number), vec.join(number, " ", street))
    flat = rng.integers(1, 40, h)
    has_flat = (rng.random(h) < 0.15) & np.isin(country, [0, 1, 6])
    flat_line = vec.pick(
        country == 1, vec.join(line, " Apt ", vec.num(flat)), vec.join("Flat ", vec.num(flat), ", ", line)
    )
    line = vec.pick(has_flat, flat_line, line)
    base = vec.take(world.postcode, locality)
    inward = vec.join(
        vec.codes(rng.integers(0, 10, h), 1), vec.codes(rng.integers(0, 24**2, h), 2, vec.UPPER)
    )
    eircode = vec.codes(rng.integers(0, 34**4, h), 4, b"0123456789ACDEFHKNPRTVWXY" + b"ACDEFHKNP")
    postcode = vec.pick(
        country == 0, vec.join(base, " ", inward), vec.pick(country == 6, vec.join(base, " ", eircode), base)
    )
    return {
        "street": line,
        "city": vec.take(world.city, locality),
        "postcode": postcode,
        "state": vec.take(world.state, locality),
    }, locality


def _email_locals(first: pa.Array, last: pa.Array, numbers: np.ndarray, pattern: np.ndarray) -> pa.Array:
    f, last_s = vec.slug(first), vec.slug(last)
    initial = pc.utf8_slice_codeunits(f, 0, 1)
    forms = [
        vec.join(f, ".", last_s),
        vec.join(f, last_s),
        vec.join(initial, last_s),
        vec.join(f, "_", last_s),
        vec.join(last_s, ".", f),
        f,
        vec.join(last_s, initial),
    ]
    local = forms[0]
    for i, form in enumerate(forms[1:], start=1):
        local = vec.pick(pattern == i, form, local)
    return vec.join(local, vec.num(numbers))


def _distinct_in_household(
    first_idx: np.ndarray, household: np.ndarray, pools: np.ndarray, world: World, g0: int
) -> np.ndarray:
    """First names with no two members of a household alike: parents do not give two children one name, and
    the child named after a parent is the Jr of a Sr, planted on purpose (`JUNIOR_SHARE`). A member whose
    independent draw repeats an earlier member's name draws again (from a stream of its own, so the rest of
    the chunk's draws stay as they were)."""
    rng = np.random.default_rng([world.seed, g0, 0x6E616D65])
    out = first_idx.copy()
    for _ in range(8):
        key = household.astype(np.int64) * (int(out.max()) + 1) + out
        again = pd.Series(key).duplicated().to_numpy()
        if not again.any():
            break
        out[again] = world.first_sampler.sample(pools[again], rng)
    return out


def simulate_people(world: World, g0: int, n: int, total: int, rng: np.random.Generator) -> People:
    """`n` people with global indices g0 .. g0+n-1; `total` sizes the id spaces so ids never collide."""
    gid = g0 + np.arange(n, dtype=np.int64)
    sizes = _households(n, rng)
    h = len(sizes)
    household = vec.expand(sizes)
    member = vec.rank_within(household)
    first_member = np.cumsum(sizes) - sizes
    household_gid = g0 + first_member[household]
    hh_country = rng.choice(len(COUNTRIES), size=h, p=COUNTRY_WEIGHTS)
    country = hh_country[household]

    head_gender = rng.integers(0, 2, h)
    gender = np.where(member == 0, head_gender[household], rng.integers(0, 2, n))
    gender = np.where((member == 1) & (rng.random(n) < 0.85), 1 - head_gender[household], gender)
    gender = np.where(rng.random(n) < 0.01, 2, gender)
    pool_gender = np.where(gender == 2, rng.integers(0, 2, n), gender)
    first_idx = world.first_sampler.sample(country * 2 + pool_gender, rng)
    first_idx = _distinct_in_household(first_idx, household, country * 2 + pool_gender, world, g0)
    hh_last = world.last_sampler.sample(hh_country, rng)
    own_last = world.last_sampler.sample(country, rng)
    last_idx = np.where((member > 0) & (rng.random(n) < 0.15), own_last, hh_last[household])
    # A father and the son named after him: one first and last name, one address, two birth dates, told apart
    # only by "Sr" and "Jr" where a source writes them. They are two people and must stay two customers.
    head = first_member[household]
    named_after = np.where(country == COUNTRIES.index("US"), JUNIOR_SHARE_US, JUNIOR_SHARE)
    junior = (member == 2) & (gender == 1) & (gender[head] == 1) & (rng.random(n) < named_after)
    first_idx = np.where(junior, first_idx[head], first_idx)
    last_idx = np.where(junior, hh_last[household], last_idx)
    senior = np.zeros(n, dtype=bool)
    senior[head[junior]] = True
    suffix = vec.pick(junior, "Jr", vec.pick(senior, "Sr", pa.nulls(n, pa.string())))
    first = vec.take(world.first_names, first_idx)
    last = vec.take(world.last_names, last_idx)

    head_age = 18 + rng.beta(2.0, 2.6, h) * 67
    age = head_age[household] + np.where(member == 1, rng.normal(0, 4, n), 0.0)
    age = np.where(member >= 2, head_age[household] - 27 + rng.normal(0, 4, n), age)
    age = np.clip(age, 18, 95)
    end_day = world.end // vec.DAY
    birth_day = (end_day - age * 365.25 - rng.random(n) * 365).astype(np.int64)

    addr, locality = _addresses(world, hh_country, rng)
    moved = rng.random(h) < 0.12
    move_ts = np.where(moved, rng.integers(world.start - 180 * vec.DAY, world.end - 30 * vec.DAY, h), NEVER)
    old_country = hh_country
    old, old_loc = _addresses(world, old_country, rng)
    same_town = rng.random(h) < 0.5
    old["city"] = vec.pick(same_town, addr["city"], old["city"])
    old["state"] = vec.pick(same_town, addr["state"], old["state"])
    old_loc = np.where(same_town, locality, old_loc)
    old = {k: vec.pick(moved, v, addr[k]) for k, v in old.items()}
    hh_idx = pa.array(household)
    address = {k: v.take(hh_idx) for k, v in addr.items()}
    old_address = {k: v.take(hh_idx) for k, v in old.items()}

    width = max(5, len(str(4 * max(total, g0 + n))))
    key = vec.key_of("email", world.seed)
    emails: dict[str, pa.Array] = {}
    for slot, (name, p) in enumerate((("personal", 1.0), ("personal2", 0.45), ("work", 0.25))):
        numbers = vec.scramble(gid * 4 + slot, 10**width, key)
        local = _email_locals(first, last, numbers, rng.integers(0, 7, n))
        domain = (
            vec.take(world.work_domains, rng.integers(0, len(world.work_domains), n))
            if name == "work"
            else vec.take(world.email_domains, world.domain_sampler.sample(country, rng))
        )
        present = rng.random(n) < p
        if name == "work":
            present &= age < 67
        emails[name] = vec.null_where(~present, vec.join(local, "@", domain))
    fam_num = vec.scramble(household_gid * 4 + 3, 10**width, key)
    fam_domain = vec.take(world.email_domains, world.domain_sampler.sample(country, rng))
    family = vec.join("the", vec.slug(last), "s", vec.num(fam_num), "@", fam_domain)
    has_family = ((rng.random(h) < 0.08) & (sizes >= 2))[household]
    emails["family"] = vec.null_where(~has_family, family)

    mobile, mobile_plan = phones.make_numbers("mobile", country, gid, locality[household], rng)
    no_mobile = rng.random(n) < 0.07
    mobile = vec.null_where(no_mobile, mobile)
    mobile_plan = np.where(no_mobile, -1, mobile_plan)
    land_h, land_plan_h = phones.make_numbers("landline", hh_country, g0 + first_member, locality, rng)
    no_land = rng.random(h) < 0.45
    landline = vec.null_where(no_land, land_h).take(hh_idx)
    landline_plan = np.where(no_land, -1, land_plan_h)[household]
    loyalty_id = vec.join("LC", vec.codes(vec.scramble(gid, 10**9, vec.key_of("loyalty", world.seed)), 9))
    handle_num = vec.scramble(gid, 10**width, vec.key_of("handle", world.seed))
    handle = vec.join("@", _email_locals(first, last, handle_num, rng.integers(0, 7, n)))
    handle = pc.replace_substring(handle, ".", "_")

    segment = rng.choice(len(SEGMENT_WEIGHTS), size=n, p=SEGMENT_WEIGHTS)
    risk = rng.beta(SEG_RISK[segment, 0], SEG_RISK[segment, 1])
    rate = SEG_RATE[segment] * rng.lognormal(-0.125, 0.5, n)
    basket = SEG_BASKET[segment] * rng.uniform(0.7, 1.3, n)
    tiers = rng.gamma(20 * SEG_TIERS[segment])
    tiers /= tiers.sum(axis=1, keepdims=True)
    tilt = np.ones((n, N_CATEGORIES))
    cat = {name: i for i, name in enumerate(CATEGORY_NAMES)}
    tilt[gender == 0, cat["fashion_women"]] *= 4.0
    tilt[gender == 0, cat["fashion_men"]] *= 0.3
    tilt[gender == 0, cat["beauty"]] *= 2.0
    tilt[gender == 1, cat["fashion_men"]] *= 3.0
    tilt[gender == 1, cat["fashion_women"]] *= 0.25
    tilt[(age >= 28) & (age <= 50), cat["toys_games"]] *= 2.0
    tilt[age >= 55, cat["garden"]] *= 2.5
    tilt[age >= 55, cat["health"]] *= 1.8
    tilt[age < 40, cat["electronics"]] *= 1.5
    prefs = rng.gamma(0.3 * tilt) + 1e-9
    prefs /= prefs.sum(axis=1, keepdims=True)
    mean_ret = SEG_RETURN[segment]
    return_rate = rng.beta(mean_ret * 20, (1 - mean_ret) * 20)
    engagement = SEG_ENGAGEMENT[segment] + rng.normal(0, 0.8, n)
    pref_channel = vec.categorical_rows(SEG_CHANNEL, segment, rng)

    buyer = segment > 0
    pre = rng.random(n) < 0.5
    acq_ts = np.where(
        pre,
        world.start - rng.integers(vec.DAY, 4 * 365 * vec.DAY, n),
        rng.integers(world.start, world.end - 30 * vec.DAY, n),
    )
    acq_ts = np.where(buyer, acq_ts, rng.integers(world.start - 730 * vec.DAY, world.end - 14 * vec.DAY, n))
    active_start = np.maximum(acq_ts, world.start)
    hazard_per_day = monthly_hazard(risk) / 30.44
    churn_at = active_start + (rng.exponential(1.0, n) / hazard_per_day * vec.DAY).astype(np.int64)
    churned = buyer & (churn_at <= world.end)
    churn_ts = np.where(churned, churn_at, NEVER)
    decline_days = rng.uniform(120, 240, n)

    probs = SEG_SOURCES[segment].copy()
    probs[:, 2] = np.where(buyer, 0.05 + 0.45 * risk, probs[:, 2])
    in_source = rng.random(probs.shape) < probs
    none = ~in_source.any(axis=1)
    in_source[none, SOURCES.index("marketing")] = True
    priority = rng.random(in_source.shape) + np.where(in_source, 0.0, 10.0)
    priority[:, SOURCES.index("ecommerce")] -= np.where(buyer, 5.0, 0.0)
    keep_rank = np.argsort(np.argsort(priority, axis=1), axis=1)
    in_source &= keep_rank < 6

    return People(
        n=n,
        gid=gid,
        person_id=vec.join("P", vec.codes(gid, 8)),
        household=household,
        household_gid=household_gid,
        member=member,
        hh_size=sizes[household],
        country=country,
        gender=gender,
        first_idx=first_idx,
        first=first,
        last=last,
        suffix=suffix,
        birth_day=birth_day,
        address=address,
        old_address=old_address,
        locality=locality[household],
        move_ts=move_ts[household],
        emails=emails,
        mobile=mobile,
        mobile_plan=mobile_plan,
        landline=landline,
        landline_plan=landline_plan,
        loyalty_id=loyalty_id,
        handle=handle,
        segment=segment,
        risk=risk,
        rate=rate,
        basket=basket,
        tiers=tiers,
        prefs=prefs,
        return_rate=return_rate,
        engagement=engagement,
        pref_channel=pref_channel,
        acq_ts=acq_ts,
        active_start=active_start,
        churned=churned,
        churn_ts=churn_ts,
        decline_days=decline_days,
        in_source=in_source,
    )
