"""The end of a run: clusters from links, stable ids, the change log, golden records, written to the lake."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from c360.identity.cluster import cluster_records, conflict_values
from c360.identity.compare import comparison_vectors
from c360.identity.config import IdentitySettings
from c360.identity.deterministic import DETERMINISTIC_WEIGHT
from c360.identity.golden import golden_records
from c360.identity.ids import assign_ids, merge_aliases
from c360.identity.incremental import changed_deterministic, records_in_components_of
from c360.identity.model import FSModel, threshold_weight
from c360.identity.store import IdentityStore

LINK_COLUMNS = ["record_key_l", "record_key_r", "kind", "rule", "weight", "probability", "accepted", "reason"]


def _member(values: np.ndarray, pool: set) -> np.ndarray:
    """Hash-based membership (numpy's isin sorts object arrays, which is slow for strings)."""
    return pd.Series(values, dtype=object).isin(pool).to_numpy()


def _reasons(
    labels: np.ndarray,
    links: pd.DataFrame,
    refused: pd.DataFrame,
    previous: pd.Series,
    touched: dict[int, str],
) -> dict[int, str]:
    """Why a cluster changed: a correction, the strongest link joining two old customers, a refused link."""
    out: dict[int, str] = {}
    for rid, cid in touched.items():
        out.setdefault(int(labels[rid]), f"correction {cid}")
    if len(links):
        lab_l = labels[links["rid_l"].to_numpy()]
        prev_l = previous.to_numpy()[links["rid_l"].to_numpy()]
        prev_r = previous.to_numpy()[links["rid_r"].to_numpy()]
        crossing = (
            (lab_l == labels[links["rid_r"].to_numpy()])
            & pd.notna(prev_l)
            & pd.notna(prev_r)
            & (prev_l != prev_r)
        )
        x = links.loc[crossing].assign(label=lab_l[crossing]).sort_values("weight", ascending=False)
        for row in x.drop_duplicates("label").itertuples():
            out.setdefault(int(row.label), f"{row.kind} link ({row.rule})")
    for row in refused.itertuples():
        for rid in (row.rid_l, row.rid_r):
            out.setdefault(int(labels[rid]), f"link refused: {row.reason}")
    return out


def write_outputs(
    store: IdentityStore,
    settings: IdentitySettings,
    model: FSModel,
    records_arrow: pa.Table,
    raw: pd.DataFrame,
    prepared: pd.DataFrame,
    links: pd.DataFrame,
    must: list[list[int]],
    cannot: list[tuple[list[int], list[int]]],
    touched: dict[int, str],
    run_id: str,
    run_at: datetime,
    dirty_keys: set[str],
    incremental: bool,
    old_links: pd.DataFrame | None = None,
) -> dict[str, Any]:
    """Cluster, assign ids, and write every identity table. `old_links` is last run's links table, which
    an incremental run has read already (None in a full run)."""
    n = len(prepared)
    links = links.copy()
    links["weight"] = links["weight"].astype(float)
    cluster_weight = links["weight"] + np.where(links["kind"] == "deterministic", DETERMINISTIC_WEIGHT, 0.0)
    min_w = threshold_weight(settings.conflict_match_probability)
    direct = links["weight"].to_numpy() >= min_w

    def pair_is_match(a: np.ndarray, b: np.ndarray) -> np.ndarray:
        g = comparison_vectors(
            records_arrow, pa.table({"rid_l": a, "rid_r": b}), settings, threads=None
        ).to_pandas()
        ok = pd.Series(
            model.match_weight(g) >= min_w, index=pd.MultiIndex.from_arrays([g["rid_l"], g["rid_r"]])
        )
        # comparison_vectors returns pairs sorted; answer in the order asked.
        return ok.reindex(pd.MultiIndex.from_arrays([a, b])).fillna(False).to_numpy(dtype=bool)

    keys = prepared["record_key"].to_numpy()
    previous = store.read("id_map")
    previous = previous if previous is not None else pd.DataFrame(columns=["record_key", "customer_id"])
    history = store.read("clusters")
    history = (
        history if history is not None else pd.DataFrame(columns=["customer_id", "n_records", "first_seen"])
    )
    aliases = store.read("aliases")
    aliases = (
        aliases
        if aliases is not None
        else pd.DataFrame(columns=["alias_id", "customer_id", "created_at", "run_id"])
    )
    taken = set(previous["customer_id"]) | set(aliases["alias_id"]) | set(history["customer_id"])
    prev_of_rid = pd.Series(keys).map(dict(zip(previous["record_key"], previous["customer_id"], strict=True)))

    # Which records are clustered again: all of them, or (incremental) the components that hold a new or
    # changed record, a record whose deterministic links changed, or a correction. Clustering is decided
    # component by component, so the others come out exactly as last time: the result equals a full run.
    if incremental and len(previous):
        dirty = _member(keys, dirty_keys) | pd.isna(prev_of_rid).to_numpy()
        dirty |= changed_deterministic(old_links, links, pd.Index(keys), n)
        for r in touched:
            dirty[r] = True
        redo = records_in_components_of(n, links, must, dirty)
    else:
        redo = np.ones(n, dtype=bool)
    sub = np.flatnonzero(redo)
    local = np.full(n, -1, dtype=np.int64)
    local[sub] = np.arange(len(sub))
    in_sub = redo[links["rid_l"].to_numpy()] if len(links) else np.zeros(0, dtype=bool)
    sub_links = links.loc[in_sub, ["rid_l", "rid_r"]].assign(
        weight=cluster_weight[in_sub].to_numpy(), direct=direct[in_sub]
    )
    sub_links["rid_l"] = local[sub_links["rid_l"].to_numpy()]
    sub_links["rid_r"] = local[sub_links["rid_r"].to_numpy()]

    def sub_groups(groups: list[list[int]]) -> list[list[int]]:
        return [[int(local[r]) for r in g if redo[r]] for g in groups]

    result = cluster_records(
        len(sub),
        sub_links,
        {f: v[sub] for f, v in conflict_values(prepared, settings).items()},
        settings,
        must_links=[g for g in sub_groups(must) if len(g) > 1],
        cannot_links=[
            (a, b)
            for a, b in zip(
                sub_groups([c[0] for c in cannot]), sub_groups([c[1] for c in cannot]), strict=True
            )
            if a and b
        ],
        pair_is_match=lambda a, b: pair_is_match(sub[a], sub[b]),
    )
    labels = sub[result.labels]  # local smallest index -> global smallest rid
    refused = result.refused.assign(
        rid_l=sub[result.refused["rid_l"].to_numpy(dtype=np.int64)],
        rid_r=sub[result.refused["rid_r"].to_numpy(dtype=np.int64)],
    )
    glabels = np.arange(n, dtype=np.int64)
    glabels[sub] = labels
    sub_touched = {r: c for r, c in touched.items() if redo[r]}
    reasons = _reasons(glabels, links.loc[in_sub], refused, prev_of_rid, sub_touched)
    prev_sub = previous[previous["record_key"].isin(set(keys[sub]))]
    ids = assign_ids(keys[sub], labels, prev_sub, history, taken, run_id, run_at, reasons)
    cust = prev_of_rid.to_numpy(dtype=object).copy()
    cust[sub] = pd.Series(labels).map(ids.customer_of_label).to_numpy()

    # ---------------------------------------------------------------- tables
    id_map = pd.DataFrame(
        {
            "source": raw["source"].to_numpy(),
            "source_record_id": raw["source_record_id"].to_numpy(),
            "record_key": keys,
            "customer_id": cust,
        }
    )
    counts = id_map.groupby("customer_id").size()
    first_seen = dict(zip(history["customer_id"], history["first_seen"], strict=True))
    clusters = pd.DataFrame({"customer_id": counts.index, "n_records": counts.to_numpy()})
    seen_before = pd.to_datetime(clusters["customer_id"].map(first_seen), utc=True)
    clusters["first_seen"] = seen_before.where(seen_before.notna(), pd.Timestamp(run_at))
    clusters["updated_at"] = pd.Timestamp(run_at)
    all_aliases = merge_aliases(aliases, ids.new_aliases)

    # A refused pair is refused under every kind of link it has (deterministic and probabilistic rows); links
    # of components not clustered again keep last run's verdict.
    n_keys = np.int64(n)
    why = pd.DataFrame(
        {
            "pair": refused["rid_l"].to_numpy(np.int64) * n_keys + refused["rid_r"].to_numpy(np.int64),
            "reason": refused["reason"].to_numpy(object),
        }
    )
    if old_links is not None and len(old_links):
        kept = old_links.loc[~old_links["accepted"].astype(bool), ["record_key_l", "record_key_r", "reason"]]
        index = pd.Index(keys)
        kl, kr = index.get_indexer(kept["record_key_l"]), index.get_indexer(kept["record_key_r"])
        ok = (kl >= 0) & (kr >= 0)
        ok[ok] &= ~redo[kl[ok]]
        why = pd.concat(
            [why, pd.DataFrame({"pair": kl[ok] * n_keys + kr[ok], "reason": kept["reason"].to_numpy()[ok]})]
        )
    # Pairs encoded as one integer (rid_l * n + rid_r): a hash lookup, no Python tuple per link.
    reason_of = why.drop_duplicates("pair").set_index("pair")["reason"]
    link_pairs = links["rid_l"].to_numpy(np.int64) * n_keys + links["rid_r"].to_numpy(np.int64)
    pair_reason = pd.Series(reason_of.reindex(link_pairs).to_numpy(), index=links.index)
    both = links.assign(accepted=pair_reason.isna().to_numpy(), reason=pair_reason.fillna("").to_numpy())
    both["probability"] = 1.0 / (1.0 + np.power(2.0, -both["weight"].to_numpy(dtype=float)))
    gcols = [c for c in both.columns if c.startswith("g_") or c.startswith("tf_")]
    # Record keys sort like rids (records are numbered in key order), so this orders by key pair and kind
    # without a string sort of a million keys.
    out_links = both.sort_values(["rid_l", "rid_r", "kind"], kind="stable")[LINK_COLUMNS + gcols].reset_index(
        drop=True
    )
    for g in (c for c in gcols if c.startswith("g_")):
        out_links[g] = out_links[g].astype("int8")

    # Golden records: only customers whose record set changed are recomputed in an incremental run.
    old_golden = store.read("golden") if incremental else None
    if old_golden is not None and len(old_golden):
        prev_cust = prev_of_rid.to_numpy()
        moved = (prev_cust != cust) | pd.isna(prev_cust) | _member(keys, dirty_keys)
        affected = set(cust[moved]) | set(prev_cust[moved][pd.notna(prev_cust[moved])])
        rows = _member(cust, affected)
        fresh = golden_records(raw.loc[rows].reset_index(drop=True), cust[rows], settings)
        for c in fresh.columns.intersection(old_golden.columns):  # an all-null column takes the stored type
            if fresh[c].dtype != old_golden[c].dtype and fresh[c].isna().all():
                fresh[c] = fresh[c].astype(old_golden[c].dtype)
        golden = pd.concat([old_golden[~old_golden["customer_id"].isin(affected)], fresh], ignore_index=True)
        golden = (
            golden[golden["customer_id"].isin(counts.index)].sort_values("customer_id").reset_index(drop=True)
        )
    else:
        golden = golden_records(raw, cust, settings)

    store.write("links", out_links)
    store.write("id_map", id_map)
    store.write("clusters", clusters)
    store.write("aliases", all_aliases)
    store.write("golden", golden)
    store.append_changes(ids.changes, run_id)
    snapshot = prepared.drop(columns=[c for c in prepared.columns if c.endswith("__tf")])
    if incremental and len(previous):
        fresh = _member(keys, dirty_keys)
        if fresh.any():
            store.append("records", raw.loc[fresh], run_id)
            store.append("prepared", snapshot.loc[fresh], run_id)
    else:
        store.write("records", raw, run_id)
        store.write("prepared", snapshot, run_id)
    return {
        "customers": int(len(counts)),
        "changes": ids.changes["kind"].value_counts().to_dict(),
        "refused": refused["reason"].str.split(":").str[0].value_counts().to_dict() if len(refused) else {},
        "oversized": len(result.oversized),
        "reclustered": int(len(sub)),
    }
