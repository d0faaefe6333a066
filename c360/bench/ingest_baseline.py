"""Ingest without Ray: the same plan, the same `process_file`, one file after another in this process.

This is the yardstick for the Ray Data pipeline. Both run the identical pure standardization (pyarrow
compute plus cached per-value parsing) and write the identical outputs, so the ratio of their times is the
cost or gain of distributing the work, not of doing different work.
"""

from __future__ import annotations

from datetime import UTC, datetime

from c360.sources.report import Committer, IngestReport
from c360.sources.tasks import plan_ingest, process_file
from c360.workspace import Workspace


def ingest_baseline(ws: Workspace, sources: list[str] | None = None) -> IngestReport:
    """Single-process ingest with the same watermark, outputs and report as `c360.sources.ingest.ingest`."""
    started = datetime.now(UTC)
    plans = plan_ingest(ws.lake, ws.settings, sources, started)
    committer = Committer(ws.lake, plans, engine="single process")
    for plan in plans:
        for task in plan.tasks:
            committer.add(process_file(ws.lake, task))
    return committer.finish()
