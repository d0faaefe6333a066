"""How common a full name is: first and last names are not independent where people come from several
countries.

Term-frequency adjustment prices an exact agreement on a first name and one on a surname each by its own
frequency, and Fellegi-Sunter multiplies the two, as if a first name said nothing about the surname it comes
with. Where the records come from several countries it does: "Henryk" and "Beckmann" are both rare across a
British and American customer base, but they are found together, among its German customers, far more often
than the product of their frequencies says. Two records sharing such a name are then taken for one person
with a confidence the data does not give (at 100,000 demo customers, 36 wrong links between two people who
shared only a full name, each accepted at p ≥ 0.99).

The frequency of a full name is estimated as a mixture over the grouping column (the country): names are
taken as independent within a country, not across. Its ratio to the product of the two names' own
frequencies is the full name's *dependence*; a pair agreeing exactly on both names weighs log2 of it less.
A grouping column with one value (or none: FEBRL) gives every name a ratio of 1, so nothing changes; a ratio
below 1 (two names rarer together than apart) is not used, so the correction only ever takes evidence away.
The ratios are learned with the model and kept with its term frequencies (`FSModel.tf[FULL_NAME]`).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from c360.identity.compare import FAMILY_NAME, GIVEN_NAME
from c360.identity.config import IdentitySettings

GROUP = "country"
"""The column within which first and last names are taken as independent."""
MIN_RATIO = 1.05
"""Ratios closer to 1 are not kept (a 0.07-bit correction is noise; the table stays small)."""
_SEP = "\x1f"


def applies(settings: IdentitySettings) -> bool:
    """Whether both names are compared with term-frequency adjustment: the only case the correction reads."""
    return {GIVEN_NAME, FAMILY_NAME} <= {c.field for c in settings.comparisons if c.tf_adjustment}


def full_name_key(first: pd.Series, last: pd.Series) -> pd.Series:
    return first.astype("string") + _SEP + last.astype("string")


def dependence(records: pd.DataFrame, settings: IdentitySettings) -> dict[str, float]:
    """Per full name ("first\\x1flast"), how many times more often the two names occur together than their own
    frequencies predict, over the records that have both names and a `GROUP` value; only ratios of at least
    `MIN_RATIO`."""
    if not applies(settings) or not {GIVEN_NAME, FAMILY_NAME, GROUP} <= set(records.columns):
        return {}
    r = records[[GIVEN_NAME, FAMILY_NAME, GROUP]].dropna()
    if r.empty or r[GROUP].nunique() < 2:
        return {}
    n = float(len(r))
    share_first = r[GIVEN_NAME].value_counts() / n
    share_last = r[FAMILY_NAME].value_counts() / n
    in_group = r[GROUP].value_counts()
    firsts = r.groupby([GROUP, GIVEN_NAME], observed=True).size().rename("n_first").reset_index()
    lasts = r.groupby([GROUP, FAMILY_NAME], observed=True).size().rename("n_last").reset_index()
    names = r[[GIVEN_NAME, FAMILY_NAME]].drop_duplicates()
    # P(first, last) = sum over groups of P(group) P(first | group) P(last | group)
    terms = names.merge(firsts, on=GIVEN_NAME).merge(lasts, on=[GROUP, FAMILY_NAME])
    terms["joint"] = terms["n_first"] * terms["n_last"] / terms[GROUP].map(in_group).to_numpy() / n
    joint = terms.groupby([GIVEN_NAME, FAMILY_NAME], observed=True)["joint"].sum().reset_index()
    apart = share_first.reindex(joint[GIVEN_NAME]).to_numpy()
    apart = apart * share_last.reindex(joint[FAMILY_NAME]).to_numpy()
    ratio = joint["joint"].to_numpy() / apart
    keep = ratio >= MIN_RATIO
    keys = full_name_key(joint.loc[keep, GIVEN_NAME], joint.loc[keep, FAMILY_NAME])
    return dict(zip(keys.to_numpy(), np.round(ratio[keep], 4).tolist(), strict=True))


def record_ratios(records: pd.DataFrame, ratios: dict[str, float]) -> np.ndarray:
    """Each record's full-name ratio (1 where its name has none, or a name is missing)."""
    if not ratios or not {GIVEN_NAME, FAMILY_NAME} <= set(records.columns):
        return np.ones(len(records), dtype=np.float32)
    keys = full_name_key(records[GIVEN_NAME], records[FAMILY_NAME])
    return keys.map(ratios).astype(float).fillna(1.0).to_numpy(dtype=np.float32)


def full_name_bits(g_first: np.ndarray, g_last: np.ndarray, ratio: np.ndarray) -> np.ndarray:
    """The correction (zero or negative bits) of pairs agreeing exactly on both names."""
    both = (g_first == 0) & (g_last == 0)
    r = np.nan_to_num(np.asarray(ratio, dtype=float), nan=1.0)
    return np.where(both, -np.log2(np.maximum(r, 1.0)), 0.0)


def describe(ratios: dict[str, float]) -> list[str]:
    """What was estimated, for people (`c360 resolve` prints it)."""
    if not ratios:
        return []
    most = max(ratios.values())
    return [
        f"full names: {len(ratios):,} go together in one country more than their names' frequencies say;"
        f" a pair sharing one weighs up to {np.log2(most):.1f} bits less (estimated)"
    ]
