"""Phone numbers: every number read as E.164, and whether libphonenumber knows it to be assigned.

libphonenumber calls a number invalid when its area code is not (yet) assigned, although the number is
well-formed and identical on both records that carry it; with validity as the only test, about 40% of one
real CRM's numbers were nulled. A number that is *possible* (its length fits its country) and matches the
country's general number pattern is kept and flagged `phone_possible_only`; identity compares it as digits
like any other. A number that fits neither (a US number read as `0212...`, five digits, a word) is null.
Each distinct value is parsed once (`lru_cache`, `map_unique`).
"""

from __future__ import annotations

import re
from functools import lru_cache

import phonenumbers
import pyarrow as pa

from c360.sources.arrowkit import clean_text, map_unique

_REPEATED = re.compile(r"^(\d)\1*$")


@lru_cache(maxsize=256)
def _general_pattern(region: str | None) -> re.Pattern[str] | None:
    meta = phonenumbers.PhoneMetadata.metadata_for_region(region or "", None)
    if meta is None or meta.general_desc is None or not meta.general_desc.national_number_pattern:
        return None
    return re.compile(meta.general_desc.national_number_pattern)


def _well_formed(number: phonenumbers.PhoneNumber) -> bool:
    """Possible for its country, not one repeated digit, and matching the country's general pattern."""
    if phonenumbers.is_possible_number_with_reason(number) != phonenumbers.ValidationResult.IS_POSSIBLE:
        return False
    national = phonenumbers.national_significant_number(number)
    if _REPEATED.match(national):
        return False
    pattern = _general_pattern(phonenumbers.region_code_for_country_code(number.country_code))
    return pattern is not None and pattern.fullmatch(national) is not None


@lru_cache(maxsize=1 << 18)
def parse_phone(raw: str, region: str) -> tuple[str | None, bool]:
    """(E.164, possible only): a valid number, else a well-formed one flagged, else (None, False)."""
    candidates = [raw]
    digits = raw.lstrip()
    if digits.startswith("00"):  # the ITU international prefix, whatever the region's own IDD is
        candidates.append("+" + digits[2:])
    possible: str | None = None
    for candidate in candidates:
        try:
            number = phonenumbers.parse(candidate, region)
        except phonenumbers.NumberParseException:
            continue
        if phonenumbers.is_valid_number(number):
            return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164), False
        if possible is None and _well_formed(number):
            possible = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    return possible, possible is not None


def phone_to_e164(raw: str, region: str) -> str | None:
    """One phone number in E.164 (valid, or well-formed and possible), or None."""
    return parse_phone(raw, region)[0]


def normalize_phone(values: pa.Array | pa.ChunkedArray, region: str = "US") -> pa.Array:
    """E.164 (`+442079460958`); national numbers read in `region`, extensions dropped."""
    text = clean_text(values)
    return map_unique(text, lambda v: phone_to_e164(v, region), pa.string())


def phone_possible_only(values: pa.Array | pa.ChunkedArray, region: str = "US") -> pa.Array:
    """True where the number kept is well-formed but not known to be assigned; null where none is kept."""

    def flag(raw: str) -> bool | None:
        e164, possible = parse_phone(raw, region)
        return possible if e164 else None

    return map_unique(clean_text(values), flag, pa.bool_())
