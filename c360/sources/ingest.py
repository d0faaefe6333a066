"""`c360 ingest`: raw/ -> standardized/ + quarantine/, one Ray Data task per new raw file.

The driver plans (lists files, consults the watermark, checks headers), Ray Data runs `process_file` over the
new files in parallel (each task reads through the lake's filesystem, so a local folder and `abfs://`
behave the same), and the driver folds results into the report and the watermark as they stream back.

Output layout (deterministic names, so a re-run after a crash overwrites rather than duplicates):

    standardized/<record>/source=<source>/load_date=<YYYY-MM-DD>/<file_set>-<hash of input path>.parquet
    quarantine/<source>/<file_set>/load_date=<YYYY-MM-DD>/<hash of input path>.parquet
    _state/ingest/<source>/<file_set>.json
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from dataclasses import asdict
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

from c360.io.lake import Lake
from c360.runtime import ensure_ray
from c360.sources.report import Committer, FileSetReport, IngestReport, print_summary
from c360.sources.tasks import FileResult, FileTask, plan_ingest, process_file
from c360.workspace import Workspace

__all__ = ["FileSetReport", "IngestReport", "ingest", "print_summary", "run_on_ray"]

log = logging.getLogger(__name__)


@lru_cache(maxsize=8)
def _worker_lake(uri: str, options_json: str) -> Lake:
    """One Lake (and one filesystem client) per worker process and lake."""
    return Lake(uri, json.loads(options_json))


def _file_task_runner(uri: str, options_json: str) -> Any:
    def run(row: dict[str, Any]) -> dict[str, Any]:
        task = FileTask(**json.loads(row["task"]))
        result = process_file(_worker_lake(uri, options_json), task)
        return {"result": json.dumps(result.to_dict())}

    return run


def run_on_ray(lake: Lake, tasks: list[FileTask]) -> Iterator[FileResult]:
    """Process files as a Ray Data job, one block (so one task) per file, biggest files first."""
    import ray

    ordered = sorted(tasks, key=lambda t: -int(t.fingerprint.get("size", 0)))
    items = [{"task": json.dumps(asdict(t))} for t in ordered]
    options_json = json.dumps(lake.storage_options, sort_keys=True)
    ds = ray.data.from_items(items, override_num_blocks=len(items)).map(
        _file_task_runner(lake.uri, options_json)
    )
    for row in ds.iter_rows():
        yield FileResult(**json.loads(row["result"]))


def ingest(ws: Workspace, sources: list[str] | None = None, progress: bool = True) -> IngestReport:
    """Ingest every new raw file of the selected sources (all when None); the layout is in the module doc."""
    started = datetime.now(UTC)
    lake = ws.lake
    plans = plan_ingest(lake, ws.settings, sources, started)
    committer = Committer(lake, plans, engine="ray")
    tasks = [t for plan in plans for t in plan.tasks]
    skipped = sum(p.files_skipped for p in plans)
    log.info("ingest: %d new file(s) in %d file set(s), %d already ingested", len(tasks), len(plans), skipped)
    if tasks:
        ensure_ray(ws.settings.ray, progress)
        for result in run_on_ray(lake, tasks):
            committer.add(result)
    return committer.finish()
