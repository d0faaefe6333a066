"""Fellegi-Sunter: m and u per comparison level, learned without labels; match weights in bits.

u (the chance two different people agree at a level) comes from random record pairs, where almost every pair
is a non-match. m (the chance one person's two records agree at a level) comes from EM over candidate
pairs, once per blocking rule with the fields that rule blocks on left out (inside a block they agree by
construction, which says nothing about matches), then averaged. Term frequencies turn an exact agreement on a
rare surname into more evidence than one on a common surname.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import pyarrow as pa

from c360.identity.compare import FAMILY_NAME, FULL_NAME, GIVEN_NAME, gamma_name
from c360.identity.config import (
    ComparisonSettings,
    IdentitySettings,
    comparison_level_names,
    parse_blocking_key,
)
from c360.identity.estimate import HOUSEHOLD, HOUSEHOLD_BITS, HOUSEHOLD_FIELDS, estimate_settings
from c360.identity.name_frequency import dependence, full_name_bits

_EPS = 1e-6


@dataclass
class FSModel:
    """Learned parameters; immutable between trainings so incremental and full runs score alike."""

    fields: list[str]
    levels: dict[str, list[str]]
    m: dict[str, list[float]]
    u: dict[str, list[float]]
    prior: float
    """Probability that two random records are the same person."""
    n_records: int
    tf: dict[str, dict[str, float]] = field(default_factory=dict)
    """field -> value -> share of records with that value (tf-adjusted fields only); `FULL_NAME` -> full
    name -> its dependence ratio (`c360.identity.name_frequency`)."""
    em_iterations: dict[str, int] = field(default_factory=dict)
    estimated: dict[str, float | str] = field(default_factory=dict)
    """Settings the data decided when the model was learned (`c360.identity.estimate`), kept with it so an
    incremental run and `c360 identity explain` apply what the full run chose."""

    # ---------------------------------------------------------------- weights

    def level_weights(self, name: str) -> np.ndarray:
        """log2(m/u) per level, with one extra trailing slot (index -1) of 0 for missing values."""
        m, u = np.asarray(self.m[name]), np.asarray(self.u[name])
        w = np.log2(np.clip(m, _EPS, 1) / np.clip(u, _EPS, 1))
        return np.append(w, 0.0)

    @property
    def prior_weight(self) -> float:
        p = min(max(self.prior, 1e-12), 1 - 1e-12)
        return math.log2(p / (1 - p))

    def tf_of(self, name: str, values: pd.Series) -> pd.Series:
        table = self.tf.get(name, {})
        floor = 1.0 / max(self.n_records, 1)
        return values.map(table, na_action="ignore").astype(float).fillna(floor).where(values.notna(), np.nan)

    def tf_adjustment(self, name: str, gamma: np.ndarray, tf: np.ndarray) -> np.ndarray:
        """Extra bits for an exact agreement: log2(u_exact / tf(value)), zero at every other level."""
        u_exact = max(self.u[name][0], _EPS)
        tf = np.clip(np.nan_to_num(tf, nan=u_exact), 1.0 / max(self.n_records, 1), 1.0)
        adj = np.log2(u_exact / tf)
        return np.where(gamma == 0, adj, 0.0)

    def field_weights(self, gammas: pa.Table | pd.DataFrame) -> pd.DataFrame:
        """Bits contributed by each comparison for each pair (tf adjustment included); where the data holds
        households, the `household` correction of pairs agreeing exactly on what a household shares; where
        names depend on the country, the `full_name` correction of pairs agreeing exactly on both names."""
        df = gammas if isinstance(gammas, pd.DataFrame) else gammas.to_pandas()
        out = {}
        for name in self.fields:
            g = df[f"g_{name}"].to_numpy().astype(np.int64)
            w = self.level_weights(name)[g]  # -1 indexes the trailing 0
            if name in self.tf and f"tf_{name}" in df:
                w = w + self.tf_adjustment(name, g, df[f"tf_{name}"].to_numpy(dtype=float))
            out[name] = w
        fields, bits = self.household_correction()
        if fields and all(f"g_{f}" in df for f in fields):
            same = np.logical_and.reduce([df[f"g_{f}"].to_numpy() == 0 for f in fields])
            correction = np.where(same, -bits, 0.0)
            for name in self.fields:
                extra = float(self.estimated.get(f"{HOUSEHOLD}_{name}", 0.0))
                if extra > 0 and f"g_{name}" in df:
                    correction -= np.where(same & (df[f"g_{name}"].to_numpy() == 0), extra, 0.0)
            out[HOUSEHOLD] = correction
        names = [f"g_{GIVEN_NAME}", f"g_{FAMILY_NAME}", f"tf_{FULL_NAME}"]
        if self.tf.get(FULL_NAME) and all(c in df for c in names):
            out[FULL_NAME] = full_name_bits(*(df[c].to_numpy() for c in names))
        return pd.DataFrame(out, index=df.index)

    def household_correction(self) -> tuple[list[str], float]:
        """The comparisons a household shares and the bits their joint exact agreement is overstated by
        (`c360.identity.estimate`); no fields where the data holds no look-alikes. `household_<field>` in
        `estimated`: the further bits by which a field's exact agreement is overstated within a household."""
        bits = float(self.estimated.get(HOUSEHOLD_BITS, 0.0))
        fields = str(self.estimated.get(HOUSEHOLD_FIELDS, ""))
        return ([f for f in fields.split("+") if f] if bits > 0 else []), bits

    def match_weight(self, gammas: pa.Table | pd.DataFrame) -> np.ndarray:
        return self.prior_weight + self.field_weights(gammas).sum(axis=1).to_numpy()

    # ---------------------------------------------------------------- persistence

    def to_json(self) -> str:
        return json.dumps(
            {
                "fields": self.fields,
                "levels": self.levels,
                "m": self.m,
                "u": self.u,
                "prior": self.prior,
                "n_records": self.n_records,
                "em_iterations": self.em_iterations,
                "estimated": self.estimated,
                "tf_fields": sorted(self.tf),
            },
            indent=1,
        )

    def tf_table(self) -> pa.Table:
        rows = [(f, v, t) for f, vals in self.tf.items() for v, t in vals.items()]
        return pa.table(
            {
                "field": pa.array([r[0] for r in rows], pa.string()),
                "value": pa.array([r[1] for r in rows], pa.string()),
                "tf": pa.array([r[2] for r in rows], pa.float64()),
            }
        )

    @classmethod
    def from_json(cls, text: str, tf: pa.Table | None = None) -> FSModel:
        d = json.loads(text)
        tf_map: dict[str, dict[str, float]] = {f: {} for f in d.get("tf_fields", [])}
        if tf is not None and tf.num_rows:
            tdf = tf.to_pandas()
            for f, grp in tdf.groupby("field"):
                tf_map[str(f)] = dict(zip(grp["value"], grp["tf"], strict=True))
        return cls(
            fields=d["fields"],
            levels=d["levels"],
            m=d["m"],
            u=d["u"],
            prior=d["prior"],
            n_records=d["n_records"],
            tf=tf_map,
            em_iterations=d.get("em_iterations", {}),
            estimated=d.get("estimated", {}),
        )


