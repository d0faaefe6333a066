"""Identifiers shared by nature: a family tablet's device id, a browser cookie, a household landline.

A deterministic link says "one person" outright, and on such an identifier that is often wrong: a household
of four on one tablet. So the values of a `shared` identifier link pair by pair, on each pair's own
comparison (the Fellegi-Sunter model scores every pair of records that share a value):

- a value whose records contradict each other shows several people, and none of its records link through
  it. A pair contradicts when two conflict fields differ (first name and birth date), when one differs and
  the pair's own evidence does not reach `conflict_match_probability` (what the clustering asks of it too),
  or when its comparison weighs against it (different emails and nothing else in common);
- in any other value, a pair links when `shared_match_probability` (how likely two records that share such a
  value are one person, before anything else is known of them) and its comparison together reach
  `match_threshold`. Two anonymous cookies of one device have nothing else to compare: they link only when
  the identifier is trusted that much.

An identifier not shared by nature that the data shows households share (a landline: the model's
`household_<field>` estimate, `household_identifiers`) keeps its star links, unless a value's records show
several people as above: then every pair of that value is evidence (refused as `several_people`).

Every other pair of such a value, and every pair of a value over the cardinality guard, is kept as evidence:
it clusters like a scored candidate pair when its own comparison clears the match threshold, and
`c360 identity explain` shows why it did not link.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa

from c360.identity.cluster import conflict_values
from c360.identity.compare import comparison_vectors
from c360.identity.config import IdentitySettings
from c360.identity.deterministic import person_signature
from c360.identity.estimate import HOUSEHOLD
from c360.identity.model import FSModel, threshold_weight

EVIDENCE_MAX_RECORDS = 20
"""Values held by more records than this are not paired (pairs grow as the square of the records): a shared
value that large is refused (`shared_crowded`), a crowded one (`cardinality`) is only reported."""

Verdicts = Callable[[np.ndarray, np.ndarray], pd.DataFrame]
"""(rid_l, rid_r) -> per pair `conflicts` (the conflict fields at their lowest level, ' and '-joined),
`n_conflicts`, `bits` (its comparison, the prior left out) and `weight` (its match weight)."""


@dataclass
class SharedOutcome:
    links: pd.DataFrame
    """Deterministic links (rid_l, rid_r, rule): the stars of other identifiers, the pairs of shared ones."""
    refused: pd.DataFrame
    """The refused values, with the shared values that show several people (`shared_conflict`)."""
    evidence: pd.DataFrame
    """rid_l, rid_r, rule (the identifiers, '+'-joined), refusal (why the pair did not link)."""


def _empty_pairs(*extra: str) -> pd.DataFrame:
    cols = {"rid_l": pd.Series([], dtype=np.int64), "rid_r": pd.Series([], dtype=np.int64)}
    return pd.DataFrame(cols | {c: pd.Series([], dtype=object) for c in ("rule", *extra)})


def household_identifiers(model: FSModel, settings: IdentitySettings) -> frozenset[str]:
    """The identifiers, not shared by nature, whose agreement the model found overstated between two members
    of one household (`c360.identity.estimate.household_agreement`: a landline, a family email)."""
    fields, _ = model.household_correction()
    if not fields:
        return frozenset()
    measured = {f for f in model.fields if f"{HOUSEHOLD}_{f}" in model.estimated}
    return frozenset(i.field for i in settings.identifiers if not i.is_shared and i.field in measured)


def pair_verdicts(records: pa.Table, model: FSModel, settings: IdentitySettings) -> Verdicts:
    """`Verdicts` over `records` (comparison columns by rid): the model's own reading of each pair."""
    conflict = [c.field for c in settings.comparisons if c.conflict]

    def judge(rid_l: np.ndarray, rid_r: np.ndarray) -> pd.DataFrame:
        g = comparison_vectors(records, pa.table({"rid_l": rid_l, "rid_r": rid_r}), settings, threads=None)
        g = g.to_pandas().set_index(["rid_l", "rid_r"]).reindex(pd.MultiIndex.from_arrays([rid_l, rid_r]))
        g = g.reset_index(drop=True)
        levels = [c for c in g.columns if c.startswith("g_")]
        g[levels] = g[levels].fillna(-1)
        bits = model.field_weights(g).sum(axis=1).to_numpy() if len(g) else np.zeros(0)
        names = np.full(len(g), "", dtype=object)
        count = np.zeros(len(g), dtype=np.int64)
        for f in conflict:
            if f"g_{f}" in g and f in model.levels:
                lowest = g[f"g_{f}"].to_numpy() == len(model.levels[f]) - 1
                names = np.where(lowest, np.where(names == "", f, names + " and " + f), names)
                count += lowest
        return pd.DataFrame(
            {"conflicts": names, "n_conflicts": count, "bits": bits, "weight": bits + model.prior_weight}
        )

    return judge


