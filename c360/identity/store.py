"""The `identity/` folder of the lake, read and written through `ws.lake` (local or abfs://).

```
identity/links/        accepted and refused links with their evidence (rule, weights, levels)
identity/clusters/     one row per customer: n_records, first_seen, updated_at
identity/id_map/       (source, source_record_id, record_key) -> customer_id, component
identity/golden/       golden records with lineage per attribute
identity/aliases/aliases.parquet      retired customer ids -> the id that absorbed them
identity/changes/run=<run_id>.parquet the append-only change log: new, merge, split
identity/corrections/corrections.parquet  operator must-link / do-not-link rules
identity/state/        model, term frequencies, record snapshots (records/, prepared/), refused ids, state
```

The big tables are kept in parts, merged on read. A full run writes one `part-<run>.parquet`; an incremental
run adds a part with the rows it recomputed and, where rows go away, `drop-<run>.parquet` with the keys
whose earlier rows it replaces (a customer merged into another, the links of a component clustered again).
For a key, the latest part holding it or dropping it wins. So a 1% run writes what it changed, not a million
rows; past `MAX_PARTS` parts a table is compacted into one.

A resolve run writes through the store's journal (`c360.identity.journal`): its files become visible at its
commit, and a run killed before is rolled back by the next. Empty or all-null columns keep their declared
types (`c360.identity.schemas`).
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from c360.identity.journal import RunJournal
from c360.identity.schemas import typed
from c360.io.lake import Lake
from c360.schemas import standardized_schema

# name -> (folder, key column, sort order on read)
PARTED: dict[str, tuple[str, str, list[str]]] = {
    "records": ("state/records", "record_key", ["record_key"]),
    "prepared": ("state/prepared", "record_key", ["record_key"]),
    "id_map": ("id_map", "record_key", ["record_key"]),
    "clusters": ("clusters", "customer_id", ["customer_id"]),
    "golden": ("golden", "customer_id", ["customer_id"]),
    "links": ("links", "record_key_l", ["record_key_l", "record_key_r", "kind"]),
}
MAX_PARTS = 8
TABLES = ("links", "clusters", "id_map", "aliases", "golden", "corrections")
_FILE = {
    # One file each; for links, clusters, id_map and golden, the single file written before they were kept
    # in parts, still read as their first part.
    "links": "links/links.parquet",
    "clusters": "clusters/customers.parquet",
    "id_map": "id_map/id_map.parquet",
    "golden": "golden/golden.parquet",
    "aliases": "aliases/aliases.parquet",
    "corrections": "corrections/corrections.parquet",
    "tf": "state/tf.parquet",
    "refused_identifiers": "state/refused_identifiers.parquet",
}


def snapshot_frame(table: pa.Table) -> pd.DataFrame:
    """A record snapshot as pandas with the types `prepare_records` gives it: 64-bit integers with nulls
    (blocking-key hashes) as exact nullable Int64, not float64, so a part appended from this frame keeps
    the snapshot's schema; integers without nulls stay plain int64."""
    df = table.to_pandas(types_mapper=lambda t: pd.Int64Dtype() if t == pa.int64() else None)
    for spec in table.schema:
        if spec.type == pa.int64() and table.column(spec.name).null_count == 0:
            df[spec.name] = df[spec.name].astype(np.int64)
    return df


