"""Several date formats per file set, and the day/month order of each file read from its own rows.

A CRM that writes `03/04/1980` in one export and `25/03/1980` in the next cannot be read with one format
for all files: `03/04/1980` is the 3rd of April day-first and the 4th of March month-first. `date_format`
may list formats, tried in order; when the list holds both a day-first and a month-first format, each file
is read in the order its unambiguous rows show (any value that parses only day-first, with no value that
parses only month-first, makes the whole file day-first; and the reverse). A file with both kinds, or
neither, keeps the configured order. Values are never quoted: the decision is logged with counts only.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from c360.sources.arrowkit import clean_text
from c360.sources.temporal import strptime_strict


def date_formats(date_format: str | Sequence[str] | None) -> list[str]:
    """The configured format(s) as a list (a single string still works)."""
    if not date_format:
        return []
    return [date_format] if isinstance(date_format, str) else [f for f in date_format if f]


def day_first(fmt: str) -> bool | None:
    """True when the day comes before the month in `fmt`, False after, None when either is missing."""
    d, m = fmt.find("%d"), max(fmt.find("%m"), fmt.find("%b"), fmt.find("%B"))
    if d < 0 or m < 0:
        return None
    return d < m


@dataclass(frozen=True)
class DateOrder:
    formats: list[str]
    """The formats in the order this file is read with."""
    decision: str | None
    """"day_first" or "month_first" when the file's rows decided the order; None when the config's holds."""
    day_only: int
    """Distinct values that parse only with a day-first format."""
    month_only: int


def order_for_file(columns: Sequence[pa.Array], date_format: str | Sequence[str] | None) -> DateOrder:
    """The order to read this file's dates in, decided by the values no format but one order can read."""
    formats = date_formats(date_format)
    kinds = [day_first(f) for f in formats]
    if True not in kinds or False not in kinds or not columns:
        return DateOrder(formats, None, 0, 0)
    values = pa.chunked_array([clean_text(c) for c in columns], pa.string()).combine_chunks()
    values = values.drop_null().unique()
    if len(values) == 0:
        return DateOrder(formats, None, 0, 0)
    day = np.zeros(len(values), dtype=bool)
    month = np.zeros(len(values), dtype=bool)
    for fmt, kind in zip(formats, kinds, strict=True):
        if kind is None:
            continue
        ok = np.asarray(strptime_strict(values, fmt).is_valid(), dtype=bool)
        if kind:
            day |= ok
        else:
            month |= ok
    day_only, month_only = int((day & ~month).sum()), int((month & ~day).sum())
    if day_only and not month_only:
        order = sorted(formats, key=lambda f: day_first(f) is False)  # stable: day-first ones move up
        return DateOrder(order, "day_first", day_only, month_only)
    if month_only and not day_only:
        order = sorted(formats, key=lambda f: day_first(f) is True)
        return DateOrder(order, "month_first", day_only, month_only)
    return DateOrder(formats, None, day_only, month_only)
