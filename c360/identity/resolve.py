"""`c360 resolve`: standardized identity records -> links, clusters, stable customer ids, golden records.

A run is incremental by default: only records from standardized files not seen before (and records whose
content changed) are blocked and scored against the whole graph; old links are kept, deterministic links and
clusters are recomputed over everything (cheap, vectorized), so the result equals a full re-run with the same
model. The Fellegi-Sunter model is trained on the first run and whenever the data has grown by
`em.retrain_growth` (or with `retrain=True`); a retrain re-scores every pair.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from rich.console import Console
from rich.table import Table

from c360.identity.compare import comparison_columns, comparison_vectors, random_pairs
from c360.identity.config import IdentitySettings, comparison_level_names
from c360.identity.corrections import correction_groups, load_corrections
from c360.identity.deterministic import deterministic_links
from c360.identity.model import FSModel, threshold_weight, train_model
from c360.identity.normalize import PREPARED_VERSION, latest_records, prepare_records
from c360.identity.outputs import write_outputs
from c360.identity.scoring import score_candidates
from c360.identity.store import IdentityStore, read_standardized, snapshot_frame, standardized_identity_files
from c360.workspace import Workspace

log = logging.getLogger(__name__)


@dataclass
class ResolveReport:
    run_id: str
    mode: str
    """full, incremental, or nothing (no new records and no new corrections)."""
    trained: bool
    records: int
    new_records: int
    changed_records: int
    candidate_pairs: int
    deterministic_links: int
    probabilistic_links: int
    customers: int
    changes: dict[str, int] = field(default_factory=dict)
    refused_identifiers: pd.DataFrame = field(default_factory=pd.DataFrame)
    refused_links: dict[str, int] = field(default_factory=dict)
    oversized_clusters: int = 0
    seconds: dict[str, float] = field(default_factory=dict)


def settings_hash(settings: IdentitySettings) -> str:
    """The config and the comparison levels the code derives from it: a change to either retrains."""
    levels = json.dumps({c.field: comparison_level_names(c) for c in settings.comparisons})
    text = settings.model_dump_json() + levels + PREPARED_VERSION
    return hashlib.blake2b(text.encode(), digest_size=8).hexdigest()


def resolve(ws: Workspace, full: bool = False, progress: bool = True, retrain: bool = False) -> ResolveReport:
    """Resolve identities into the lake's `identity/` folder and return what happened."""
    from c360.runtime import ensure_ray

    settings = ws.settings.identity
    store = IdentityStore(ws.lake)
    t0 = time.perf_counter()
    secs: dict[str, float] = {}
    run_at = datetime.now(UTC)
    run_id = run_at.strftime("%Y%m%dT%H%M%S%fZ")
    state = store.read_json("state") or {}
    files = standardized_identity_files(ws.lake)
    corrections = load_corrections(store)
    config_changed = state.get("settings_hash") != settings_hash(settings)
    model_text = store.read_text_state("model")
    incremental = bool(state) and not full and not config_changed and model_text is not None and not retrain
    # Files are remembered relative to the lake root, so a workspace moved or copied elsewhere stays
    # incremental (older states hold absolute paths; those under the current root still match).
    seen = {ws.lake.relative(f) for f in state.get("files", [])}
    new_files = [f for f in files if ws.lake.relative(f) not in seen] if incremental else files
    if incremental and not new_files and state.get("corrections", 0) == len(corrections):
        return _nothing(store, run_id, state)

    # ---------------------------------------------------------------- records
    if incremental:
        old_raw = store.read_arrow("records")
        old_prep = store.read_arrow("prepared")
        assert old_raw is not None and old_prep is not None
        fresh_raw = latest_records(read_standardized(ws.lake, new_files))
        old_fp = _fingerprints_of(old_raw, fresh_raw["record_key"])
        fresh_prep = prepare_records(fresh_raw, settings)
        fresh_raw["fingerprint"] = fresh_prep["fingerprint"].to_numpy()
        is_known = fresh_raw["record_key"].isin(old_fp.keys())
        changed_keys = set(
            fresh_raw.loc[
                is_known & (fresh_raw["fingerprint"] != fresh_raw["record_key"].map(old_fp)), "record_key"
            ]
        )
        new_keys = set(fresh_raw.loc[~is_known, "record_key"])
        raw = _combine(old_raw, fresh_raw)
        prepared = _combine(old_prep, fresh_prep)
    else:
        raw = latest_records(read_standardized(ws.lake, files))
        prepared = prepare_records(raw, settings)
        raw["fingerprint"] = prepared["fingerprint"].to_numpy()
        new_keys, changed_keys = set(raw["record_key"]), set()
    prepared["rid"] = np.arange(len(prepared), dtype=np.int64)
    key_index = pd.Index(prepared["record_key"])
    n = len(prepared)
    secs["prepare"] = time.perf_counter() - t0

    # ---------------------------------------------------------------- model
    grown = bool(state) and n >= settings.em.retrain_growth * max(state.get("trained_records", 1), 1)
    train = not incremental and (retrain or model_text is None or config_changed or grown)
    if incremental and n >= settings.em.retrain_growth * max(state.get("trained_records", 1), 1):
        return resolve(ws, full=True, progress=progress, retrain=True)
    model = None if train else FSModel.from_json(model_text, store.read_arrow("tf"))
    tf = model.tf if model is not None else _tf_only(prepared, settings)
    for c in settings.comparisons:
        if c.tf_adjustment:
            helper = FSModel([], {}, {}, {}, 0.5, n, tf=tf) if model is None else model
            prepared[f"{c.field}__tf"] = helper.tf_of(c.field, prepared[c.field]).to_numpy()
    records_arrow = pa.Table.from_pandas(prepared[comparison_columns(settings)], preserve_index=False)

    # ---------------------------------------------------------------- pairs
    ensure_ray(ws.settings.ray, progress=progress)
    t1 = time.perf_counter()
    min_w = threshold_weight(settings.match_threshold)
    new_mask = prepared["record_key"].isin(new_keys | changed_keys).to_numpy() if incremental else None
    scored, _ = score_candidates(records_arrow, prepared, settings, model, None if train else min_w, new_mask)
    secs["score"] = time.perf_counter() - t1
    candidates = scored.num_rows
    if train:
        t2 = time.perf_counter()
        cand = scored.to_pandas()
        rnd = comparison_vectors(
            records_arrow, random_pairs(n, settings.em.u_sample_pairs, settings.em.seed), settings
        )
        model = train_model(cand, rnd.to_pandas(), prepared, settings)
        w = model.match_weight(cand)
        scored = scored.filter(pa.array(w >= min_w)).append_column(
            "weight", pa.array(w[w >= min_w], pa.float64())
        )
        secs["train"] = time.perf_counter() - t2
    assert model is not None
    prob = scored.to_pandas()
    prob["kind"] = "probabilistic"
    prob["rule"] = prob["rule"].map(lambda r: settings.blocking_rules[int(r)].label)
    prob["record_key_l"] = key_index[prob["rid_l"].to_numpy()]
    prob["record_key_r"] = key_index[prob["rid_r"].to_numpy()]
    old_links = store.read("links") if incremental else None
    if old_links is not None and len(old_links):
        dirty = changed_keys | new_keys
        # Links refused by the clustering are still scored links: the next clustering sees them again.
        keep = old_links["kind"] == "probabilistic"
        keep &= ~old_links["record_key_l"].isin(dirty) & ~old_links["record_key_r"].isin(dirty)
        old = old_links.loc[keep].drop(columns=["accepted", "probability", "reason"])
        old["rid_l"] = key_index.get_indexer(old["record_key_l"])
        old["rid_r"] = key_index.get_indexer(old["record_key_r"])
        prob = pd.concat([old[old["rid_l"] >= 0], prob], ignore_index=True)

    # ---------------------------------------------------------------- deterministic links
    t3 = time.perf_counter()
    det, refused_ids = deterministic_links(prepared, settings)
    det_pairs = pa.Table.from_pandas(
        det[["rid_l", "rid_r"]].assign(rule=np.int8(-1), rules_mask=np.int32(0)), preserve_index=False
    )
    det_g = (
        comparison_vectors(records_arrow, det_pairs, settings, threads=None)
        .to_pandas()
        .drop(columns=["rule"])
    )
    det = det.merge(det_g, on=["rid_l", "rid_r"], how="left")
    det["weight"] = model.match_weight(det) if len(det) else np.zeros(0)
    det["kind"] = "deterministic"
    det["record_key_l"] = key_index[det["rid_l"].to_numpy()]
    det["record_key_r"] = key_index[det["rid_r"].to_numpy()]
    links = pd.concat([det, prob], ignore_index=True)
    # A pair may carry both kinds: each is kept, so an incremental run never loses a probabilistic link that a
    # deterministic one shadowed (the deterministic star can change shape when records arrive).
    links = links.sort_values(["rid_l", "rid_r", "kind"], kind="stable").reset_index(drop=True)
    secs["deterministic"] = time.perf_counter() - t3

    # ---------------------------------------------------------------- clusters, ids, outputs
    must, cannot, touched = correction_groups(corrections, key_index)
    report = write_outputs(
        store=store,
        settings=settings,
        model=model,
        records_arrow=records_arrow,
        raw=raw,
        prepared=prepared,
        links=links,
        must=must,
        cannot=cannot,
        touched=touched,
        run_id=run_id,
        run_at=run_at,
        dirty_keys=new_keys | changed_keys,
        incremental=incremental,
        old_links=old_links,
    )
    secs["cluster_and_write"] = time.perf_counter() - t3 - secs["deterministic"]
    trained_records = n if train else state.get("trained_records", n)
    store.write_json(
        "state",
        {
            "run_id": run_id,
            "at": run_at.isoformat(),
            "files": [ws.lake.relative(f) for f in files],
            "settings_hash": settings_hash(settings),
            "trained_records": trained_records,
            "records": n,
            "corrections": len(corrections),
        },
    )
    if train:
        store.write_json("model", model.to_json())
        store.write("tf", model.tf_table())
    store.write("refused_identifiers", refused_ids)
    secs["total"] = time.perf_counter() - t0
    log.info(
        "identity run %s: %d records, %d customers, %.1fs", run_id, n, report["customers"], secs["total"]
    )
    return ResolveReport(
        run_id=run_id,
        mode="incremental" if incremental else "full",
        trained=train,
        records=n,
        new_records=len(new_keys) if incremental else n,
        changed_records=len(changed_keys),
        candidate_pairs=candidates,
        deterministic_links=int((links["kind"] == "deterministic").sum()),
        probabilistic_links=int((links["kind"] == "probabilistic").sum()),
        customers=report["customers"],
        changes=report["changes"],
        refused_identifiers=refused_ids,
        refused_links=report["refused"],
        oversized_clusters=report["oversized"],
        seconds={k: round(v, 2) for k, v in secs.items()},
    )


