"""Normalizers: raw values as delivered -> canonical values, as pure functions over pyarrow arrays.

Each normalizer takes one arrow array (strings from CSV, numbers or nested values from JSON, typed columns
from parquet) and returns an array of the canonical type with null wherever a value is absent *or* cannot be
read. `normalize()` tells the two apart: a value that was present but came out null is invalid, which is what
validation turns into a quarantine entry. The common case runs vectorised in arrow compute; values that need
Python (phone numbers, messy money, odd timestamps) are parsed once per distinct value and cached.

No Ray here: the same functions serve the Ray Data pipeline, the single-process baseline and the unit tests.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from c360.currencies import ISO_4217
from c360.schemas import MONEY
from c360.sources.arrowkit import (
    as_array,
    clean_text,
    fill_where,
    map_unique,
    only_where,
    present_mask,
    true_mask,
)
from c360.sources.phones import normalize_phone, phone_possible_only, phone_to_e164
from c360.sources.temporal import normalize_date, normalize_timestamp

__all__ = [
    "INVALID_REASON",
    "NORMALIZERS",
    "NormalizeOptions",
    "Normalized",
    "apply_value_map",
    "clean_text",
    "normalize",
    "normalize_bool",
    "normalize_code",
    "normalize_currency",
    "normalize_date",
    "normalize_email",
    "normalize_enum",
    "normalize_free_text",
    "normalize_int",
    "normalize_money",
    "normalize_name",
    "normalize_phone",
    "normalize_rate",
    "normalize_timestamp",
    "parse_money",
    "phone_possible_only",
    "phone_to_e164",
    "present_mask",
    "strip_controls",
]

MONEY_QUANTUM = Decimal("0.0001")
MONEY_LIMIT = Decimal("1e14")  # decimal128(18, 4) holds 14 integer digits
TRUE_WORDS = ("true", "t", "yes", "y", "1", "on")
FALSE_WORDS = ("false", "f", "no", "n", "0", "off")

# Pragmatic address check: a dotted local part, a dotted domain and an alphabetic TLD (Unicode allowed).
_LOCAL = r"[\p{L}\p{N}!#$%&'*+/=?^_`{|}~-]+(\.[\p{L}\p{N}!#$%&'*+/=?^_`{|}~-]+)*"
_DOMAIN = r"([\p{L}\p{N}]([\p{L}\p{N}-]*[\p{L}\p{N}])?\.)+\p{L}{2,}"
EMAIL_PATTERN = rf"^{_LOCAL}@{_DOMAIN}$"

_PLAIN_DECIMAL = r"^[+-]?\d{1,14}(\.\d{1,4})?$"
_PLAIN_INT = r"^[+-]?\d{1,18}$"


@dataclass(frozen=True)
class NormalizeOptions:
    """What a file set says about how its values are written (FileSetSettings, flattened)."""

    region: str = "US"
    timestamp_format: str | None = None
    date_format: str | tuple[str, ...] | None = None
    """One strptime format or several, tried in order (`c360.sources.dates`)."""
    timezone: str = "UTC"
    vocabulary: tuple[str, ...] = field(default_factory=tuple)


@dataclass(frozen=True)
class Normalized:
    values: pa.Array
    invalid: np.ndarray
    """True where a value was present but could not be normalized."""


# --------------------------------------------------------------------------------------------- text

# Characters that never belong in a delivered value and can deceive whoever reads it later: C0 controls (NUL,
# ESC starts terminal escape sequences), DEL and C1, bidi overrides and isolates (U+202A-202E, U+2066-2069:
# "Trojan source" reordering), the Arabic letter mark, LRM/RLM, zero-width space, word joiner and invisible
# operators, and the BOM. Zero-width (non-)joiners U+200C/U+200D are kept: Persian and Indic spelling and
# emoji sequences need them.
_C0 = r"\x00-\x08\x0B\x0C\x0E-\x1F"
_INVISIBLE = (
    r"\x7F-\x{9F}\x{61C}\x{200B}\x{200E}\x{200F}\x{202A}-\x{202E}\x{2060}-\x{2064}\x{2066}-\x{2069}\x{FEFF}"
)
_REMOVE = f"[{_C0}{_INVISIBLE}]"
_REMOVE_WITH_CR = f"[{_C0}\\r{_INVISIBLE}]"
_LINE_BREAKS = r"[\t\n\r]+"
_ANY_CONTROL = f"[\\t\\n\\r{_C0}{_INVISIBLE}]"


# Lead bytes of every UTF-8 sequence above (all of C0, DEL, C2 for C1, D8 for U+061C, E2 for U+20xx, EF for
# U+FEFF): a value without any of them cannot need cleaning, and a numpy scan of the string buffer finds the
# few that might, so the regex runs only on those.
_SUSPECT_BYTES = np.zeros(256, dtype=bool)
_SUSPECT_BYTES[:0x20] = True
_SUSPECT_BYTES[[0x7F, 0xC2, 0xD8, 0xE2, 0xEF]] = True


def _suspect_rows(arr: pa.Array) -> np.ndarray:
    """Indices of values holding a byte that may start a character `strip_controls` removes."""
    _, offsets_buf, data_buf = arr.buffers()
    if data_buf is None or len(arr) == 0:
        return np.zeros(0, dtype=np.int64)
    width = np.int64 if pa.types.is_large_string(arr.type) else np.int32
    offsets = np.frombuffer(offsets_buf, dtype=width)[arr.offset : arr.offset + len(arr) + 1]
    data = np.frombuffer(data_buf, dtype=np.uint8)[offsets[0] : offsets[-1]]
    if not len(data) or (data.min() >= 0x20 and data.max() < 0x7F):  # printable ASCII: two fast reductions
        return np.zeros(0, dtype=np.int64)
    pos = np.flatnonzero(_SUSPECT_BYTES[data])
    if not len(pos):
        return np.zeros(0, dtype=np.int64)
    return np.unique(np.searchsorted(offsets, pos + offsets[0], side="right") - 1)


def strip_controls(
    values: pa.Array | pa.ChunkedArray, free_text: bool = False
) -> tuple[pa.Array, np.ndarray]:
    """Text without control, bidi-override and invisible characters, and where a value changed.

    Free text keeps tabs and line breaks (CRLF too; a lone CR, which overwrites a terminal line, is removed);
    every other text field gets a space for a run of tabs and line breaks, so words do not run
    together. Non-text values (numbers, booleans) come back as they are; nested JSON values as text.
    """
    arr = as_array(values)
    t = arr.type
    changed = np.zeros(len(arr), dtype=bool)
    if not (pa.types.is_string(t) or pa.types.is_large_string(t)):
        if not (pa.types.is_nested(t) or pa.types.is_dictionary(t) or pa.types.is_binary(t)):
            return arr, changed
        arr = clean_text(arr)
    rows = _suspect_rows(arr)
    if not len(rows):
        return arr, changed
    some = arr.take(pa.array(rows))
    if free_text:
        some = pc.replace_substring(some, "\r\n", "\n")  # a line ending, not a control character
    hit = np.asarray(
        true_mask(pc.match_substring_regex(some, _REMOVE_WITH_CR if free_text else _ANY_CONTROL))
    )
    if not hit.any():
        return arr, changed
    some = some.filter(pa.array(hit))
    if free_text:
        cleaned = pc.replace_substring_regex(some, _REMOVE_WITH_CR, "")
    else:
        cleaned = pc.replace_substring_regex(pc.replace_substring_regex(some, _LINE_BREAKS, " "), _REMOVE, "")
    changed[rows[hit]] = True
    return pc.replace_with_mask(arr, pa.array(changed), cleaned.cast(arr.type)), changed


def normalize_name(values: pa.Array | pa.ChunkedArray) -> pa.Array:
    """Unicode NFC, trimmed, inner whitespace collapsed to one space; accents and case kept."""
    text = clean_text(values)
    text = pc.utf8_normalize(text, form="NFC")
    return pc.replace_substring_regex(text, pattern=r"\s+", replacement=" ")


def normalize_free_text(values: pa.Array | pa.ChunkedArray) -> pa.Array:
    """Long text (ticket bodies, descriptions): NFC and trimmed, line breaks kept."""
    return pc.utf8_normalize(clean_text(values), form="NFC")


def normalize_code(values: pa.Array | pa.ChunkedArray) -> pa.Array:
    """Country, currency and post codes: NFKC, upper case, spaces collapsed."""
    text = pc.utf8_upper(pc.utf8_normalize(clean_text(values), form="NFKC"))
    return pc.replace_substring_regex(text, pattern=r"\s+", replacement=" ")


_ISO_4217 = pa.array(sorted(ISO_4217), pa.string())


def normalize_currency(values: pa.Array | pa.ChunkedArray) -> pa.Array:
    """ISO 4217 codes in use, upper case; anything else (`EURO`, `XXX`, a typo) is invalid."""
    text = normalize_code(values)
    ok = true_mask(pc.is_in(text, value_set=_ISO_4217))
    return pc.if_else(ok, text, pa.scalar(None, pa.string()))


def normalize_json_text(values: pa.Array | pa.ChunkedArray) -> pa.Array:
    """Nested attributes as JSON text (objects from JSON sources are serialized, strings kept)."""
    return clean_text(values)


def normalize_email(values: pa.Array | pa.ChunkedArray) -> pa.Array:
    """NFKC (full-width letters become ASCII), trimmed, lower case; null when not a plausible address."""
    text = pc.utf8_lower(pc.utf8_normalize(clean_text(values), form="NFKC"))
    text = pc.replace_substring_regex(text, pattern=r"^mailto:", replacement="")
    ok = true_mask(pc.match_substring_regex(text, pattern=EMAIL_PATTERN))
    return pc.if_else(ok, text, pa.scalar(None, pa.string()))


def normalize_enum(values: pa.Array | pa.ChunkedArray, vocabulary: tuple[str, ...]) -> pa.Array:
    """Lower case, spaces and hyphens as `_`; null unless the result is in the closed vocabulary."""
    text = pc.utf8_lower(clean_text(values))
    text = pc.replace_substring_regex(text, pattern=r"[\s\-]+", replacement="_")
    if not vocabulary:
        return text
    ok = true_mask(pc.is_in(text, value_set=pa.array(vocabulary, pa.string())))
    return pc.if_else(ok, text, pa.scalar(None, pa.string()))


def apply_value_map(values: pa.Array | pa.ChunkedArray, mapping: dict[str, str]) -> pa.Array:
    """Replace delivered values by canonical ones: exact match first, then case-insensitive."""
    arr = as_array(values)
    if not mapping:
        return arr
    text = clean_text(arr)
    keys = pa.array(list(mapping), pa.string())
    targets = pa.array(list(mapping.values()), pa.string())
    exact = targets.take(pc.index_in(text, value_set=keys))
    lowered = {}
    for k, v in mapping.items():
        lowered.setdefault(k.strip().lower(), v)
    lkeys = pa.array(list(lowered), pa.string())
    loose = pa.array(list(lowered.values()), pa.string()).take(
        pc.index_in(pc.utf8_lower(text), value_set=lkeys)
    )
    return pc.coalesce(exact, loose, text)


# ------------------------------------------------------------------------------------------ booleans, numbers


def normalize_bool(values: pa.Array | pa.ChunkedArray) -> pa.Array:
    """true/false/yes/no/y/n/1/0/on/off in any case; numbers 1 and 0."""
    arr = as_array(values)
    if pa.types.is_boolean(arr.type):
        return arr
    if pa.types.is_integer(arr.type) or pa.types.is_floating(arr.type):
        ok = true_mask(pc.is_in(arr, value_set=pa.array([0, 1], arr.type)))
        return pc.if_else(ok, pc.not_equal(arr, 0), pa.scalar(None, pa.bool_()))
    text = pc.utf8_lower(clean_text(arr))
    is_true = true_mask(pc.is_in(text, value_set=pa.array(TRUE_WORDS)))
    is_false = true_mask(pc.is_in(text, value_set=pa.array(FALSE_WORDS)))
    return pc.if_else(is_true, True, pc.if_else(is_false, False, pa.scalar(None, pa.bool_())))


def _whole_number(raw: str) -> int | None:
    try:
        value = Decimal(raw.replace(",", "").replace(" ", ""))
    except InvalidOperation:
        return None
    if not value.is_finite() or value != value.to_integral_value() or abs(value) >= 2**63:
        return None
    return int(value)


def normalize_int(values: pa.Array | pa.ChunkedArray) -> pa.Array:
    """Whole numbers as int64: `3`, `3.0`, `1,000`; `3.5` and words are invalid."""
    arr = as_array(values)
    if pa.types.is_integer(arr.type):
        return arr.cast(pa.int64())
    if pa.types.is_floating(arr.type):
        whole = true_mask(pc.and_(pc.equal(pc.floor(arr), arr), pc.less(pc.abs(arr), 2.0**62)))
        return pc.if_else(whole, arr, pa.scalar(None, arr.type)).cast(pa.int64())
    if pa.types.is_decimal(arr.type):
        return normalize_int(arr.cast(pa.float64()))
    text = clean_text(arr)
    plain = true_mask(pc.match_substring_regex(text, pattern=_PLAIN_INT))
    out = only_where(text, plain).cast(pa.int64())
    rest = pc.and_(pc.invert(plain), text.is_valid())
    if pc.any(rest).as_py():
        out = fill_where(out, rest, map_unique(only_where(text, rest), _whole_number, pa.int64()))
    return out


def parse_money(raw: str) -> Decimal | None:
    """`$1,234.50`, `1.234,50 €`, `(12.00)`, `-3`, `EUR 9.99` -> Decimal to 4 places, or None."""
    s = raw.strip()
    negative = s.startswith("(") and s.endswith(")")
    s = re.sub(r"[^\d.,+\-]", "", s)
    if not s or not re.search(r"\d", s):
        return None
    if "," in s and "." in s:
        thousands = "," if s.rfind(",") < s.rfind(".") else "."
        s = s.replace(thousands, "")
    if "," in s:
        s = s.replace(",", "") if re.fullmatch(r"[+-]?\d{1,3}(,\d{3})+", s) else s.replace(",", ".")
    if s.count(".") > 1:
        if not re.fullmatch(r"[+-]?\d{1,3}(\.\d{3})+", s):
            return None
        s = s.replace(".", "")
    try:
        value = Decimal(s)
    except InvalidOperation:
        return None
    if not value.is_finite() or abs(value) >= MONEY_LIMIT:
        return None
    value = value.quantize(MONEY_QUANTUM, rounding=ROUND_HALF_UP)
    return -value if negative else value


def normalize_money(values: pa.Array | pa.ChunkedArray) -> pa.Array:
    """decimal128(18, 4) from numbers or strings; plain decimals cast in arrow, the rest parsed once each."""
    arr = as_array(values)
    if pa.types.is_decimal(arr.type):
        arr = arr.cast(pa.float64())
    if pa.types.is_integer(arr.type):
        arr = arr.cast(pa.float64())
    if pa.types.is_floating(arr.type):
        ok = true_mask(pc.and_(pc.is_finite(arr), pc.less(pc.abs(arr), float(MONEY_LIMIT))))
        return pc.if_else(ok, pc.round(arr, 4), pa.scalar(None, arr.type)).cast(MONEY)
    text = clean_text(arr)
    plain = true_mask(pc.match_substring_regex(text, pattern=_PLAIN_DECIMAL))
    out = only_where(text, plain).cast(MONEY)
    rest = pc.and_(pc.invert(plain), text.is_valid())
    if pc.any(rest).as_py():
        out = fill_where(out, rest, map_unique(only_where(text, rest), parse_money, MONEY))
    return out


_PLAIN_FLOAT = r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$"


def _decimal_comma(raw: str) -> float | None:
    """`1,0876` (one comma, no point: a decimal comma) as a float; anything else None."""
    s = raw.strip()
    if s.count(",") != 1 or "." in s or not re.fullmatch(r"[+-]?\d*,\d+", s):
        return None
    return float(s.replace(",", "."))


def normalize_rate(values: pa.Array | pa.ChunkedArray) -> pa.Array:
    """Exchange rates as float64: a finite number above zero (`1.0876`, `1,0876`, `6.5e-3`); else null."""
    arr = as_array(values)
    if pa.types.is_integer(arr.type) or pa.types.is_decimal(arr.type):
        arr = arr.cast(pa.float64())
    if not pa.types.is_floating(arr.type):
        text = clean_text(arr)
        plain = true_mask(pc.match_substring_regex(text, pattern=_PLAIN_FLOAT))
        out = only_where(text, plain).cast(pa.float64())
        rest = pc.and_(pc.invert(plain), text.is_valid())
        if pc.any(rest).as_py():
            out = fill_where(out, rest, map_unique(only_where(text, rest), _decimal_comma, pa.float64()))
        arr = out
    arr = arr.cast(pa.float64())
    ok = true_mask(pc.and_(pc.is_finite(arr), pc.greater(arr, 0.0)))
    return pc.if_else(ok, arr, pa.scalar(None, pa.float64()))


# --------------------------------------------------------------------------------------------- dispatch

Normalizer = Callable[[pa.Array, NormalizeOptions], pa.Array]

NORMALIZERS: dict[str, Normalizer] = {
    "text": lambda a, o: normalize_name(a),
    "name": lambda a, o: normalize_name(a),
    "free_text": lambda a, o: normalize_free_text(a),
    "code": lambda a, o: normalize_code(a),
    "currency": lambda a, o: normalize_currency(a),
    "json": lambda a, o: normalize_json_text(a),
    "email": lambda a, o: normalize_email(a),
    "phone": lambda a, o: normalize_phone(a, o.region),
    "enum": lambda a, o: normalize_enum(a, o.vocabulary),
    "bool": lambda a, o: normalize_bool(a),
    "int": lambda a, o: normalize_int(a),
    "money": lambda a, o: normalize_money(a),
    "rate": lambda a, o: normalize_rate(a),
    "timestamp": lambda a, o: normalize_timestamp(a, o.timestamp_format, o.timezone),
    "date": lambda a, o: normalize_date(a, o.date_format),
}

# The quarantine reason of a present value that a normalizer of this kind could not read.
INVALID_REASON: dict[str, str] = {
    "email": "invalid_email",
    "phone": "invalid_phone",
    "enum": "invalid_enum",
    "bool": "invalid_bool",
    "int": "invalid_number",
    "money": "invalid_number",
    "currency": "invalid_currency",
    "rate": "invalid_rate",
    "timestamp": "invalid_timestamp",
    "date": "invalid_date",
}


def normalize(kind: str, values: pa.Array | pa.ChunkedArray, options: NormalizeOptions) -> Normalized:
    """Normalize one column and flag the values that were present but unreadable."""
    arr = as_array(values)
    out = NORMALIZERS[kind](arr, options)
    present = present_mask(arr)
    produced = np.asarray(out.is_valid().to_numpy(zero_copy_only=False), dtype=bool)
    return Normalized(values=out, invalid=present & ~produced)
