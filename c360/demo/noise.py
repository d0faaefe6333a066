"""How each source distorts the truth about a person: nicknames, typos, capitals, stripped accents, stale
addresses, one of several emails (with stray case and whitespace), phones in local styles, junk values.

`render_identity` returns canonical identity fields for a source's records; the file-set writers then give
them the source's column names and formats.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from c360.demo import phones, vec
from c360.demo.people import People
from c360.demo.records import SourceRecords
from c360.demo.world import World

JUNK_EMAILS = ("test@test.com", "none@none.com", "noemail@example.com", "n/a")
_ABBREVIATIONS = (
    (r" Street\b", " St"),
    (r" Road\b", " Rd"),
    (r" Avenue\b", " Ave"),
    (r" Lane\b", " Ln"),
    (r" Drive\b", " Dr"),
    (r" Court\b", " Ct"),
    (r" Place\b", " Pl"),
)


@dataclass(frozen=True)
class Noise:
    default_region: str = "US"
    nickname: float = 0.0
    typo: float = 0.0  # per name field
    upper: float = 0.0  # NAMES AND ADDRESS IN CAPITALS
    fold: float = 0.0  # accents stripped
    email_weights: tuple[float, float, float, float] = (
        0.7,
        0.15,
        0.1,
        0.05,
    )  # personal, personal2, work, family
    email_messy: float = 0.0
    email_variant: float = 0.0  # one mailbox written another way: a +tag, Gmail dots, a misspelt provider
    email_typo: float = 0.0
    junk_email: float = 0.0
    junk_phone: float = 0.0
    landline: float = 0.3  # chance of giving the landline when the person has both
    phone_styles: tuple[float, ...] = (0.3, 0.1, 0.05, 0.4, 0.15, 0.0, 0.0, 0.0)  # see phones.STYLES
    dob_swap: float = 0.0  # day and month swapped (US / EU confusion)
    suffix: float = 0.0  # chance a record writes the person's generational suffix ("Smith Jr")
    abbrev: float = 0.0
    stale_address: float = 0.0
    missing: dict[str, float] = field(default_factory=dict)


@dataclass
class Identity:
    fields: dict[str, pa.Array]  # canonical name -> strings (birth_date and gender are separate)
    birth_day: np.ndarray  # epoch days
    birth_missing: np.ndarray
    gender: np.ndarray  # 0 female, 1 male, 2 other, -1 missing
    country: np.ndarray  # index into COUNTRIES


def _first_names(
    world: World, people: People, p: np.ndarray, noise: Noise, rng: np.random.Generator
) -> pa.Array:
    idx = people.first_idx[p]
    count = world.nick_count[idx]
    use = (count > 0) & (rng.random(len(p)) < noise.nickname)
    option = idx * 3 + (rng.random(len(p)) * np.maximum(count, 1)).astype(np.int64)
    nick = vec.take(world.nick_options, np.where(use, option, idx * 3))
    return pc.if_else(pa.array(use), nick, vec.take(people.first, p))


def _emails(people: People, p: np.ndarray, noise: Noise, rng: np.random.Generator) -> pa.Array:
    slots = ("personal", "personal2", "work", "family")
    stacked = [vec.take(people.emails[s], p) for s in slots]
    have = np.stack([np.asarray(a.is_valid()) for a in stacked], axis=1)
    weights = have * np.asarray(noise.email_weights)[None, :]
    weights[:, 0] += 1e-9
    choice = vec.categorical_rows(weights, np.arange(len(p)), rng)
    email = stacked[0]
    for s in (1, 2, 3):
        email = pc.if_else(pa.array(choice == s), stacked[s], email)
    email = _email_variants(email, rng.random(len(p)) < noise.email_variant, rng)
    u = rng.random(len(p))
    messy = rng.random(len(p)) < noise.email_messy
    email = vec.pick(messy & (u < 0.35), pc.utf8_upper(email), email)
    email = vec.pick(messy & (u >= 0.35) & (u < 0.6), pc.utf8_capitalize(email), email)
    email = vec.pick(messy & (u >= 0.6) & (u < 0.8), vec.join(" ", email), email)
    email = vec.pick(messy & (u >= 0.8), vec.join(email, "  "), email)
    email = vec.typo(email, rng.random(len(p)) < noise.email_typo, rng)
    junk = rng.random(len(p)) < noise.junk_email
    return vec.pick(junk, vec.choose(rng, JUNK_EMAILS, (0.45, 0.3, 0.15, 0.1), len(p)), email)


_TAGGED = r"^([^@+]+)@(gmail\.com|outlook\.com|hotmail\.com|icloud\.com)$"
_DOMAIN_TYPOS = (
    ("@gmail.com", "@gmial.com"),
    ("@hotmail.com", "@hotmial.com"),
    ("@yahoo.com", "@yaho.com"),
    ("@outlook.com", "@outlok.com"),
    ("@icloud.com", "@iclod.com"),
)


def _email_variants(email: pa.Array, mask: np.ndarray, rng: np.random.Generator) -> pa.Array:
    """The same mailbox as people write it on sign-up forms: `jane.doe+shop@gmail.com`, `j.anedoe@gmail.com`
    (Gmail ignores dots), `jane.doe@gmial.com`. Rows whose provider has no such form keep their address."""
    u = rng.random(len(email))
    tagged = vec.pick(
        u < 0.25,
        pc.replace_substring_regex(email, _TAGGED, "\\1+shop@\\2"),
        pc.replace_substring_regex(email, _TAGGED, "\\1+news@\\2"),
    )
    dotted = pc.replace_substring_regex(email, r"^([^@.])([^@.][^@]*)@gmail\.com$", "\\1.\\2@gmail.com")
    typo = email
    for right, wrong in _DOMAIN_TYPOS:
        typo = pc.replace_substring_regex(typo, f"{re.escape(right)}$", wrong)
    out = vec.pick(mask & (u < 0.5), tagged, email)
    out = vec.pick(mask & (u >= 0.5) & (u < 0.75), dotted, out)
    return vec.pick(mask & (u >= 0.75), typo, out)


def _phones(people: People, p: np.ndarray, noise: Noise, rng: np.random.Generator) -> pa.Array:
    n = len(p)
    style = rng.choice(len(phones.STYLES), n, p=np.asarray(noise.phone_styles) / sum(noise.phone_styles))
    mobile = phones.render(
        vec.take(people.mobile, p),
        people.country[p],
        "mobile",
        people.mobile_plan[p],
        style,
        noise.default_region,
    )
    land = phones.render(
        vec.take(people.landline, p),
        people.country[p],
        "landline",
        people.landline_plan[p],
        style,
        noise.default_region,
    )
    want_land = rng.random(n) < noise.landline
    phone = pc.if_else(pa.array(want_land & np.asarray(land.is_valid())), land, pc.coalesce(mobile, land))
    junk = rng.random(n) < noise.junk_phone
    return vec.pick(junk, vec.choose(rng, phones.JUNK_PHONES, (0.6, 0.25, 0.15), n), phone)


def _address(
    people: People, rec: SourceRecords, noise: Noise, rng: np.random.Generator
) -> dict[str, pa.Array]:
    p = rec.person
    old = (rec.observed < people.move_ts[p]) | (rng.random(len(p)) < noise.stale_address)
    out = {
        k: vec.pick(old, vec.take(people.old_address[k], p), vec.take(people.address[k], p))
        for k in ("street", "city", "postcode", "state")
    }
    abbrev = rng.random(len(p)) < noise.abbrev
    short = out["street"]
    for pattern, repl in _ABBREVIATIONS:
        short = pc.replace_substring_regex(short, pattern, repl)
    out["street"] = vec.pick(abbrev, short, out["street"])
    squash = rng.random(len(p)) < noise.abbrev * 0.5
    out["postcode"] = vec.pick(
        squash, pc.utf8_lower(pc.replace_substring(out["postcode"], " ", "")), out["postcode"]
    )
    return out


def _swap_day_month(days: np.ndarray, mask: np.ndarray) -> np.ndarray:
    year, month, day = vec.civil(days * vec.DAY)[:3]
    ok = mask & (day <= 12) & (day != month)
    swapped = ((year - 1970) * 12 + day - 1).astype("datetime64[M]").astype("datetime64[D]") + (month - 1)
    return np.where(ok, swapped.astype(np.int64), days)


def render_identity(
    world: World, people: People, rec: SourceRecords, noise: Noise, rng: np.random.Generator
) -> Identity:
    p = rec.person
    n = len(p)
    first = _first_names(world, people, p, noise, rng)
    last = vec.take(people.last, p)
    first = vec.typo(first, rng.random(n) < noise.typo, rng)
    last = vec.typo(last, rng.random(n) < noise.typo, rng)
    fold = rng.random(n) < noise.fold
    first, last = vec.pick(fold, vec.fold(first), first), vec.pick(fold, vec.fold(last), last)
    suffix = vec.take(people.suffix, p)
    written = (rng.random(n) < noise.suffix) & np.asarray(suffix.is_valid())
    last = vec.pick(written, vec.join(last, vec.pick(rng.random(n) < 0.7, " ", ", "), suffix), last)
    fields = {
        "first_name": first,
        "last_name": last,
        "email": _emails(people, p, noise, rng),
        "phone": _phones(people, p, noise, rng),
    }
    fields |= _address(people, rec, noise, rng)
    upper = rng.random(n) < noise.upper
    for name in ("first_name", "last_name", "street", "city"):
        fields[name] = vec.pick(upper, pc.utf8_upper(fields[name]), fields[name])
    fields["loyalty_id"] = vec.take(people.loyalty_id, p)
    fields["social_handle"] = vec.take(people.handle, p)
    for name, prob in noise.missing.items():
        if name in fields:
            fields[name] = vec.null_where(rng.random(n) < prob, fields[name])
    birth = _swap_day_month(people.birth_day[p], rng.random(n) < noise.dob_swap)
    birth_missing = rng.random(n) < noise.missing.get("birth_date", 0.0)
    gender = np.where(rng.random(n) < noise.missing.get("gender", 0.0), -1, people.gender[p])
    return Identity(fields, birth, birth_missing, gender, people.country[p])
