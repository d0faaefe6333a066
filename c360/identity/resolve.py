"""`c360 resolve`: standardized identity records -> links, clusters, stable customer ids, golden records.

A run goes through five stages, each a function with a typed result:
1. links (`c360.identity.links`): candidate pairs scored, deterministic links and evidence pairs;
2. clustering (`c360.identity.clustering`): the evidence rule, components, conflicts, corrections, size;
3. customer ids (`c360.identity.assign`): the clusters matched to last run's customers;
4. tables (`c360.identity.tables`): id map, clusters, links, golden records, aliases, changes;
5. writing (`c360.identity.outputs`), in one journalled run (`c360.identity.journal`).

A run is incremental by default: only records from standardized files not seen before (and records whose
content changed) are scored against their blocking neighbours, the deterministic stars of their identifier
values are recomputed, and the stored components they reach are clustered again; every other row is kept
(`c360.identity.incremental`). Only the first stage differs; the result equals a full re-run with the same
model. The Fellegi-Sunter model is trained on the first run and whenever the data has grown by
`em.retrain_growth` (or with `retrain=True`); a retrain re-scores every pair.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime

import numpy as np
import pandas as pd
import pyarrow as pa

from c360.faults import checkpoint
from c360.identity.assign import customer_ids
from c360.identity.clustering import LinkedRecords, RidCorrections, cluster_links
from c360.identity.compare import RUN_COLUMNS_SUFFIXES
from c360.identity.config import IdentitySettings, comparison_level_names
from c360.identity.corrections import correction_groups, load_corrections
from c360.identity.estimate import describe, effective_settings, initial_settings
from c360.identity.incremental import (
    combine,
    fresh_records,
    merged_links,
    neighbourhood,
    reclustered_records,
    refused_identifiers,
    rows_with,
    snapshot_columns,
    touched_only,
)
from c360.identity.links import (
    LinkParts,
    comparable_records,
    identifier_links,
    learned_model,
    link_table,
    numbered,
    probabilistic_links,
)
from c360.identity.model import FSModel, term_frequencies, threshold_weight
from c360.identity.normalize import PREPARED_VERSION, latest_records, prepare_records
from c360.identity.outputs import Previous, RunStamp, write_tables
from c360.identity.report import ResolveReport, nothing, print_report  # noqa: F401 (the CLI imports it here)
from c360.identity.scoring import score_candidates
from c360.identity.store import IdentityStore, read_standardized, standardized_identity_files
from c360.identity.suppressed import Suppressed
from c360.identity.tables import identity_tables
from c360.workspace import Workspace

log = logging.getLogger(__name__)


def settings_hash(settings: IdentitySettings) -> str:
    """The config and the comparison levels the code derives from it: a change to either retrains."""
    levels = json.dumps({c.field: comparison_level_names(c) for c in settings.comparisons})
    text = settings.model_dump_json() + levels + PREPARED_VERSION
    return hashlib.blake2b(text.encode(), digest_size=8).hexdigest()


def resolve(ws: Workspace, full: bool = False, progress: bool = True, retrain: bool = False) -> ResolveReport:
    """Resolve identities into the lake's `identity/` folder and return what happened."""
    settings = ws.settings.identity
    store = IdentityStore(ws.lake)
    if store.journal.recover():  # a run killed midway: rolled back or finished (identity/journal.py)
        store = IdentityStore(ws.lake)
    suppressed = Suppressed.load(ws.lake)
    t0 = time.perf_counter()
    run_at = datetime.now(UTC)
    run_id = run_at.strftime("%Y%m%dT%H%M%S%fZ")
    state = store.read_json("state") or {}
    files = standardized_identity_files(ws.lake)
    corrections = load_corrections(store)
    config_changed = state.get("settings_hash") != settings_hash(settings)
    model_text = store.read_text_state("model")
    # A store written before components were labelled is resolved in full once (with the same model).
    labelled = "component" in store.columns("id_map")
    incremental = bool(state) and labelled and model_text is not None
    incremental = incremental and not (full or config_changed or retrain)
    incremental = incremental and state.get("suppression") == suppressed.mark  # erased people leave
    # Files are remembered relative to the lake root, so a workspace moved or copied elsewhere stays
    # incremental (older states hold absolute paths; those under the current root still match).
    seen = {ws.lake.relative(f) for f in state.get("files", [])}
    new_files = [f for f in files if ws.lake.relative(f) not in seen] if incremental else files
    if incremental and not new_files and state.get("corrections", 0) == len(corrections):
        return nothing(store, run_id, state)
    store.journal.begin(run_id)
    run = Run(ws, store, settings, corrections, RunStamp(run_id, run_at), progress, t0, suppressed)
    if incremental:
        if model_text is None:
            raise RuntimeError("an incremental identity run needs last run's model")
        model = FSModel.from_json(model_text, store.read_arrow("tf"))
        out = run.incremental(model, new_files, state)
        if out is None:  # the data has grown enough to learn the model again
            return resolve(ws, full=True, progress=progress, retrain=True)
    else:
        out = run.full(files, None if retrain or config_changed else model_text, state)
    if out.trained:
        store.write_json("model", out.model.to_json())
        store.write("tf", out.model.tf_table())
    store.write("refused_identifiers", out.refused_identifiers)
    checkpoint("resolve", "model")
    store.write_json(
        "state",
        {
            "run_id": run_id,
            "at": run_at.isoformat(),
            "files": [ws.lake.relative(f) for f in files],
            "settings_hash": settings_hash(settings),
            "trained_records": out.records if out.trained else state.get("trained_records", out.records),
            "records": out.records,
            "corrections": len(corrections),
            "suppression": suppressed.mark,
        },
    )
    checkpoint("resolve", "state")
    store.journal.commit()  # every file of the run becomes visible at once
    run.secs["total"] = time.perf_counter() - t0
    counts = out.counts
    log.info(
        "identity run %s: %d records, %d customers, %.1fs",
        run_id,
        out.records,
        counts.customers,
        run.secs["total"],
    )
    return ResolveReport(
        run_id=run_id,
        mode="incremental" if incremental else "full",
        trained=out.trained,
        records=out.records,
        new_records=out.new_records,
        changed_records=out.changed_records,
        candidate_pairs=out.candidates,
        deterministic_links=counts.deterministic_links,
        probabilistic_links=counts.probabilistic_links,
        customers=counts.customers,
        changes=counts.changes,
        refused_identifiers=out.refused_identifiers,
        refused_links=counts.refused_links,
        oversized_clusters=counts.oversized_clusters,
        reclustered=counts.reclustered,
        seconds={k: round(v, 2) for k, v in run.secs.items()},
        estimated=describe(settings, out.model),
    )


