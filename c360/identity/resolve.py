"""`c360 resolve`: standardized identity records -> links, clusters, stable customer ids, golden records.

A run is incremental by default: only records from standardized files not seen before (and records whose
content changed) are scored against their blocking neighbours, the deterministic stars of their identifier
values are recomputed, and the stored components they reach are clustered again; every other row is kept
(`c360.identity.incremental`). The result equals a full re-run with the same model. The Fellegi-Sunter model
is trained on the first run and whenever the data has grown by `em.retrain_growth` (or with `retrain=True`);
a retrain re-scores every pair.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from c360.faults import checkpoint
from c360.identity.compare import comparison_columns, comparison_vectors, random_pairs
from c360.identity.config import IdentitySettings, comparison_level_names
from c360.identity.corrections import as_list, correction_groups, load_corrections
from c360.identity.deterministic import deterministic_links, sorted_rules
from c360.identity.incremental import (
    combine,
    component_records,
    join_rules,
    kept_deterministic,
    key_array,
    neighbourhood,
    rows_with,
    touched_only,
)
from c360.identity.model import FSModel, threshold_weight, train_model
from c360.identity.normalize import PREPARED_VERSION, latest_records, prepare_records
from c360.identity.outputs import Previous, write_outputs
from c360.identity.report import ResolveReport, nothing, print_report  # noqa: F401 (the CLI imports it here)
from c360.identity.scoring import score_candidates
from c360.identity.shared import kept_evidence, pair_verdicts, shared_links
from c360.identity.store import IdentityStore, read_standardized, standardized_identity_files
from c360.identity.suppressed import Suppressed
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
    run = Run(ws, store, settings, corrections, run_id, run_at, progress, t0, suppressed)
    if incremental:
        assert model_text is not None
        model = FSModel.from_json(model_text, store.read_arrow("tf"))
        out = run.incremental(model, new_files, state)
        if out is None:  # the data has grown enough to learn the model again
            return resolve(ws, full=True, progress=progress, retrain=True)
    else:
        out = run.full(files, None if retrain or config_changed else model_text, state)
    report = out.report
    # Clustering (components, conflicts, corrections, size) apart from what follows it: customer ids, golden
    # records and every table written.
    run.secs["cluster"] = report["cluster_seconds"]
    run.secs["write"] = time.perf_counter() - run.t_write - report["cluster_seconds"]
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
    log.info(
        "identity run %s: %d records, %d customers, %.1fs",
        run_id,
        out.records,
        report["customers"],
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
        deterministic_links=report["deterministic_links"],
        probabilistic_links=report["probabilistic_links"],
        customers=report["customers"],
        changes=report["changes"],
        refused_identifiers=out.refused_identifiers,
        refused_links=report["refused"],
        oversized_clusters=report["oversized"],
        reclustered=report["reclustered"],
        seconds={k: round(v, 2) for k, v in run.secs.items()},
    )


@dataclass
class RunOutput:
    report: dict[str, Any]
    model: FSModel
    trained: bool
    records: int
    new_records: int
    changed_records: int
    candidates: int
    refused_identifiers: pd.DataFrame


@dataclass
class Run:
    """One run's context; `full` and `incremental` find the records to cluster and their links, and
    `write_outputs` does the rest for both."""

    ws: Workspace
    store: IdentityStore
    settings: IdentitySettings
    corrections: pd.DataFrame
    run_id: str
    run_at: datetime
    progress: bool
    t0: float
    suppressed: Suppressed
    secs: dict[str, float] = field(default_factory=dict)
    t_write: float = 0.0

    def _with_tf(self, prepared: pd.DataFrame, model: FSModel | None, tf: dict | None = None) -> pa.Table:
        """Adds the term-frequency columns; returns the comparison columns as Arrow."""
        for c in self.settings.comparisons:
            if c.tf_adjustment:
                helper = model or FSModel([], {}, {}, {}, 0.5, len(prepared), tf=tf or {})
                prepared[f"{c.field}__tf"] = helper.tf_of(c.field, prepared[c.field]).to_numpy()
        return pa.Table.from_pandas(prepared[comparison_columns(self.settings)], preserve_index=False)

    def _labelled(self, scored: pa.Table, keys: np.ndarray) -> pd.DataFrame:
        prob = scored.to_pandas()
        prob["kind"] = "probabilistic"
        prob["rule"] = prob["rule"].map(lambda r: self.settings.blocking_rules[int(r)].label)
        prob["record_key_l"] = keys[prob["rid_l"].to_numpy()]
        prob["record_key_r"] = keys[prob["rid_r"].to_numpy()]
        return prob

    def _scored_deterministic(
        self, det: pd.DataFrame, records: pa.Table, model: FSModel, kind: str = "deterministic"
    ) -> pd.DataFrame:
        """Deterministic pairs (rid_l, rid_r, rule) with their comparison levels and match weight; `kind`
        "evidence" for the pairs of demoted identifier values (with `refusal`, why they do not link)."""
        pairs = pa.Table.from_pandas(
            det[["rid_l", "rid_r"]].assign(rule=np.int8(-1), rules_mask=np.int32(0)), preserve_index=False
        )
        g = comparison_vectors(records, pairs, self.settings, threads=None).to_pandas().drop(columns=["rule"])
        det = det.merge(g, on=["rid_l", "rid_r"], how="left")
        det["weight"] = model.match_weight(det) if len(det) else np.zeros(0)
        det["kind"] = kind
        return det

    def _write(
        self,
        model: FSModel,
        records_arrow: pa.Table,
        raw: pd.DataFrame,
        prepared: pd.DataFrame,
        links: pd.DataFrame,
        previous: Previous,
    ) -> dict[str, Any]:
        """Cluster the records handed over (numbered in key order) and write the identity tables."""
        self.t_write = time.perf_counter()
        must, cannot, touched = correction_groups(self.corrections, pd.Index(prepared["record_key"]))
        return write_outputs(
            store=self.store,
            settings=self.settings,
            model=model,
            records_arrow=records_arrow,
            raw=raw,
            prepared=prepared,
            links=links,
            must=must,
            cannot=cannot,
            touched=touched,
            run_id=self.run_id,
            run_at=self.run_at,
            previous=previous,
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
        records_arrow = self._with_tf(prepared, model, None if model else _tf_only(prepared, settings))

        ensure_ray(self.ws.settings.ray, progress=self.progress)
        t1 = time.perf_counter()
        min_w = threshold_weight(settings.match_threshold)
        scored, _ = score_candidates(records_arrow, prepared, settings, model, None if train else min_w, None)
        secs["score"] = time.perf_counter() - t1
        candidates = scored.num_rows
        if model is None:
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
        prob = self._labelled(scored, keys)

        t3 = time.perf_counter()
        det, refused_ids = deterministic_links(prepared, settings)
        shared = shared_links(
            prepared, settings, det, refused_ids, pair_verdicts(records_arrow, model, settings)
        )
        refused_ids = shared.refused
        det = pd.concat(
            [
                self._scored_deterministic(shared.links, records_arrow, model),
                self._scored_deterministic(shared.evidence, records_arrow, model, "evidence"),
            ],
            ignore_index=True,
        )
        det["record_key_l"] = keys[det["rid_l"].to_numpy()]
        det["record_key_r"] = keys[det["rid_r"].to_numpy()]
        links = pd.concat([det, prob], ignore_index=True)
        links = links.sort_values(["rid_l", "rid_r", "kind"], kind="stable").reset_index(drop=True)
        secs["deterministic"] = time.perf_counter() - t3

        report = self._write(model, records_arrow, raw, prepared, links, Previous.read(self.store, False))
        self.store.write("records", raw, self.run_id)
        self.store.write("prepared", _snapshot(prepared), self.run_id)
        checkpoint("resolve", "snapshots")
        return RunOutput(report, model, train, n, n, 0, candidates, refused_ids)

    def incremental(self, model: FSModel, new_files: list[str], state: dict) -> RunOutput | None:
        """Only what the new and changed records can reach (see `c360.identity.incremental`); None when the
        data has grown by `em.retrain_growth` since the model was learned."""
        from c360.runtime import ensure_ray

        settings, secs, store = self.settings, self.secs, self.store
        # The stored columns this run reads: what blocking, comparisons, deterministic links and conflicts
        # use (the source bookkeeping columns cost most of the read and are not needed).
        wanted = set(comparison_columns(settings)) | {"record_key", "fingerprint", "first_name", "last_name"}
        wanted |= {f"{i.field}__id" for i in settings.identifiers} | {
            f"{c.field}__s" for c in settings.comparisons
        }
        # Last run's tables load on other threads while this one prepares and scores the new records (Arrow
        # reads release the GIL): the record snapshot only its rows clustered again need, and the tables
        # whose rows are replaced.
        raw_cols = [c for c in store.columns("records") if c not in ("_file", "_row")]
        pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="identity-read")
        raw_future = pool.submit(store.read_arrow, "records", raw_cols, False)
        previous_future = pool.submit(Previous.read, store, True)
        pool.shutdown(wait=False)
        stored_cols = store.columns("prepared")
        old = store.read_arrow("prepared", columns=[c for c in stored_cols if c in wanted], sort=False)
        assert old is not None
        fresh_raw = latest_records(self.suppressed.drop(read_standardized(self.ws.lake, new_files)))
        old_fp = _fingerprints_of(old, fresh_raw["record_key"])
        fresh_prep = prepare_records(fresh_raw, settings)
        fresh_raw["fingerprint"] = fresh_prep["fingerprint"].to_numpy()
        known = fresh_raw["record_key"].isin(old_fp.keys()).to_numpy()
        same = known & (fresh_raw["fingerprint"] == fresh_raw["record_key"].map(old_fp)).to_numpy()
        new_keys = set(fresh_raw.loc[~known, "record_key"])
        changed_keys = set(fresh_raw.loc[known & ~same, "record_key"])
        fresh_raw = fresh_raw.loc[~same].reset_index(drop=True)
        fresh_prep = fresh_prep.loc[~same].reset_index(drop=True)
        n = old.num_rows + len(new_keys)
        if n >= settings.em.retrain_growth * max(state.get("trained_records", 1), 1):
            return None
        hood = neighbourhood(old, fresh_prep, changed_keys, settings)
        near = hood.frame
        near_keys = near["record_key"].to_numpy()
        near_arrow = self._with_tf(near, model)
        secs["prepare"] = time.perf_counter() - self.t0

        # ---------------------------------------------------------------- new links
        ensure_ray(self.ws.settings.ray, progress=self.progress)
        t1 = time.perf_counter()
        min_w = threshold_weight(settings.match_threshold)
        scored, _ = score_candidates(near_arrow, near, settings, model, min_w, hood.fresh)
        prob_new = self._labelled(scored, near_keys)
        secs["score"] = time.perf_counter() - t1
        t3 = time.perf_counter()
        touched = touched_only(near, hood.touched)
        det_new, refused_new = deterministic_links(touched, settings)
        shared = shared_links(
            touched, settings, det_new, refused_new, pair_verdicts(near_arrow, model, settings)
        )
        det_new, refused_new, ev_new = shared.links, shared.refused, shared.evidence
        for frame in (det_new, ev_new):
            frame["record_key_l"] = near_keys[frame["rid_l"].to_numpy()]
            frame["record_key_r"] = near_keys[frame["rid_r"].to_numpy()]

        # ---------------------------------------------------------------- the components to cluster again
        previous = previous_future.result()
        assert previous.id_map is not None and previous.links is not None
        correction_keys = [
            k for col in ("left_keys", "right_keys") for ks in self.corrections[col] for k in as_list(ks)
        ]
        reach = np.concatenate(
            [
                fresh_prep["record_key"].to_numpy(object),
                *(c.to_numpy(zero_copy_only=False) for c in hood.carriers.values()),
                prob_new["record_key_l"].to_numpy(object),
                prob_new["record_key_r"].to_numpy(object),
                det_new["record_key_l"].to_numpy(object),
                ev_new["record_key_l"].to_numpy(object),
                np.asarray(correction_keys, dtype=object),
            ]
        )
        stored = component_records(previous.id_map, key_array(pd.unique(reach)))
        prepared = combine(rows_with(old, "record_key", stored), fresh_prep)
        prepared["rid"] = np.arange(len(prepared), dtype=np.int64)
        keys = prepared["record_key"].to_numpy()
        records_arrow = self._with_tf(prepared, model)
        old_raw = raw_future.result()
        assert old_raw is not None
        raw = combine(rows_with(old_raw, "record_key", stored), fresh_raw)
        if not np.array_equal(raw["record_key"].to_numpy(), keys):
            raise RuntimeError("identity snapshots disagree: run `c360 resolve --full`")

        # ---------------------------------------------------------------- their links
        index = pd.Index(keys)
        mine = rows_with(previous.links, "record_key_l", stored)
        old_links = mine.to_pandas()
        is_prob = (old_links["kind"] == "probabilistic").to_numpy()
        is_ev = (old_links["kind"] == "evidence").to_numpy()
        evidence = kept_evidence(old_links.loc[is_ev], hood.carriers, ev_new)
        old_links, is_prob = old_links.loc[~is_ev].reset_index(drop=True), is_prob[~is_ev]
        gone = old_links["record_key_l"].isin(changed_keys) | old_links["record_key_r"].isin(changed_keys)
        prob_old = old_links.loc[is_prob & ~gone.to_numpy()]
        prob_old = prob_old.drop(columns=["accepted", "probability", "reason"])
        prob = pd.concat([prob_old, prob_new.drop(columns=["rid_l", "rid_r"])], ignore_index=True)
        det = join_rules(
            pd.concat(
                [
                    kept_deterministic(old_links.loc[~is_prob], hood.carriers),
                    det_new[["record_key_l", "record_key_r", "rule"]]
                    .assign(rule=det_new["rule"].str.split("+"))
                    .explode("rule"),
                ],
                ignore_index=True,
            )
        )
        det["rule"] = sorted_rules(det["rule"].to_numpy(object))
        det["rid_l"] = index.get_indexer(det["record_key_l"])
        det["rid_r"] = index.get_indexer(det["record_key_r"])
        evidence["rid_l"] = index.get_indexer(evidence["record_key_l"])
        evidence["rid_r"] = index.get_indexer(evidence["record_key_r"])
        det = pd.concat(
            [
                self._scored_deterministic(det, records_arrow, model),
                self._scored_deterministic(evidence, records_arrow, model, "evidence"),
            ],
            ignore_index=True,
        )
        prob["rid_l"] = index.get_indexer(prob["record_key_l"])
        prob["rid_r"] = index.get_indexer(prob["record_key_r"])
        links = pd.concat([det, prob], ignore_index=True)
        if (links["rid_l"] < 0).any() or (links["rid_r"] < 0).any():
            raise RuntimeError("a link leaves its component: run `c360 resolve --full`")
        links = links.sort_values(["rid_l", "rid_r", "kind"], kind="stable").reset_index(drop=True)
        secs["deterministic"] = time.perf_counter() - t3

        report = self._write(model, records_arrow, raw, prepared, links, previous)
        if len(fresh_prep):
            store.append("records", fresh_raw, self.run_id)
            store.append("prepared", _snapshot(fresh_prep), self.run_id)
        checkpoint("resolve", "snapshots")
        return RunOutput(
            report,
            model,
            False,
            n,
            len(new_keys),
            len(changed_keys),
            scored.num_rows,
            _refused(store, hood.touched, refused_new),
        )


def _snapshot(prepared: pd.DataFrame) -> pd.DataFrame:
    """A prepared frame as stored: without the term-frequency columns (they follow the model)."""
    return prepared.drop(columns=[c for c in prepared.columns if c.endswith("__tf")])


def _refused(store: IdentityStore, touched: dict[str, pa.Array], fresh: pd.DataFrame) -> pd.DataFrame:
    """Last run's refused identifier values, those of the touched values replaced by this run's verdict."""
    old = store.read("refused_identifiers")
    if old is None or old.empty:
        return fresh
    drop = np.zeros(len(old), dtype=bool)
    for col, values in touched.items():
        field_ = col.removesuffix("__id")
        drop |= ((old["field"] == field_) & old["value"].isin(set(values.to_pylist()))).to_numpy()
    both = pd.concat([old.loc[~drop], fresh], ignore_index=True)
    return both.sort_values(["field", "value"]).reset_index(drop=True)


def _fingerprints_of(old: pa.Table, keys: pd.Series) -> dict[str, Any]:
    """record_key -> last run's fingerprint, for the given keys that the snapshot holds."""
    mine = rows_with(old.select(["record_key", "fingerprint"]), "record_key", key_array(keys))
    return dict(
        zip(mine.column("record_key").to_pylist(), mine.column("fingerprint").to_pylist(), strict=True)
    )


def _tf_only(prepared: pd.DataFrame, settings: IdentitySettings) -> dict[str, dict[str, float]]:
    from c360.identity.model import term_frequencies

    return term_frequencies(prepared, settings)
