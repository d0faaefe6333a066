"""Erasing a person from the identity graph: every table of `identity/`, the state snapshots, the live index.

Other people's rows are left as they are. Term frequencies are per value: a value the person shared with
others (a common first name) keeps its entry, a value only they carried is removed, so the next resolve run
scores everyone else exactly as before while nothing of the person remains.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from c360.identity.realtime import IdentityIndex
from c360.identity.store import IdentityStore
from c360.privacy.rewrite import StoreCounts, filter_parquet, isin_matcher
from c360.privacy.subject import Subject

TF_FIELDS_FROM = ("first_name", "last_name")


def _list_matcher(columns: tuple[str, ...], values: set[str], plain: tuple[str, ...]) -> object:
    """Rows where a list column holds any of `values`, or a plain column equals one."""
    wanted = pa.array(sorted(values), pa.string())
    scalar = isin_matcher({c: values for c in plain})

    def match(table: pa.Table) -> np.ndarray:
        drop = scalar(table)
        for col in columns:
            if col not in table.column_names:
                continue
            column = table.column(col)
            if pa.types.is_list(column.type) or pa.types.is_large_list(column.type):
                for i, items in enumerate(column.to_pylist()):
                    if items and any(str(x) in values for x in items):
                        drop[i] = True
            else:
                drop |= pc.fill_null(pc.is_in(column.cast(pa.string()), value_set=wanted), False).to_numpy(
                    zero_copy_only=False
                )
        return drop

    return match


def _split_prepared(prepared: pa.Table | None, keys: set[str]) -> tuple[pa.Table | None, pa.Table | None]:
    """The prepared snapshot's rows of the person's records, and everyone else's."""
    if prepared is None:
        return None, None
    mask = pc.fill_null(
        pc.is_in(prepared.column("record_key"), value_set=pa.array(sorted(keys), pa.string())), False
    )
    return prepared.filter(mask), prepared.filter(pc.invert(mask))


def _scrub_tf(store: IdentityStore, mine: pa.Table | None, remaining: pa.Table | None) -> StoreCounts:
    """Drop term-frequency entries of values nobody but the person carried (`remaining`: the prepared
    snapshot without the person)."""
    counts = StoreCounts()
    if mine is None or remaining is None or not store.exists("tf"):
        return counts
    gone: set[tuple[str, str]] = set()
    tf = store.read_arrow("tf")
    assert tf is not None
    for fld in set(tf.column("field").to_pylist()):
        if fld not in mine.column_names:
            continue
        theirs = {str(v) for v in mine.column(fld).to_pylist() if v is not None}
        still = set(remaining.column(fld).to_pylist()) if fld in remaining.column_names else set()
        gone |= {(fld, v) for v in theirs if v not in still}
    if not gone:
        return counts
    pairs = [f"{f}\x1f{v}" for f, v in gone]
    joined = pc.binary_join_element_wise(tf.column("field"), tf.column("value").cast(pa.string()), "\x1f")

    def match(table: pa.Table) -> np.ndarray:
        return pc.fill_null(pc.is_in(joined, value_set=pa.array(pairs, pa.string())), False).to_numpy(
            zero_copy_only=False
        )

    counts.add(filter_parquet(store.lake, store.path("tf"), {"field": [], "value": []}, matcher=match))
    return counts


def erase_from_identity(store: IdentityStore, subject: Subject) -> StoreCounts:
    """Remove the person's rows from every identity table and state snapshot."""
    lake = store.lake
    cids, keys = subject.customer_ids, subject.record_keys
    counts = StoreCounts()
    mine, others = _split_prepared(store.read_arrow("prepared"), keys)
    plain = {
        "id_map": {"customer_id": cids, "record_key": keys},
        "clusters": {"customer_id": cids},
        "golden": {"customer_id": cids},
        "aliases": {"alias_id": cids, "customer_id": cids},
        "links": {"record_key_l": keys, "record_key_r": keys},
        "records": {"record_key": keys},
        "prepared": {"record_key": keys},
    }
    for name, values in plain.items():
        for path in store.files(name):  # record snapshots are kept in parts, one per run
            counts.add(filter_parquet(lake, path, values))
    for path in lake.glob("identity/changes/*.parquet"):
        counts.add(filter_parquet(lake, path, {"customer_id": cids, "other_customer_id": cids}))
    if store.exists("corrections"):
        refs = cids | keys
        match = _list_matcher(("left_keys", "right_keys"), keys, ("left_ref", "right_ref"))
        cols = {c: refs for c in ("left_ref", "right_ref", "left_keys", "right_keys")}
        counts.add(filter_parquet(lake, store.path("corrections"), cols, matcher=match))  # type: ignore[arg-type]
    if store.exists("refused_identifiers"):
        values = subject.identifier_values()
        if mine is not None:
            for col in mine.column_names:
                if col.endswith("__id"):
                    values |= {str(v) for v in mine.column(col).to_pylist() if v is not None}
        counts.add(filter_parquet(lake, store.path("refused_identifiers"), {"value": values}))
    counts.add(_scrub_tf(store, mine, others))
    return counts


def forget_in_index(index: IdentityIndex, subject: Subject) -> int:
    """Remove the person from a loaded real-time index (serving holds one); returns entries removed."""
    cids = subject.customer_ids
    doomed = [
        k
        for k, c in index.index.items()
        if c in cids or (k[0] == "record_key" and k[1] in subject.record_keys)
    ]
    for k in doomed:
        del index.index[k]
    gone_aliases = [a for a, c in index.aliases.items() if a in cids or c in cids]
    for a in gone_aliases:
        del index.aliases[a]
    return len(doomed) + len(gone_aliases)