# -------------------------------------------------------------------------------------------- estimation


def term_frequencies(df: pd.DataFrame, settings: IdentitySettings) -> dict[str, dict[str, float]]:
    out = {}
    for c in settings.comparisons:
        if c.tf_adjustment:
            counts = df[c.field].dropna().value_counts()
            out[c.field] = (counts / max(counts.sum(), 1)).to_dict() if len(counts) else {}
    ratios = dependence(df, settings)
    if ratios:
        out[FULL_NAME] = ratios
    return out


def estimate_u(random_gammas: pd.DataFrame, settings: IdentitySettings) -> dict[str, list[float]]:
    """Level shares among random pairs (non-null only), smoothed so no level has probability zero."""
    u = {}
    for c in settings.comparisons:
        n_levels = len(comparison_level_names(c))
        g = random_gammas[gamma_name(c)].to_numpy()
        g = g[g >= 0]
        counts = np.bincount(g.astype(np.int64), minlength=n_levels)[:n_levels].astype(float)
        counts = counts + 1.0 / n_levels  # add-one smoothing spread over the levels
        u[c.field] = (counts / counts.sum()).tolist()
    return u


def _initial_m(n_levels: int) -> np.ndarray:
    """A starting guess: most matches agree exactly, a few fuzzily, very few disagree."""
    m = np.array([0.9] + [0.05 / max(n_levels - 2, 1)] * (n_levels - 2) + [0.05])
    return m / m.sum()


