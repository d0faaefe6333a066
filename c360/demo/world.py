"""Everything shared by all customer chunks of one seed: dates, locale pools, the catalogue, the campaigns.

Faker's locale data is read here, once per seed, into pools (names with Zipf-like frequencies, streets,
localities, email domains); the chunks then sample those pools with numpy. Faker per row would be far too
slow.
"""

from __future__ import annotations

import importlib
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
from faker import Faker

from c360.demo import vec
from c360.demo.catalogue import N_CATEGORIES, Catalogue, build_catalogue
from c360.demo.nicknames import NICKNAMES

REFERENCE_DATE = "2026-10-31"
"""The last day of simulated history; ground-truth churn and CLV are stated as of its end."""
HISTORY_START = "2023-11-01"

COUNTRIES: tuple[str, ...] = ("GB", "US", "DE", "FR", "ES", "IT", "IE")
COUNTRY_WEIGHTS = np.array([0.44, 0.40, 0.05, 0.04, 0.03, 0.02, 0.02])
COUNTRY_NAMES = ("United Kingdom", "United States", "Germany", "France", "Spain", "Italy", "Ireland")
CURRENCIES = ("GBP", "USD", "EUR", "EUR", "EUR", "EUR", "EUR")
FX_FROM_USD = np.array([0.79, 1.0, 0.92, 0.92, 0.92, 0.92, 0.92])
_LOCALES = ("en_GB", "en_US", "de_DE", "fr_FR", "es_ES", "it_IT", "en_IE")
NUMBER_AFTER_STREET = np.array([False, False, True, False, True, True, False])

_EMAIL_DOMAINS: tuple[tuple[tuple[str, float], ...], ...] = (
    (
        ("gmail.com", 35),
        ("hotmail.co.uk", 18),
        ("yahoo.co.uk", 10),
        ("outlook.com", 12),
        ("btinternet.com", 9),
        ("sky.com", 6),
        ("icloud.com", 10),
    ),
    (
        ("gmail.com", 40),
        ("yahoo.com", 15),
        ("hotmail.com", 10),
        ("outlook.com", 8),
        ("aol.com", 5),
        ("icloud.com", 12),
        ("comcast.net", 10),
    ),
    (("gmx.de", 30), ("web.de", 30), ("t-online.de", 15), ("gmail.com", 25)),
    (("orange.fr", 30), ("free.fr", 20), ("laposte.net", 10), ("gmail.com", 40)),
    (("gmail.com", 50), ("hotmail.es", 30), ("yahoo.es", 20)),
    (("libero.it", 30), ("gmail.com", 45), ("alice.it", 25)),
    (("gmail.com", 55), ("eircom.net", 25), ("hotmail.com", 20)),
)

# Landline plans per country: (national significant prefix choices, digits after the prefix, groups).
# Mobile plans likewise. Every plan yields numbers libphonenumber accepts as valid.
CALLING_CODES = ("44", "1", "49", "33", "34", "39", "353")
TRUNK = ("0", "", "0", "0", "", "", "0")

SEGMENTS: tuple[str, ...] = ("prospect", "occasional", "bargain_hunter", "loyal", "vip")
SEGMENT_WEIGHTS = np.array([0.18, 0.32, 0.22, 0.20, 0.08])
OFFERS: tuple[str, ...] = (
    "discount_10",
    "discount_25",
    "free_shipping",
    "new_arrivals",
    "loyalty_points",
    "bundle",
)
OFFER_DISCOUNT = np.array([0.10, 0.25, 0.0, 0.0, 0.0, 0.05])
# Logit shift of clicking / converting on an offer, per segment (rows follow SEGMENTS).
OFFER_AFFINITY = np.array(
    [
        [0.3, 0.6, 0.4, 0.2, -0.6, 0.0],
        [0.2, 0.6, 0.5, 0.0, -0.3, 0.1],
        [0.9, 1.5, 0.9, -0.6, -0.4, 0.6],
        [0.1, 0.3, 0.3, 0.4, 0.8, 0.3],
        [-0.4, -0.1, 0.0, 1.1, 0.9, 0.2],
    ]
)
CHANNELS: tuple[str, ...] = ("web", "app", "store", "email")
SEASON = np.array([0.8, 0.85, 0.95, 0.95, 1.0, 0.95, 1.05, 1.0, 0.95, 1.0, 1.55, 1.9])  # Jan..Dec


