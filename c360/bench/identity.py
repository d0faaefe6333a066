"""Identity-resolution benchmark: quality against ground truth, a fair Splink beside c360, time, memory, p99.

Splink (`splink_baseline`) gets c360's normalized records and cleaned identifiers; both tools are reported at
the shared threshold and, swept over a grid (`identity_sweep`), at each one's oracle threshold.

- demo quality: the generator's ground truth (pairwise and B-cubed P/R/F1, over-merged clusters), c360 and
  Splink on the same normalized records; and recall over the true pairs that share evidence (an identifier,
  or two of name, surname, birth date, street, postcode; an identifier a household shares by nature counts
  as one of the two, `demo_evidence_groups`): a web visitor known only by its cookie, or a social profile
  with a first name only, cannot be matched to its person by anyone;
- FEBRL3 / FEBRL4 F1 with and without soc_sec_id, c360 and Splink;
- scale (`identity_scale`): identity records of ~300,000 people (about a million), full run time and peak
  memory, an incremental run adding 1% records, identify p99.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from rich.console import Console
from rich.table import Table

from c360.bench.identity_report import EVIDENCE_COLUMNS, curve_table, quality_table, summary_table
from c360.bench.identity_scale import scale
from c360.bench.identity_sweep import (
    THRESHOLDS,
    Curve,
    QualityRuns,
    c360_curve,
    c360_labels,
    check_grid,
    splink_curve,
    summary_rows,
)
from c360.bench.identity_workspaces import demo_workspace, scratch
from c360.identity.config import IdentitySettings
from c360.identity.evaluate import (
    EVIDENCE_IDENTIFIERS,
    EVIDENCE_QUASI,
    clustering_quality,
    evidence_groups,
    evidence_quality,
    pairs_quality,
)
from c360.identity.store import IdentityStore
from c360.runtime import ensure_ray
from c360.workspace import Workspace


def _quality_row(name: str, q: Any, seconds: float) -> dict[str, Any]:
    return {"run": name, **q.as_dict(), "seconds": round(seconds, 1)}


# ------------------------------------------------------------------------------------------------ FEBRL


def febrl_quality(
    which: int,
    with_ssn: bool,
    splink: bool = True,
    workdir: Path | None = None,
    thresholds: Sequence[float] | None = None,
) -> QualityRuns:
    """c360 and the fair Splink on FEBRL at the shared threshold; both swept over `thresholds` when given."""
    from c360.bench.febrl import febrl_frames, write_febrl_workspace
    from c360.bench.splink_baseline import fair_splink
    from c360.identity.resolve import resolve
    from c360.sources.ingest import ingest

    label = f"FEBRL{which} {'with' if with_ssn else 'without'} soc_sec_id"
    rows = []
    with scratch(workdir, f"febrl{which}{'ssn' if with_ssn else ''}") as root:
        # the user's path: CSV under raw/, columns mapped in c360.yaml, default identity settings, ingest,
        # resolve
        write_febrl_workspace(root, which, with_ssn)
        ws = Workspace.load(root)
        ensure_ray(ws.settings.ray, progress=False)  # Ray start-up is not identity work
        ingest(ws, progress=False)
        t = time.perf_counter()
        resolve(ws, progress=False)
        secs = time.perf_counter() - t
        store = IdentityStore(ws.lake)
        id_map = store.read("id_map")
        truth = febrl_frames(which)[1]
        keys = id_map["record_key"]
        rows.append(_quality_row(f"c360 {label}", pairs_quality(id_map["customer_id"], truth, keys), secs))
        rows.append(_former_settings_row(root / "former", which, with_ssn, label, truth))
        shared = ws.settings.identity.match_threshold
        points = []
        if splink:
            prepared = store.read("prepared")
            run = fair_splink(prepared, ws.settings.identity, store.read("refused_identifiers"), False)
            labels, c_secs = run.labels(shared)
            q = pairs_quality(labels.reindex(keys).to_numpy(), truth, keys)
            rows.append(_quality_row(f"Splink {label}", q, run.train_predict_seconds + c_secs))
            if thresholds is not None:
                points += splink_curve(
                    run,
                    check_grid([*thresholds, shared]),
                    lambda s: pairs_quality(s.reindex(keys), truth, keys),
                )
        if thresholds is None:
            return QualityRuns(rows)
        known = {shared: c360_labels(ws)}
        c360_points = c360_curve(
            ws,
            check_grid([*thresholds, shared]),
            lambda s: pairs_quality(s.reindex(keys), truth, keys),
            known,
        )
    return QualityRuns(rows, Curve(label, shared, c360_points + points))


def _former_settings_row(root: Path, which: int, with_ssn: bool, label: str, truth: set) -> dict[str, Any]:
    """c360 with the FEBRL-specific settings the benchmark used before the defaults travelled, a
    comparison row beside the defaults' (`febrl_identity_settings`)."""
    from c360.bench.febrl import febrl_identity_settings, write_febrl_workspace
    from c360.identity.resolve import resolve
    from c360.sources.ingest import ingest

    write_febrl_workspace(root, which, with_ssn, identity=febrl_identity_settings(with_ssn))
    ws = Workspace.load(root)
    ingest(ws, progress=False)
    t = time.perf_counter()
    resolve(ws, progress=False)
    secs = time.perf_counter() - t
    id_map = IdentityStore(ws.lake).read("id_map")
    q = pairs_quality(id_map["customer_id"], truth, id_map["record_key"])
    return _quality_row(f"former c360 settings, {label}", q, secs)


