"""The identity benchmark's scale run: identity records of ~300,000 people (about a million), full run time
and peak memory (PSS of this process and its children, Ray's workers included), an incremental run adding 1%
records, identify p50/p99; Splink's time on the same prepared records when asked."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from c360.bench.identity_workspaces import demo_workspace, scratch
from c360.bench.memory import PeakMemory
from c360.identity.store import IdentityStore
from c360.runtime import ensure_ray
from c360.workspace import Workspace

GIB = 1024**3


def _add_one_percent(ws: Workspace, seed: int) -> int:
    """New records for 1% of the existing ones: the same people seen again by their source, with a new id."""
    from c360.identity.store import read_standardized, standardized_identity_files

    table = read_standardized(ws.lake, standardized_identity_files(ws.lake))
    rng = np.random.default_rng(seed)
    take = rng.choice(table.num_rows, size=max(1, table.num_rows // 100), replace=False)
    sample = table.take(pa.array(np.sort(take)))
    ids = pa.array([f"{v}-again" for v in sample.column("source_record_id").to_pylist()], pa.string())
    sample = sample.set_column(sample.schema.get_field_index("source_record_id"), "source_record_id", ids)
    for source in sorted(set(sample.column("source").to_pylist())):
        part = sample.filter(pa.compute.equal(sample.column("source"), source))
        target = ws.lake.path(
            "standardized", "identity", f"source={source}", "load_date=2099-01-01", "again.parquet"
        )
        ws.lake.write_table(part, target)
    return sample.num_rows


def identify_latency(ws: Workspace, events: int = 20_000, seed: int = 1) -> dict[str, float]:
    from c360.identity.realtime import IdentityIndex

    t = time.perf_counter()
    index = IdentityIndex.load(ws)
    load = time.perf_counter() - t
    records = IdentityStore(ws.lake).read("records")
    emails = records["email"].dropna().to_numpy()
    rng = np.random.default_rng(seed)
    picks = (
        emails[rng.integers(0, len(emails), events)]
        if len(emails)
        else np.array(["nobody@example.org"] * events)
    )
    timings = np.empty(events)
    for i, email in enumerate(picks):
        t = time.perf_counter()
        index.resolve_identify(anonymous_id=f"anon-{i}", email=str(email))
        timings[i] = time.perf_counter() - t
    return {
        "index_load_s": round(load, 2),
        "p50_ms": round(float(np.percentile(timings, 50)) * 1e3, 4),
        "p99_ms": round(float(np.percentile(timings, 99)) * 1e3, 4),
    }


def measure_resolve(ws: Workspace, seed: int, splink: bool = False) -> dict[str, Any]:
    """On a workspace with standardized identity records: full run, 1% incremental run, identify latency."""
    from c360.identity.resolve import resolve

    ws.lake.rm(ws.lake.path("identity"), recursive=True)
    for f in ws.lake.glob("standardized/identity/**/again.parquet"):
        ws.lake.rm(f)
    ensure_ray(ws.settings.ray, progress=False)  # Ray start-up is not identity work
    out: dict[str, Any] = {}
    with PeakMemory(interval=0.5, pss=True) as mem:
        t = time.perf_counter()
        report = resolve(ws, progress=False)
        full = time.perf_counter() - t
    out.update(records=report.records, full_s=round(full, 1), peak_gib=round(mem.peak_bytes / GIB, 2))
    out["stages_s"] = report.seconds
    # What Splink's time covers (from prepared records to clusters): scoring, training, links, clustering.
    matching = ("score", "train", "deterministic", "cluster")
    out["matching_s"] = round(sum(report.seconds.get(k, 0.0) for k in matching), 1)
    out["added"] = _add_one_percent(ws, seed)
    with PeakMemory(interval=0.5, pss=True) as mem:
        t = time.perf_counter()
        inc = resolve(ws, progress=False)
        inc_s = time.perf_counter() - t
    out.update(
        incremental_s=round(inc_s, 1), incremental_ratio=round(inc_s / full, 3), incremental_mode=inc.mode
    )
    out["incremental_stages_s"] = inc.seconds
    out["incremental_peak_gib"] = round(mem.peak_bytes / GIB, 2)
    out.update(identify_latency(ws))
    if splink:
        from c360.bench.splink_baseline import splink_resolve

        store = IdentityStore(ws.lake)
        prepared, refused = store.read("prepared"), store.read("refused_identifiers")
        with PeakMemory(interval=0.5, pss=True) as smem:
            _, s_secs = splink_resolve(
                prepared, ws.settings.identity, ws.settings.identity.match_threshold, refused=refused
            )
        out.update(splink_s=round(s_secs, 1), splink_peak_gib=round(smem.peak_bytes / GIB, 2))
    return out


def scale(customers: int, seed: int, splink: bool = False, workdir: Path | None = None) -> dict[str, Any]:
    """Generate and ingest (or, in `workdir`, reuse) ~3.3 identity records per person, then measure."""
    out: dict[str, Any] = {"customers": customers}
    existing = workdir / f"scale{customers}" if workdir is not None else None
    if (
        existing is not None
        and (existing / "c360.yaml").exists()
        and (existing / "data/lake/standardized").exists()
    ):
        return {
            **out,
            "reused_workspace": str(existing),
            **measure_resolve(Workspace.load(existing), seed, splink),
        }
    with scratch(workdir, f"scale{customers}") as root:
        ws, gen, ing = demo_workspace(root, customers, seed)
        out.update(generate_s=round(gen, 1), ingest_s=round(ing, 1))
        out.update(measure_resolve(ws, seed, splink))
    return out
