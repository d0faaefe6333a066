"""The identity stage's part of an erasure: finding the person, and forgetting them in `identity/`.

Finding: the identity graph is the index. `identity/id_map` lists the person's source records across all
sources, `identity/aliases` the customer ids merged into them, and the record snapshot
(`identity/state/records`) the identifiers those records carried (as standardized: emails lower case, phones
in E.164). Behaviour rows (orders, tickets, sessions, readings, consent) point at a source record through
`(source, customer_ref)`. The erasure journal keeps what was found, so finishing an interrupted erasure does
not need the graph again.

Forgetting: every table of `identity/`, the state snapshots, the live index. Other people's rows are left as
they are. Term frequencies are per value: a value the person shared with others (a common first name) keeps
its entry, a value only they carried is removed, so the next resolve run scores everyone else exactly as
before while nothing of the person remains. The step is safe to run again after an interruption: each file is
rewritten atomically, the tables read to decide what else goes (the prepared snapshot, for term frequencies
and refused identifiers) are rewritten after the tables that need them, and `id_map` goes last.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from c360.errors import NotFoundError
from c360.identity.compare import FAMILY_NAME, FULL_NAME, GIVEN_NAME
from c360.identity.name_frequency import full_name_key
from c360.identity.realtime import IdentityIndex
from c360.identity.store import IdentityStore
from c360.privacy.rewrite import StoreCounts, filter_parquet, isin_matcher
from c360.privacy.subject import FunctionStep, Subject
from c360.privacy.suppression import IDENTIFIER_KINDS
from c360.workspace import Workspace

TF_FIELDS_FROM = ("first_name", "last_name")
NAME_FIELDS = ("first_name", "last_name", "street", "city", "postcode")
MAX_ALIAS_HOPS = 8


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
    if tf is None:
        return counts
    for fld in set(tf.column("field").to_pylist()):
        theirs = _tf_values(mine, fld)
        if theirs:
            gone |= {(fld, v) for v in theirs - _tf_values(remaining, fld)}
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


def _tf_values(prepared: pa.Table, fld: str) -> set[str]:
    """The values a term-frequency field holds for these records: a column's, or (`FULL_NAME`) each
    record's first and last name as the full-name table keys them."""
    if fld == FULL_NAME:
        if not {GIVEN_NAME, FAMILY_NAME} <= set(prepared.column_names):
            return set()
        names = prepared.select([GIVEN_NAME, FAMILY_NAME]).to_pandas()
        return set(full_name_key(names[GIVEN_NAME], names[FAMILY_NAME]).dropna().tolist())
    if fld not in prepared.column_names:
        return set()
    return {str(v) for v in prepared.column(fld).to_pylist() if v is not None}


def erase_from_identity(store: IdentityStore, subject: Subject) -> StoreCounts:
    """Remove the person's rows from every identity table and state snapshot."""
    lake = store.lake
    cids, keys = subject.customer_ids, subject.record_keys
    counts = StoreCounts()
    # Read before `prepared` is rewritten below: a re-run after an interruption past that point finds
    # nothing of the person here, and needs nothing, as the tables this decides on were rewritten first.
    mine, others = _split_prepared(store.read_arrow("prepared"), keys)
    counts.add(_scrub_tf(store, mine, others))
    if store.exists("refused_identifiers"):
        values = subject.identifier_values()
        if mine is not None:
            for col in mine.column_names:
                if col.endswith("__id"):
                    values |= {str(v) for v in mine.column(col).to_pylist() if v is not None}
        counts.add(filter_parquet(lake, store.path("refused_identifiers"), {"value": values}))
    if store.exists("corrections"):
        refs = cids | keys
        match = _list_matcher(("left_keys", "right_keys"), keys, ("left_ref", "right_ref"))
        cols = {c: refs for c in ("left_ref", "right_ref", "left_keys", "right_keys")}
        counts.add(filter_parquet(lake, store.path("corrections"), cols, matcher=match))  # type: ignore[arg-type]
    for path in lake.glob("identity/changes/*.parquet"):
        counts.add(filter_parquet(lake, path, {"customer_id": cids, "other_customer_id": cids}))
    plain = {  # id_map last: it is how a fresh look-up finds the person
        "links": {"record_key_l": keys, "record_key_r": keys},
        "clusters": {"customer_id": cids},
        "golden": {"customer_id": cids},
        "aliases": {"alias_id": cids, "customer_id": cids},
        "records": {"record_key": keys},
        "prepared": {"record_key": keys},
        "id_map": {"customer_id": cids, "record_key": keys},
    }
    for name, keyed in plain.items():
        for path in store.files(name):  # record snapshots are kept in parts, one per run
            counts.add(filter_parquet(lake, path, keyed))
    return counts