def _strip(links: pd.DataFrame, fields: set[str]) -> pd.DataFrame:
    """The star links without the given identifiers (a pair left with none is dropped)."""
    if not fields or links.empty:
        return links
    pattern = r"(?:^|\+)(?:" + "|".join(sorted(fields)) + r")(?:\+|$)"
    hit = links["rule"].astype(str).str.contains(pattern, regex=True).to_numpy()
    if not hit.any():
        return links
    links = links.copy()
    links.loc[hit, "rule"] = [
        "+".join(r for r in rule.split("+") if r not in fields) for rule in links.loc[hit, "rule"]
    ]
    return links.loc[links["rule"] != ""].reset_index(drop=True)


def _with_pairs(links: pd.DataFrame, pairs: pd.DataFrame) -> pd.DataFrame:
    """`links` plus the pair links (rid_l, rid_r, rule) of shared identifiers, rules joined per pair."""
    if pairs.empty:
        return links
    width = np.int64(max(int(links["rid_r"].max()) if len(links) else 0, int(pairs["rid_r"].max())) + 1)
    code = links["rid_l"].to_numpy(np.int64) * width + links["rid_r"].to_numpy(np.int64)
    new_code = pairs["rid_l"].to_numpy(np.int64) * width + pairs["rid_r"].to_numpy(np.int64)
    both = np.isin(code, new_code)
    rules: dict[int, set[str]] = {}
    for c, rule in zip(code[both].tolist(), links.loc[both, "rule"].astype(str).tolist(), strict=True):
        rules.setdefault(c, set()).update(rule.split("+"))
    for c, rule in zip(new_code.tolist(), pairs["rule"].astype(str).tolist(), strict=True):
        rules.setdefault(c, set()).add(rule)
    keys = np.fromiter(rules.keys(), dtype=np.int64, count=len(rules))
    joined = pd.DataFrame(
        {
            "rid_l": keys // width,
            "rid_r": keys % width,
            "rule": ["+".join(sorted(r)) for r in rules.values()],
        }
    )
    out = pd.concat([links.loc[~both], joined], ignore_index=True)
    return out.sort_values(["rid_l", "rid_r"], kind="stable").reset_index(drop=True)


def _value_pairs(df: pd.DataFrame, col: str, values: set[str]) -> pd.DataFrame:
    """Every pair (rid_l < rid_r) of records holding one of `values` in `col`."""
    vals = df[col]
    ok = (vals.notna() & vals.astype(str).isin(values)).to_numpy()
    sub = pd.DataFrame({"rid": df["rid"].to_numpy()[ok], "value": vals[ok].astype(str).to_numpy()})
    pairs = sub.merge(sub, on="value", suffixes=("_l", "_r"))
    return pairs[pairs["rid_l"].to_numpy() < pairs["rid_r"].to_numpy()]


