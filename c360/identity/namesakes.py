"""Names two generations hold: where the records show a father and a son of one name (Jr and Sr written, or
birth dates a generation apart under one name and address), a record that says neither which one it is nor
when it was born cannot be told to either by its first name.

The comparison already reads a first name as no evidence between a record that writes a suffix and one that
writes none without a birth date (`c360.identity.compare.level_sql`). Two records that both write neither
(an online order and a social profile of "Eric Watkins" at the Watkins' address) were still linked on the
first name, and so were one that gives a birth date and one that gives nothing: at 100,000 demo customers,
42 of the 44 father-and-son merges. Whether a name is held by two generations is a fact about the data, not
about the pair: it is read from all the records of the run, per name and postcode (per name and city where a
record has no postcode, per name where it has neither), and each record carries the answer
(`NAMESAKE`, true or false; a run's column, like the term frequencies, not stored with the prepared
records). A pair agreeing on a first name a namesake record holds, unless both records
write a suffix or both give a birth date (then those tell the generations apart), reads the first name as
missing, so it links only on what else it shares (an email, a phone).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from rapidfuzz.distance import DamerauLevenshtein

from c360.identity.compare import FAMILY_NAME, GIVEN_NAME, NAMESAKE

__all__ = ["NAMESAKE", "namesake_records"]
GENERATION_YEARS = 15
"""Birth years at least this far apart under one name and postcode are two generations."""
_ADDRESS_KEYS = ("postcode", "city")


def namesake_records(prepared: pd.DataFrame) -> np.ndarray:
    """Per record, whether its name is held by two generations where it lives (see the module)."""
    n = len(prepared)
    if n == 0 or not {GIVEN_NAME, FAMILY_NAME, "name_suffix", "birth_date__s"} <= set(prepared.columns):
        return np.zeros(n, dtype=bool)
    first, last = prepared[GIVEN_NAME].astype("string"), prepared[FAMILY_NAME].astype("string")
    named = (first.notna() & last.notna()).to_numpy()
    out = np.zeros(n, dtype=bool)
    undecided = named.copy()
    for part in (*[k for k in _ADDRESS_KEYS if k in prepared.columns], None):
        if part is None:
            key, has = first + "\x1f" + last, undecided
        else:
            place = prepared[part].astype("string")
            key, has = first + "\x1f" + last + "\x1f" + place, undecided & place.notna().to_numpy()
        out[has] = _two_generations(key, prepared, named)[has]
        undecided &= ~has
    return out


def _two_generations(key: pd.Series, prepared: pd.DataFrame, named: np.ndarray) -> np.ndarray:
    """Per record, whether the records of its `key` write two different suffixes or birth years a generation
    apart."""
    dates = prepared["birth_date__s"].astype("string")
    year = pd.to_numeric(dates.str[:4], errors="coerce")
    frame = pd.DataFrame(
        {"key": key, "suffix": prepared["name_suffix"].astype("string"), "year": year, "date": dates}
    )
    frame = frame[named & key.notna().to_numpy()]
    by = frame.groupby("key", observed=True)
    suffixes = by["suffix"].nunique()
    shared = set(suffixes.index[suffixes.to_numpy() >= 2])
    spread = frame.dropna(subset=["year"]).sort_values("year").groupby("key", observed=True)["date"]
    ends = pd.DataFrame({"low": spread.first(), "high": spread.last()})
    ends["years"] = pd.to_numeric(ends["high"].str[:4]) - pd.to_numeric(ends["low"].str[:4])
    for k, low, high in ends.loc[ends["years"] >= GENERATION_YEARS, ["low", "high"]].itertuples():
        if DamerauLevenshtein.distance(low, high) > 1:  # 1985 and 1958 is a typo, not a son
            shared.add(k)
    return key.isin(shared).fillna(False).to_numpy(dtype=bool)
