"""Identity records after mapping: the fields ingest derives or repairs before they are stored.

- `phone_possible_only`: whether the phone kept is well-formed but not known to be assigned (`phones`).
- A mapped `full_name` fills first name, last name and suffix where the source has no separate columns
  (or leaves them empty on a row); a last name ending in a generational suffix gives it up ("Drake Jr."),
  a first name its leading title ("Dr. Jane"), so names compare alike whichever way they were written.
- Postcodes of countries with all-digit codes of fixed length get their leading zeros back (a spreadsheet
  or a numeric column turned `02134` into `2134`); the country is the row's own (mapped or a constant).
"""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc

from c360.identity.names import has_name_extras, split_full_names, split_suffixes, strip_titles
from c360.settings import FileSetSettings
from c360.sources.arrowkit import clean_text
from c360.sources.normalize import normalize_name
from c360.sources.phones import phone_possible_only

POSTCODE_DIGITS: dict[str, int] = {
    "US": 5, "DE": 5, "FR": 5, "IT": 5, "ES": 5, "FI": 5, "MX": 5, "MY": 5, "HR": 5, "EE": 5,
    "AU": 4, "NZ": 4, "NO": 4, "DK": 4, "PH": 4, "ZA": 4,
}  # fmt: skip
"""Countries whose postcodes are all digits of one length and may start with 0 (ISO 3166 alpha-2 ->
digits). `postcode_digits` of a file set adds to (or, with 0, removes from) this table."""

COUNTRY_ALIASES: dict[str, str] = {
    "USA": "US", "UNITED STATES": "US", "UNITED STATES OF AMERICA": "US", "U.S.": "US", "U.S.A.": "US",
    "DEU": "DE", "GERMANY": "DE", "DEUTSCHLAND": "DE", "FRA": "FR", "FRANCE": "FR", "ITA": "IT",
    "ITALY": "IT", "ITALIA": "IT", "ESP": "ES", "SPAIN": "ES", "ESPAÑA": "ES", "FIN": "FI", "FINLAND": "FI",
    "MEX": "MX", "MEXICO": "MX", "MÉXICO": "MX", "MYS": "MY", "MALAYSIA": "MY", "HRV": "HR", "CROATIA": "HR",
    "EST": "EE", "ESTONIA": "EE", "AUS": "AU", "AUSTRALIA": "AU", "NZL": "NZ", "NEW ZEALAND": "NZ",
    "NOR": "NO", "NORWAY": "NO", "DNK": "DK", "DENMARK": "DK", "PHL": "PH", "PHILIPPINES": "PH",
    "ZAF": "ZA", "SOUTH AFRICA": "ZA",
}  # fmt: skip
"""Country names and alpha-3 codes (upper case) of the countries above, read as their alpha-2 code."""


def pad_postcodes(postcodes: pa.Array, countries: pa.Array, digits: dict[str, int]) -> pa.Array:
    """All-digit postcodes shorter than their country's length, left-padded with zeros (`2134` -> `02134`
    in the US); `2134.0` (a float column) is read as `2134` first. Other values are left as they are."""
    codes = pc.utf8_upper(pc.utf8_trim_whitespace(countries.cast(pa.string())))
    alias_keys = pa.array(list(COUNTRY_ALIASES), pa.string())
    codes = pc.coalesce(pa.array(list(COUNTRY_ALIASES.values())).take(pc.index_in(codes, alias_keys)), codes)
    table = {c: d for c, d in digits.items() if d > 0}
    if not table:
        return postcodes
    width = pa.array(list(table.values()), pa.int64()).take(
        pc.index_in(codes, value_set=pa.array(list(table), pa.string()))
    )
    text = postcodes.cast(pa.string())
    text = pc.replace_substring_regex(text, r"^([0-9]+)\.0+$", r"\1")
    numeric = pc.fill_null(pc.match_substring_regex(text, r"^[0-9]+$"), False)
    short = pc.fill_null(pc.less(pc.utf8_length(text), width), False)
    todo = pc.and_(numeric, short)
    if not pc.any(todo).as_py():
        return postcodes
    out = postcodes.cast(pa.string())
    for w in sorted(set(table.values())):
        here = pc.and_(todo, pc.fill_null(pc.equal(width, w), False))
        out = pc.if_else(here, pc.utf8_lpad(text, w, "0"), out)
    return out


def finish_identity(
    values: dict[str, pa.Array], fs: FileSetSettings, phone: pa.Array | None, full_name: pa.Array | None
) -> dict[str, pa.Array]:
    """The identity row's derived and repaired fields, from the normalized values and the delivered phone
    and full-name columns (None when not mapped)."""
    n = len(values["first_name"])
    out = dict(values)
    out["phone_possible_only"] = (
        phone_possible_only(phone, fs.default_region) if phone is not None else pa.nulls(n, pa.bool_())
    )
    first, last = out["first_name"], out["last_name"]
    suffix = out.get("name_suffix", pa.nulls(n, pa.string()))
    if full_name is not None:
        f, la, s = split_full_names(normalize_name(full_name))
        first, last, suffix = pc.coalesce(first, f), pc.coalesce(last, la), pc.coalesce(suffix, s)
    if has_name_extras(last):
        last, s = split_suffixes(last)
        suffix = pc.coalesce(suffix, s)
    if has_name_extras(first):
        first = strip_titles(first)
    out["first_name"], out["last_name"], out["name_suffix"] = first, last, suffix
    digits = {**POSTCODE_DIGITS, **{k.upper(): v for k, v in fs.postcode_digits.items()}}
    out["postcode"] = pad_postcodes(out["postcode"], clean_text(out["country"]), digits)
    return out