def _several_people(
    df: pd.DataFrame, col: str, values: pd.Index, conflicts: dict[str, np.ndarray]
) -> set[str]:
    """Of `values` (of identifier column `col`), those whose records may be several people: two person
    signatures, or two values of a conflict field (two birth dates, two suffixes). Only their pairs are
    judged; a value all of whose records agree keeps its link untested."""
    ok = df[col].notna().to_numpy() & df[col].astype(str).isin(set(values)).to_numpy()
    if not ok.any():
        return set()
    rows = df.loc[ok]
    keys = {"sig": person_signature(rows).to_numpy(object)}
    keys |= {f: v[ok] for f, v in conflicts.items()}
    sub = pd.DataFrame({"value": rows[col].astype(str).to_numpy(), **keys})
    distinct = sub.groupby("value").nunique(dropna=True)
    return set(distinct.index[(distinct > 1).any(axis=1).to_numpy()])


def _candidate_pairs(
    df: pd.DataFrame, settings: IdentitySettings, refused: pd.DataFrame, household: frozenset[str]
) -> tuple[pd.DataFrame, list[dict]]:
    """The pairs to judge (value, field, crowded, shared, prior bits) and the shared values too large to
    pair; of the identifiers in `household`, the pairs of the values whose records may be several people."""
    frames, too_large = [], []
    conflicts: dict[str, np.ndarray] | None = None
    for ident in settings.identifiers:
        col = f"{ident.field}__id"
        if not ident.enabled or col not in df:
            continue
        mine = refused[refused["field"] == ident.field]
        crowded = mine.loc[(mine["reason"] == "cardinality") & (mine["records"] <= EVIDENCE_MAX_RECORDS)]
        wanted = set(crowded["value"])
        counts = df[col].dropna().astype(str).value_counts()
        fresh = counts[~counts.index.isin(set(mine["value"]))]
        paired = fresh[(fresh >= 2) & (fresh <= EVIDENCE_MAX_RECORDS)].index
        if ident.is_shared:
            wanted |= set(paired)
            for value, n in fresh[fresh > EVIDENCE_MAX_RECORDS].items():
                too_large.append(
                    {
                        "field": ident.field,
                        "value": value,
                        "reason": "shared_crowded",
                        "records": n,
                        "people": 0,
                    }
                )
        elif ident.field in household and len(paired):
            conflicts = conflict_values(df, settings) if conflicts is None else conflicts
            wanted |= _several_people(df, col, paired, conflicts)
        if not wanted:
            continue
        pairs = _value_pairs(df, col, wanted)
        p = ident.shared_match_probability
        frames.append(
            pairs.assign(
                field=ident.field,
                crowded=pairs["value"].isin(set(crowded["value"])).to_numpy(),
                shared=ident.is_shared,
                prior_bits=math.log2(p / (1 - p)),
            )
        )
    if not frames:
        return pd.DataFrame(), too_large
    return pd.concat(frames, ignore_index=True), too_large