@dataclass(frozen=True)
class ResolvedCounts:
    """What the report says of stages 2 to 5."""

    customers: int
    changes: dict[str, int]
    refused_links: dict[str, int]
    """Links the clustering refused, by reason (`conflict`, `do_not_link`, `max_cluster_size`)."""
    oversized_clusters: int
    reclustered: int
    """Records clustered again: all of them in a full run, the touched components in an incremental one."""
    deterministic_links: int
    probabilistic_links: int


@dataclass(frozen=True)
class RunOutput:
    counts: ResolvedCounts
    model: FSModel
    trained: bool
    records: int
    new_records: int
    changed_records: int
    candidates: int
    refused_identifiers: pd.DataFrame


@dataclass
class Run:
    """One run's context. `full` and `incremental` find the records to cluster and their links (stage 1, the
    only one they do differently); `settle` runs the stages after it for both."""

    ws: Workspace
    store: IdentityStore
    settings: IdentitySettings
    corrections: pd.DataFrame
    stamp: RunStamp
    progress: bool
    t0: float
    suppressed: Suppressed
    secs: dict[str, float] = field(default_factory=dict)

    def settle(self, model: FSModel, records: LinkedRecords, previous: Previous) -> ResolvedCounts:
        """Stages 2 to 5: cluster the records, give the clusters customer ids, build and write the tables.
        The record snapshots are the caller's to write."""
        t = time.perf_counter()
        corrections = RidCorrections(*correction_groups(self.corrections, pd.Index(records.keys)))
        clustering = cluster_links(records, corrections, model, self.settings)
        self.secs["cluster"] = time.perf_counter() - t
        ids = customer_ids(records.keys, clustering, previous, corrections.touched, self.stamp)
        tables = identity_tables(records, clustering, ids, previous, self.settings, self.stamp)
        stored = write_tables(self.store, tables, previous, self.stamp.run_id)
        refused = clustering.refused["reason"]
        return ResolvedCounts(
            customers=stored.customers,
            changes=ids.assignment.changes["kind"].value_counts().to_dict(),
            refused_links=refused.str.split(":").str[0].value_counts().to_dict() if len(refused) else {},
            oversized_clusters=clustering.oversized,
            reclustered=len(records.prepared),
            deterministic_links=stored.deterministic_links,
            probabilistic_links=stored.probabilistic_links,
        )

    def full(self, files: list[str], model_text: str | None, state: dict) -> RunOutput:
        """Every record. The model is learned again when there is none (or `model_text` is None: a retrain
        or a config change) or the data has grown by `em.retrain_growth` since it was learned."""
        from c360.runtime import ensure_ray

        settings, secs = self.settings, self.secs
        last_map = self.store.read_arrow("id_map", columns=["record_key", "customer_id"], sort=False)
        raw = latest_records(self.suppressed.drop(read_standardized(self.ws.lake, files), last_map))
        prepared = prepare_records(raw, settings)
        raw["fingerprint"] = prepared["fingerprint"].to_numpy()
        prepared["rid"] = np.arange(len(prepared), dtype=np.int64)
        keys = prepared["record_key"].to_numpy()
        n = len(prepared)
        secs["prepare"] = time.perf_counter() - self.t0
        grown = bool(state) and n >= settings.em.retrain_growth * max(state.get("trained_records", 1), 1)
        train = model_text is None or grown
        model = None if train else FSModel.from_json(model_text, self.store.read_arrow("tf"))
        # A stored model's estimates apply from the start; a model to learn starts from the config.
        settings = effective_settings(settings, model) if model else initial_settings(settings)
        tf = term_frequencies(prepared, settings) if model is None else None  # once, for both uses below
        comparable = comparable_records(prepared, settings, model, tf)

        # ---------------------------------------------------------------- stage 1: links
        ensure_ray(self.ws.settings.ray, progress=self.progress)
        t1 = time.perf_counter()
        min_w = threshold_weight(settings.match_threshold)
        scored, _ = score_candidates(comparable, prepared, settings, model, None if train else min_w, None)
        secs["score"] = time.perf_counter() - t1
        candidates = scored.num_rows
        if model is None:
            t2 = time.perf_counter()
            model, scored = learned_model(scored, comparable, prepared, settings, tf)
            apart = effective_settings(settings, model)
            if apart.comparisons != settings.comparisons:  # no look-alikes: learned again, the address apart
                decided, settings = model.estimated, apart
                tf = term_frequencies(prepared, settings)
                comparable = comparable_records(prepared, settings, None, tf)
                scored, _ = score_candidates(comparable, prepared, settings, None, None, None)
                model, scored = learned_model(scored, comparable, prepared, settings, tf)
                model.estimated = decided
            secs["train"] = time.perf_counter() - t2
        # From here on the model is known, learned or loaded: the settings it estimated apply.
        self.settings = settings = effective_settings(self.settings, model)
        prob = probabilistic_links(scored, keys, settings)
        t3 = time.perf_counter()
        ident = identifier_links(prepared, comparable, model, settings)
        links = link_table(LinkParts(ident.links, ident.evidence, prob), comparable, model, settings)
        secs["deterministic"] = time.perf_counter() - t3

        t4 = time.perf_counter()
        records = LinkedRecords(raw, prepared, comparable, links)
        counts = self.settle(model, records, Previous.read(self.store, False))
        self.store.write("records", raw, self.stamp.run_id)
        self.store.write("prepared", _snapshot(prepared), self.stamp.run_id)
        checkpoint("resolve", "snapshots")
        secs["write"] = time.perf_counter() - t4 - secs["cluster"]
        return RunOutput(counts, model, train, n, n, 0, candidates, ident.refused)

    def incremental(self, model: FSModel, new_files: list[str], state: dict) -> RunOutput | None:
        """Only what the new and changed records can reach (see `c360.identity.incremental`); None when the
        data has grown by `em.retrain_growth` since the model was learned."""
        from c360.runtime import ensure_ray

        self.settings = effective_settings(self.settings, model)  # what the full run estimated
        settings, secs, store = self.settings, self.secs, self.store
        # Last run's tables load on other threads while this one prepares and scores the new records (Arrow
        # reads release the GIL): the record snapshot only its rows clustered again need, and the tables
        # whose rows are replaced.
        raw_cols = [c for c in store.columns("records") if c not in ("_file", "_row")]
        pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="identity-read")
        raw_future = pool.submit(store.read_arrow, "records", raw_cols, False)
        previous_future = pool.submit(Previous.read, store, True)
        pool.shutdown(wait=False)
        wanted = snapshot_columns(settings)
        columns = [c for c in store.columns("prepared") if c in wanted]
        old = _present(store.read_arrow("prepared", columns=columns, sort=False))
        new_raw = latest_records(self.suppressed.drop(read_standardized(self.ws.lake, new_files)))
        fresh = fresh_records(old, new_raw, settings)
        n = old.num_rows + len(fresh.new_keys)
        if n >= settings.em.retrain_growth * max(state.get("trained_records", 1), 1):
            return None
        hood = neighbourhood(old, fresh.prepared, fresh.changed_keys, settings)
        near = hood.frame
        near_comparable = comparable_records(near, settings, model)
        secs["prepare"] = time.perf_counter() - self.t0

        # ---------------------------------------------------------------- stage 1: new links
        ensure_ray(self.ws.settings.ray, progress=self.progress)
        t1 = time.perf_counter()
        min_w = threshold_weight(settings.match_threshold)
        scored, _ = score_candidates(near_comparable, near, settings, model, min_w, hood.fresh)
        prob_new = probabilistic_links(scored, near["record_key"].to_numpy(), settings)
        secs["score"] = time.perf_counter() - t1
        t3 = time.perf_counter()
        ident = identifier_links(touched_only(near, hood.touched), near_comparable, model, settings)
        new = LinkParts(ident.links, ident.evidence, prob_new)

        # ---------------------------------------------------------------- the components to cluster again
        previous = previous_future.result()
        if previous.id_map is None or previous.links is None:
            raise RuntimeError("identity tables missing: run `c360 resolve --full`")
        stored = reclustered_records(previous.id_map, fresh, hood, new, self.corrections)
        prepared = combine(rows_with(old, "record_key", stored), fresh.prepared)
        prepared["rid"] = np.arange(len(prepared), dtype=np.int64)
        keys = prepared["record_key"].to_numpy()
        comparable = comparable_records(prepared, settings, model)
        raw = combine(rows_with(_present(raw_future.result()), "record_key", stored), fresh.raw)
        if not np.array_equal(raw["record_key"].to_numpy(), keys):
            raise RuntimeError("identity snapshots disagree: run `c360 resolve --full`")

        # ---------------------------------------------------------------- their links, kept and new
        parts = numbered(merged_links(previous.links, stored, hood, fresh.changed_keys, new), pd.Index(keys))
        links = link_table(parts, comparable, model, settings)
        if (links["rid_l"] < 0).any() or (links["rid_r"] < 0).any():
            raise RuntimeError("a link leaves its component: run `c360 resolve --full`")
        secs["deterministic"] = time.perf_counter() - t3

        t4 = time.perf_counter()
        counts = self.settle(model, LinkedRecords(raw, prepared, comparable, links), previous)
        if len(fresh.prepared):
            store.append("records", fresh.raw, self.stamp.run_id)
            store.append("prepared", _snapshot(fresh.prepared), self.stamp.run_id)
        checkpoint("resolve", "snapshots")
        refused = refused_identifiers(store.read("refused_identifiers"), hood.touched, ident.refused)
        secs["write"] = time.perf_counter() - t4 - secs["cluster"]
        return RunOutput(
            counts, model, False, n, len(fresh.new_keys), len(fresh.changed_keys), scored.num_rows, refused
        )


def _snapshot(prepared: pd.DataFrame) -> pd.DataFrame:
    """A prepared frame as stored: without the columns a run derives from all records (the term frequencies
    follow the model, the namesake flag the records of the run)."""
    return prepared.drop(columns=[c for c in prepared.columns if c.endswith(RUN_COLUMNS_SUFFIXES)])


def _present(table: pa.Table | None) -> pa.Table:
    """A stored snapshot an incremental run needs (a run that wrote `state` wrote it)."""
    if table is None:
        raise RuntimeError("identity snapshots missing: run `c360 resolve --full`")
    return table