# ------------------------------------------------------------------------------------------------ demo data


def demo_truth(ws: Workspace) -> pd.DataFrame:
    """Every resolved record of a demo workspace: its customer, the person behind it, its prepared columns."""
    store = IdentityStore(ws.lake)
    truth = ws.lake.read_table(ws.lake.path("ground_truth", "identity_map.parquet")).to_pandas()
    truth["record_key"] = truth["source"].astype(str) + ":" + truth["source_record_id"].astype(str)
    return (
        store.read("id_map")[["record_key", "customer_id"]]
        .merge(truth[["record_key", "person_id"]], on="record_key", validate="1:1")
        .merge(store.read("prepared"), on="record_key", how="left", validate="1:1")
    )


def demo_evidence_groups(person: pd.Series, joined: pd.DataFrame, settings: IdentitySettings) -> np.ndarray:
    """`evidence_groups`, with an identifier shared by nature (a device id, a cookie) counted as a
    quasi-identifier: evidence together with one more agreeing field, not alone.

    Two records of one person that share only a device id are tied by nothing a matcher can tell from the tie
    of two members of a household on their family tablet: linking every such pair links the household, which
    the issue asks c360 to refuse (`IdentifierSettings.shared`). A device id and a first name that agree are
    evidence, as two quasi-identifiers are."""
    shared = [f"{i.field}__id" for i in settings.identifiers if i.is_shared and f"{i.field}__id" in joined]
    partitions = [evidence_groups(person, joined.drop(columns=shared))]
    quasi = [c for c in EVIDENCE_QUASI if c in joined]
    for ident in shared:
        for other in quasi:
            both = joined[ident].astype("string") + "\x1f" + joined[other].astype("string")
            partitions.append(evidence_groups(person, pd.DataFrame({EVIDENCE_IDENTIFIERS[0]: both})))
    return _joined_partitions(partitions)


def _joined_partitions(partitions: list[np.ndarray]) -> np.ndarray:
    """The finest grouping coarser than each partition (records one label of any partition ties are one)."""
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    left, right = [], []
    for labels in partitions:
        order = np.argsort(labels, kind="stable")
        same = labels[order][1:] == labels[order][:-1]
        left.append(order[:-1][same])
        right.append(order[1:][same])
    n = len(partitions[0])
    a, b = np.concatenate(left), np.concatenate(right)
    return connected_components(coo_matrix((np.ones(len(a)), (a, b)), shape=(n, n)), directed=False)[1]


