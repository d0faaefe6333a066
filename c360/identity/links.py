"""The first stage of a run: the links among records, each with its comparison levels and match weight.

Three kinds. `probabilistic`: a candidate pair of a blocking rule whose match weight clears the threshold.
`deterministic`: records sharing an identifier value (`c360.identity.deterministic`; shared identifiers are
judged pair by pair, `c360.identity.shared`). `evidence`: the other pairs of a demoted shared or crowded
value, kept with why they did not link. A full run finds them over every record; an incremental run over the
neighbourhood of its new records, and adds the links it keeps (`c360.identity.incremental`).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import pandas as pd
import pyarrow as pa

from c360.identity.compare import (
    FULL_NAME,
    FULL_NAME_TF,
    GENERATION_COLUMNS,
    NAMESAKE,
    comparison_columns,
    comparison_vectors,
    random_pairs,
)
from c360.identity.config import IdentitySettings
from c360.identity.deterministic import deterministic_links
from c360.identity.model import FSModel, term_frequencies, threshold_weight, train_model
from c360.identity.name_frequency import applies, record_ratios
from c360.identity.namesakes import namesake_records
from c360.identity.shared import SharedOutcome, household_identifiers, pair_verdicts, shared_links


class LinkParts(NamedTuple):
    """A run's links by kind, before the deterministic and evidence pairs are scored. Each row names its
    records by key (record_key_l < record_key_r) and, once the records are numbered, by rid."""

    deterministic: pd.DataFrame
    """rule: the identifiers the two records share, '+'-joined."""
    evidence: pd.DataFrame
    """rule as above; refusal: why the pair does not link through them."""
    probabilistic: pd.DataFrame
    """Scored candidate pairs: rule (the blocking rule's label), comparison levels, weight."""


class LearnedModel(NamedTuple):
    model: FSModel
    links: pa.Table
    """The candidate pairs whose weight under the new model clears the match threshold, with that weight."""


def comparable_records(
    prepared: pd.DataFrame,
    settings: IdentitySettings,
    model: FSModel | None,
    tf: dict[str, dict[str, float]] | None = None,
) -> pa.Table:
    """The columns the comparisons read, as Arrow. Adds the term-frequency columns (and the full name's
    dependence ratio) to `prepared`: from the model's, or (no model yet: it is learned from these records)
    from the records' own, `tf` where the caller has them (`term_frequencies`)."""
    if model is None and tf is None:
        tf = term_frequencies(prepared, settings)
    for c in settings.comparisons:
        if c.tf_adjustment:
            helper = model or FSModel([], {}, {}, {}, 0.5, len(prepared), tf=tf or {})
            prepared[f"{c.field}__tf"] = helper.tf_of(c.field, prepared[c.field]).to_numpy()
    if applies(settings):
        ratios = (tf or {}).get(FULL_NAME, {}) if model is None else model.tf.get(FULL_NAME, {})
        prepared[FULL_NAME_TF] = record_ratios(prepared, ratios)
    columns = comparison_columns(settings)
    if set(GENERATION_COLUMNS) <= set(columns):
        prepared[NAMESAKE] = namesake_records(prepared)
    columns += [c for c in (FULL_NAME_TF, NAMESAKE) if c in prepared]
    return pa.Table.from_pandas(prepared[columns], preserve_index=False)


def learned_model(
    candidates: pa.Table,
    records: pa.Table,
    prepared: pd.DataFrame,
    settings: IdentitySettings,
    tf: dict[str, dict[str, float]] | None = None,
) -> LearnedModel:
    """The Fellegi-Sunter model learned from every candidate pair (m) and random pairs (u), and the
    candidates it accepts: a run that learns scores its candidates before it has a model to filter them.
    `tf`: the records' term frequencies, where `comparable_records` was given them."""
    cand = candidates.to_pandas()
    rnd = comparison_vectors(
        records, random_pairs(len(prepared), settings.em.u_sample_pairs, settings.em.seed), settings
    )
    model = train_model(cand, rnd.to_pandas(), prepared, settings, tf)
    w = model.match_weight(cand)
    ok = w >= threshold_weight(settings.match_threshold)
    return LearnedModel(
        model, candidates.filter(pa.array(ok)).append_column("weight", pa.array(w[ok], pa.float64()))
    )


def probabilistic_links(scored: pa.Table, keys: np.ndarray, settings: IdentitySettings) -> pd.DataFrame:
    """Scored candidate pairs (by rid over `keys`) with their kind, their rule's label and their keys."""
    prob = scored.to_pandas()
    prob["kind"] = "probabilistic"
    prob["rule"] = prob["rule"].map(lambda r: settings.blocking_rules[int(r)].label)
    prob["record_key_l"] = keys[prob["rid_l"].to_numpy()]
    prob["record_key_r"] = keys[prob["rid_r"].to_numpy()]
    return prob


def identifier_links(
    frame: pd.DataFrame, records: pa.Table, model: FSModel, settings: IdentitySettings
) -> SharedOutcome:
    """The deterministic links and evidence pairs over `frame` (numbered by rid, `records` its comparison
    columns), with their record keys; and the identifier values refused for linking."""
    det, refused = deterministic_links(frame, settings)
    judge = pair_verdicts(records, model, settings)
    out = shared_links(frame, settings, det, refused, judge, household_identifiers(model, settings))
    keys = frame["record_key"].to_numpy()
    return SharedOutcome(_keyed(out.links, keys), out.refused, _keyed(out.evidence, keys))


def numbered(parts: LinkParts, index: pd.Index) -> LinkParts:
    """The links with the rids of their records in `index` (record keys in rid order); -1 for a record
    `index` does not hold."""
    return LinkParts(
        *(
            p.assign(rid_l=index.get_indexer(p["record_key_l"]), rid_r=index.get_indexer(p["record_key_r"]))
            for p in parts
        )
    )


def link_table(
    parts: LinkParts, records: pa.Table, model: FSModel, settings: IdentitySettings
) -> pd.DataFrame:
    """Every link among `records` as one frame (rid_l, rid_r, kind, rule, levels, weight, keys), the
    deterministic and evidence pairs scored like candidates, ordered by rid pair and kind."""
    det = pd.concat(
        [
            scored_pairs(parts.deterministic, records, model, settings, "deterministic"),
            scored_pairs(parts.evidence, records, model, settings, "evidence"),
        ],
        ignore_index=True,
    )
    links = pd.concat([det, parts.probabilistic], ignore_index=True)
    return links.sort_values(["rid_l", "rid_r", "kind"], kind="stable").reset_index(drop=True)


def scored_pairs(
    pairs: pd.DataFrame, records: pa.Table, model: FSModel, settings: IdentitySettings, kind: str
) -> pd.DataFrame:
    """Pairs (rid_l, rid_r, ...) with their comparison levels, match weight and `kind`: a deterministic link
    is weighed too, so the clustering can order it and the links table can show it."""
    pairs_only = pairs[["rid_l", "rid_r"]].assign(rule=np.int8(-1), rules_mask=np.int32(0))
    table = pa.Table.from_pandas(pairs_only, preserve_index=False)
    g = comparison_vectors(records, table, settings, threads=None).to_pandas().drop(columns=["rule"])
    out = pairs.merge(g, on=["rid_l", "rid_r"], how="left")
    out["weight"] = model.match_weight(out) if len(out) else np.zeros(0)
    out["kind"] = kind
    return out


def _keyed(pairs: pd.DataFrame, keys: np.ndarray) -> pd.DataFrame:
    return pairs.assign(
        record_key_l=keys[pairs["rid_l"].to_numpy()], record_key_r=keys[pairs["rid_r"].to_numpy()]
    )
