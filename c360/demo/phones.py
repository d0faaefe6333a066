"""Phone numbers: unique, valid national numbers per country, written the many ways real systems write them.

A number is kept as (country, national significant number); a source then renders it in one of several
styles: `+44 20 7946 0958`, `020 7946 0958`, `0044 20 7946 0958`, `+442079460958`, `(212) 555-0142`,
`212.555.0142`, `1-212-555-0142`. National styles are used only for the source's own default region, as a
real system would (elsewhere a national number could not be read back).
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from c360.demo import vec
from c360.demo.world import CALLING_CODES, COUNTRIES, TRUNK

# (country, leading digits choices, unique body width, display groups of the full national number)
MOBILE_PLANS: dict[str, tuple[tuple[str, ...], int, tuple[int, ...]]] = {
    "GB": (("74", "75", "77", "78", "79"), 8, (4, 6)),
    "US": ((), 7, (3, 3, 4)),  # area code from the locality, exchange 200-599
    "DE": (("151", "152", "157", "159", "170", "171", "172", "175", "176"), 8, (4, 7)),
    "FR": (("60", "61", "62", "64", "65", "66", "67", "68"), 7, (1, 2, 2, 2, 2)),
    "ES": (("6",), 8, (3, 3, 3)),
    "IT": (("320", "328", "330", "333", "335", "338", "339", "340", "345", "347", "349"), 7, (3, 3, 4)),
    "IE": (("83", "85", "86", "87", "89"), 7, (2, 3, 4)),
}
LANDLINE_PLANS: dict[str, tuple[tuple[str, ...], int, tuple[int, ...]]] = {
    "GB": (("203", "207", "208"), 7, (2, 4, 4)),
    "GB2": (("1312", "1413", "1514", "1615", "1916", "1317", "1418", "1613"), 6, (3, 3, 4)),
    "US": ((), 7, (3, 3, 4)),  # exchange 600-999
    "DE": (("302", "303", "304", "305", "306", "307", "308"), 7, (2, 8)),
    "FR": (("1", "2", "3", "4", "5"), 8, (1, 2, 2, 2, 2)),
    "ES": (("912", "913", "914", "915"), 6, (3, 3, 3)),
    "IE": (("12", "13", "14", "15", "16", "17", "18"), 6, (1, 3, 4)),
}
US_AREA_CODES = (
    "212",
    "310",
    "415",
    "617",
    "312",
    "713",
    "206",
    "305",
    "404",
    "503",
    "702",
    "215",
    "602",
    "303",
    "214",
    "646",
    "818",
    "469",
    "512",
    "615",
)
UNASSIGNED_AREA_CODES = ("222", "237", "244", "258")
"""Well-formed NANP area codes no carrier holds (libphonenumber: possible, not valid). Number portability and
new overlays mean some real customers' numbers look like this to a validator that lags behind."""
UNASSIGNED_SHARE = 0.02
"""Of US mobile numbers, the share under an unassigned area code."""

STYLES = (
    "intl_spaced",
    "intl_compact",
    "intl_00",
    "national",
    "national_compact",
    "us_dashed",
    "us_dots",
    "us_one",
)
JUNK_PHONES = ("0000000000", "1234567890", "n/a")


