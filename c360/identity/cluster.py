"""Clusters from links, protected against chaining.

Connected components are computed first (vectorized). A component is accepted as one cluster when it is
small enough, holds no conflicting strong attributes (two birth dates that are not a typo or a day/month swap
of each other, two different loyalty ids) and no do-not-link correction. Any other component is rebuilt
greedily: operator must-links first, then links from strongest to weakest, each merge refused when it would
bring a do-not-link pair or more than `max_cluster_size` records together, or two records with conflicting
strong attributes that are not directly linked by probabilistic evidence strong enough on its own (that
evidence already paid for the disagreement; a transitive chain has not). The refused links are the weakest
ones on the path between the conflicting records, so the component splits there, and is reported.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from rapidfuzz.distance import DamerauLevenshtein, JaroWinkler
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from c360.identity.ambiguity import UNKNOWN, ambiguous_ties, cut, threshold_bits
from c360.identity.compare import GIVEN_NAME
from c360.identity.config import ComparisonSettings, IdentitySettings
from c360.identity.nicknames import misspelt_nickname, nickname_key, same_nickname_group


@dataclass
class ClusterResult:
    labels: np.ndarray
    """Per rid: the smallest rid of its cluster (a label independent of processing order)."""
    refused: pd.DataFrame
    """Links that were not followed: rid_l, rid_r, weight, reason."""
    split_components: int = 0
    """Components rebuilt because of a conflict, a correction or their size."""
    oversized: list[int] = field(default_factory=list)
    """Labels of clusters that hit `max_cluster_size`."""


def compatible_fn(c: ComparisonSettings) -> Callable[[str, str], bool]:
    """Whether two values of a conflict field may belong to one person (a typo or swap is not a conflict)."""
    if c.method == "date":

        def dates(a: str, b: str) -> bool:
            swapped = a[:4] == b[:4] and a[4:6] == b[6:8] and a[6:8] == b[4:6]
            return a == b or swapped or DamerauLevenshtein.distance(a, b) <= c.max_edits

        return dates
    if c.method == "identifier":
        return lambda a, b: a == b or DamerauLevenshtein.distance(a, b) <= c.max_edits
    if c.method in ("string", "name", "address"):
        low = min(c.thresholds) if c.thresholds else 1.0

        def strings(a: str, b: str) -> bool:
            if a == b or JaroWinkler.similarity(a, b) >= low:
                return True
            if c.method != "name":
                return False
            # An initial, a typo, or a nickname of a misspelt name ("kit" and "christopmer"), is no conflict.
            if len(a) == 1 or len(b) == 1:
                return a[0] == b[0]
            typo = min(len(a), len(b)) >= 3 and DamerauLevenshtein.distance(a, b) <= c.max_edits
            if c.max_edits > 0 and typo:
                return True
            if c.nicknames:
                if same_nickname_group(a, b) or (c.max_edits > 0 and misspelt_nickname(a, b, c.max_edits)):
                    return True
                na, nb = nickname_key(a) or a, nickname_key(b) or b
                return JaroWinkler.similarity(na, nb) >= low
            return False

        return strings
    return lambda a, b: a == b


GENERATION_UNKNOWN = UNKNOWN
"""The generational-suffix value of a record that writes none and has no birth date (`conflict_values`)."""


def conflict_values(df: pd.DataFrame, settings: IdentitySettings) -> dict[str, np.ndarray]:
    """Per conflict field, the value each record is compared on (object array, None when missing).

    A record without a generational suffix and without a birth date may be the Jr as well as the Sr of its
    name and address: its suffix is `GENERATION_UNKNOWN`, which conflicts with every written suffix, so it
    joins a cluster holding one only on direct evidence (an email, a phone), never through a chain. A record
    without a first name is nobody's namesake (a web visit that gives an email only): it keeps no suffix,
    and its identifiers decide where it belongs."""
    out = {}
    for c in settings.comparisons:
        if not c.conflict:
            continue
        col = (
            f"{c.field}__s"
            if c.method == "date"
            else (f"{c.field}__id" if f"{c.field}__id" in df else c.field)
        )
        values = df[col].to_numpy(dtype=object)
        if c.field == "name_suffix" and "birth_date__s" in df:
            unknown = pd.isna(values) & df["birth_date__s"].isna().to_numpy()
            if GIVEN_NAME in df:
                unknown &= df[GIVEN_NAME].notna().to_numpy()
            values = np.where(unknown, GENERATION_UNKNOWN, values)
        out[c.field] = values
    return out


def _components(n: int, rl: np.ndarray, rr: np.ndarray) -> np.ndarray:
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    g = coo_matrix((np.ones(len(rl), dtype=np.int8), (rl, rr)), shape=(n, n))
    _, comp = connected_components(g, directed=False)
    return comp


def _pairs(links: pd.DataFrame, flag: str) -> set[tuple[int, int]]:
    """(rid_l, rid_r) of the links whose boolean column `flag` is set (none when it is absent)."""
    if flag not in links:
        return set()
    chosen = links.loc[links[flag].to_numpy(dtype=bool)]
    return set(zip(chosen["rid_l"].tolist(), chosen["rid_r"].tolist(), strict=True))


def cluster_records(
    n: int,
    links: pd.DataFrame,
    conflicts: dict[str, np.ndarray],
    settings: IdentitySettings,
    must_links: list[list[int]] | None = None,
    cannot_links: list[tuple[list[int], list[int]]] | None = None,
    pair_is_match: Callable[[np.ndarray, np.ndarray], np.ndarray] | None = None,
) -> ClusterResult:
    """Cluster `n` records given links (rid_l, rid_r, weight[, direct, outright]); corrections given as rid
    groups.

    `direct` marks links whose own field-by-field evidence clears the match threshold: only those may join two
    records whose strong attributes conflict. `outright` marks links on a personal identifier (an email):
    they may join a record whose generation is unknown (no suffix, no birth date) to a Jr or a Sr, since that
    is no disagreement, only a record that cannot tell which of the two it is. `pair_is_match(rid_l, rid_r)`
    scores further pairs of records in the components that need rebuilding (pairs no blocking rule produced),
    so a conflict is weighed against the two records' own evidence rather than refused outright.
    """
    must_links = must_links or []
    cannot_links = cannot_links or []
    rl = links["rid_l"].to_numpy(np.int64)
    rr = links["rid_r"].to_numpy(np.int64)
    extra_l = [g[0] for g in must_links for _ in g[1:]]
    extra_r = [x for g in must_links for x in g[1:]]
    comp = _components(
        n, np.concatenate([rl, extra_l]).astype(np.int64), np.concatenate([rr, extra_r]).astype(np.int64)
    )
    labels = np.arange(n, dtype=np.int64)

    # Which components need the careful greedy rebuild.
    sizes = np.bincount(comp, minlength=comp.max() + 1 if n else 0)
    suspect = sizes > settings.max_cluster_size
    fns = {c.field: compatible_fn(c) for c in settings.comparisons if c.field in conflicts}
    for name, vals in conflicts.items():
        present = pd.notna(vals)
        if present.any():
            suspect[_conflicting_components(comp[present], vals[present], fns[name])] = True
    for left, right in cannot_links:
        shared = set(comp[left].tolist()) & set(comp[right].tolist())
        for c in shared:
            suspect[c] = True

    # Easy components: label = smallest rid.
    first = pd.Series(np.arange(n)).groupby(comp).transform("min").to_numpy()
    easy = ~suspect[comp]
    labels[easy] = first[easy]

    refused_rows: list[tuple[int, int, float, str]] = []
    oversized: list[int] = []
    hard = np.flatnonzero(suspect)
    if len(hard):
        rec_in_hard = suspect[comp]
        link_in_hard = rec_in_hard[rl] if len(rl) else np.zeros(0, bool)
        sub = links.loc[link_in_hard].copy()
        if "direct" not in sub:
            sub["direct"] = False
        sub = sub.sort_values(["weight", "rid_l", "rid_r"], ascending=[False, True, True], kind="stable")
        hard_rids = np.flatnonzero(rec_in_hard)
        direct = _pairs(sub, "direct")
        if pair_is_match is not None:
            direct |= _matching_pairs_within(comp, hard, settings.max_cluster_size * 4, pair_is_match)
        outright = _pairs(sub, "outright")
        greedy = _Greedy(hard_rids, conflicts, fns, cannot_links, settings.max_cluster_size, direct, outright)
        for g in must_links:
            for x in g[1:]:
                if rec_in_hard[g[0]]:
                    greedy.union(g[0], x, force=True)
        for a, b, w in zip(
            sub["rid_l"].to_numpy(), sub["rid_r"].to_numpy(), sub["weight"].to_numpy(), strict=True
        ):
            reason = greedy.union(int(a), int(b), weight=float(w))
            if reason:
                refused_rows.append((int(a), int(b), float(w), reason))
        for r in hard_rids:
            labels[r] = greedy.label(int(r))
        oversized = sorted({greedy.label(a) for a, _, _, why in refused_rows if why == "max_cluster_size"})
        margin = threshold_bits(settings.match_threshold)
        cuts = ambiguous_ties(greedy, refused_rows, conflicts, fns, margin, GENERATION_UNKNOWN)
        if cuts:
            refused_rows += cut(labels, greedy, cuts)
    refused = pd.DataFrame(refused_rows, columns=["rid_l", "rid_r", "weight", "reason"])
    return ClusterResult(labels=labels, refused=refused, split_components=len(hard), oversized=oversized)


def _conflicting_components(
    comp: np.ndarray, values: np.ndarray, compatible: Callable[[str, str], bool]
) -> np.ndarray:
    """Components holding two values of a conflict field that cannot be one person's.

    Components whose values differ only by a typo, a nickname or a swapped day and month cluster as they
    would through the greedy rebuild (everything joins), so they stay on the fast path.
    """
    pairs = pd.DataFrame({"c": comp, "v": values}).drop_duplicates()
    multi = pairs[pairs.duplicated("c", keep=False)]
    if multi.empty:
        return np.zeros(0, dtype=np.int64)
    cache: dict[tuple[str, str], bool] = {}
    bad = []
    for c, group in multi.groupby("c", sort=False)["v"]:
        distinct = sorted(map(str, group.tolist()))
        for i, a in enumerate(distinct):
            if any(not cache.setdefault((a, b), compatible(a, b)) for b in distinct[i + 1 :]):
                bad.append(c)
                break
    return np.asarray(bad, dtype=np.int64)


def _matching_pairs_within(
    comp: np.ndarray,
    hard: np.ndarray,
    max_size: int,
    pair_is_match: Callable[[np.ndarray, np.ndarray], np.ndarray],
) -> set[tuple[int, int]]:
    """Every pair inside each (not huge) component to rebuild, kept when its own evidence says match."""
    order = np.argsort(comp, kind="stable")
    bounds = np.searchsorted(comp[order], hard)
    ends = np.searchsorted(comp[order], hard, side="right")
    left, right = [], []
    for lo, hi in zip(bounds, ends, strict=True):
        if hi - lo > max_size:
            continue
        members = np.sort(order[lo:hi])
        i, j = np.triu_indices(len(members), k=1)
        left.append(members[i])
        right.append(members[j])
    if not left:
        return set()
    a, b = np.concatenate(left), np.concatenate(right)
    ok = pair_is_match(a, b)
    return set(zip(a[ok].tolist(), b[ok].tolist(), strict=True))


class _Greedy:
    """Union-find whose roots carry the attribute values and do-not-link tags of their members."""

    def __init__(
        self,
        rids: np.ndarray,
        conflicts: dict[str, np.ndarray],
        fns: dict[str, Callable[[str, str], bool]],
        cannot_links: list[tuple[list[int], list[int]]],
        max_size: int,
        direct: set[tuple[int, int]] | None = None,
        outright: set[tuple[int, int]] | None = None,
    ) -> None:
        self.parent: dict[int, int] = {int(r): int(r) for r in rids}
        self.size: dict[int, int] = dict.fromkeys(self.parent, 1)
        self.values: dict[int, dict[str, dict[str, list[int]]]] = {}
        self.direct = direct or set()
        self.outright = outright or set()
        self.tags: dict[int, set[tuple[int, int]]] = {}
        self.fns = fns
        self.max_size = max_size
        self._cache: dict[tuple[str, str, str], bool] = {}
        for r in self.parent:
            self.values[r] = {
                f: {v[r]: [r]} for f, v in conflicts.items() if v[r] is not None and not pd.isna(v[r])
            }
        for i, (left, right) in enumerate(cannot_links):
            for side, group in ((0, left), (1, right)):
                for r in group:
                    if r in self.parent:
                        self.tags.setdefault(r, set()).add((i, side))
        self.minimum: dict[int, int] = {r: r for r in self.parent}
        self.tree: list[tuple[int, int, float]] = []
        """The links that merged two clusters (a, b, weight), in order: each cluster is a tree of them."""

    def find(self, x: int) -> int:
        root = x
        while self.parent[root] != root:
            root = self.parent[root]
        while self.parent[x] != root:
            self.parent[x], x = root, self.parent[x]
        return root

    def label(self, x: int) -> int:
        return self.minimum[self.find(x)]

    def _compatible(self, f: str, a: dict[str, list[int]], b: dict[str, list[int]]) -> bool:
        for x, rx in a.items():
            for y, ry in b.items():
                key = (f, x, y) if x <= y else (f, y, x)
                ok = self._cache.get(key)
                if ok is None:
                    ok = self._cache[key] = self.fns[f](x, y)
                unknown = GENERATION_UNKNOWN in (x, y)
                if not ok and not all(self._vouched(p, q, unknown) for p in rx for q in ry):
                    return False
        return True

    def _vouched(self, p: int, q: int, generation_unknown: bool) -> bool:
        """Whether the link of p and q may join them across a conflict: a direct one, or, where the conflict
        is only a generation one record cannot tell, an outright one."""
        pair = (min(p, q), max(p, q))
        return pair in self.direct or (generation_unknown and pair in self.outright)

    def union(self, a: int, b: int, force: bool = False, weight: float = np.inf) -> str | None:
        """Merge the clusters of a and b; the reason when refused, None when merged (or already one)."""
        ra, rb = self.find(a), self.find(b)
        if ra == rb:
            return None
        if not force:
            if self.size[ra] + self.size[rb] > self.max_size:
                return "max_cluster_size"
            ta, tb = self.tags.get(ra, set()), self.tags.get(rb, set())
            if any((i, 1 - s) in tb for i, s in ta):
                return "do_not_link"
            va, vb = self.values[ra], self.values[rb]
            for f in va:  # dict order, not a set's: the reason recorded must not depend on the hash seed
                if f in vb and not self._compatible(f, va[f], vb[f]):
                    return f"conflict:{f}"
        if self.size[ra] < self.size[rb]:
            ra, rb = rb, ra
        self.parent[rb] = ra
        self.size[ra] += self.size[rb]
        for f, vals in self.values.pop(rb).items():
            mine = self.values[ra].setdefault(f, {})
            for v, rids in vals.items():
                mine.setdefault(v, []).extend(rids)
        if rb in self.tags:
            self.tags.setdefault(ra, set()).update(self.tags.pop(rb))
        self.minimum[ra] = min(self.minimum[ra], self.minimum.pop(rb))
        self.tree.append((a, b, weight))
        return None

    def clusters(self) -> dict[int, list[int]]:
        """Root -> its records."""
        out: dict[int, list[int]] = {}
        for r in self.parent:
            out.setdefault(self.find(r), []).append(r)
        return out
