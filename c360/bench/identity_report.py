"""The identity benchmark's tables: quality per run, precision-recall per threshold, F1 at the shared and at
each tool's oracle threshold."""

from __future__ import annotations

from collections.abc import Sequence

from rich.table import Table

from c360.bench.identity_sweep import Curve, summary_rows

QUALITY_COLUMNS = [
    "records",
    "pairwise_precision",
    "pairwise_recall",
    "pairwise_f1",
    "bcubed_precision",
    "bcubed_recall",
    "bcubed_f1",
    "over_merged_clusters",
    "seconds",
]
EVIDENCE_COLUMNS = [
    "evidence_true_pairs",
    "evidence_evidenced_pairs",
    "evidence_ceiling",
    "evidence_pairwise_precision",
    "evidence_evidenced_recall",
    "evidence_evidenced_f1",
]


def quality_table(rows: list[dict], title: str, columns: list[str] = QUALITY_COLUMNS) -> Table:
    """One row per run; fractions to four places (seconds as they are), headers without `evidence_`."""
    t = Table(title=title)
    cols = ["run", *columns]
    for c in cols:
        t.add_column(c.removeprefix("evidence_").replace("_", " "), justify="left" if c == "run" else "right")
    for r in rows:
        t.add_row(*(f"{r[c]:.4f}" if isinstance(r[c], float) and c != "seconds" else str(r[c]) for c in cols))
    return t


def curve_table(curve: Curve) -> Table:
    """One row per threshold: P, R and F1 of each tool; the shared threshold and each oracle one marked."""
    tools = curve.tools()
    t = Table(title=f"{curve.dataset}: pairwise precision-recall by match threshold")
    t.add_column("threshold", justify="right")
    for tool in tools:
        for m in ("P", "R", "F1"):
            t.add_column(f"{tool} {m}", justify="right")
    t.add_column("note")
    best = {tool: curve.best(tool).threshold for tool in tools}
    for th in sorted({p.threshold for p in curve.points}):
        cells = [f"{th:g}"]
        for tool in tools:
            p = curve.at(tool, th)
            cells += [f"{v:.4f}" for v in (p.precision, p.recall, p.f1)] if p else ["", "", ""]
        notes = ["shared"] if th == curve.shared else []
        notes += [f"{tool} oracle" for tool in tools if best[tool] == th]
        t.add_row(*cells, ", ".join(notes))
    return t


def summary_table(curves: Sequence[Curve]) -> Table:
    t = Table(
        title="F1 at the shared threshold and at each tool's oracle threshold (best F1 on this same data)"
    )
    cols = ["dataset", "tool", "shared_threshold", "f1_at_shared", "oracle_threshold", "f1_at_oracle",
            "precision_at_oracle", "recall_at_oracle"]  # fmt: skip
    for c in cols:
        t.add_column(c.replace("_", " "), justify="left" if c in ("dataset", "tool") else "right")
    for r in summary_rows(curves):
        cells = []
        for c in cols:
            v = r[c]
            if v is None:
                cells.append("")
            elif c.endswith("threshold"):
                cells.append(f"{v:g}")
            else:
                cells.append(f"{v:.4f}" if isinstance(v, float) else str(v))
        t.add_row(*cells)
    return t
