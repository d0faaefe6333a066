"""Quality of a clustering against ground truth: pairwise and B-cubed precision/recall/F1, over-merges, and
recall over the true pairs that share evidence (`evidence_groups`, `evidence_quality`).

Computed from the contingency table of (predicted cluster, true entity) counts, so a million records cost a
group-by, not an enumeration of pairs.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd


@dataclass(frozen=True)
class Quality:
    records: int
    predicted_clusters: int
    true_entities: int
    pairwise_precision: float
    pairwise_recall: float
    pairwise_f1: float
    bcubed_precision: float
    bcubed_recall: float
    bcubed_f1: float
    over_merged_clusters: int
    """Predicted clusters holding records of more than one true entity."""
    split_entities: int
    """True entities spread over more than one predicted cluster."""

    def as_dict(self) -> dict[str, float | int]:
        return asdict(self)


def _f1(p: float, r: float) -> float:
    return 2 * p * r / (p + r) if p + r else 0.0


def _pairs(n: np.ndarray) -> float:
    n = n.astype(np.float64)
    return float((n * (n - 1) / 2).sum())


def clustering_quality(predicted: pd.Series, truth: pd.Series) -> Quality:
    """`predicted` and `truth` are labels for the same records (aligned by position)."""
    df = pd.DataFrame({"p": np.asarray(predicted), "t": np.asarray(truth)})
    joint = df.groupby(["p", "t"]).size()
    p_size = df.groupby("p").size()
    t_size = df.groupby("t").size()
    tp = _pairs(joint.to_numpy())
    pred_pairs, true_pairs = _pairs(p_size.to_numpy()), _pairs(t_size.to_numpy())
    pp = tp / pred_pairs if pred_pairs else 1.0
    pr = tp / true_pairs if true_pairs else 1.0
    # B-cubed: per record, the share of its predicted cluster that is truly its entity, and the reverse.
    n_ij = joint.to_numpy().astype(np.float64)
    p_of = p_size.reindex(joint.index.get_level_values("p")).to_numpy()
    t_of = t_size.reindex(joint.index.get_level_values("t")).to_numpy()
    n = len(df)
    bp = float((n_ij * n_ij / p_of).sum() / n) if n else 1.0
    br = float((n_ij * n_ij / t_of).sum() / n) if n else 1.0
    entities_per_cluster = joint.reset_index().groupby("p").size()
    clusters_per_entity = joint.reset_index().groupby("t").size()
    return Quality(
        records=n,
        predicted_clusters=int(len(p_size)),
        true_entities=int(len(t_size)),
        pairwise_precision=pp,
        pairwise_recall=pr,
        pairwise_f1=_f1(pp, pr),
        bcubed_precision=bp,
        bcubed_recall=br,
        bcubed_f1=_f1(bp, br),
        over_merged_clusters=int((entities_per_cluster > 1).sum()),
        split_entities=int((clusters_per_entity > 1).sum()),
    )


def pairs_quality(predicted: pd.Series, truth_pairs: set[tuple[str, str]], keys: pd.Series) -> Quality:
    """Quality against truth given as matching record-key pairs (FEBRL): entities are their components."""
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    index = pd.Index(np.asarray(keys))
    a = index.get_indexer([p[0] for p in truth_pairs])
    b = index.get_indexer([p[1] for p in truth_pairs])
    ok = (a >= 0) & (b >= 0)
    n = len(index)
    g = coo_matrix((np.ones(ok.sum()), (a[ok], b[ok])), shape=(n, n))
    _, entity = connected_components(g, directed=False)
    return clustering_quality(predicted, pd.Series(entity))


# Fields that name a person on their own, and fields of which any two agreeing are evidence a reviewer could
# act on (columns of the prepared records: normalized identifiers and normalized names, dates, addresses).
EVIDENCE_IDENTIFIERS = ("email__id", "phone__id", "device_id__id", "cookie_id__id", "social_handle__id",
                        "loyalty_id__id")  # fmt: skip
EVIDENCE_QUASI = ("first_name", "last_name", "birth_date", "street", "postcode")


def evidence_groups(truth: pd.Series, records: pd.DataFrame) -> np.ndarray:
    """Within each true entity, the groups of records joined by shared evidence, as one label per record.

    Two records of one entity share evidence when they hold an equal value of an identifier column, or equal
    values of two quasi-identifier columns; groups are the connected components of that graph. A pair of
    records in different groups of one entity has nothing in the data that ties them: no matcher can link it
    without linking strangers who look the same.
    """
    from itertools import combinations

    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    entity = pd.factorize(np.asarray(truth))[0]
    keys: list[pd.Series] = [records[c] for c in EVIDENCE_IDENTIFIERS if c in records]
    quasi = [records[c].astype("string") for c in EVIDENCE_QUASI if c in records]
    keys += [a + "\x1f" + b for a, b in combinations(quasi, 2)]
    left, right = [], []
    for key in keys:
        k = pd.Series(np.asarray(key, dtype=object))
        ok = k.notna().to_numpy()
        rows = np.flatnonzero(ok)
        group = (
            pd.DataFrame({"e": entity[ok], "k": k[ok].to_numpy()}).groupby(["e", "k"], sort=False).ngroup()
        )
        order = np.argsort(group.to_numpy(), kind="stable")
        g, r = group.to_numpy()[order], rows[order]
        same = g[1:] == g[:-1]
        left.append(r[:-1][same])
        right.append(r[1:][same])
    n = len(records)
    a, b = np.concatenate(left or [np.empty(0, int)]), np.concatenate(right or [np.empty(0, int)])
    graph = coo_matrix((np.ones(len(a)), (a, b)), shape=(n, n))
    return connected_components(graph, directed=False)[1]


@dataclass(frozen=True)
class EvidenceQuality:
    true_pairs: int
    evidenced_pairs: int
    ceiling: float
    """Share of true pairs joined by shared evidence: the best pairwise recall of any careful matcher."""
    pairwise_precision: float
    """Against the whole truth (the same as `Quality.pairwise_precision`)."""
    evidenced_recall: float
    """Share of the evidenced pairs the clustering puts together."""
    evidenced_f1: float

    def as_dict(self) -> dict[str, float | int]:
        return asdict(self)


def evidence_quality(predicted: pd.Series, truth: pd.Series, groups: np.ndarray) -> EvidenceQuality:
    """Pairwise quality where recall counts only pairs that share evidence (`evidence_groups`)."""
    df = pd.DataFrame({"p": np.asarray(predicted), "t": np.asarray(truth), "g": groups})
    true_pairs = _pairs(df.groupby("t").size().to_numpy())
    evidenced = _pairs(df.groupby(["t", "g"]).size().to_numpy())
    found = _pairs(df.groupby(["t", "g", "p"]).size().to_numpy())
    precision = clustering_quality(df["p"], df["t"]).pairwise_precision
    recall = found / evidenced if evidenced else 1.0
    return EvidenceQuality(
        true_pairs=int(true_pairs),
        evidenced_pairs=int(evidenced),
        ceiling=evidenced / true_pairs if true_pairs else 1.0,
        pairwise_precision=precision,
        evidenced_recall=recall,
        evidenced_f1=_f1(precision, recall),
    )
