"""Settings the data decides: what a user would otherwise have to know about their data to write.

`conflict_match_probability` is what a pair whose strong attributes disagree (two first names, two birth
dates) must reach to share a cluster. The veto exists for look-alikes: a household's members share a surname
and an address, so Fellegi-Sunter, which multiplies the chances that two people agree on each field as if the
fields were independent, takes their agreement for far stronger evidence than it is; only their first names
and birth dates tell them apart. Whether a dataset holds such look-alikes is measured, not assumed: among the
candidate pairs, those that agree exactly on every name and address comparison that is not a conflict field
(the surname, the address) yet differ on a conflict field are counted, and set against the number the model
itself predicts (two people agreeing by chance, from u; one person's records disagreeing, from m and the
expected number of matches). Their ratio, the look-alike lift, is how many times more often such pairs occur
than the model believes; log2 of it is how many bits the model overstates their agreement by.

- Look-alikes (the lift of some conflict field above 2, one bit): a conflicting pair must clear
  `match_threshold` by the largest overstatement, in bits. In customer data (households, a father and son of
  one name and address) that is several bits.
- None (FEBRL, whose records are corrupted independently, field by field): a disagreement is ordinary
  evidence, already priced by its comparison (EM's m says how often one person's records disagree). A
  conflicting pair may share a cluster unless its own comparison is against a match: the threshold is the
  prior. A stricter one would cut true duplicates of one person apart, since each of them must be matched
  directly with every other record it conflicts with.

`address_comparison` follows from the same count: where there are no look-alikes, nothing makes street,
postcode and city agree together more than by their own chances, and three comparisons say more than one
(FEBRL corrupts each part on its own). The model learned with the address as one piece is then learned again
with the parts apart, and keeps the first model's decisions. This reads the absence of households as the
absence of any dependence between the parts, which real addresses may still hold (a postcode names its city):
data without households but with real addresses should say `address_comparison: one`.

The estimates are made once, when the model is learned, and kept in it (`FSModel.estimated`), so every run on
that model (incremental, `c360 identity explain`) applies the same value. A value the user writes in
`identity:` wins (`effective_settings`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from c360.identity.compare import FULL_NAME
from c360.identity.config import (
    AUTO,
    UNESTIMATED_CONFLICT,
    ComparisonSettings,
    IdentitySettings,
    conflict_is_estimated,
)
from c360.identity.name_frequency import describe as describe_full_names

if TYPE_CHECKING:  # the model module records its estimates when it learns: it imports this one
    from c360.identity.model import FSModel

HOUSEHOLD = "household"
"""The column of `FSModel.field_weights` that corrects a household's shared agreement."""
HOUSEHOLD_FIELDS = "household_fields"
HOUSEHOLD_BITS = "household_bits"
"""Keys of `FSModel.estimated`: the comparisons a household shares ('+'-joined) and the bits by which the
model overstates their joint exact agreement."""

LOOKALIKE_BITS = 1.0
"""Look-alikes are present when the model understates how often they occur by more than one bit (a factor
of 2); below that the counts are read as the model's own."""


@dataclass(frozen=True)
class Lookalikes:
    """Candidate pairs agreeing on the surname and address comparisons yet differing on `field`."""

    field: str
    observed: int
    expected: float
    """What the model predicts: random agreement of two people plus disagreement of one person's records."""
    matched: float = 0.0
    """The part of `expected` that is one person's records (the matches among the look-alikes)."""

    @property
    def bits(self) -> float:
        """How many bits the model overstates such pairs' agreement by (log2 of the lift, smoothed)."""
        return math.log2((self.observed + 1.0) / (self.expected + 1.0))


def _agreeing(settings: IdentitySettings) -> list[str]:
    """Comparisons a household shares: names and addresses that are not conflict fields (the surname)."""
    return [c.field for c in settings.comparisons if c.method in ("name", "address") and not c.conflict]