def shared_links(
    df: pd.DataFrame,
    settings: IdentitySettings,
    links: pd.DataFrame,
    refused: pd.DataFrame,
    verdicts: Verdicts,
    household: frozenset[str] = frozenset(),
) -> SharedOutcome:
    """`deterministic_links`' output over `df` (`links`, `refused`) with the shared identifiers' stars
    replaced by the pairs their records' own comparisons allow, and every other pair of a shared or crowded
    value kept as evidence (see the module docstring). `verdicts` scores pairs of `df`'s rids.

    `household`: identifiers not shared by nature that the data shows a household's members share (a
    landline: `household_identifiers`). A value of one keeps its star unless its records show several
    people; then its pairs are evidence, as a shared value's are."""
    shared = {
        i.field for i in settings.identifiers if i.enabled and i.is_shared and f"{i.field}__id" in df.columns
    }
    links = _strip(links, shared)
    pairs, too_large = _candidate_pairs(df, settings, refused, household)
    if too_large:
        refused = pd.concat([refused, pd.DataFrame(too_large)], ignore_index=True)
    if pairs.empty:
        return SharedOutcome(links, _sorted(refused), _empty_pairs("refusal"))
    uniq = pairs[["rid_l", "rid_r"]].drop_duplicates().reset_index(drop=True)
    verdict = verdicts(uniq["rid_l"].to_numpy(np.int64), uniq["rid_r"].to_numpy(np.int64))
    pairs = pairs.merge(pd.concat([uniq, verdict], axis=1), on=["rid_l", "rid_r"])

    n_conf, bits = pairs["n_conflicts"].to_numpy(), pairs["bits"].to_numpy()
    against = bits < 0
    crowded = pairs["crowded"].to_numpy()
    is_shared = pairs["shared"].to_numpy(dtype=bool)
    weak = pairs["weight"].to_numpy() < threshold_weight(settings.conflict_match_probability)
    contradicts = (n_conf >= 2) | ((n_conf == 1) & weak) | against
    key = pairs["field"] + "\x00" + pairs["value"]
    demoted = key.isin(set(key[contradicts & ~crowded])).to_numpy() & ~crowded
    odds = pairs["prior_bits"].to_numpy() + bits
    enough = odds >= threshold_weight(settings.match_threshold)
    link = ~crowded & ~demoted & enough & is_shared
    kept = ~is_shared & ~demoted & ~crowded
    links = _strip_values(links, df, pairs.loc[~is_shared & demoted, ["field", "value"]])

    field = pairs["field"].to_numpy(object)
    why = np.where(
        n_conf >= 2,
        pairs["conflicts"] + " differ",
        np.where(
            n_conf == 1, pairs["conflicts"] + " differs", "its comparison weighs " + _bits(bits) + " bits"
        ),
    )
    posterior = pd.Series(1.0 / (1.0 + np.power(2.0, -odds))).map("{:.2f}".format).to_numpy(object)
    refusal = np.where(
        crowded,
        field + " seen with more people than max_people",
        np.where(is_shared, "shared " + field, field)
        + ": "
        + np.where(
            demoted & contradicts,
            why,
            np.where(
                demoted,
                "its other records show several people",
                "too little else agrees (p=" + posterior + ")",
            ),
        ),
    )
    linked = pairs.loc[link, ["rid_l", "rid_r", "field"]].rename(columns={"field": "rule"})
    links = _with_pairs(links, linked)
    judged = ~link & ~kept
    evidence = _evidence(pairs.loc[judged].assign(refusal=refusal[judged]))
    rows = [_conflict_rows(df, pairs.loc[demoted & is_shared], "shared_conflict")]
    rows.append(_conflict_rows(df, pairs.loc[demoted & ~is_shared], "several_people"))
    return SharedOutcome(links, _sorted(pd.concat([refused, *rows], ignore_index=True)), evidence)


def _strip_values(links: pd.DataFrame, df: pd.DataFrame, values: pd.DataFrame) -> pd.DataFrame:
    """The star links without the stars of the given (field, value) pairs (`deterministic_links` joins a
    value's records to its smallest rid); a pair left with no identifier is dropped."""
    values = values.drop_duplicates()
    if values.empty or links.empty:
        return links
    stars = []
    for field, group in values.groupby("field", sort=False):
        col = df[f"{field}__id"]
        ok = (col.notna() & col.astype(str).isin(set(group["value"]))).to_numpy()
        held = pd.DataFrame({"rid": df["rid"].to_numpy()[ok], "value": col[ok].astype(str).to_numpy()})
        hub = held.groupby("value")["rid"].transform("min").to_numpy()
        spoke = held["rid"].to_numpy() != hub
        stars.append(pd.DataFrame({"rid_l": hub[spoke], "rid_r": held["rid"].to_numpy()[spoke], "f": field}))
    star = pd.concat(stars, ignore_index=True)
    gone = star.groupby(["rid_l", "rid_r"])["f"].agg(set)
    at = pd.MultiIndex.from_arrays([links["rid_l"].to_numpy(np.int64), links["rid_r"].to_numpy(np.int64)])
    drop = gone.reindex(at).to_numpy(object)
    hit = pd.notna(drop)
    if not hit.any():
        return links
    out = links.copy()
    out.loc[hit, "rule"] = [
        "+".join(r for r in str(rule).split("+") if r not in fields)
        for rule, fields in zip(out.loc[hit, "rule"], drop[hit], strict=True)
    ]
    return out.loc[out["rule"] != ""].reset_index(drop=True)


