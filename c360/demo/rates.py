"""A dated FX rates file like the ECB's reference rates: base EUR, one fixing per TARGET business day.

Prices are set in USD (the catalogue) and shown in GBP and EUR at fixed factors (`FX_FROM_USD`), so each
rate walks around the level those factors imply (USD per EUR = 1 / 0.92, GBP per EUR = 0.79 / 0.92): an
order converted at its day's rate lands within a few percent of its USD list price, as real shop prices do
against a moving market. The walk is mean-reverting in log space with daily moves about the size of real
EUR/USD and EUR/GBP moves. It draws from its own stream of the seed, so adding it changed nothing else.
"""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np
import pyarrow as pa

from c360.demo.world import CURRENCIES, FX_FROM_USD, HISTORY_START, REFERENCE_DATE

BASE = "EUR"
LEAD_DAYS = 14
"""Rates start this long before history, so the first days of history have a fixing on or before them."""
DAILY_VOL = {"USD": 0.0040, "GBP": 0.0030}
HALF_LIFE_DAYS = 60.0  # business days for a deviation from the level to halve
DECIMALS = {"USD": 4, "GBP": 5}  # as the ECB publishes them


def levels() -> dict[str, float]:
    """Units of each non-base currency per EUR implied by the generator's price factors."""
    per_usd = dict(zip(CURRENCIES, FX_FROM_USD.tolist(), strict=True))
    return {cur: per_usd[cur] / per_usd[BASE] for cur in DAILY_VOL}


def easter(year: int) -> date:
    """Western Easter Sunday (the anonymous Gregorian algorithm)."""
    a, b, c = year % 19, year // 100, year % 100
    d, e = b // 4, b % 4
    g = (8 * b + 13) // 25
    h = (19 * a + b - d - g + 15) % 30
    i, k = c // 4, c % 4
    m = (32 + 2 * e + 2 * i - h - k) % 7
    n = (a + 11 * h + 22 * m) // 451
    month, day = divmod(h + m - 7 * n + 114, 31)
    return date(year, month, day + 1)


def fixing_days(start: date, end: date) -> list[date]:
    """TARGET business days: no weekends, New Year, Good Friday, Easter Monday, 1 May, 25 and 26 December."""
    closed: set[date] = set()
    for year in range(start.year, end.year + 1):
        sunday = easter(year)
        closed |= {date(year, 1, 1), sunday - timedelta(days=2), sunday + timedelta(days=1)}
        closed |= {date(year, 5, 1), date(year, 12, 25), date(year, 12, 26)}
    days = (start + timedelta(days=i) for i in range((end - start).days + 1))
    return [d for d in days if d.weekday() < 5 and d not in closed]


def rates_table(seed: int) -> pa.Table:
    """date, base, currency, rate as text (the file as delivered), by date then currency."""
    rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(2,)))
    start = date.fromisoformat(HISTORY_START) - timedelta(days=LEAD_DAYS)
    days = fixing_days(start, date.fromisoformat(REFERENCE_DATE))
    n = len(days)
    phi = 0.5 ** (1.0 / HALF_LIFE_DAYS)
    columns: dict[str, list[str]] = {}
    for cur, level in levels().items():
        shocks = rng.normal(0.0, DAILY_VOL[cur], n)
        deviation = np.empty(n)
        deviation[0] = shocks[0]
        for t in range(1, n):  # ~800 business days: a loop over days, not over customers or rows
            deviation[t] = phi * deviation[t - 1] + shocks[t]
        columns[cur] = [f"{v:.{DECIMALS[cur]}f}" for v in level * np.exp(deviation)]
    currencies = sorted(columns)
    return pa.table(
        {
            "date": [d.isoformat() for d in days for _ in currencies],
            "base": [BASE] * (n * len(currencies)),
            "currency": currencies * n,
            "rate": [columns[cur][t] for t in range(n) for cur in currencies],
        }
    )
