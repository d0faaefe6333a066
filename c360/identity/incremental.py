"""What an incremental run must cluster again: the components that something new can have changed.

Clustering decides component by component (connected components of all links and must-links), so a
component whose records and links are the same as last run clusters the same way. New and changed records
are marked by the caller; deterministic links can also change between old records (a value crossing the
cardinality guard, a new record becoming the hub of a shared value), so those records are marked here.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components


def changed_deterministic(old_links: pd.DataFrame | None, links: pd.DataFrame) -> set[str]:
    """Record keys on a deterministic link that exists in only one of the last run and this one."""
    cols = ["record_key_l", "record_key_r", "rule"]
    new = links.loc[links["kind"] == "deterministic", cols]
    if old_links is None or old_links.empty:
        return set(new["record_key_l"]) | set(new["record_key_r"])
    old = old_links.loc[old_links["kind"] == "deterministic", cols]
    both = old.merge(new, on=cols, how="outer", indicator=True)
    diff = both[both["_merge"] != "both"]
    return set(diff["record_key_l"]) | set(diff["record_key_r"])


def records_in_components_of(
    n: int, links: pd.DataFrame, must: list[list[int]], dirty: np.ndarray
) -> np.ndarray:
    """A mask of every record sharing a connected component (links + must-links) with a dirty record."""
    if n == 0:
        return np.zeros(0, dtype=bool)
    rl = np.concatenate([links["rid_l"].to_numpy(np.int64), [g[0] for g in must for _ in g[1:]]]).astype(
        np.int64
    )
    rr = np.concatenate([links["rid_r"].to_numpy(np.int64), [x for g in must for x in g[1:]]]).astype(
        np.int64
    )
    graph = coo_matrix((np.ones(len(rl), dtype=np.int8), (rl, rr)), shape=(n, n))
    _, comp = connected_components(graph, directed=False)
    hot = np.zeros(comp.max() + 1, dtype=bool)
    hot[comp[dirty]] = True
    return hot[comp]