def pattern_counts(gammas: pd.DataFrame, names: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """Distinct comparison vectors with their counts (EM then runs over a few thousand rows, not millions)."""
    if gammas.empty:
        return np.zeros((0, len(names)), dtype=np.int8), np.zeros(0)
    g = gammas[names].to_numpy(dtype=np.int64) + 1  # -1..14 -> 0..15, four bits each (up to 15 comparisons)
    codes = np.zeros(len(g), dtype=np.int64)
    for j in range(g.shape[1]):
        codes |= g[:, j] << (4 * j)
    uniq, counts = np.unique(codes, return_counts=True)
    pats = np.stack([((uniq >> (4 * j)) & 15) - 1 for j in range(len(names))], axis=1).astype(np.int8)
    return pats, counts.astype(float)


def em(
    patterns: np.ndarray,
    counts: np.ndarray,
    m: list[np.ndarray],
    u: list[np.ndarray],
    lam: float,
    train: list[bool],
    max_iterations: int,
    tolerance: float,
) -> tuple[list[np.ndarray], float, int]:
    """EM with u fixed: m (only the `train` comparisons move), the match share lambda, the iterations."""
    m = [mi.copy() for mi in m]
    it = 0
    if patterns.shape[0] == 0 or counts.sum() == 0:
        return m, lam, it
    for it in range(1, max_iterations + 1):  # noqa: B007 - the count is returned
        log_m = np.full(len(counts), math.log(max(lam, _EPS)))
        log_u = np.full(len(counts), math.log(max(1 - lam, _EPS)))
        for j in range(patterns.shape[1]):
            g = patterns[:, j].astype(np.int64)
            ok = g >= 0
            log_m[ok] += np.log(np.clip(m[j][g[ok]], _EPS, 1))
            log_u[ok] += np.log(np.clip(u[j][g[ok]], _EPS, 1))
        post = 1.0 / (1.0 + np.exp(np.clip(log_u - log_m, -700, 700)))
        wc = post * counts
        new_lam = float(wc.sum() / counts.sum())
        delta = abs(new_lam - lam)
        for j in range(patterns.shape[1]):
            if not train[j]:
                continue
            g = patterns[:, j].astype(np.int64)
            ok = g >= 0
            tot = np.bincount(g[ok], weights=wc[ok], minlength=len(m[j]))[: len(m[j])]
            if tot.sum() <= 0:
                continue
            new_m = (tot + _EPS) / (tot + _EPS).sum()
            delta = max(delta, float(np.abs(new_m - m[j]).max()))
            m[j] = new_m
        lam = min(max(new_lam, _EPS), 1 - _EPS)
        if delta < tolerance:
            break
    return m, lam, it


def _median_m(
    estimates: list[np.ndarray], seen: list[np.ndarray], min_seen: int = 10, min_share: float = 0.25
) -> np.ndarray:
    """Per level, the median over the rules whose candidates show that level often enough to speak for it.

    A rule's blocks can hide a level altogether: a newsletter sign-up (postcode, no street, no birth date) is
    never in a block keyed on birth date, so those rules see no "postcode agrees, street unknown" pair and
    put its m at zero. Rules that never saw a level say nothing about it and are left out of its median.

    A rule can also nearly hide a level. A social profile gives a city but no street and no birth date, so
    "city agrees, street unknown" is 2% of the pairs blocked on names and 0.2% of those blocked on birth
    dates, whose few such pairs are shop accounts without a street. Each rule's m describes the matches its
    blocks hold, so a level's median takes only the rules that show it at least `min_share` as often (as a
    share of their pairs) as the rule showing it most. The last level, "different", keeps every rule: a
    rule full of look-alikes (one household shares a surname and an address) shows it most, and is the one
    the median must outvote.
    """
    stack = np.stack(estimates)
    counts = np.stack(seen)
    share = counts / np.maximum(counts.sum(axis=1, keepdims=True), 1.0)
    med = np.median(stack, axis=0)
    last = stack.shape[1] - 1
    for level in range(stack.shape[1]):
        ok = counts[:, level] >= min_seen
        if not ok.any():
            continue
        if level != last:
            ok &= share[:, level] >= min_share * share[ok, level].max()
        med[level] = np.median(stack[ok, level])
    med = med + _EPS
    return med / med.sum()


def comparison_fields(c: ComparisonSettings) -> set[str]:
    """The record fields a comparison reads (an address reads street, postcode and city)."""
    return {"street", "postcode", "city"} if c.method == "address" else {c.field}


def rule_fields(settings: IdentitySettings) -> list[set[str]]:
    return [{parse_blocking_key(k)[1] for k in rule.keys} for rule in settings.blocking_rules]


def train_model(
    candidates: pd.DataFrame,
    random_gammas: pd.DataFrame,
    records: pd.DataFrame,
    settings: IdentitySettings,
    tf: dict[str, dict[str, float]] | None = None,
) -> FSModel:
    """u from random pairs, m by EM per blocking rule, the prior from the expected number of matches, and
    the settings left to the data (`c360.identity.estimate`); `tf`, the records' `term_frequencies` where the
    caller has them."""
    comps = settings.comparisons
    names = [gamma_name(c) for c in comps]
    n_levels = [len(comparison_level_names(c)) for c in comps]
    u_map = estimate_u(random_gammas, settings)
    u = [np.asarray(u_map[c.field]) for c in comps]
    estimates: list[list[np.ndarray]] = [[] for _ in comps]
    seen: list[list[np.ndarray]] = [[] for _ in comps]
    iterations: dict[str, int] = {}
    blocked = rule_fields(settings)
    mask = (
        candidates["rules_mask"].to_numpy() if "rules_mask" in candidates else np.zeros(len(candidates), int)
    )
    for r, used in enumerate(blocked):
        sel = (mask >> r) & 1 == 1
        if sel.sum() < 10:
            continue
        # Comparisons on the rule's own fields agree by construction inside its blocks: they are left out of
        # the likelihood altogether (not only out of the update), as Splink does.
        train_idx = [j for j, c in enumerate(comps) if not (comparison_fields(c) & used)]
        if not train_idx:
            continue
        pats, cnt = pattern_counts(candidates.loc[sel], [names[j] for j in train_idx])
        m0 = [_initial_m(n_levels[j]) for j in train_idx]
        u_r = [u[j] for j in train_idx]
        m_r, _, its = em(
            pats,
            cnt,
            m0,
            u_r,
            0.3,
            [True] * len(train_idx),
            settings.em.max_iterations,
            settings.em.tolerance,
        )
        iterations[settings.blocking_rules[r].label] = its
        for k, j in enumerate(train_idx):
            estimates[j].append(m_r[k])
            g = pats[:, k].astype(np.int64)
            seen[j].append(np.bincount(g[g >= 0], weights=cnt[g >= 0], minlength=n_levels[j])[: n_levels[j]])
    # The median over rules, not the mean: a rule whose blocks are full of look-alikes (one household shares a
    # surname and an address) teaches EM that people "match" with different first names; the other rules
    # outvote it.
    m = [
        _median_m(estimates[j], seen[j]) if estimates[j] else _initial_m(n_levels[j])
        for j in range(len(comps))
    ]
    # The share of matches among all candidates, with m and u fixed, gives the expected number of matches.
    pats, cnt = pattern_counts(candidates, names)
    _, lam, _ = em(
        pats, cnt, m, u, 0.3, [False] * len(comps), settings.em.max_iterations, settings.em.tolerance
    )
    n = len(records)
    total_pairs = max(n * (n - 1) / 2, 1.0)
    expected_matches = max(lam * float(cnt.sum()), 1.0)
    prior = min(expected_matches / total_pairs, 0.5)
    model = FSModel(
        fields=[c.field for c in comps],
        levels={c.field: comparison_level_names(c) for c in comps},
        m={c.field: m[j].tolist() for j, c in enumerate(comps)},
        u={c.field: u[j].tolist() for j, c in enumerate(comps)},
        prior=prior,
        n_records=n,
        tf=tf if tf is not None else term_frequencies(records, settings),
        em_iterations=iterations,
    )
    model.estimated = estimate_settings(candidates, model, settings, expected_matches)
    return model


def threshold_weight(probability: float) -> float:
    return math.log2(probability / (1 - probability))