def erase_identity_graph(ws: Workspace, subject: Subject) -> StoreCounts:
    """A resolve killed mid-run is rolled back or finished first (its journal), so the files scrubbed are the
    ones every later reader sees, and none of the killed run's hidden files is left holding the person."""
    store = IdentityStore(ws.lake)
    store.journal.recover()
    return erase_from_identity(store, subject)


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


def _current_id(aliases: pa.Table | None, customer_id: str) -> str:
    if aliases is None or aliases.num_rows == 0:
        return customer_id
    forward = dict(
        zip(aliases.column("alias_id").to_pylist(), aliases.column("customer_id").to_pylist(), strict=True)
    )
    current = customer_id
    for _ in range(MAX_ALIAS_HOPS):
        nxt = forward.get(current)
        if nxt is None or nxt == current:
            break
        current = nxt
    return current


def _merged_into(aliases: pa.Table | None, current: str) -> set[str]:
    """Every id whose alias chain ends at `current`."""
    out = {current}
    if aliases is None or aliases.num_rows == 0:
        return out
    pairs = list(
        zip(aliases.column("alias_id").to_pylist(), aliases.column("customer_id").to_pylist(), strict=True)
    )
    grew = True
    while grew:
        grew = False
        for alias, target in pairs:
            if target in out and alias not in out:
                out.add(alias)
                grew = True
    return out


def _filtered(store: IdentityStore, name: str, column: str, values: set[str]) -> pa.Table | None:
    if not store.exists(name) or not values:
        return None
    table = store.read_arrow(name)
    if table is None:
        return None
    mask = pc.is_in(table.column(column), value_set=pa.array(sorted(values), pa.string()))
    return table.filter(pc.fill_null(mask, False))


def find_subject(ws: Workspace, customer_id: str) -> Subject:
    """The person behind `customer_id` (current or merged away). Raises NotFoundError for an unknown id."""
    store = IdentityStore(ws.lake)
    aliases = store.read_arrow("aliases")
    current = _current_id(aliases, customer_id)
    subject = Subject(customer_id=current, customer_ids=_merged_into(aliases, current) | {customer_id})
    id_map = _filtered(store, "id_map", "customer_id", subject.customer_ids)
    if id_map is None or id_map.num_rows == 0:
        raise NotFoundError(f"no customer {customer_id!r} in the identity graph")
    for source, rid in zip(
        id_map.column("source").to_pylist(), id_map.column("source_record_id").to_pylist(), strict=True
    ):
        subject.records.setdefault(source, set()).add(str(rid))
    snapshot = _filtered(store, "records", "record_key", subject.record_keys)
    if snapshot is not None:
        for kind in IDENTIFIER_KINDS:
            if kind in snapshot.column_names:
                vals = {str(v) for v in snapshot.column(kind).to_pylist() if v not in (None, "")}
                if vals:
                    subject.identifiers[kind] = vals
        for name in (*NAME_FIELDS, "birth_date"):
            if name in snapshot.column_names:
                vals = {str(v) for v in snapshot.column(name).to_pylist() if v not in (None, "")}
                if vals:
                    subject.attributes[name] = vals
    return subject


IDENTITY_STEP = FunctionStep("identity", erase_identity_graph)
