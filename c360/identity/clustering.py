"""The second stage of a run: the records it clusters, with the links among them, become clusters.

A run hands over `LinkedRecords`: every record in a full run; in an incremental run the stored components
that something new can have changed (`c360.identity.incremental`). The evidence rule decides which links
take part, `c360.identity.cluster` builds the clusters (components, conflicts, corrections, size), and each
record's component is labelled so that a later incremental run knows what to cluster again.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
import pandas as pd
import pyarrow as pa

from c360.identity.cluster import _components, cluster_records, conflict_values
from c360.identity.compare import comparison_vectors
from c360.identity.config import IdentitySettings
from c360.identity.deterministic import DETERMINISTIC_WEIGHT
from c360.identity.model import FSModel, threshold_weight


@dataclass(frozen=True)
class LinkedRecords:
    """The records a run clusters, numbered 0..n-1 in record-key order, and every link among them."""

    raw: pd.DataFrame
    """The latest standardized rows (original values), row for row with `prepared`."""
    prepared: pd.DataFrame
    """The normalized rows: identifiers, comparison and conflict columns, `record_key`."""
    comparable: pa.Table
    """The comparison columns by rid (`c360.identity.links.comparable_records`)."""
    links: pd.DataFrame
    """rid_l, rid_r, kind, rule, weight, comparison levels (`c360.identity.links.link_table`)."""

    @property
    def keys(self) -> np.ndarray:
        return self.prepared["record_key"].to_numpy()


class RidCorrections(NamedTuple):
    """Operator corrections over the records' rids (`c360.identity.corrections.correction_groups`)."""

    must: list[list[int]]
    cannot: list[tuple[list[int], list[int]]]
    touched: dict[int, str]
    """rid -> the id of the correction that names it."""


@dataclass(frozen=True)
class Clustering:
    labels: np.ndarray
    """Per rid: the smallest rid of its cluster."""
    components: np.ndarray
    """Per rid: its component's 64-bit label (`component_labels`)."""
    links: pd.DataFrame
    """Every link, its weight a float."""
    clustered: np.ndarray
    """Over `links`: the links the clustering took (all but evidence below the match threshold)."""
    evidence_refusal: pd.Series
    """Over `links`: why an evidence pair did not cluster ("" for every other link)."""
    refused: pd.DataFrame
    """Links the clustering refused to follow: rid_l, rid_r (int64), weight, reason."""
    oversized: int
    """Clusters that hit `max_cluster_size`."""


def cluster_links(
    records: LinkedRecords, corrections: RidCorrections, model: FSModel, settings: IdentitySettings
) -> Clustering:
    """Clusters of `records` from their links and the corrections. A deterministic link outranks any score;
    an evidence pair clusters like a candidate pair when its own comparison clears the match threshold."""
    links = records.links.copy()
    links["weight"] = links["weight"].astype(float)
    evidence = (links["kind"] == "evidence").to_numpy()
    refusal = links["refusal"] if "refusal" in links else pd.Series("", index=links.index)
    refusal = refusal.where(evidence, "").fillna("")
    links = links.drop(columns=["refusal"], errors="ignore")
    clustered = ~evidence | (links["weight"].to_numpy() >= threshold_weight(settings.match_threshold))
    cluster_weight = links["weight"] + np.where(links["kind"] == "deterministic", DETERMINISTIC_WEIGHT, 0.0)
    min_w = threshold_weight(settings.conflict_match_probability)
    direct = links["weight"].to_numpy() >= min_w
    result = cluster_records(
        len(records.prepared),
        links.loc[clustered, ["rid_l", "rid_r"]].assign(
            weight=cluster_weight.to_numpy()[clustered],
            direct=direct[clustered],
            outright=_outright(links, settings)[clustered],
        ),
        conflict_values(records.prepared, settings),
        settings,
        must_links=[g for g in corrections.must if len(g) > 1],
        cannot_links=corrections.cannot,
        pair_is_match=_pair_is_match(records.comparable, model, settings, min_w),
    )
    refused = result.refused.assign(
        rid_l=result.refused["rid_l"].to_numpy(dtype=np.int64),
        rid_r=result.refused["rid_r"].to_numpy(dtype=np.int64),
    )
    return Clustering(
        labels=result.labels,
        components=component_labels(records.keys, links, corrections.must),
        links=links,
        clustered=clustered,
        evidence_refusal=refusal.where(~clustered, ""),
        refused=refused,
        oversized=len(result.oversized),
    )


def _pair_is_match(
    records: pa.Table, model: FSModel, settings: IdentitySettings, min_weight: float
) -> Callable[[np.ndarray, np.ndarray], np.ndarray]:
    """Whether each pair's own comparison reaches `min_weight`: asked of record pairs no blocking rule made,
    inside the components the clustering rebuilds."""

    def pair_is_match(a: np.ndarray, b: np.ndarray) -> np.ndarray:
        g = comparison_vectors(
            records, pa.table({"rid_l": a, "rid_r": b}), settings, threads=None
        ).to_pandas()
        ok = pd.Series(
            model.match_weight(g) >= min_weight, index=pd.MultiIndex.from_arrays([g["rid_l"], g["rid_r"]])
        )
        # comparison_vectors returns pairs sorted; answer in the order asked.
        return ok.reindex(pd.MultiIndex.from_arrays([a, b])).fillna(False).to_numpy(dtype=bool)

    return pair_is_match


def component_labels(keys: np.ndarray, links: pd.DataFrame, must: list[list[int]]) -> np.ndarray:
    """Per record, a 64-bit label of its connected component (links and must-links): the hash of the
    component's smallest record key, so a component keeps its label as long as it keeps its records. An
    incremental run clusters again exactly the stored components that something new touches."""
    n = len(keys)
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    rl = np.concatenate([links["rid_l"].to_numpy(np.int64), [g[0] for g in must for _ in g[1:]]])
    rr = np.concatenate([links["rid_r"].to_numpy(np.int64), [x for g in must for x in g[1:]]])
    comp = _components(n, rl.astype(np.int64), rr.astype(np.int64))
    # Records are in key order: the first record of a component holds its smallest key.
    first = np.full(comp.max() + 1, n, dtype=np.int64)
    np.minimum.at(first, comp, np.arange(n, dtype=np.int64))
    smallest = np.asarray(keys, dtype=object)[first[comp]]
    return pd.util.hash_array(smallest, categorize=True).view(np.int64)


def _outright(links: pd.DataFrame, settings: IdentitySettings) -> np.ndarray:
    """Over `links`: deterministic links on at least one personal identifier (an email, not a device a
    household may share)."""
    personal = {i.field for i in settings.identifiers if not i.is_shared}
    deterministic = (links["kind"] == "deterministic").to_numpy()
    codes, rules = pd.factorize(links["rule"].astype(str))  # a few distinct rules over a million links
    personal_rule = np.array([any(f in personal for f in r.split("+")) for r in rules], dtype=bool)
    return deterministic & personal_rule[codes]
