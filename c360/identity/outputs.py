"""The end of a run: clusters from links, stable ids, the change log, golden records, written to the lake.

A run hands over the records it clusters (all of them in a full run; in an incremental run the stored
components that something new can have changed, see `c360.identity.incremental`) with the links among them.
Their rows replace last run's rows in every identity table; the rows of every other component are kept as
they are, in Arrow, without a pass through pandas.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from c360.faults import checkpoint
from c360.identity.cluster import _components, cluster_records, conflict_values
from c360.identity.compare import comparison_vectors
from c360.identity.config import IdentitySettings
from c360.identity.deterministic import DETERMINISTIC_WEIGHT
from c360.identity.golden import golden_records
from c360.identity.ids import assign_ids, merge_aliases
from c360.identity.incremental import member, rows_with
from c360.identity.model import FSModel, threshold_weight
from c360.identity.store import IdentityStore

LINK_COLUMNS = ["record_key_l", "record_key_r", "kind", "rule", "weight", "probability", "accepted", "reason"]


@dataclass
class Previous:
    """Last run's tables. `incremental`: this run clusters only some components again, and the rows of the
    others are kept from these tables (full run: every row is replaced)."""

    id_map: pa.Table | None
    clusters: pd.DataFrame
    aliases: pd.DataFrame
    links: pa.Table | None = None
    incremental: bool = False

    @classmethod
    def read(cls, store: IdentityStore, incremental: bool) -> Previous:
        # Only the columns a run uses, unsorted: every customer's history, every record's customer.
        # (A store written before components were labelled has no component column: its run is a full one.)
        history_cols = ["customer_id", "n_records", "first_seen"]
        history = store.read_arrow("clusters", columns=history_cols, sort=False)
        map_cols = [c for c in ("record_key", "customer_id", "component") if c in store.columns("id_map")]
        aliases = store.read("aliases")
        return cls(
            id_map=store.read_arrow("id_map", columns=map_cols, sort=False),
            clusters=history.to_pandas() if history is not None else pd.DataFrame(columns=history_cols),
            aliases=aliases
            if aliases is not None
            else pd.DataFrame(columns=["alias_id", "customer_id", "created_at", "run_id"]),
            links=store.read_arrow("links", sort=False) if incremental else None,
            incremental=incremental,
        )


def component_labels(keys: np.ndarray, links: pd.DataFrame, must: list[list[int]]) -> np.ndarray:
    """Per record, a 64-bit label of its connected component (links and must-links): the hash of the
    component's smallest record key, so a component keeps its label as long as it keeps its records. An
    incremental run clusters again exactly the stored components that something new touches."""
    n = len(keys)
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    rl = np.concatenate([links["rid_l"].to_numpy(np.int64), [g[0] for g in must for _ in g[1:]]])
    rr = np.concatenate([links["rid_r"].to_numpy(np.int64), [x for g in must for x in g[1:]]])
    comp = _components(n, rl.astype(np.int64), rr.astype(np.int64))
    # Records are in key order: the first record of a component holds its smallest key.
    first = np.full(comp.max() + 1, n, dtype=np.int64)
    np.minimum.at(first, comp, np.arange(n, dtype=np.int64))
    smallest = np.asarray(keys, dtype=object)[first[comp]]
    return pd.util.hash_array(smallest, categorize=True).view(np.int64)


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
    previous: Previous,
) -> dict[str, Any]:
    """Cluster the given records, assign ids, and write every identity table.

    `prepared` (with `raw` row for row and `records_arrow` by rid) holds the records clustered in this run,
    in record-key order, numbered 0..n-1; `links` (rid_l, rid_r, kind, rule, weight, levels) are every link
    among them. In an incremental run (`previous.incremental`) they are whole stored components. The record
    snapshots are the caller's to write."""
    t0 = time.perf_counter()
    n = len(prepared)
    links = links.copy()
    links["weight"] = links["weight"].astype(float)
    # Evidence (the pairs of a demoted shared or crowded identifier value) clusters like a scored pair when
    # its own comparison clears the match threshold; otherwise it stays in the table with why it was refused.
    evidence = (links["kind"] == "evidence").to_numpy()
    refusal = links["refusal"] if "refusal" in links else pd.Series("", index=links.index)
    refusal = refusal.where(evidence, "").fillna("")
    links = links.drop(columns=["refusal"], errors="ignore")
    clustered = ~evidence | (links["weight"].to_numpy() >= threshold_weight(settings.match_threshold))
    refusal = refusal.where(~clustered, "")
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
    key_array = pa.array(keys, pa.string())
    history = previous.clusters
    aliases = previous.aliases
    if previous.id_map is not None and previous.id_map.num_rows:
        old_map = previous.id_map
        prev_sub = (
            rows_with(old_map, "record_key", key_array).select(["record_key", "customer_id"]).to_pandas()
        )
    else:
        prev_sub = pd.DataFrame(columns=["record_key", "customer_id"])
    # Every id ever issued: the current customers and the retired ones (never reused).
    taken = set(history["customer_id"]) | set(aliases["alias_id"])
    prev_of_rid = pd.Series(keys).map(dict(zip(prev_sub["record_key"], prev_sub["customer_id"], strict=True)))

    result = cluster_records(
        n,
        links.loc[clustered, ["rid_l", "rid_r"]].assign(
            weight=cluster_weight.to_numpy()[clustered], direct=direct[clustered]
        ),
        conflict_values(prepared, settings),
        settings,
        must_links=[g for g in must if len(g) > 1],
        cannot_links=cannot,
        pair_is_match=pair_is_match,
    )
    labels = result.labels
    cluster_seconds = time.perf_counter() - t0
    refused = result.refused.assign(
        rid_l=result.refused["rid_l"].to_numpy(dtype=np.int64),
        rid_r=result.refused["rid_r"].to_numpy(dtype=np.int64),
    )
    reasons = _reasons(labels, links.loc[clustered], refused, prev_of_rid, touched)
    ids = assign_ids(keys, labels, prev_sub, history, taken, run_id, run_at, reasons)
    cust = pd.Series(labels).map(ids.customer_of_label).to_numpy(dtype=object)

    # ---------------------------------------------------------------- tables
    before = set(prev_sub["customer_id"])  # customers whose rows are replaced
    before_ids = pa.array(sorted(before), pa.string())
    id_map_mine = pd.DataFrame(
        {
            "source": raw["source"].to_numpy(),
            "source_record_id": raw["source_record_id"].to_numpy(),
            "record_key": keys,
            "customer_id": cust,
            "component": component_labels(keys, links, must),
        }
    )
    counts = id_map_mine.groupby("customer_id").size()
    first_seen = pd.Series(
        pd.to_datetime(history["first_seen"], utc=True).array, index=history["customer_id"].to_numpy()
    )
    clusters_mine = pd.DataFrame({"customer_id": counts.index, "n_records": counts.to_numpy()})
    seen_before = pd.Series(first_seen.reindex(counts.index).array, index=clusters_mine.index)
    clusters_mine["first_seen"] = seen_before.where(seen_before.notna(), pd.Timestamp(run_at))
    clusters_mine["updated_at"] = pd.Timestamp(run_at)
    all_aliases = merge_aliases(aliases, ids.new_aliases)

    # A refused pair is refused under every kind of link it has (deterministic and probabilistic rows).
    # Pairs encoded as one integer (rid_l * n + rid_r): a hash lookup, no Python tuple per link.
    n_keys = np.int64(n)
    reason_of = (
        pd.DataFrame(
            {
                "pair": refused["rid_l"].to_numpy(np.int64) * n_keys + refused["rid_r"].to_numpy(np.int64),
                "reason": refused["reason"].to_numpy(object),
            }
        )
        .drop_duplicates("pair")
        .set_index("pair")["reason"]
    )
    link_pairs = links["rid_l"].to_numpy(np.int64) * n_keys + links["rid_r"].to_numpy(np.int64)
    pair_reason = pd.Series(reason_of.reindex(link_pairs).to_numpy(), index=links.index)
    pair_reason = pair_reason.where(refusal == "", refusal)
    both = links.assign(accepted=pair_reason.isna().to_numpy(), reason=pair_reason.fillna("").to_numpy())
    both["probability"] = 1.0 / (1.0 + np.power(2.0, -both["weight"].to_numpy(dtype=float)))
    gcols = [c for c in both.columns if c.startswith("g_") or c.startswith("tf_")]
    # Record keys sort like rids (records are numbered in key order), so this orders by key pair and kind
    # without a string sort.
    links_mine = both.sort_values(["rid_l", "rid_r", "kind"], kind="stable")[LINK_COLUMNS + gcols]
    links_mine = links_mine.reset_index(drop=True)
    for g in (c for c in gcols if c.startswith("g_")):
        links_mine[g] = links_mine[g].astype("int8")
    golden_mine = golden_records(raw, cust, settings)
    # An incremental run adds its rows as a part; the drop lists retire the rows they replace: every
    # customer the records belonged to, and every link of the components clustered again (a component's
    # links all start at one of its records).
    tables = {
        "id_map": (id_map_mine, None),
        "clusters": (clusters_mine, before_ids),
        "golden": (golden_mine, before_ids),
        "links": (links_mine, key_array),
    }
    for name, (frame, drop) in tables.items():
        if previous.incremental:
            store.append(name, frame, run_id, drop=drop)
        else:
            store.write(name, frame, run_id)
        checkpoint("resolve", name)
    store.write("aliases", all_aliases)
    checkpoint("resolve", "aliases")
    store.append_changes(ids.changes, run_id)
    checkpoint("resolve", "changes")
    det = int((links_mine["kind"] == "deterministic").sum())
    prob = int((links_mine["kind"] == "probabilistic").sum())
    customers = len(clusters_mine)
    if previous.incremental:
        customers += len(history) - len(before)
        if previous.links is not None:
            # Counted from masks: the kept links are not materialized.
            kept = ~member(previous.links, "record_key_l", key_array)
            kind = previous.links.column("kind")
            is_det = pc.equal(kind, "deterministic").to_numpy(zero_copy_only=False)
            is_prob = pc.equal(kind, "probabilistic").to_numpy(zero_copy_only=False)
            det, prob = det + int((kept & is_det).sum()), prob + int((kept & is_prob).sum())
    return {
        "customers": customers,
        "changes": ids.changes["kind"].value_counts().to_dict(),
        "refused": refused["reason"].str.split(":").str[0].value_counts().to_dict() if len(refused) else {},
        "oversized": len(result.oversized),
        "reclustered": n,
        "cluster_seconds": cluster_seconds,
        "deterministic_links": det,
        "probabilistic_links": prob,
    }
