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


def changed_deterministic(
    old_links: pd.DataFrame | None, links: pd.DataFrame, keys: pd.Index, n: int
) -> np.ndarray:
    """A mask over the records (numbered as `keys`) on a deterministic link that exists in only one of
    the last run and this one. `links` carry record numbers (rid_l, rid_r); old links carry record keys,
    and a record that is gone since has no number (such a link is changed, its surviving end dirty).

    A link is coded as one integer, (rid_l * n + rid_r) * rules + rule, so the comparison is a sort of
    integers, not a merge on strings."""
    dirty = np.zeros(n, dtype=bool)
    new = links.loc[links["kind"] == "deterministic", ["rid_l", "rid_r", "rule"]]
    old = (
        old_links.loc[old_links["kind"] == "deterministic", ["record_key_l", "record_key_r", "rule"]]
        if old_links is not None
        else pd.DataFrame(columns=["record_key_l", "record_key_r", "rule"])
    )
    rules = pd.Index(pd.concat([new["rule"], old["rule"]]).astype(str).unique())
    width = np.int64(max(len(rules), 1))
    n64 = np.int64(max(n, 1))
    new_l, new_r = new["rid_l"].to_numpy(np.int64), new["rid_r"].to_numpy(np.int64)
    new_code = (new_l * n64 + new_r) * width + rules.get_indexer(new["rule"].astype(str))
    old_l, old_r = keys.get_indexer(old["record_key_l"]), keys.get_indexer(old["record_key_r"])
    alive = (old_l >= 0) & (old_r >= 0)
    dirty[old_r[(old_l < 0) & (old_r >= 0)]] = True  # a link to a record that is gone: the other end
    dirty[old_l[(old_r < 0) & (old_l >= 0)]] = True
    old_code = (old_l[alive] * n64 + old_r[alive]) * width + rules.get_indexer(old["rule"].astype(str))[alive]
    only_new = ~np.isin(new_code, old_code)
    only_old = ~np.isin(old_code, new_code)
    for mask, left, right in ((only_new, new_l, new_r), (only_old, old_l[alive], old_r[alive])):
        dirty[left[mask]] = True
        dirty[right[mask]] = True
    return dirty


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