def demo_quality(
    customers: int,
    seed: int,
    splink: bool = True,
    workdir: Path | None = None,
    thresholds: Sequence[float] | None = None,
) -> QualityRuns:
    """c360 and the fair Splink on the generator's ground truth; both swept over `thresholds` when given."""
    from c360.bench.splink_baseline import fair_splink
    from c360.identity.resolve import resolve

    rows = []
    with scratch(workdir, f"demo{customers}") as root:
        ws, _, _ = demo_workspace(root, customers, seed)
        ensure_ray(ws.settings.ray, progress=False)
        t = time.perf_counter()
        resolve(ws, progress=False)
        secs = time.perf_counter() - t
        joined = demo_truth(ws)
        keys, person = joined["record_key"], joined["person_id"]
        groups = demo_evidence_groups(person, joined, ws.settings.identity)
        runs = {f"c360 demo {customers:,}": (joined["customer_id"], secs)}
        shared = ws.settings.identity.match_threshold
        points = []
        # the fair Splink compares the address as c360's config does (one comparison by default); "addr.
        # apart" compares street, city and postcode as three, as on FEBRL (households then merge: their
        # three agreements count as three proofs); "+ id links" clusters with c360's outright links on
        # personal identifiers too (without them a record holding only an email stays near p = 0.5)
        variants = {"Splink": ("as_c360", False), "Splink addr. apart": ("apart", False)} if splink else {}
        variants |= {"Splink + id links": ("as_c360", True)} if splink else {}
        store = IdentityStore(ws.lake)
        for tool, (address, det) in variants.items():
            prepared, refused = store.read("prepared"), store.read("refused_identifiers")
            run = fair_splink(prepared, ws.settings.identity, refused, address=address, deterministic=det)
            labels, c_secs = run.labels(shared)
            runs[f"{tool} demo {customers:,}"] = (keys.map(labels), run.train_predict_seconds + c_secs)
            if thresholds is not None:
                points += splink_curve(
                    run,
                    check_grid([*thresholds, shared]),
                    lambda s: clustering_quality(s.reindex(keys), person),
                    tool,
                )
        for name, (labels, seconds) in runs.items():
            row = _quality_row(name, clustering_quality(labels, person), seconds)
            ev = evidence_quality(labels, person, groups)
            rows.append(row | {f"evidence_{k}": v for k, v in ev.as_dict().items()})
        if thresholds is None:
            return QualityRuns(rows)
        known = {shared: c360_labels(ws)}
        c360_points = c360_curve(
            ws,
            check_grid([*thresholds, shared]),
            lambda s: clustering_quality(s.reindex(keys), person),
            known,
        )
    return QualityRuns(rows, Curve(f"demo {customers:,}", shared, c360_points + points))


# ------------------------------------------------------------------------------------------------ run


def run(
    out: Console,
    customers: int = 100_000,
    scale_customers: int = 300_000,
    seed: int = 42,
    febrl: bool = True,
    demo: bool = True,
    do_scale: bool = True,
    splink: bool = True,
    splink_at_scale: bool = False,
    workdir: Path | None = None,
    sweep: bool = True,
    thresholds: Sequence[float] = THRESHOLDS,
    demo_thresholds: Sequence[float] | None = None,
) -> dict[str, Any]:
    """The identity benchmark; with `sweep`, both tools over `thresholds` (the demo over `demo_thresholds`
    when given: c360 resolves the demo in full once per threshold)."""
    results: dict[str, Any] = {}
    curves: list[Curve] = []
    grid = check_grid(thresholds) if sweep else None
    demo_grid = check_grid(demo_thresholds or thresholds) if sweep else None
    if febrl:
        runs = [febrl_quality(which, ssn, splink, workdir, grid) for which in (4, 3) for ssn in (True, False)]
        rows = [r for q in runs for r in q.rows]
        out.print(quality_table(rows, "FEBRL (pairs within the truth's entities)"))
        results["febrl"] = rows
        curves += [q.curve for q in runs if q.curve is not None]
    if demo:
        dq = demo_quality(customers, seed, splink, workdir, demo_grid)
        out.print(quality_table(dq.rows, f"demo generator ground truth, {customers:,} customers"))
        out.print(
            quality_table(dq.rows, "demo: recall over the true pairs that share evidence", EVIDENCE_COLUMNS)
        )
        results["demo"] = dq.rows
        curves += [dq.curve] if dq.curve is not None else []
    if curves:
        for c in curves:
            out.print(curve_table(c))
        out.print(summary_table(curves))
        results["curves"] = {c.dataset: [asdict(p) for p in c.points] for c in curves}
        results["best"] = summary_rows(curves)
    if do_scale:
        s = scale(scale_customers, seed, splink_at_scale, workdir)
        t = Table(title=f"scale: {s['records']:,} identity records ({scale_customers:,} people)")
        t.add_column("measure")
        t.add_column("value", justify="right")
        for k, v in s.items():
            t.add_row(k, str(v))
        out.print(t)
        results["scale"] = s
    return results