class IdentityStore:
    def __init__(self, lake: Lake) -> None:
        self.lake = lake
        self.journal = RunJournal(lake)

    def path(self, name: str) -> str:
        """The file of a one-file table; while a killed run's commit is unfinished, the file that replaces
        it (so an erasure scrubs what will be current, see journal.py)."""
        return self.journal.source(self.lake.path("identity", _FILE.get(name, name)))

    def exists(self, name: str) -> bool:
        if name in PARTED:
            return bool(self._parts(name))
        return self.lake.fs.exists(self.path(name))

    def _folder(self, name: str) -> str:
        return f"identity/{PARTED[name][0]}"

    def _parts(self, name: str) -> list[str]:
        parts = self.lake.glob(f"{self._folder(name)}/part-*.parquet")  # names sort by run
        legacy = self.path(name) if name in _FILE else None
        if legacy is not None and self.lake.fs.exists(legacy):
            parts = [legacy, *parts]
        return [p for p in parts if not self.journal.hidden(p)]

    def _drops(self, name: str) -> dict[str, str]:
        """run id -> the drop list that run wrote."""
        found = [
            f for f in self.lake.glob(f"{self._folder(name)}/drop-*.parquet") if not self.journal.hidden(f)
        ]
        return {f.rsplit("/", 1)[-1][len("drop-") : -len(".parquet")]: f for f in found}

    def _read_parted(self, name: str, columns: list[str] | None = None, sort: bool = True) -> pa.Table | None:
        parts = self._parts(name)
        if not parts:
            return None
        key, order = PARTED[name][1], PARTED[name][2]
        wanted = None if columns is None else sorted(set(columns) | {key} | (set(order) if sort else set()))
        tables = [typed(name, self.lake.read_table(p, columns=wanted)) for p in parts]
        if len(tables) > 1:
            # Newest first: each part loses the keys that a later part holds or drops. Later parts are small
            # (an incremental run's rows), so this is a hash lookup against a few thousand keys.
            drops = self._drops(name)
            kept: list[pa.Table] = []
            later: pa.Array | None = None
            for path, t in zip(reversed(parts), reversed(tables), strict=True):
                if later is not None:
                    gone = pc.fill_null(pc.is_in(t.column(key), value_set=later), False)
                    t = t.filter(pc.invert(gone))
                kept.append(t)
                mine = [t.column(key).combine_chunks()]
                run = path.rsplit("/", 1)[-1][len("part-") : -len(".parquet")]
                if run in drops:
                    mine.append(self.lake.read_table(drops[run]).column(key).combine_chunks())
                if later is not None:
                    mine.append(later)
                if path != parts[0]:  # the oldest part has no part before it to filter
                    later = pa.concat_arrays([m.cast(pa.string()) for m in mine])
            # Permissive: an older part may hold list<null> where a later one learned list<string>.
            both = pa.concat_tables(kept[::-1], promote_options="permissive")
            if sort:
                both = both.take(pc.sort_indices(both, sort_keys=[(c, "ascending") for c in order]))
        else:
            both = tables[0]
        return both.select(columns) if columns else both

    def read(self, name: str) -> pd.DataFrame | None:
        if name in PARTED:
            table = self._read_parted(name)
            if table is None:
                return None
            return snapshot_frame(table) if name in ("records", "prepared") else table.to_pandas()
        if not self.exists(name):
            return None
        return typed(name, self.lake.read_table(self.path(name))).to_pandas()

    def append(
        self, name: str, df: pd.DataFrame | pa.Table, run_id: str, drop: pa.Array | None = None
    ) -> None:
        """Add a part (an incremental run's rows) in the schema of the parts before it: a column all null
        in this batch keeps its type, one it lacks is null. `drop` lists keys whose earlier rows go away.
        Past `MAX_PARTS` parts, the table is compacted into one."""
        table = typed(name, _arrow(df))
        parts = self._parts(name)
        if parts:
            stored = pq.read_schema(parts[0], filesystem=self.lake.arrow_fs).remove_metadata()
            schema = typed(name, stored.empty_table()).schema
            cols, fields = [], []
            for spec in schema:
                col = (
                    table.column(spec.name)
                    if spec.name in table.column_names
                    else pa.nulls(len(table), spec.type)
                )
                if _holds_null(spec.type):  # undeclared and all null (or empty lists) before: this batch's
                    spec = _widened(spec, col.type)  # type wins where the stored one says nothing
                cols.append(col if col.type == spec.type else col.cast(spec.type))
                fields.append(spec)
            table = pa.Table.from_arrays(cols, schema=pa.schema(fields))
        folder = self._folder(name)
        if drop is not None and len(drop):
            keys = pa.table({PARTED[name][1]: drop.cast(pa.string())})
            self.lake.write_table(keys, self.lake.path(folder, f"drop-{run_id}.parquet"))
        self.lake.write_table(table, self.lake.path(folder, f"part-{run_id}.parquet"))
        if len(parts) + 1 > MAX_PARTS:
            merged = self._read_parted(name)
            assert merged is not None
            self.write(name, merged, run_id)

    def read_arrow(self, name: str, columns: list[str] | None = None, sort: bool = True) -> pa.Table | None:
        """A table as Arrow. A record snapshot comes back with one row per record key, sorted by key unless
        `sort=False` (an incremental run filters it and sorts only what it keeps)."""
        if not self.exists(name):
            return None
        if name in PARTED:
            return self._read_parted(name, columns, sort)
        return typed(name, self.lake.read_table(self.path(name), columns=columns))

    def columns(self, name: str) -> list[str]:
        """The column names of a stored table (empty when it does not exist)."""
        files = self._parts(name) if name in PARTED else self.files(name)
        return pq.read_schema(files[0], filesystem=self.lake.arrow_fs).names if files else []

    def files(self, name: str) -> list[str]:
        """Every parquet file holding table `name` (its parts and drop lists, or the one file)."""
        if name in PARTED:
            return self._parts(name) + sorted(self._drops(name).values())
        return [self.path(name)] if self.exists(name) else []

    def write(self, name: str, df: pd.DataFrame | pa.Table, run_id: str = "0") -> None:
        table = typed(name, _arrow(df))
        if name in PARTED:
            # In a run, the replaced files go at its commit (journal.py); outside one (an erasure), now.
            new = self.lake.path(self._folder(name), f"part-{run_id}.parquet")
            old = [f for f in self.files(name) if f != new]
            if not self.journal.active:
                self.journal.discard(old)
            self.lake.write_table(table, new)
            if self.journal.active:
                self.journal.discard(old)
            return
        self.lake.write_table(table, self.journal.target(self.path(name)))

    def read_json(self, name: str) -> dict[str, Any] | None:
        text = self.read_text_state(name)
        return None if text is None else json.loads(text)

    def write_json(self, name: str, data: dict[str, Any] | str) -> None:
        text = data if isinstance(data, str) else json.dumps(data, indent=1, default=str)
        self.lake.write_text(self.journal.target(self.lake.path("identity", "state", f"{name}.json")), text)

    def read_text_state(self, name: str) -> str | None:
        path = self.journal.source(self.lake.path("identity", "state", f"{name}.json"))
        return self.lake.read_text(path) if self.lake.fs.exists(path) else None

    def append_changes(self, changes: pd.DataFrame, run_id: str) -> None:
        if changes.empty:
            return
        self.lake.write_table(
            typed("changes", _arrow(changes)),
            self.lake.path("identity", "changes", f"run={run_id}.parquet"),
        )

    def read_changes(self) -> pd.DataFrame:
        files = [f for f in self.lake.glob("identity/changes/*.parquet") if not self.journal.hidden(f)]
        if not files:
            return pd.DataFrame(
                columns=["run_id", "at", "kind", "customer_id", "other_customer_id", "records", "reason"]
            )
        tables = [typed("changes", self.lake.read_table(f)) for f in files]
        return pa.concat_tables(tables, promote_options="permissive").to_pandas()