def lookalikes(
    candidates: pd.DataFrame, model: FSModel, settings: IdentitySettings, expected_matches: float
) -> list[Lookalikes]:
    """Per conflict field, the look-alike count among `candidates` (their comparison levels) against the
    model's prediction over every pair of the `model.n_records` records; largest overstatement first."""
    agree = [f for f in _agreeing(settings) if f"g_{f}" in candidates and f in model.m]
    if not agree or candidates.empty:
        return []
    same = np.logical_and.reduce([candidates[f"g_{f}"].to_numpy() == 0 for f in agree])
    u_same = math.prod(model.u[f][0] for f in agree)
    m_same = math.prod(model.m[f][0] for f in agree)
    n = model.n_records
    pairs = n * (n - 1) / 2
    out = []
    for c in settings.comparisons:
        if not c.conflict or f"g_{c.field}" not in candidates or c.field not in model.m:
            continue
        last = len(model.m[c.field]) - 1
        observed = int((same & (candidates[f"g_{c.field}"].to_numpy() == last)).sum())
        non_match = max(pairs - expected_matches, 0.0) * u_same * model.u[c.field][last]
        matched = expected_matches * m_same * model.m[c.field][last]
        out.append(Lookalikes(c.field, observed, non_match + matched, matched))
    return sorted(out, key=lambda x: (-x.bits, x.field))


def household_agreement(
    candidates: pd.DataFrame, model: FSModel, settings: IdentitySettings, top: Lookalikes
) -> dict[str, float]:
    """Per further comparison (not the surname or address, not a conflict field), the bits by which its exact
    agreement is overstated between two people of one household: its agreement rate among the look-alikes
    (`top`: one surname and address, two first names), the matches among them taken out, against u.

    A household landline or a family email agrees between a household's members far more often than between
    two people drawn at random, which u describes; a gender does not. Only overstatements above
    `LOOKALIKE_BITS` are kept."""
    agree = [f for f in _agreeing(settings) if f"g_{f}" in candidates and f in model.m]
    same = np.logical_and.reduce([candidates[f"g_{f}"].to_numpy() == 0 for f in agree])
    look = same & (candidates[f"g_{top.field}"].to_numpy() == len(model.m[top.field]) - 1)
    matched = min(top.matched, 0.5 * float(look.sum()))
    out = {}
    for c in settings.comparisons:
        if c.conflict or c.field in agree or f"g_{c.field}" not in candidates or c.field not in model.m:
            continue
        g = candidates[f"g_{c.field}"].to_numpy()[look]
        known = float((g >= 0).sum())
        if known == 0:
            continue
        share = known / len(g)  # the matches among the look-alikes are known on this field as often
        agreeing = max(float((g == 0).sum()) - matched * share * model.m[c.field][0], 0.0)
        rate = (agreeing + 1.0) / (known - matched * share + 2.0)
        bits = math.log2(rate / max(model.u[c.field][0], 1e-12))
        if bits > LOOKALIKE_BITS:
            out[c.field] = round(bits, 3)
    return out


def _widest(found: list[Lookalikes]) -> Lookalikes:
    """The look-alike set `household_agreement` reads: the largest of those above `LOOKALIKE_BITS`. Not the
    one of most bits: on the demo the loyalty ids' 19,000 look-alikes (two sources write loyalty ids) edged
    past the first names' 135,000 at one seed (6.42 bits against 6.23) and, from that narrower set, made the
    email a household identifier, refusing 1,400 links between one person's records."""
    over = [x for x in found if x.bits > LOOKALIKE_BITS] or found
    return max(over, key=lambda x: (x.observed, x.field))


def conflict_probability(model: FSModel, settings: IdentitySettings, found: list[Lookalikes]) -> float:
    """`match_threshold` raised by the largest look-alike overstatement, or the prior where there is none."""
    if not found or found[0].bits <= LOOKALIKE_BITS:
        return float(min(max(model.prior, 1e-12), 0.5))
    p = settings.match_threshold
    bits = math.log2(p / (1 - p)) + found[0].bits
    return float(1.0 / (1.0 + 2.0**-bits))


def estimate_settings(
    candidates: pd.DataFrame, model: FSModel, settings: IdentitySettings, expected_matches: float
) -> dict[str, float | str]:
    """Every setting left to the data (`auto`), with what decided it: what `FSModel.estimated` holds."""
    found = lookalikes(candidates, model, settings, expected_matches)
    households = bool(found) and found[0].bits > LOOKALIKE_BITS
    out: dict[str, float | str] = {}
    if settings.address_comparison == AUTO and any(c.method == "address" for c in settings.comparisons):
        out["address_comparison"] = "one" if households or not found else "apart"
    if conflict_is_estimated(settings):
        out["conflict_match_probability"] = conflict_probability(model, settings, found)
    if households:
        out[HOUSEHOLD_FIELDS] = "+".join(f for f in _agreeing(settings) if f in model.m)
        out[HOUSEHOLD_BITS] = round(found[0].bits, 3)
        for f, bits in household_agreement(candidates, model, settings, _widest(found)).items():
            out[f"{HOUSEHOLD}_{f}"] = bits
    if found and out:
        top = found[0]
        out |= {"lookalike_field": top.field, "lookalike_observed": top.observed}
        out |= {"lookalike_expected": round(float(top.expected), 3), "lookalike_bits": round(top.bits, 3)}
    return out


