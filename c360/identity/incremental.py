"""An incremental run: the new and changed records, what they can reach, and nothing else.

The stored graph partitions the records into components: records joined by links (accepted or refused) and
must-links, labelled in `id_map.component`. Clustering decides component by component, so a component whose
records and links did not change clusters as it did last run. A new or changed record can only
- pair with records that share one of its blocking keys (new probabilistic links),
- change the deterministic links of the records carrying one of its identifier values, or a value its last
  version carried (a star gains or loses a record, a value crosses the cardinality guard),
- and, through those links, join the components of the records it reaches.

So the run reads the blocking keys and identifier values of the stored records (a filter in Arrow), scores
the new records against their blocking neighbours only, recomputes the deterministic stars of the touched
values only, and clusters again the touched components with the new records. Every other row of every
identity table is kept. The result equals a full run with the same model (tested).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from c360.identity.compare import comparison_columns
from c360.identity.config import IdentitySettings
from c360.identity.corrections import as_list
from c360.identity.deterministic import sorted_rules
from c360.identity.links import LinkParts
from c360.identity.normalize import prepare_records
from c360.identity.shared import kept_evidence
from c360.identity.store import snapshot_frame


def snapshot_columns(settings: IdentitySettings) -> set[str]:
    """The columns of last run's prepared snapshot an incremental run reads: what blocking, comparisons,
    deterministic links and conflicts use (the source bookkeeping columns cost most of the read)."""
    wanted = set(comparison_columns(settings)) | {"record_key", "fingerprint", "first_name", "last_name"}
    wanted |= {f"{i.field}__id" for i in settings.identifiers}
    return wanted | {f"{c.field}__s" for c in settings.comparisons}


def member(table: pa.Table, column: str, values: pa.Array) -> np.ndarray:
    """Per row of `table`, whether its `column` holds one of `values` (null never does)."""
    col = table.column(column)
    if col.type != values.type:  # a column that was all null last run is stored with the null type
        col = col.cast(values.type)
    mask = pc.fill_null(pc.is_in(col, value_set=values), False)
    return mask.to_numpy(zero_copy_only=False)


def key_array(keys: object) -> pa.Array:
    return pa.array(np.asarray(keys, dtype=object), pa.string())


def rows_with(table: pa.Table, column: str, values: pa.Array) -> pa.Table:
    """The rows of `table` whose `column` holds one of `values`."""
    return table.filter(pa.array(member(table, column, values)))


def combine(old: pa.Table, fresh: pd.DataFrame) -> pd.DataFrame:
    """Stored rows and fresh rows (fresh ones replace stored ones with the same record key) as one frame
    sorted by key (rids follow this order), with the stored table's columns and types: a column the fresh
    rows lack is null for them, and a column that was all null last time takes the fresh type."""
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
    stale = member(old, "record_key", fresh_t.column("record_key").combine_chunks().cast(pa.string()))
    both = pa.concat_tables(
        [pa.table(olds, names=names).filter(pa.array(~stale)), pa.table(news, names=names)]
    )
    # Keys are unique here: Arrow's sort orders them like pandas would, without an object-array sort.
    return snapshot_frame(both.take(pc.sort_indices(both.column("record_key"))))


@dataclass
class Neighbourhood:
    frame: pd.DataFrame
    """Prepared rows of the fresh records and of the stored records they can link to, in key order."""
    fresh: np.ndarray
    """Over `frame`: the new and changed records."""
    touched: dict[str, pa.Array]
    """Identifier column -> the values whose deterministic links are recomputed."""
    carriers: dict[str, pa.Array]
    """Identifier column -> keys of stored records whose links on that identifier may change."""


def neighbourhood(
    old: pa.Table, fresh: pd.DataFrame, changed: set[str], settings: IdentitySettings
) -> Neighbourhood:
    """`old` is last run's prepared snapshot (one row per record), `fresh` the new and changed records
    prepared, `changed` the keys of the changed ones."""
    # Masks over the stored table: filtering a million rows of forty columns costs more than the masks.
    is_fresh = member(old, "record_key", key_array(fresh["record_key"]))
    near = np.zeros(old.num_rows, dtype=bool)
    for i in range(len(settings.blocking_rules)):
        col = f"k{i}"
        hot = pd.unique(fresh[col].dropna().astype(np.int64).to_numpy())
        near |= member(old, col, pa.array(hot, pa.int64()))
    touched: dict[str, pa.Array] = {}
    carriers: dict[str, pa.Array] = {}
    changed_keys = key_array(sorted(changed))
    stored_keys = old.column("record_key")
    for ident in settings.identifiers:
        col = f"{ident.field}__id"
        if not ident.enabled or col not in fresh.columns or col not in old.column_names:
            continue
        stale = old.column(col).filter(pa.array(is_fresh))  # last run's values of the changed records
        values = pa.concat_arrays(
            [
                pa.array(fresh[col].dropna().astype(str).to_numpy(object), pa.string()),
                stale.cast(pa.string()).combine_chunks().drop_null(),
            ]
        )
        touched[col] = pc.unique(values)
        carry = member(old, col, touched[col]) & ~is_fresh
        near |= carry
        carriers[col] = pa.concat_arrays([stored_keys.filter(pa.array(carry)).combine_chunks(), changed_keys])
    near &= ~is_fresh
    frame = combine(old.filter(pa.array(near)), fresh)
    frame["rid"] = np.arange(len(frame), dtype=np.int64)
    fresh_mask = frame["record_key"].isin(set(fresh["record_key"])).to_numpy()
    return Neighbourhood(frame=frame, fresh=fresh_mask, touched=touched, carriers=carriers)


def touched_only(frame: pd.DataFrame, touched: dict[str, pa.Array]) -> pd.DataFrame:
    """The frame with every identifier value that is not touched blanked: deterministic links computed on
    it are exactly the stars of the touched values (every carrier of such a value is in the frame)."""
    out = frame.copy()
    for col, values in touched.items():
        keep = out[col].isin(set(values.to_pylist())).to_numpy()
        out[col] = out[col].where(keep, None)
    return out


def kept_deterministic(old: pd.DataFrame, carriers: dict[str, pa.Array]) -> pd.DataFrame:
    """Last run's deterministic links (record_key_l, record_key_r, rule as 'email+phone') split into one row
    per identifier, without those on a touched value (their stars are recomputed)."""
    if old.empty:
        return pd.DataFrame(columns=["record_key_l", "record_key_r", "rule"])
    rows = old[["record_key_l", "record_key_r", "rule"]].assign(rule=old["rule"].astype(str).str.split("+"))
    rows = rows.explode("rule", ignore_index=True)
    drop = np.zeros(len(rows), dtype=bool)
    for col, keys in carriers.items():
        field = col.removesuffix("__id")
        mine = (rows["rule"] == field).to_numpy()
        if mine.any():
            pool = set(keys.to_pylist())
            drop |= mine & (rows["record_key_l"].isin(pool) | rows["record_key_r"].isin(pool)).to_numpy()
    return rows.loc[~drop].reset_index(drop=True)


def join_rules(rows: pd.DataFrame) -> pd.DataFrame:
    """One row per key pair, its identifiers sorted and joined by '+' (as a full run names them)."""
    if rows.empty:
        return pd.DataFrame(columns=["record_key_l", "record_key_r", "rule"])
    t = pa.Table.from_pandas(rows[["record_key_l", "record_key_r", "rule"]], preserve_index=False)
    t = t.sort_by([("record_key_l", "ascending"), ("record_key_r", "ascending"), ("rule", "ascending")])
    g = t.group_by(["record_key_l", "record_key_r"], use_threads=False).aggregate([("rule", "distinct")])
    joined = pc.binary_join(g.column("rule_distinct"), "+")
    return pd.DataFrame(
        {
            "record_key_l": g.column("record_key_l").to_numpy(zero_copy_only=False),
            "record_key_r": g.column("record_key_r").to_numpy(zero_copy_only=False),
            "rule": joined.to_numpy(zero_copy_only=False),
        }
    )


def component_records(id_map: pa.Table, keys: pa.Array) -> pa.Array:
    """Every stored record key in a component holding one of `keys`."""
    comps = pc.unique(rows_with(id_map, "record_key", keys).column("component"))
    return rows_with(id_map, "component", comps).column("record_key").combine_chunks()


@dataclass(frozen=True)
class FreshRecords:
    """The records of the new files that are new or changed since last run (unchanged ones are dropped)."""

    raw: pd.DataFrame
    prepared: pd.DataFrame
    new_keys: set[str]
    changed_keys: set[str]
    """Keys last run held with another fingerprint."""


def fresh_records(old: pa.Table, raw: pd.DataFrame, settings: IdentitySettings) -> FreshRecords:
    """`raw`, the latest rows of the new files, prepared and compared with last run's prepared snapshot
    `old` by fingerprint. Adds the fingerprint to `raw`."""
    mine = rows_with(old.select(["record_key", "fingerprint"]), "record_key", key_array(raw["record_key"]))
    old_fp = dict(
        zip(mine.column("record_key").to_pylist(), mine.column("fingerprint").to_pylist(), strict=True)
    )
    prepared = prepare_records(raw, settings)
    raw["fingerprint"] = prepared["fingerprint"].to_numpy()
    known = raw["record_key"].isin(old_fp.keys()).to_numpy()
    same = known & (raw["fingerprint"] == raw["record_key"].map(old_fp)).to_numpy()
    return FreshRecords(
        raw=raw.loc[~same].reset_index(drop=True),
        prepared=prepared.loc[~same].reset_index(drop=True),
        new_keys=set(raw.loc[~known, "record_key"]),
        changed_keys=set(raw.loc[known & ~same, "record_key"]),
    )


def reclustered_records(
    id_map: pa.Table, fresh: FreshRecords, hood: Neighbourhood, new: LinkParts, corrections: pd.DataFrame
) -> pa.Array:
    """Every stored record key of a component that something new reaches: a fresh record, a carrier of a
    touched identifier value, a new link, a correction."""
    correction_keys = [
        k for col in ("left_keys", "right_keys") for ks in corrections[col] for k in as_list(ks)
    ]
    reach = np.concatenate(
        [
            fresh.prepared["record_key"].to_numpy(object),
            *(c.to_numpy(zero_copy_only=False) for c in hood.carriers.values()),
            new.probabilistic["record_key_l"].to_numpy(object),
            new.probabilistic["record_key_r"].to_numpy(object),
            new.deterministic["record_key_l"].to_numpy(object),
            new.evidence["record_key_l"].to_numpy(object),
            np.asarray(correction_keys, dtype=object),
        ]
    )
    return component_records(id_map, key_array(pd.unique(reach)))


def merged_links(
    stored: pa.Table, records: pa.Array, hood: Neighbourhood, changed: set[str], new: LinkParts
) -> LinkParts:
    """The links among `records` (the keys clustered again, whole stored components), by record key: last
    run's (`stored`, the links table) that this run does not find again, with this run's `new` ones."""
    old = rows_with(stored, "record_key_l", records).to_pandas()
    is_prob = (old["kind"] == "probabilistic").to_numpy()
    is_ev = (old["kind"] == "evidence").to_numpy()
    evidence = kept_evidence(old.loc[is_ev], hood.carriers, new.evidence)
    old, is_prob = old.loc[~is_ev].reset_index(drop=True), is_prob[~is_ev]
    # A changed record's candidate pairs are scored again; its old ones go.
    gone = old["record_key_l"].isin(changed) | old["record_key_r"].isin(changed)
    prob_old = old.loc[is_prob & ~gone.to_numpy()].drop(columns=["accepted", "probability", "reason"])
    prob = pd.concat([prob_old, new.probabilistic.drop(columns=["rid_l", "rid_r"])], ignore_index=True)
    det_new = new.deterministic
    det = join_rules(
        pd.concat(
            [
                kept_deterministic(old.loc[~is_prob], hood.carriers),
                det_new[["record_key_l", "record_key_r", "rule"]]
                .assign(rule=det_new["rule"].str.split("+"))
                .explode("rule"),
            ],
            ignore_index=True,
        )
    )
    det["rule"] = sorted_rules(det["rule"].to_numpy(object))
    return LinkParts(deterministic=det, evidence=evidence, probabilistic=prob)


def refused_identifiers(
    old: pd.DataFrame | None, touched: dict[str, pa.Array], fresh: pd.DataFrame
) -> pd.DataFrame:
    """Last run's refused identifier values (`old`), those of the touched values replaced by this run's
    verdict (`fresh`)."""
    if old is None or old.empty:
        return fresh
    drop = np.zeros(len(old), dtype=bool)
    for col, values in touched.items():
        field_ = col.removesuffix("__id")
        drop |= ((old["field"] == field_) & old["value"].isin(set(values.to_pylist()))).to_numpy()
    both = pd.concat([old.loc[~drop], fresh], ignore_index=True)
    return both.sort_values(["field", "value"]).reset_index(drop=True)