def _bits(bits: np.ndarray) -> np.ndarray:
    return pd.Series(bits).map("{:+.1f}".format).to_numpy(object)


def _sorted(refused: pd.DataFrame) -> pd.DataFrame:
    return refused.sort_values(["field", "value"]).reset_index(drop=True)


def _evidence(pairs: pd.DataFrame) -> pd.DataFrame:
    """One row per pair: the identifiers it shares '+'-joined, the first reason (in identifier order)."""
    if pairs.empty:
        return _empty_pairs("refusal")
    pairs = pairs.sort_values(["rid_l", "rid_r", "field"], kind="stable")
    out = pairs.groupby(["rid_l", "rid_r"], sort=True).agg(
        rule=("field", lambda f: "+".join(dict.fromkeys(f))), refusal=("refusal", "first")
    )
    out = out.reset_index()
    return out.astype({"rid_l": np.int64, "rid_r": np.int64})


def _conflict_rows(df: pd.DataFrame, bad: pd.DataFrame, reason: str) -> pd.DataFrame:
    """Refused-value rows for the shared values that show several people (people: distinct name sounds)."""
    cols = ["field", "value", "reason", "records", "people"]
    if bad.empty:
        return pd.DataFrame(columns=cols)
    held = pd.concat(
        [bad[["field", "value", s]].rename(columns={s: "rid"}) for s in ("rid_l", "rid_r")]
    ).drop_duplicates()
    rows = df.loc[df["rid"].isin(set(held["rid"])).to_numpy()]
    signature = pd.Series(person_signature(rows).to_numpy(), index=rows["rid"].to_numpy())
    held["sig"] = signature.reindex(held["rid"].to_numpy()).to_numpy()
    per_value = held.groupby(["field", "value"]).agg(records=("rid", "size"), people=("sig", "nunique"))
    return per_value.reset_index().assign(reason=reason)[cols]


def kept_evidence(old: pd.DataFrame, carriers: dict[str, pa.Array], fresh: pd.DataFrame) -> pd.DataFrame:
    """An incremental run's evidence pairs by record key: last run's (`old`, rows of the links table), less
    the identifiers whose values this run judges again (`carriers`, as `kept_deterministic` takes them), with
    this run's (`fresh`); one row per key pair, its identifiers '+'-joined."""
    cols = ["record_key_l", "record_key_r", "rule", "refusal"]
    rows = old[["record_key_l", "record_key_r", "rule", "reason"]].rename(columns={"reason": "refusal"})
    rows = rows.assign(rule=rows["rule"].astype(str).str.split("+")).explode("rule", ignore_index=True)
    drop = np.zeros(len(rows), dtype=bool)
    for col, keys in carriers.items():
        mine = (rows["rule"] == col.removesuffix("__id")).to_numpy()
        if mine.any():
            pool = set(keys.to_pylist())
            drop |= mine & (rows["record_key_l"].isin(pool) | rows["record_key_r"].isin(pool)).to_numpy()
    new = fresh[cols].assign(rule=fresh["rule"].astype(str).str.split("+")).explode("rule", ignore_index=True)
    both = pd.concat([rows.loc[~drop, cols], new], ignore_index=True)
    if both.empty:
        return pd.DataFrame({c: pd.Series([], dtype=object) for c in cols})
    both = both.sort_values(["record_key_l", "record_key_r", "rule"], kind="stable")
    out = both.groupby(["record_key_l", "record_key_r"], sort=True).agg(
        rule=("rule", lambda f: "+".join(dict.fromkeys(f))), refusal=("refusal", "first")
    )
    return out.reset_index()