def _fingerprints_of(old: pa.Table, keys: pd.Series) -> dict[str, Any]:
    """record_key -> last run's fingerprint, for the given keys that the snapshot holds."""
    wanted = pa.array(keys.to_numpy(dtype=object), pa.string())
    mine = old.select(["record_key", "fingerprint"]).filter(
        pc.fill_null(pc.is_in(old.column("record_key"), value_set=wanted), False)
    )
    return dict(
        zip(mine.column("record_key").to_pylist(), mine.column("fingerprint").to_pylist(), strict=True)
    )


def _combine(old: pa.Table, fresh: pd.DataFrame) -> pd.DataFrame:
    """Old rows replaced by fresh rows with the same record key; sorted by key (rids follow this order).

    Combined in Arrow and converted to pandas once: the old snapshot holds every record, and a pandas
    concat and take of a million rows of text cost seconds. Columns keep the snapshot's order; one the
    fresh rows lack is null for them, and a column that was all null last time takes the fresh type."""
    shared = [c for c in old.column_names if c in fresh.columns]
    fresh_t = pa.Table.from_pandas(fresh[shared], preserve_index=False)
    olds, news = [], []
    for spec in old.schema:
        o = old.column(spec.name)
        f = fresh_t.column(spec.name) if spec.name in shared else pa.nulls(len(fresh), spec.type)
        if f.type != o.type:
            if pa.types.is_null(o.type):
                o = o.cast(f.type)
            else:
                f = f.cast(o.type)
        olds.append(o)
        news.append(f)
    names = old.column_names
    fresh_keys = fresh_t.column("record_key").combine_chunks().cast(pa.string())
    stale = pc.is_in(old.column("record_key"), value_set=fresh_keys)
    both = pa.concat_tables(
        [
            pa.table(olds, names=names).filter(pc.invert(pc.fill_null(stale, False))),
            pa.table(news, names=names),
        ]
    )
    # Keys are unique here: Arrow's sort orders them like pandas would, without an object-array sort.
    return snapshot_frame(both.take(pc.sort_indices(both.column("record_key"))))


