"""The identity file sets: one table per source, its own column names, formats and kind of noise."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from c360.demo import layout, vec
from c360.demo.noise import Identity, Noise, render_identity
from c360.demo.records import SourceRecords
from c360.demo.sim import ChunkSim
from c360.demo.world import COUNTRIES, COUNTRY_NAMES

_GB_STYLES = (0.2, 0.1, 0.1, 0.45, 0.15, 0.0, 0.0, 0.0)
_US_STYLES = (0.15, 0.1, 0.02, 0.35, 0.1, 0.15, 0.05, 0.08)

NOISE: dict[str, Noise] = {
    "crm": Noise(
        "GB",
        nickname=0.04,
        typo=0.03,
        upper=0.12,
        fold=0.3,
        email_weights=(0.75, 0.1, 0.1, 0.05),
        email_messy=0.15,
        email_typo=0.01,
        junk_email=0.01,
        junk_phone=0.02,
        landline=0.45,
        phone_styles=_GB_STYLES,
        dob_swap=0.01,
        abbrev=0.25,
        email_variant=0.03,
        suffix=0.6,
        missing={
            "email": 0.08,
            "phone": 0.12,
            "birth_date": 0.1,
            "gender": 0.05,
            "street": 0.02,
            "loyalty_id": 0.3,
        },
    ),
    "ecommerce": Noise(
        "US",
        nickname=0.12,
        typo=0.02,
        upper=0.02,
        email_weights=(0.6, 0.25, 0.1, 0.05),
        email_messy=0.2,
        email_typo=0.01,
        junk_email=0.015,
        junk_phone=0.02,
        landline=0.1,
        phone_styles=_US_STYLES,
        abbrev=0.15,
        email_variant=0.08,
        suffix=0.2,
        missing={"phone": 0.3, "birth_date": 0.55, "gender": 0.45, "street": 0.08, "loyalty_id": 0.7},
    ),
    "support": Noise(
        "GB",
        nickname=0.25,
        typo=0.05,
        fold=0.1,
        email_weights=(0.6, 0.15, 0.2, 0.05),
        email_messy=0.1,
        email_typo=0.02,
        junk_email=0.03,
        junk_phone=0.03,
        landline=0.3,
        phone_styles=_GB_STYLES,
        email_variant=0.04,
        suffix=0.5,
        missing={"last_name": 0.15, "phone": 0.35},
    ),
    "marketing": Noise(
        "US",
        nickname=0.2,
        typo=0.02,
        email_weights=(0.85, 0.0, 0.05, 0.1),
        email_messy=0.3,
        landline=0.0,
        phone_styles=_US_STYLES,
        email_variant=0.08,
        missing={"first_name": 0.15, "last_name": 0.35, "phone": 0.6, "postcode": 0.5},
    ),
    "web": Noise("US", email_weights=(0.7, 0.2, 0.05, 0.05), email_messy=0.05, missing={"email": 0.7}),
    "iot": Noise(
        "US",
        nickname=0.15,
        typo=0.03,
        email_messy=0.1,
        junk_email=0.01,
        landline=0.1,
        phone_styles=_US_STYLES,
        email_variant=0.03,
        suffix=0.2,
        missing={"phone": 0.45, "postcode": 0.3},
    ),
    "social": Noise(
        "US",
        nickname=0.4,
        typo=0.05,
        fold=0.2,
        email_messy=0.1,
        missing={"last_name": 0.3, "email": 0.75, "city": 0.4},
    ),
    "thirdparty": Noise(
        "US",
        nickname=0.05,
        typo=0.06,
        upper=0.3,
        fold=0.2,
        email_weights=(0.5, 0.3, 0.1, 0.1),
        junk_email=0.005,
        junk_phone=0.01,
        phone_styles=_US_STYLES,
        stale_address=0.3,
        dob_swap=0.03,
        email_variant=0.02,
        suffix=0.5,
        missing={"email": 0.4, "phone": 0.4, "birth_date": 0.15, "street": 0.05},
    ),
}
PLATFORMS = ("twitter", "instagram", "facebook", "tiktok")
DEVICE_MODELS = ("NW-Thermo T2", "NW-Plug P1", "NW-Sound S3", "NW-Cam C1")


def platform_of(sim: ChunkSim, record: np.ndarray) -> np.ndarray:
    """Each social profile lives on one platform (a person's second profile on another)."""
    rec = sim.records["social"]
    base = (sim.people.gid[rec.person] * 7 + 3) % len(PLATFORMS)
    return ((base + rec.copy) % len(PLATFORMS))[record]


def device_codes(sim: ChunkSim, device_key: np.ndarray) -> pa.Array:
    model = pa.array(["TH", "SP", "SK", "CM"])
    code = vec.codes(
        vec.scramble(device_key, 10**9, vec.key_of("device", sim.world.seed)), 8, b"0123456789ABCDEF"
    )
    return vec.join("NW-", vec.take(model, device_key % 4), "-", code)


def _date(ident: Identity, fmt: str) -> pa.Array:
    return vec.null_where(ident.birth_missing, vec.strftime(ident.birth_day * vec.DAY, fmt))


def _gender(ident: Identity, spellings: tuple[str, str, str]) -> pa.Array:
    return vec.null_where(ident.gender < 0, vec.take(pa.array(spellings), np.maximum(ident.gender, 0)))


def _country(ident: Identity, names: bool = False) -> pa.Array:
    return vec.take(pa.array(COUNTRY_NAMES if names else COUNTRIES), ident.country)


# A browser cookie becomes known when its visitor logs in to their shop account (the analytics tag then
# records the account's email) or arrives from a campaign email (the click carries the subscriber's address).
LOGIN = 0.85
EMAIL_CLICK = 0.6
# Shop accounts opened or signed in through a social network carry that profile's handle.
SOCIAL_LOGIN = 0.4


def _visitor_emails(sim: ChunkSim, ids: dict[str, Identity], rng: np.random.Generator) -> pa.Array:
    """The email each cookie is known by: its shop account's, else a campaign email's, else (rarely) one
    typed into a web form; a cookie that did none of these stays anonymous."""
    web = sim.records["web"]
    n = len(web)
    typed = ids["web"].fields["email"]
    for source, p in (("marketing", EMAIL_CLICK), ("ecommerce", LOGIN)):
        first = sim.records[source].first_of[web.person]
        known = (first >= 0) & (rng.random(n) < p)
        typed = pc.if_else(
            pa.array(known), vec.take(ids[source].fields["email"], np.maximum(first, 0)), typed
        )
    return typed


def _social_logins(
    sim: ChunkSim, rec: SourceRecords, guest: np.ndarray, rng: np.random.Generator
) -> pa.Array:
    """The social profile an account signed in with ("Continue with Instagram"), if any: never a guest's."""
    social = sim.records["social"]
    first = social.first_of[rec.person]
    signed = (first >= 0) & ~guest & (rng.random(len(rec)) < SOCIAL_LOGIN)
    return vec.null_where(~signed, vec.take(sim.people.handle, rec.person))


# A share of households with a family tablet or laptop: the browser cookies of members who use it sit on one
# device (its app-instance id), so two to four people show one device id. Everyone else's cookies sit on
# their own one or two devices, which is how one person's cookies find each other.
FAMILY_DEVICE = 0.3
ON_FAMILY_DEVICE = 0.6
# A slashed CRM birth date from the US office's export reads month-first (every other part file), and the
# records migrated from the old system are ISO dates.
CRM_US_DATE = "%m/%d/%Y"
CRM_LEGACY = 0.15


def web_devices(sim: ChunkSim, rng: np.random.Generator) -> pa.Array:
    """The device id of each cookie: a household's shared device, or one of its owner's own two."""
    web, people = sim.records["web"], sim.people
    p = web.person
    draw = vec.scramble(people.household_gid[p], 1000, vec.key_of("family_device", sim.world.seed))
    family = (people.hh_size[p] >= 2) & (draw < FAMILY_DEVICE * 1000)
    on_family = family & (web.copy == 0) & (rng.random(len(web)) < ON_FAMILY_DEVICE)
    key = np.where(on_family, people.household_gid[p] * 4 + 3, people.gid[p] * 4 + web.copy % 2)
    scrambled = vec.scramble(key, 16**12, vec.key_of("app_device", sim.world.seed))
    return vec.join("dev-", vec.codes(scrambled, 12, b"0123456789abcdef"))


def _crm_dates(sim: ChunkSim, ident: Identity, rng: np.random.Generator) -> pa.Array:
    slashed = CRM_US_DATE if sim.chunk % 2 == 1 else layout.CRM_DATE
    legacy = rng.random(len(ident.birth_day)) < CRM_LEGACY
    return vec.pick(legacy, _date(ident, "%Y-%m-%d"), _date(ident, slashed))


def full_names(first: pa.Array, last: pa.Array, rng: np.random.Generator) -> pa.Array:
    """One name field, "Jane Doe" or "Doe, Jane" (a first name alone where the last is unknown)."""
    reversed_ = rng.random(len(first)) < 0.3
    both = vec.pick(reversed_, vec.join(last, ", ", first), vec.join(first, " ", last))
    return pc.coalesce(both, first, last)


def numeric_postcodes(postcode: pa.Array) -> pa.Array:
    """All-digit postcodes as a spreadsheet saves them: as numbers, leading zeros gone (02139 -> 2139)."""
    digits = pc.fill_null(pc.match_substring_regex(postcode, r"^[0-9]+$"), False)
    return pc.if_else(digits, pc.replace_substring_regex(postcode, r"^0+([0-9])", "\\1"), postcode)


def identity_tables(sim: ChunkSim) -> dict[tuple[str, str], pa.Table]:
    rng = sim.rngs[0]
    w, people = sim.world, sim.people
    ids = {src: render_identity(w, people, sim.records[src], NOISE[src], rng) for src in NOISE}
    out: dict[tuple[str, str], pa.Table] = {}

    rec, ident = sim.records["crm"], ids["crm"]
    f = ident.fields
    g = np.maximum(people.gender[rec.person], 0)
    female_titles = vec.choose(rng, ("Mrs", "Ms", "Miss", "Dr"), (0.45, 0.35, 0.15, 0.05), len(rec))
    male_titles = vec.choose(rng, ("Mr", "Dr"), (0.95, 0.05), len(rec))
    title = vec.pick(g == 0, female_titles, vec.pick(g == 1, male_titles, "Mx"))
    out["crm", "customers"] = pa.table(
        {
            "customer_no": rec.record_id,
            "title": vec.null_where(rng.random(len(rec)) < 0.2, title),
            "first_name": f["first_name"],
            "last_name": f["last_name"],
            "date_of_birth": _crm_dates(sim, ident, rng),
            "gender": _gender(ident, ("F", "M", "X")),
            "email": f["email"],
            "phone": f["phone"],
            "loyalty_card": f["loyalty_id"],
            "address_line1": f["street"],
            "town": f["city"],
            "county": f["state"],
            "postcode": f["postcode"],
            "country": _country(ident),
            "created_at": vec.strftime(rec.created, layout.CRM_TS),
            "updated_at": vec.strftime(rec.observed, layout.CRM_TS),
        }
    )

    rec, ident = sim.records["ecommerce"], ids["ecommerce"]
    f = ident.fields
    guest = (rec.copy > 0) & (rng.random(len(rec)) < 0.6)
    out["ecommerce", "customers"] = pa.table(
        {
            "customer_id": rec.record_id,
            "email": f["email"],
            "first_name": f["first_name"],
            "last_name": f["last_name"],
            "phone": f["phone"],
            "birthday": _date(ident, "%Y-%m-%d"),
            "gender": _gender(ident, ("female", "male", "other")),
            "loyalty_number": f["loyalty_id"],
            "address1": f["street"],
            "city": f["city"],
            "province": f["state"],
            "zip": f["postcode"],
            "country": _country(ident, names=True),
            "created_at": vec.strftime(rec.created, layout.ISO_Z),
            "accepts_marketing": vec.pick(rng.random(len(rec)) < 0.55, "true", "false"),
            "guest": vec.pick(guest, "true", "false"),
            "social_login": _social_logins(sim, rec, guest, rng),
        }
    )

    rec, ident = sim.records["support"], ids["support"]
    f = ident.fields
    out["support", "contacts"] = pa.table(
        {
            "contact_id": rec.record_id,
            "name": full_names(f["first_name"], f["last_name"], rng),
            "email": f["email"],
            "phone": f["phone"],
            "country": _country(ident),
            "created": vec.strftime(rec.created, layout.SUPPORT_TS),
        }
    )

    rec, ident = sim.records["marketing"], ids["marketing"]
    f = ident.fields
    second = vec.take(people.emails["personal2"], rec.person)
    email = pc.if_else(pa.array(rec.copy > 0), pc.coalesce(second, f["email"]), f["email"])
    out["marketing", "contacts"] = pa.table(
        {
            "subscriber_id": rec.record_id,
            "email_address": email,
            "first_name": f["first_name"],
            "last_name": f["last_name"],
            "mobile": f["phone"],
            "country": _country(ident),
            "zip": numeric_postcodes(f["postcode"]),
            "signup_ts": vec.strftime(rec.created, layout.ISO_OFFSET),
            "list": vec.choose(rng, ("newsletter", "offers", "newsletter,offers"), (0.4, 0.2, 0.4), len(rec)),
        }
    )

    rec, ident = sim.records["web"], ids["web"]
    out["web", "visitors"] = pa.table(
        {
            "visitor_id": rec.record_id,
            "email": _visitor_emails(sim, ids, rng),
            "first_seen": vec.timestamps(rec.created),
            "device_id": web_devices(sim, rng),
            "country": _country(ident),
            "device_type": vec.choose(rng, ("desktop", "mobile", "tablet"), (0.45, 0.45, 0.1), len(rec)),
            "browser": vec.choose(
                rng,
                ("Chrome", "Safari", "Edge", "Firefox", "Samsung Internet"),
                (0.55, 0.25, 0.08, 0.07, 0.05),
                len(rec),
            ),
        }
    )

    rec, ident = sim.records["iot"], ids["iot"]
    f = ident.fields
    assert rec.device is not None
    out["iot", "devices"] = pa.table(
        {
            "registration_id": rec.record_id,
            "device_id": device_codes(sim, rec.device),
            "model": vec.take(pa.array(DEVICE_MODELS), rec.device % 4),
            "owner_first_name": f["first_name"],
            "owner_last_name": f["last_name"],
            "owner_email": f["email"],
            "owner_phone": f["phone"],
            "postcode": f["postcode"],
            "registered_at": vec.strftime(rec.created, layout.ISO_Z),
        }
    )

    rec, ident = sim.records["social"], ids["social"]
    f = ident.fields
    handle = vec.pick(rec.copy > 0, vec.join(f["social_handle"], "_", vec.num(rec.copy)), f["social_handle"])
    out["social", "profiles"] = pa.table(
        {
            "profile_id": rec.record_id,
            "platform": vec.take(pa.array(PLATFORMS), platform_of(sim, np.arange(len(rec)))),
            "handle": handle,
            "first_name": f["first_name"],
            "last_name": f["last_name"],
            "email": f["email"],
            "location": f["city"],
            "followers": vec.num(rng.lognormal(4.5, 1.5, len(rec)).astype(np.int64)),
            "created_at": vec.strftime(rec.created, layout.ISO_Z),
        }
    )

    rec, ident = sim.records["thirdparty"], ids["thirdparty"]
    f = ident.fields
    dob = pa.array(ident.birth_day.astype("datetime64[D]"), type=pa.date32())
    out["thirdparty", "enrichment"] = pa.table(
        {
            "record_id": rec.record_id,
            "forename": f["first_name"],
            "surname": f["last_name"],
            "dob": vec.null_where(ident.birth_missing, dob),
            "gender": _gender(ident, ("Female", "Male", "Other")),
            "email": f["email"],
            "phone": f["phone"],
            "address_line": f["street"],
            "town": f["city"],
            "postal_code": f["postcode"],
            "region": f["state"],
            "country_code": _country(ident),
            "income_band": vec.choose(
                rng, ("<25k", "25-50k", "50-75k", "75-100k", "100k+"), (0.2, 0.3, 0.25, 0.15, 0.1), len(rec)
            ),
            "household_size": pa.array(people.hh_size[rec.person].astype(np.int32)),
            "last_verified": vec.timestamps(rec.observed),
        }
    )
    return out