@dataclass(frozen=True)
class Campaigns:
    campaign_id: pa.Array
    send_ts: np.ndarray
    offer: np.ndarray
    target_category: np.ndarray  # -1: no target
    subject: pa.Array


@dataclass(frozen=True)
class World:
    seed: int
    start: int  # epoch seconds, first instant of history
    end: int  # epoch seconds, last instant of history (end of REFERENCE_DATE)
    first_names: pa.Array  # all locales, both genders, concatenated
    first_sampler: vec.GroupedSampler  # groups = country * 2 + gender (0 female, 1 male)
    nick_options: pa.Array  # [len(first_names) * 3] nickname choices, null where none
    nick_count: np.ndarray  # how many options each first name has
    last_names: pa.Array
    last_sampler: vec.GroupedSampler  # groups = country
    streets: pa.Array
    street_offsets: np.ndarray  # per country
    city: pa.Array  # localities, all countries concatenated
    state: pa.Array
    postcode: pa.Array
    locality_sampler: vec.GroupedSampler  # groups = country
    email_domains: pa.Array
    domain_sampler: vec.GroupedSampler
    work_domains: pa.Array
    catalogue: Catalogue
    campaigns: Campaigns


def _zipf_weights(
    names: list[str], given: list[float] | None, rng: np.random.Generator, offset: float, power: float
) -> np.ndarray:
    """Rank names by the locale's own frequencies (or a shuffle when it has none), then Zipf by rank."""
    n = len(names)
    tie = rng.random(n)
    popularity = np.asarray(given, dtype=float) if given is not None else tie
    rank = np.empty(n, dtype=np.int64)
    rank[np.lexsort((tie, -popularity))] = np.arange(n)
    return 1.0 / (rank + offset) ** power


def _names(
    provider: type, attr: str, rng: np.random.Generator, offset: float, power: float
) -> tuple[list[str], np.ndarray]:
    raw = getattr(provider, attr)
    if isinstance(raw, OrderedDict | dict):
        names, given = list(raw.keys()), list(raw.values())
    else:
        names, given = list(dict.fromkeys(raw)), None
        if names != sorted(names):  # the list is ordered by popularity already
            given = list(np.linspace(1.0, 0.0, len(names)))
    return names, _zipf_weights(names, given, rng, offset, power)


def _unique(make: Callable[[], str], count: int, tries: int = 4) -> list[str]:
    seen: dict[str, None] = {}
    for _ in range(count * tries):
        seen.setdefault(make(), None)
        if len(seen) >= count:
            break
    return list(seen)


def _localities(
    fake: Faker, country: str, rng: np.random.Generator, count: int
) -> list[tuple[str, str, str]]:
    out = []
    cities = _unique(fake.city, count)
    for city in cities:
        if country == "US":
            state, post = fake.state_abbr(), fake.zipcode()
        elif country in ("GB", "IE"):
            state, post = (
                fake.county() if hasattr(fake, "county") else fake.administrative_unit(),
                fake.postcode(),
            )
            post = post.split(" ")[0]
        else:
            state, post = fake.administrative_unit(), fake.postcode()
        out.append((city, state, post))
    return out


