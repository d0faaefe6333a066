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
    codes = {c: pd.factorize(prepared[c])[0] for c in (GIVEN_NAME, FAMILY_NAME, *_present(prepared))}
    dates = prepared["birth_date__s"].astype("string")
    facts = pd.DataFrame(
        {
            "suffix": np.where((suffix := pd.factorize(prepared["name_suffix"])[0]) >= 0, suffix, np.nan),
            "year": pd.to_numeric(dates.str[:4], errors="coerce").to_numpy(dtype=float, na_value=np.nan),
        }
    )
    named = (codes[GIVEN_NAME] >= 0) & (codes[FAMILY_NAME] >= 0)
    out = np.zeros(n, dtype=bool)
    undecided = named.copy()
    for part in (*_present(prepared), None):
        # the records of every name with this part known tell; those decided by no finer part take it
        known = named if part is None else named & (codes[part] >= 0)
        has = undecided & known
        if has.any():
            keys = [GIVEN_NAME, FAMILY_NAME] + ([part] if part else [])
            shown = _two_generations(
                pd.DataFrame({k: codes[k][known] for k in keys}), facts[known], dates[known]
            )
            out[has] = shown[has[known]]
        undecided &= ~has
    return out


def _present(prepared: pd.DataFrame) -> list[str]:
    return [k for k in _ADDRESS_KEYS if k in prepared.columns]


def _two_generations(keys: pd.DataFrame, facts: pd.DataFrame, dates: pd.Series) -> np.ndarray:
    """Per record, whether the records of its key write two different suffixes or birth years a generation
    apart (a typo of one digit, 1985 and 1958, is not a son)."""
    group = keys.groupby(list(keys.columns), sort=False).ngroup().to_numpy()
    by = facts.assign(g=group).groupby("g")
    suffix_lo, suffix_hi = by["suffix"].min(), by["suffix"].max()
    two = (suffix_hi > suffix_lo).to_numpy()
    apart = (by["year"].max() - by["year"].min()).fillna(0).to_numpy() >= GENERATION_YEARS
    if apart.any():
        dated = facts.assign(g=group, date=dates.to_numpy()).dropna(subset=["year"])
        dated = dated[apart[dated["g"].to_numpy()]].sort_values("year", kind="stable").groupby("g")["date"]
        for g, low, high in zip(dated.first().index, dated.first(), dated.last(), strict=True):
            if DamerauLevenshtein.distance(str(low), str(high)) > 1:
                two[g] = True
    return two[group]
