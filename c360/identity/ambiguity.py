"""Records the clustering could give to either of two people: ties no stronger than the refused one.

`c360.identity.cluster` builds a component greedily, strongest link first, and refuses a link that would put
two people (two birth dates, two first names) in one cluster. A record that carries neither (a shop account
without a birth date) can match both namesakes of one household; the greedy gives it to whichever link came
first. Here such a tie is weighed against the refused link, as a posterior over the two people, and cut
where it does not reach the match threshold: the record, with the records it brought, becomes a customer of
its own rather than a coin toss.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

import numpy as np
import pandas as pd

UNKNOWN = ""
"""A conflict value that is no person of its own (`c360.identity.cluster.GENERATION_UNKNOWN`)."""


class Greedy(Protocol):
    """What is read of the clustering's union-find (`c360.identity.cluster._Greedy`)."""

    values: dict[int, dict[str, dict[str, list[int]]]]
    tree: list[tuple[int, int, float]]

    def find(self, x: int) -> int: ...

    def clusters(self) -> dict[int, list[int]]: ...


def threshold_bits(probability: float) -> float:
    return float(np.log2(probability / (1 - probability)))


def ambiguous_ties(
    greedy: Greedy,
    refused: list[tuple[int, int, float, str]],
    conflicts: dict[str, np.ndarray],
    fns: dict[str, Callable[[str, str], bool]],
    margin: float,
    unknown: str = UNKNOWN,
) -> set[tuple[int, int]]:
    """The links the greedy followed that tied a record to one person while it matches another as well.

    A record without a birth date (a shop account of one of two namesakes of one household) links to both
    namesakes' records; the greedy puts it, with the records it brought, with whichever person's link came
    first, and refuses the other for the conflict between the two people, not for anything in the record.
    Its tie to the first person is the weakest link on its path to that person's records (`s`, the greedy
    follows the strongest first), to the second the refused link (`w`): the chance it is the first's is about
    2^s / (2^s + 2^w), which must reach the match threshold as any link must, s at least w + `margin`. Short
    of that, the tie is returned (as the tree edge to cut) and the record leaves with what it brought."""
    cuts: set[tuple[int, int]] = set()
    members: dict[int, list[int]] | None = None
    adjacency: dict[int, list[tuple[int, int, float]]] = {}
    for a, b, w, reason in refused:
        if not reason.startswith("conflict:"):
            continue
        ra, rb = greedy.find(a), greedy.find(b)
        if ra == rb or not _two_people(greedy.values[ra], greedy.values[rb], fns, unknown):
            continue
        for r, other in ((a, b), (b, a)):
            theirs = greedy.values[greedy.find(other)]
            if not _fits(r, theirs, conflicts, fns):
                continue
            if members is None:
                members = greedy.clusters()
                for x, y, weight in greedy.tree:
                    adjacency.setdefault(x, []).append((y, x, weight))
                    adjacency.setdefault(y, []).append((x, x, weight))
            # the records of r's cluster that cannot join the other person: the person r is tied to
            owners = [x for x in members[greedy.find(r)] if not _fits(x, theirs, conflicts, fns)]
            for edge, weakest in _weakest_ties(adjacency, r, owners):
                if weakest < w + margin:
                    cuts.add(edge)
    return cuts


def _weakest_ties(
    adjacency: dict[int, list[tuple[int, int, float]]], r: int, targets: list[int]
) -> list[tuple[tuple[int, int], float]]:
    """Per target, the weakest link on the tree path from r to it: the link (as the greedy followed it, a
    and b) and its weight."""
    weakest: dict[int, tuple[tuple[int, int], float]] = {r: ((r, r), np.inf)}
    stack = [r]
    while stack:
        x = stack.pop()
        for y, a, w in adjacency.get(x, []):
            if y in weakest:
                continue
            edge = (a, y if a == x else x)
            weakest[y] = (edge, w) if w < weakest[x][1] else weakest[x]
            stack.append(y)
    return [weakest[t] for t in targets if t in weakest and t != r]


def _two_people(
    a: dict[str, dict[str, list[int]]],
    b: dict[str, dict[str, list[int]]],
    fns: dict[str, Callable[[str, str], bool]],
    unknown: str,
) -> bool:
    """Whether two clusters' values show two people; a generation left unknown (`unknown`: no suffix, no
    birth date) is no person of its own."""
    for f in a.keys() & b.keys():
        xs = [x for x in a[f] if x != unknown]
        ys = [y for y in b[f] if y != unknown]
        if any(not fns[f](x, y) for x in xs for y in ys):
            return True
    return False


def _fits(
    r: int,
    values: dict[str, dict[str, list[int]]],
    conflicts: dict[str, np.ndarray],
    fns: dict[str, Callable[[str, str], bool]],
) -> bool:
    """Whether record `r` on its own could join a cluster holding `values` (no conflict of its own)."""
    for f, vals in values.items():
        mine = conflicts[f][r]
        if mine is None or pd.isna(mine):
            continue
        if not all(fns[f](mine, v) for v in vals):
            return False
    return True


def cut(labels: np.ndarray, greedy: Greedy, cuts: set[tuple[int, int]]) -> list[tuple[int, int, float, str]]:
    """Clusters split at the cut ties (each cluster is the tree of the links the greedy followed), labelled
    by their smallest rid; the cut links, refused as "ambiguous"."""
    affected = {greedy.find(a) for a, _ in cuts}
    members = greedy.clusters()
    adjacency: dict[int, list[int]] = {}
    out = []
    for a, b, w in greedy.tree:
        if greedy.find(a) not in affected:
            continue
        if (a, b) in cuts:
            out.append((a, b, w, "ambiguous"))
            continue
        adjacency.setdefault(a, []).append(b)
        adjacency.setdefault(b, []).append(a)
    seen: set[int] = set()
    for r in (x for root in affected for x in members[root]):
        if r in seen:
            continue
        part, stack = [], [r]
        seen.add(r)
        while stack:
            x = stack.pop()
            part.append(x)
            for y in adjacency.get(x, []):
                if y not in seen:
                    seen.add(y)
                    stack.append(y)
        labels[part] = min(part)
    return out