def _campaigns(rng: np.random.Generator, start: int, end: int) -> Campaigns:
    ids, ts, offer, target, subject = [], [], [], [], []
    month = np.datetime64(HISTORY_START, "M")
    while vec.epoch(str(month.astype("datetime64[D]"))) < end:
        first = vec.epoch(str(month.astype("datetime64[D]")))
        m = int(month.astype(np.int64) % 12) + 1
        plans = [(int(rng.integers(3, 20)), int(rng.integers(0, len(OFFERS))), "monthly")]
        if m == 11:
            plans.append((24, 1, "black-friday"))
        if m == 12:
            plans.append((6, int(rng.choice([2, 5])), "christmas"))
        if m == 1:
            plans.append((2, 1, "january-sale"))
        if m == 7:
            plans.append((10, 0, "summer-sale"))
        for day, off, kind in plans:
            send = first + (day - 1) * vec.DAY + 8 * 3600
            if send >= end:
                continue
            cat = int(rng.integers(0, N_CATEGORIES)) if kind == "monthly" and rng.random() < 0.6 else -1
            ids.append(f"CMP-{str(month)}-{kind}")
            ts.append(send)
            offer.append(off)
            target.append(cat)
            subject.append(f"{kind.replace('-', ' ').title()}: {OFFERS[off].replace('_', ' ')}")
        month += 1
    return Campaigns(pa.array(ids), np.array(ts), np.array(offer), np.array(target), pa.array(subject))


def build_world(seed: int) -> World:
    """All per-seed shared data; deterministic in `seed` (faker and numpy both seeded)."""
    rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(0,)))
    start, end = vec.epoch(HISTORY_START), vec.epoch(REFERENCE_DATE) + vec.DAY - 1

    first: list[str] = []
    first_w: list[np.ndarray] = []
    last: list[str] = []
    last_w: list[np.ndarray] = []
    streets: list[str] = []
    street_offsets = [0]
    localities: list[tuple[str, str, str]] = []
    loc_w: list[np.ndarray] = []
    for country, locale in zip(COUNTRIES, _LOCALES, strict=True):
        person = importlib.import_module(f"faker.providers.person.{locale}").Provider
        for attr in ("first_names_female", "first_names_male"):
            names, w = _names(person, attr, rng, offset=5.0, power=1.0)
            first.extend(names)
            first_w.append(w)
        names, w = _names(person, "last_names", rng, offset=10.0, power=0.9)
        last.extend(names)
        last_w.append(w)
        fake = Faker(locale)
        fake.seed_instance(seed * 31 + len(streets))
        pool = _unique(fake.street_name, 1500 if country in ("GB", "US") else 400)
        streets.extend(pool)
        street_offsets.append(len(streets))
        locs = _localities(fake, country, rng, 400 if country in ("GB", "US") else 80)
        localities.extend(locs)
        loc_w.append(1.0 / (np.arange(len(locs)) + 3.0) ** 0.8)

    nick = np.full((len(first), 3), None, dtype=object)
    nick_count = np.zeros(len(first), dtype=np.int64)
    for i, name in enumerate(first):
        options = NICKNAMES.get(name, ())[:3]
        nick_count[i] = len(options)
        nick[i, : len(options)] = options

    domains, dom_w = [], []
    for pool in _EMAIL_DOMAINS:
        domains.extend(d for d, _ in pool)
        dom_w.append(np.array([w for _, w in pool], dtype=float))
    company = Faker("en_US")
    company.seed_instance(seed)
    work = sorted({vec_slug(company.company()) for _ in range(400)} - {""})
    work_domains = [f"{w}.{'co.uk' if i % 3 == 0 else 'com'}" for i, w in enumerate(work)]

    return World(
        seed=seed,
        start=start,
        end=end,
        first_names=pa.array(first),
        first_sampler=vec.GroupedSampler(first_w),
        nick_options=pa.array(nick.reshape(-1), type=pa.string()),
        nick_count=nick_count,
        last_names=pa.array(last),
        last_sampler=vec.GroupedSampler(last_w),
        streets=pa.array(streets),
        street_offsets=np.array(street_offsets),
        city=pa.array([c for c, _, _ in localities]),
        state=pa.array([s for _, s, _ in localities]),
        postcode=pa.array([p for _, _, p in localities]),
        locality_sampler=vec.GroupedSampler(loc_w),
        email_domains=pa.array(domains),
        domain_sampler=vec.GroupedSampler(dom_w),
        work_domains=pa.array(work_domains),
        catalogue=build_catalogue(rng),
        campaigns=_campaigns(rng, start, end),
    )


def vec_slug(text: str) -> str:
    """A company name as a domain label ("Smith, Jones and Lee" -> "smithjoneslee")."""
    return "".join(ch for ch in text.lower() if "a" <= ch <= "z")
