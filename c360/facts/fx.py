"""One reporting currency: dated FX rates from `standardized/fx_rate/`, applied at a row's UTC date.

A rate row says `rate` units of `currency` buy one `base` on `date` (ECB style: base EUR). Files may mix
bases; on each date every currency reachable from the reporting currency through that date's rows gets a
value in reporting units (cross rates through any base, shortest chain first). A lookup takes the newest
value on or before the row's date, at most `facts.fx_max_age_days` old: weekends and holidays have no
fixing, but a rate months old is not a rate. The reporting currency itself converts at 1.0 and needs no rate.

Lookups are vectorised (one searchsorted over (currency, day) keys), so the facts stage can convert millions
of transaction lines at once.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from c360.errors import ConfigError
from c360.sources.layout import read_standardized

if TYPE_CHECKING:
    from c360.workspace import Workspace

FX_RECORD = "fx_rate"
_US_PER_DAY = 86_400_000_000
_DAY_OFFSET = 1 << 31  # days since 1970 shifted positive, so (currency, day) packs into one int64 key


def reporting_currency_for(configured: str | None, currencies: Iterable[str | None]) -> str:
    """The configured reporting currency, else the data's only currency; several and none configured is an
    error, since summing them as one would be wrong and picking one would be a guess."""
    if configured:
        return configured
    found = sorted({c.strip().upper() for c in currencies if c and c.strip()})
    if len(found) > 1:
        raise ConfigError(
            f"the data holds money in {len(found)} currencies ({', '.join(found)}) and c360.yaml sets no "
            "reporting_currency: set reporting_currency (an ISO 4217 code) and map an fx_rate source "
            "(a dated rates file, record: fx_rate) so every amount can be converted at its date"
        )
    # No money at all: nothing will be converted; USD is also ingest's default_currency for rows without one.
    return found[0] if found else "USD"


def _dedupe(rates: pa.Table) -> pd.DataFrame:
    """One rate per (date, base, currency): the one ingested last (a corrected redelivery wins)."""
    df = rates.select(
        ["date", "base", "currency", "rate", "_ingested_at", "source", "_file", "_row"]
    ).to_pandas(types_mapper=None)
    df = df.dropna(subset=["date", "base", "currency", "rate"])
    df = df[(df["rate"] > 0) & np.isfinite(df["rate"]) & (df["base"] != df["currency"])]
    df = df.sort_values(
        ["date", "base", "currency", "_ingested_at", "source", "_file", "_row"], kind="stable"
    )
    df = df.drop_duplicates(["date", "base", "currency"], keep="last")
    out = df[["date", "base", "currency", "rate"]].reset_index(drop=True)
    out["day"] = pd.to_datetime(out["date"]).values.astype("datetime64[D]").astype(np.int64)
    return out


def reporting_values(rates: pd.DataFrame, reporting: str) -> pd.DataFrame:
    """(day, currency, value): reporting units per one unit of currency, for every currency reachable from
    the reporting currency through the rate rows of the same day."""
    cols = ["day", "currency", "value"]
    if rates.empty:
        return pd.DataFrame(
            {
                "day": pd.Series(dtype="int64"),
                "currency": pd.Series(dtype=object),
                "value": pd.Series(dtype=float),
            }
        )
    # Each row links both ways: 1 base = rate currency, so value(base) = rate * value(currency).
    edges = pd.concat(
        [
            pd.DataFrame(
                {"day": rates["day"], "frm": rates["currency"], "to": rates["base"], "f": rates["rate"]}
            ),
            pd.DataFrame(
                {"day": rates["day"], "frm": rates["base"], "to": rates["currency"], "f": 1.0 / rates["rate"]}
            ),
        ],
        ignore_index=True,
    )
    known = pd.DataFrame({"day": np.unique(rates["day"].to_numpy()), "currency": reporting, "value": 1.0})
    frontier = known
    while not frontier.empty:
        step = frontier.merge(edges, left_on=["day", "currency"], right_on=["day", "frm"])
        step = pd.DataFrame({"day": step["day"], "currency": step["to"], "value": step["value"] * step["f"]})
        # Deterministic among equal-length chains: the largest value wins only as a tie-break.
        step = step.sort_values(["day", "currency", "value"], kind="stable").drop_duplicates(
            ["day", "currency"], keep="last"
        )
        seen = step.merge(known[["day", "currency"]], on=["day", "currency"], how="left", indicator=True)
        frontier = step[(seen["_merge"] == "left_only").to_numpy()]
        known = pd.concat([known, frontier], ignore_index=True)
    known = known[known["currency"] != reporting]
    return known.sort_values(["currency", "day"], kind="stable").reset_index(drop=True)[cols]


def utc_days(ts: pa.Array | pa.ChunkedArray) -> tuple[np.ndarray, np.ndarray]:
    """(days since 1970-01-01 of each timestamp's UTC date, valid mask)."""
    if isinstance(ts, pa.ChunkedArray):
        ts = ts.combine_chunks()
    typ = ts.type
    if pa.types.is_date(typ):
        days = pc.cast(ts, pa.date32()).cast(pa.int32())
        valid = np.asarray(pc.is_valid(days))
        return np.asarray(days.fill_null(0), dtype=np.int64), valid
    if not pa.types.is_timestamp(typ):
        raise TypeError(f"ts must be a timestamp or date array, got {typ}")
    micros = pc.cast(ts, pa.timestamp("us", tz=typ.tz)).view(pa.int64())
    valid = np.asarray(pc.is_valid(micros))
    return np.floor_divide(np.asarray(micros.fill_null(0), dtype=np.int64), _US_PER_DAY), valid


@dataclass
class FxConverter:
    """Converts money into `reporting`: `rates()` gives reporting units per unit at each row's date."""

    reporting: str
    max_age_days: int = 7
    values: pd.DataFrame = field(default_factory=lambda: reporting_values(pd.DataFrame(), "USD"))
    """(day, currency, value) sorted by currency, day."""
    rate_digest: str = ""

    def __post_init__(self) -> None:
        self._codes = sorted(set(self.values["currency"]))
        index = {c: i for i, c in enumerate(self._codes)}
        cur = self.values["currency"].map(index).to_numpy(dtype=np.int64)
        day = self.values["day"].to_numpy(dtype=np.int64)
        self._keys = (cur << 32) | (day + _DAY_OFFSET)
        self._days = day
        self._values = self.values["value"].to_numpy(dtype=np.float64)
        if len(self._keys) > 1 and not np.all(np.diff(self._keys) > 0):
            raise ValueError("FX values must be unique and sorted by (currency, day)")

    @classmethod
    def load(cls, ws: Workspace, currencies: Iterable[str | None]) -> FxConverter:
        """The converter for a workspace: its reporting currency (see `reporting_currency_for`) and every
        standardized fx_rate row."""
        reporting = reporting_currency_for(ws.settings.reporting_currency, currencies)
        return cls.from_rates(
            read_standardized(ws.lake, FX_RECORD), reporting, ws.settings.facts.fx_max_age_days
        )

    @classmethod
    def from_rates(cls, rates: pa.Table, reporting: str, max_age_days: int = 7) -> FxConverter:
        """From a table in `standardized_schema("fx_rate")` (lineage columns may be absent)."""
        for name, typ in (("_ingested_at", pa.timestamp("us", tz="UTC")), ("source", pa.string()),
                          ("_file", pa.string()), ("_row", pa.int64())):  # fmt: skip
            if name not in rates.column_names:
                rates = rates.append_column(name, pa.nulls(rates.num_rows, typ))
        clean = _dedupe(rates)
        digest = hashlib.sha256()
        digest.update(clean["day"].to_numpy(dtype=np.int64).tobytes())
        digest.update("\x1f".join(clean["base"] + "/" + clean["currency"]).encode())
        digest.update(clean["rate"].to_numpy(dtype=np.float64).tobytes())
        return cls(
            reporting=reporting,
            max_age_days=max_age_days,
            values=reporting_values(clean, reporting),
            rate_digest=digest.hexdigest(),
        )

    @property
    def currencies(self) -> list[str]:
        """Currencies other than the reporting one that have at least one rate."""
        return list(self._codes)

    def rates(self, currency: pa.Array | pa.ChunkedArray, ts: pa.Array | pa.ChunkedArray) -> pa.Array:
        """Reporting units per one unit of `currency` at each `ts`'s UTC date; 1.0 where the currency is the
        reporting one; null where there is no rate within `max_age_days` (or currency or ts is null)."""
        if isinstance(currency, pa.ChunkedArray):
            currency = currency.combine_chunks()
        if len(currency) != len(ts):
            raise ValueError(f"currency has {len(currency)} rows, ts {len(ts)}")
        n = len(currency)
        out = np.full(n, np.nan)
        mask = np.zeros(n, dtype=bool)
        # One pass over the strings: 0 is the reporting currency, 1.. the currencies with rates.
        idx = pc.index_in(currency, value_set=pa.array([self.reporting, *self._codes], pa.string()))
        code = np.asarray(idx.fill_null(-1), dtype=np.int64)
        is_reporting = code == 0
        out[is_reporting] = 1.0
        mask[is_reporting] = True
        if self._codes and (code > 0).any():
            days, valid = utc_days(ts)
            want = (code > 0) & valid
            cur = code[want] - 1
            day = days[want]
            pos = np.searchsorted(self._keys, (cur << 32) | (day + _DAY_OFFSET), side="right") - 1
            found = pos >= 0
            pos = np.where(found, pos, 0)
            found &= (self._keys[pos] >> 32) == cur
            found &= (day - self._days[pos]) <= self.max_age_days
            rows = np.flatnonzero(want)[found]
            out[rows] = self._values[pos[found]]
            mask[rows] = True
        return pa.array(out, type=pa.float64(), mask=~mask)

    def fingerprint(self) -> str:
        """Changes when the rates, the reporting currency or the allowed age change."""
        text = f"{self.reporting}|{self.max_age_days}|{self.rate_digest}"
        return hashlib.sha256(text.encode()).hexdigest()[:32]
