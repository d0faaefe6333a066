"""The `identity/` folder of the lake, read and written through `ws.lake` (local or abfs://).

```
identity/links/links.parquet          accepted and refused links with their evidence (rule, weights, levels)
identity/clusters/customers.parquet   one row per customer: n_records, first_seen, updated_at
identity/id_map/id_map.parquet        (source, source_record_id, record_key) -> customer_id
identity/aliases/aliases.parquet      retired customer ids -> the id that absorbed them
identity/changes/run=<run_id>.parquet the append-only change log: new, merge, split
identity/golden/golden.parquet        golden records with lineage per attribute
identity/corrections/corrections.parquet  operator must-link / do-not-link rules
identity/state/                       model, term frequencies, record snapshots, refused identifiers, state
```
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from c360.io.lake import Lake
from c360.schemas import standardized_schema

# Record snapshots are written in parts: a full run writes one, an incremental run appends the new and changed
# records only (the latest part wins for a record key), so a 1% run does not rewrite a million rows.
PARTED = {"records": "state/records", "prepared": "state/prepared"}
TABLES = ("links", "clusters", "id_map", "aliases", "golden", "corrections")
_FILE = {
    "links": "links/links.parquet",
    "clusters": "clusters/customers.parquet",
    "id_map": "id_map/id_map.parquet",
    "aliases": "aliases/aliases.parquet",
    "golden": "golden/golden.parquet",
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

    def path(self, name: str) -> str:
        return self.lake.path("identity", _FILE.get(name, name))

    def exists(self, name: str) -> bool:
        if name in PARTED:
            return bool(self._parts(name))
        return self.lake.fs.exists(self.path(name))

    def _parts(self, name: str) -> list[str]:
        return self.lake.glob(f"identity/{PARTED[name]}/*.parquet")

    def _read_parted(self, name: str, columns: list[str] | None = None) -> pa.Table | None:
        parts = self._parts(name)
        if not parts:
            return None
        wanted = None if columns is None else sorted(set(columns) | {"record_key"})
        tables = [self.lake.read_table(p, columns=wanted) for p in parts]  # part names sort by run
        if len(tables) == 1:
            return tables[0].select(columns) if columns else tables[0]
        # The latest part wins for a record key; deduplicated and sorted in Arrow (a string sort of a
        # million keys in pandas costs seconds).
        both = pa.concat_tables(tables, promote_options="default")
        keys = both.column("record_key").to_pandas()
        latest = np.flatnonzero(~keys.duplicated(keep="last").to_numpy())
        both = both.take(pa.array(latest))
        order = pc.sort_indices(both, sort_keys=[("record_key", "ascending")])
        both = both.take(order)
        return both.select(columns) if columns else both

    def read(self, name: str) -> pd.DataFrame | None:
        if name in PARTED:
            table = self._read_parted(name)
            return snapshot_frame(table) if table is not None else None
        if not self.exists(name):
            return None
        return self.lake.read_table(self.path(name)).to_pandas()

    def append(self, name: str, df: pd.DataFrame, run_id: str) -> None:
        """Add a part to a record snapshot (an incremental run's new and changed records)."""
        table = pa.Table.from_pandas(df, preserve_index=False)
        self.lake.write_table(table, self.lake.path("identity", PARTED[name], f"part-{run_id}.parquet"))

    def read_arrow(self, name: str, columns: list[str] | None = None) -> pa.Table | None:
        if not self.exists(name):
            return None
        if name in PARTED:
            return self._read_parted(name, columns)
        return self.lake.read_table(self.path(name), columns=columns)

    def files(self, name: str) -> list[str]:
        """Every parquet file holding table `name` (the parts of a record snapshot, or the one file)."""
        if name in PARTED:
            return self._parts(name)
        return [self.path(name)] if self.exists(name) else []

    def write(self, name: str, df: pd.DataFrame | pa.Table, run_id: str = "0") -> None:
        table = df if isinstance(df, pa.Table) else pa.Table.from_pandas(df, preserve_index=False)
        if name in PARTED:
            for old in self._parts(name):
                self.lake.rm(old)
            self.lake.write_table(table, self.lake.path("identity", PARTED[name], f"part-{run_id}.parquet"))
            return
        self.lake.write_table(table, self.path(name))

    def read_json(self, name: str) -> dict[str, Any] | None:
        path = self.lake.path("identity", "state", f"{name}.json")
        if not self.lake.fs.exists(path):
            return None
        return json.loads(self.lake.read_text(path))

    def write_json(self, name: str, data: dict[str, Any] | str) -> None:
        text = data if isinstance(data, str) else json.dumps(data, indent=1, default=str)
        self.lake.write_text(self.lake.path("identity", "state", f"{name}.json"), text)

    def read_text_state(self, name: str) -> str | None:
        path = self.lake.path("identity", "state", f"{name}.json")
        return self.lake.read_text(path) if self.lake.fs.exists(path) else None

    def append_changes(self, changes: pd.DataFrame, run_id: str) -> None:
        if changes.empty:
            return
        self.lake.write_table(
            pa.Table.from_pandas(changes, preserve_index=False),
            self.lake.path("identity", "changes", f"run={run_id}.parquet"),
        )

    def read_changes(self) -> pd.DataFrame:
        files = self.lake.glob("identity/changes/*.parquet")
        if not files:
            return pd.DataFrame(
                columns=["run_id", "at", "kind", "customer_id", "other_customer_id", "records", "reason"]
            )
        return pd.concat([self.lake.read_table(f).to_pandas() for f in files], ignore_index=True)


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