def _holds_null(t: pa.DataType) -> bool:
    """Whether a type says nothing somewhere: null itself, or a list (or struct) of nulls."""
    if pa.types.is_null(t):
        return True
    return any(_holds_null(t.field(i).type) for i in range(t.num_fields))


def _widened(stored: pa.Field, batch: pa.DataType) -> pa.Field:
    """The stored field with its null parts given the batch's types (list<null> + list<string>)."""
    both = [pa.schema([stored]), pa.schema([pa.field(stored.name, batch)])]
    return pa.unify_schemas(both, promote_options="permissive").field(0)


def _arrow(df: pd.DataFrame | pa.Table) -> pa.Table:
    return df if isinstance(df, pa.Table) else pa.Table.from_pandas(df, preserve_index=False)


def standardized_identity_files(lake: Lake) -> list[str]:
    return lake.glob("standardized/identity/**/*.parquet")


def read_standardized(lake: Lake, files: list[str]) -> pa.Table:
    """Identity records of the given files in the canonical schema (partition values restored if absent)."""
    schema = standardized_schema("identity")
    tables = []
    for f in files:
        t = pq.read_table(f, filesystem=lake.arrow_fs)
        if "source" not in t.column_names:
            src = next((p.split("=", 1)[1] for p in f.split("/") if p.startswith("source=")), "unknown")
            t = t.append_column("source", pa.array([src] * t.num_rows, pa.string()))
        cols = []
        for fld in schema:
            if fld.name in t.column_names:
                col = t.column(fld.name)
                cols.append(col.cast(fld.type) if col.type != fld.type else col)
            else:
                cols.append(pa.nulls(t.num_rows, fld.type))
        tables.append(pa.Table.from_arrays(cols, schema=schema))
    if not tables:
        return schema.empty_table()
    return pa.concat_tables(tables)