def _plan_numbers(
    plan, body: np.ndarray, lead_choice: np.ndarray, area: np.ndarray | None, exchange_base: int
) -> pa.Array:
    leads, width, _ = plan
    if not leads:  # US: area code + exchange + line
        ex = exchange_base + (body // 10_000) % 400
        return vec.join(
            vec.take(pa.array(US_AREA_CODES), area), vec.codes(ex, 3), vec.codes(body % 10_000, 4)
        )
    return vec.join(vec.take(pa.array(leads), lead_choice % len(leads)), vec.codes(body, width))


def make_numbers(
    kind: str, country: np.ndarray, key_values: np.ndarray, area: np.ndarray, rng: np.random.Generator
) -> tuple[pa.Array, np.ndarray]:
    """One unique national number per row for `kind` in {'mobile', 'landline'}: (nsn, plan code)."""
    n = len(country)
    out = pa.nulls(n, pa.string())
    plan_code = np.full(n, -1, dtype=np.int64)
    plans = MOBILE_PLANS if kind == "mobile" else LANDLINE_PLANS
    lead = rng.integers(0, 1 << 30, n)
    for code, name in enumerate(plans):
        c = COUNTRIES.index(name[:2])
        rows = country == c
        if kind == "landline" and name == "GB":
            rows &= area % 3 == 0
        if name == "GB2":
            rows &= area % 3 != 0
        idx = np.flatnonzero(rows)
        if idx.size == 0:
            continue
        plan = plans[name]
        body = vec.scramble(key_values[idx], 10 ** plan[1] if plan[0] else 4_000_000, vec.key_of(kind, name))
        nsn = _plan_numbers(
            plan, body, lead[idx], area[idx] % len(US_AREA_CODES), 200 if kind == "mobile" else 600
        )
        if name == "US" and kind == "mobile":
            draw = vec.scramble(key_values[idx], 10_000, vec.key_of("unassigned", name))
            odd = draw < UNASSIGNED_SHARE * 10_000
            unassigned = pa.array(UNASSIGNED_AREA_CODES).take(pa.array(body % len(UNASSIGNED_AREA_CODES)))
            nsn = vec.pick(odd, vec.join(unassigned, pc.utf8_slice_codeunits(nsn, 3)), nsn)
        mask = np.zeros(n, dtype=bool)
        mask[idx] = True
        out = pc.replace_with_mask(out, pa.array(mask), nsn)
        plan_code[idx] = code
    return out, plan_code


def _grouped(nsn: pa.Array, groups: tuple[int, ...], sep: str) -> pa.Array:
    parts, pos = [], 0
    for g in groups:
        parts.append(pc.utf8_slice_codeunits(nsn, pos, pos + g))
        pos += g
    return pc.binary_join_element_wise(*parts, sep)


def render(
    nsn: pa.Array,
    country: np.ndarray,
    kind: str,
    plan_code: np.ndarray,
    style: np.ndarray,
    default_region: str,
) -> pa.Array:
    """Write each number in its style; national styles fall back to `+CC ...` outside `default_region`."""
    n = len(nsn)
    out = pa.nulls(n, pa.string())
    plans = MOBILE_PLANS if kind == "mobile" else LANDLINE_PLANS
    home = COUNTRIES.index(default_region)
    for code, name in enumerate(plans):
        rows = np.flatnonzero(plan_code == code)
        if rows.size == 0:
            continue
        c = COUNTRIES.index(name[:2])
        groups = plans[name][2]
        sub = vec.take(nsn, rows)
        st = np.where((style[rows] >= 3) & (c != home), 0, style[rows])
        if name[:2] != "US":
            st = np.where(st >= 5, np.where(st == 7, 0, 3), st)
        cc, trunk = CALLING_CODES[c], TRUNK[c]
        spaced = _grouped(sub, groups, " ")
        options = {
            0: vec.join(f"+{cc} ", spaced),
            1: vec.join(f"+{cc}", sub),
            2: vec.join(f"00{cc} ", spaced),
            3: vec.join(trunk, spaced)
            if name[:2] != "US"
            else vec.join(
                "(",
                pc.utf8_slice_codeunits(sub, 0, 3),
                ") ",
                pc.utf8_slice_codeunits(sub, 3, 6),
                "-",
                pc.utf8_slice_codeunits(sub, 6, 10),
            ),
            4: vec.join(trunk, sub),
            5: _grouped(sub, groups, "-"),
            6: _grouped(sub, groups, "."),
            7: vec.join("1-", _grouped(sub, groups, "-")),
        }
        rendered = options[0]
        for s, text in options.items():
            rendered = pc.if_else(pa.array(st == s), text, rendered)
        mask = np.zeros(n, dtype=bool)
        mask[rows] = True
        out = pc.replace_with_mask(out, pa.array(mask), rendered)
    return out