def effective_settings(settings: IdentitySettings, model: FSModel) -> IdentitySettings:
    """`settings` with each `auto` value replaced by the model's estimate (an address compared apart as
    `address_apart` gives it)."""
    out = settings
    if conflict_is_estimated(settings):
        chosen = float(model.estimated.get("conflict_match_probability", UNESTIMATED_CONFLICT))
        out = settings.model_copy(update={"conflict_match_probability": chosen})
    return address_apart(out) if _apart(settings, model.estimated) else out


def initial_settings(settings: IdentitySettings) -> IdentitySettings:
    """The settings a model is learned with before the data has decided anything (an address compared
    apart only when the config says so)."""
    return address_apart(settings) if settings.address_comparison == "apart" else settings


def _apart(settings: IdentitySettings, estimated: dict[str, float | str]) -> bool:
    chosen = settings.address_comparison
    return chosen == "apart" or (chosen == AUTO and estimated.get("address_comparison") == "apart")


def address_apart(settings: IdentitySettings) -> IdentitySettings:
    """Each `method: address` comparison as street, city and postcode apart (a part already compared on its
    own keeps its comparison)."""
    present = {c.field for c in settings.comparisons}
    comparisons = []
    for c in settings.comparisons:
        if c.method != "address":
            comparisons.append(c)
            continue
        comparisons.append(c.model_copy(update={"method": "string"}))
        if "city" not in present:
            comparisons.append(
                ComparisonSettings(field="city", method="string", thresholds=[0.9], tf_adjustment=True)
            )
        if "postcode" not in present:
            comparisons.append(ComparisonSettings(field="postcode", method="identifier", max_edits=1))
    return settings.model_copy(update={"comparisons": comparisons})


def describe(settings: IdentitySettings, model: FSModel) -> list[str]:
    """What was estimated and why, for people (`c360 resolve` prints it)."""
    lines = []
    if settings.address_comparison == AUTO and "address_comparison" in model.estimated:
        how = model.estimated["address_comparison"]
        why = "look-alikes share addresses" if how == "one" else "no look-alikes"
        lines.append(f"address_comparison {how} (estimated: {why})")
    names = describe_full_names(model.tf.get(FULL_NAME, {}))
    return lines + _describe_household(model) + names + _describe_conflict(settings, model)


def _describe_household(model: FSModel) -> list[str]:
    fields, bits = model.household_correction()
    if not fields:
        return []
    extra = [
        f"{f} -{float(model.estimated[f'{HOUSEHOLD}_{f}']):.1f}"
        for f in model.fields
        if f"{HOUSEHOLD}_{f}" in model.estimated
    ]
    return [
        f"household look-alikes: pairs agreeing exactly on {' and '.join(fields)} weigh {bits:.1f} bits less"
        + (f", and less for what a household shares besides ({', '.join(extra)} bits)" if extra else "")
        + " (estimated)"
    ]


def _describe_conflict(settings: IdentitySettings, model: FSModel) -> list[str]:
    if not conflict_is_estimated(settings):
        return [f"conflict_match_probability {settings.conflict_match_probability:g} (set in identity:)"]
    chosen = effective_settings(settings, model).conflict_match_probability
    e = model.estimated
    if "conflict_match_probability" not in e:
        return [f"conflict_match_probability {chosen:g} (the model predates estimation: resolve --full)"]
    if "lookalike_field" not in e:
        return [f"conflict_match_probability {chosen:.3g} (estimated: no surname or address to compare)"]
    seen = (
        f"{e['lookalike_observed']} pairs share surname and address with a different {e['lookalike_field']}"
        f" against {float(e['lookalike_expected']):.1f} the model expects"
    )
    if float(e["lookalike_bits"]) <= LOOKALIKE_BITS:
        return [f"conflict_match_probability {chosen:.3g} (estimated: {seen}; no look-alikes, the prior)"]
    return [
        f"conflict_match_probability {chosen:.6g} (estimated: {seen}; look-alikes, match_threshold"
        f" + {float(e['lookalike_bits']):.1f} bits)"
    ]