def _tf_only(prepared: pd.DataFrame, settings: IdentitySettings) -> dict[str, dict[str, float]]:
    from c360.identity.model import term_frequencies

    return term_frequencies(prepared, settings)


def _nothing(store: IdentityStore, run_id: str, state: dict) -> ResolveReport:
    clusters = store.read_arrow("clusters", columns=["customer_id"])
    return ResolveReport(
        run_id=run_id,
        mode="nothing",
        trained=False,
        records=int(state.get("records", 0)),
        new_records=0,
        changed_records=0,
        candidate_pairs=0,
        deterministic_links=0,
        probabilistic_links=0,
        customers=clusters.num_rows if clusters is not None else 0,
    )


def print_report(report: ResolveReport, console: Console) -> None:
    """A summary for people: counts and timings, never a value of an identifier."""
    t = Table(title=f"identity resolution ({report.mode}{', model trained' if report.trained else ''})")
    t.add_column("what")
    t.add_column("count", justify="right")
    rows = [
        ("records", report.records),
        ("new records", report.new_records),
        ("changed records", report.changed_records),
        ("candidate pairs scored", report.candidate_pairs),
        ("deterministic links", report.deterministic_links),
        ("probabilistic links", report.probabilistic_links),
        ("customers", report.customers),
        *((f"changes: {k}", v) for k, v in sorted(report.changes.items())),
        *((f"links refused: {k}", v) for k, v in sorted(report.refused_links.items())),
        ("clusters split for size", report.oversized_clusters),
    ]
    for what, count in rows:
        t.add_row(what, f"{count:,}")
    console.print(t)
    if len(report.refused_identifiers):
        r = report.refused_identifiers.groupby(["field", "reason"]).size().reset_index(name="values")
        console.print(
            "identifiers not used to link: "
            + ", ".join(f"{row.field} {row.reason} x{row.values}" for row in r.itertuples())
            + " (details in identity/state/refused_identifiers.parquet)"
        )
    if report.seconds:
        console.print("seconds: " + ", ".join(f"{k} {v}" for k, v in report.seconds.items()))
