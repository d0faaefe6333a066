"""Timestamps and dates: every accepted way of writing a moment, read into UTC.

ISO 8601 (with or without offset, `Z`), epoch seconds / milliseconds / microseconds, and the file set's own
strptime format; values without an offset are wall-clock times in the file set's zone. Arrow casts the
well-formed bulk in one go; the rest is parsed once per distinct value by Python, which also catches what
arrow lets through (its strptime rolls `31/02` over into March).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, date, datetime
from typing import Any
from zoneinfo import ZoneInfo

import pyarrow as pa
import pyarrow.compute as pc

from c360.schemas import TS
from c360.sources.arrowkit import as_array, clean_text, fill_where, map_unique, only_where, true_mask

# nine digits at least (1973 onwards in seconds), so years and compact dates are not read as epochs
EPOCH_PATTERN = r"^[+-]?\d{9,}(\.\d+)?$"
ISO_DATE_PATTERN = r"^\d{4}-\d{2}-\d{2}"
ISO_OFFSET_PATTERN = r"(Z|z|[+-]\d{2}(:?\d{2})?)$"


def _strptime_python(raw: str, fmt: str) -> datetime | None:
    try:
        value = datetime.strptime(raw, fmt)
    except ValueError:
        return None
    return value.astimezone(UTC) if value.tzinfo is not None else value


def strptime_strict(text: pa.Array, fmt: str) -> pa.Array:
    """Arrow's strptime, minus its leniency: it rolls `31/02` over to March, so values that do not
    format back to themselves are parsed again by Python, which rejects impossible dates. Offsets (%z)
    give UTC instants."""
    aware = "%z" in fmt or "%Z" in fmt
    if aware:
        return map_unique(text, lambda v: _strptime_python(v, fmt), TS)
    parsed = pc.strptime(text, format=fmt, unit="us", error_is_null=True)
    same = true_mask(pc.equal(pc.strftime(parsed, format=fmt), text))
    recheck = pc.and_(pc.invert(same), parsed.is_valid())
    if not pc.any(recheck).as_py():
        return parsed
    strict = map_unique(only_where(text, recheck), lambda v: _strptime_python(v, fmt), pa.timestamp("us"))
    return pc.if_else(recheck, strict, parsed)


def _localize(naive: pa.Array, tz: str) -> pa.Array:
    """Naive wall-clock times in `tz` -> UTC instants (ambiguous: earliest; non-existent: shifted forward)."""
    naive = naive.cast(pa.timestamp("us"))
    if tz in ("UTC", "Etc/UTC", "Z"):
        return naive.cast(TS)
    local = pc.assume_timezone(naive, timezone=tz, ambiguous="earliest", nonexistent="latest")
    return local.cast(TS)


def _epoch_to_ts(numbers: pa.Array) -> pa.Array:
    """Epoch seconds, milliseconds or microseconds, told apart by magnitude."""
    x = numbers.cast(pa.float64())
    mag = pc.abs(x)
    scale = pc.if_else(pc.greater_equal(mag, 1e14), 1.0, pc.if_else(pc.greater_equal(mag, 1e11), 1e3, 1e6))
    micros = pc.round(pc.multiply(x, scale))
    ok = true_mask(pc.less(pc.abs(micros), 2.0**62))
    return pc.if_else(ok, micros, pa.scalar(None, pa.float64())).cast(pa.int64()).cast(TS)


def _parse_iso_instant(raw: str, tz: str) -> datetime | None:
    try:
        value = datetime.fromisoformat(raw)
    except ValueError:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=ZoneInfo(tz))
    return value.astimezone(UTC)


def _cast_or_parse(text: pa.Array, target: pa.DataType, parse: Callable[[str], Any]) -> pa.Array:
    """Cast in one go when every value is well-formed; else parse each distinct value to find the bad ones."""
    try:
        return text.cast(target)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return map_unique(text, parse, target)


def normalize_timestamp(
    values: pa.Array | pa.ChunkedArray, timestamp_format: str | None = None, tz: str = "UTC"
) -> pa.Array:
    """UTC instants from ISO 8601 (with or without offset, `Z`), epoch s/ms/us, or the file set's format.

    Values without an offset are wall-clock times in the file set's zone `tz`.
    """
    arr = as_array(values)
    t = arr.type
    if pa.types.is_timestamp(t):
        return _localize(arr, tz) if t.tz is None else arr.cast(pa.timestamp("us", tz=t.tz)).cast(TS)
    if pa.types.is_date(t):
        return _localize(arr.cast(pa.timestamp("us")), tz)
    if pa.types.is_integer(t) or pa.types.is_floating(t):
        return _epoch_to_ts(arr)
    text = clean_text(arr)
    out = pa.nulls(len(text), TS)
    if timestamp_format:
        parsed = strptime_strict(text, timestamp_format)
        out = pc.coalesce(out, _localize(parsed, tz) if parsed.type.tz is None else parsed.cast(TS))
    todo = pc.and_(text.is_valid(), out.is_null())
    epoch = true_mask(pc.and_(todo, pc.match_substring_regex(text, pattern=EPOCH_PATTERN)))
    if pc.any(epoch).as_py():
        out = fill_where(out, epoch, _epoch_to_ts(only_where(text, epoch).cast(pa.float64())))
    iso = true_mask(
        pc.and_(pc.and_(todo, pc.invert(epoch)), pc.match_substring_regex(text, pattern=ISO_DATE_PATTERN))
    )
    if pc.any(iso).as_py():
        with_offset = true_mask(pc.and_(iso, pc.match_substring_regex(text, pattern=ISO_OFFSET_PATTERN)))
        naive = pc.and_(iso, pc.invert(with_offset))
        parse = lambda v: _parse_iso_instant(v, tz)  # noqa: E731
        if pc.any(with_offset).as_py():
            out = fill_where(out, with_offset, _cast_or_parse(only_where(text, with_offset), TS, parse))
        if pc.any(naive).as_py():
            try:
                local = _localize(only_where(text, naive).cast(pa.timestamp("us")), tz)
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
                local = map_unique(only_where(text, naive), parse, TS)
            out = fill_where(out, naive, local)
    return out


def _parse_date(raw: str, date_format: str | None) -> date | None:
    for attempt in (date_format, None):
        try:
            if attempt:
                return datetime.strptime(raw, attempt).date()
            return date.fromisoformat(raw[:10])
        except ValueError:
            continue
    return None


def normalize_date(
    values: pa.Array | pa.ChunkedArray, date_format: str | Sequence[str] | None = None
) -> pa.Array:
    """Calendar dates from the file set's strptime format(s), tried in order, or ISO `YYYY-MM-DD` (a time
    part is ignored)."""
    arr = as_array(values)
    t = arr.type
    if pa.types.is_date(t):
        return arr.cast(pa.date32())
    if pa.types.is_timestamp(t):
        return arr.cast(pa.date32()) if t.tz is None else _utc_date(arr)
    text = clean_text(arr)
    out = pa.nulls(len(text), pa.date32())
    for fmt in [date_format] if isinstance(date_format, str) else (date_format or ()):
        if not fmt or not pc.any(pc.and_(text.is_valid(), out.is_null())).as_py():
            continue
        parsed = strptime_strict(only_where(text, out.is_null()), fmt)
        out = pc.coalesce(out, parsed.cast(pa.timestamp("us")).cast(pa.date32()))
    todo = pc.and_(text.is_valid(), out.is_null())
    iso = true_mask(pc.and_(todo, pc.match_substring_regex(text, pattern=ISO_DATE_PATTERN + r"([T ].*)?$")))
    if pc.any(iso).as_py():
        head = pc.utf8_slice_codeunits(only_where(text, iso), 0, 10)
        out = fill_where(out, iso, _cast_or_parse(head, pa.date32(), lambda v: _parse_date(v, None)))
    return out


def _utc_date(arr: pa.Array) -> pa.Array:
    return pc.cast(arr.cast(TS).cast(pa.timestamp("us")), pa.date32())
