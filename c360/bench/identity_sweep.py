"""Precision and recall of c360 and the fair Splink over a grid of match thresholds.

Each tool is reported at the shared threshold (c360's `identity.match_threshold` of the workspace) and at its
own best threshold. The best threshold is picked on the evaluated data itself, for both tools alike: an
oracle threshold, an upper bound of what tuning could reach, not a threshold either tool would know in
advance. c360 is resolved again (a full run) per threshold, on the same ingested workspace; Splink predicts
once at a low probability and is clustered again per threshold.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import pandas as pd

from c360.bench.splink_baseline import PREDICT_FLOOR, SplinkRun
from c360.identity.evaluate import Quality
from c360.identity.store import IdentityStore
from c360.workspace import Workspace

THRESHOLDS = (0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.99, 0.999)
"""The grid both tools are swept over (it holds the shared ones: 0.5 for FEBRL, 0.99 for the demo)."""


def check_grid(thresholds: Sequence[float]) -> list[float]:
    """The grid sorted; every threshold at or above Splink's prediction floor and below 1."""
    bad = [t for t in thresholds if not PREDICT_FLOOR <= t < 1.0]
    if bad:
        raise ValueError(f"thresholds must lie in [{PREDICT_FLOOR}, 1): {bad}")
    return sorted(set(thresholds))


Scorer = Callable[[pd.Series], Quality]
"""Quality of cluster labels indexed by record key."""


@dataclass(frozen=True)
class CurvePoint:
    tool: str
    threshold: float
    precision: float
    recall: float
    f1: float

    @classmethod
    def of(cls, tool: str, threshold: float, q: Quality) -> CurvePoint:
        return cls(tool, threshold, q.pairwise_precision, q.pairwise_recall, q.pairwise_f1)


@dataclass
class Curve:
    """Pairwise precision, recall and F1 per tool and threshold on one dataset."""

    dataset: str
    shared: float
    points: list[CurvePoint]

    def tools(self) -> list[str]:
        return list(dict.fromkeys(p.tool for p in self.points))

    def at(self, tool: str, threshold: float) -> CurvePoint | None:
        return next((p for p in self.points if p.tool == tool and p.threshold == threshold), None)

    def best(self, tool: str) -> CurvePoint:
        """The oracle threshold: best F1 on this data (a tie goes to the threshold nearest the shared one)."""
        mine = [p for p in self.points if p.tool == tool]
        return max(mine, key=lambda p: (round(p.f1, 12), -abs(p.threshold - self.shared)))


@dataclass
class QualityRuns:
    """Quality rows (c360, Splink) at the shared threshold; the precision-recall curve when swept."""

    rows: list[dict]
    curve: Curve | None = None


def with_threshold(ws: Workspace, threshold: float) -> Workspace:
    """The workspace with another `identity.match_threshold` (its files untouched; nothing is validated
    again: the threshold is the only change)."""
    identity = ws.settings.identity.model_copy(update={"match_threshold": threshold})
    return Workspace.from_settings(ws.settings.model_copy(update={"identity": identity}), ws.root)


def c360_labels(ws: Workspace) -> pd.Series:
    """The resolved customer id per record key."""
    id_map = IdentityStore(ws.lake).read("id_map")
    return id_map.set_index("record_key")["customer_id"]


def c360_curve(
    ws: Workspace, thresholds: Sequence[float], score: Scorer, known: dict[float, pd.Series] | None = None
) -> list[CurvePoint]:
    """c360 resolved in full at each threshold (the model is learned again: a config change retrains, and
    the threshold plays no part in training); `known` holds labels already resolved at some thresholds.

    The workspace's identity tables are left as the last threshold resolved them."""
    from c360.identity.resolve import resolve

    points = []
    for t in thresholds:
        labels = (known or {}).get(t)
        if labels is None:
            at = with_threshold(ws, t)
            resolve(at, full=True, progress=False)
            labels = c360_labels(at)
        points.append(CurvePoint.of("c360", t, score(labels)))
    return points


def splink_curve(
    run: SplinkRun, thresholds: Sequence[float], score: Scorer, tool: str = "Splink"
) -> list[CurvePoint]:
    """The fair Splink's one set of predictions clustered at each threshold."""
    return [CurvePoint.of(tool, t, score(run.labels(t)[0])) for t in thresholds]


def summary_rows(curves: Sequence[Curve]) -> list[dict]:
    """Per dataset and tool: F1 at the shared threshold and at the oracle threshold (picked on this data)."""
    rows = []
    for c in curves:
        for tool in c.tools():
            shared, best = c.at(tool, c.shared), c.best(tool)
            rows.append(
                {
                    "dataset": c.dataset,
                    "tool": tool,
                    "shared_threshold": c.shared,
                    "f1_at_shared": shared.f1 if shared else None,
                    "oracle_threshold": best.threshold,
                    "f1_at_oracle": best.f1,
                    "precision_at_oracle": best.precision,
                    "recall_at_oracle": best.recall,
                }
            )
    return rows
