"""Standardized rows keyed by customer: the identity id map (current ids, so a merge or split re-keys all of a
person's history at once) joined onto each row's `customer_ref`, erased people left out as profile staging
leaves them out, and each row's hash partition and standardized file carried along.

The partition is computed once per customer id (not per row) and joined on with the id, so keying tens of
millions of rows stays an Arrow hash join. The file index says which standardized file a row came from: a
file rewritten or removed later (retention, erasure) marks the partitions its rows were in as changed.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds

from c360.identity.store import IdentityStore
from c360.io.lake import Lake
from c360.profile.staging import partition_of, suppressed_customers
from c360.schemas import standardized_schema

KEY_COLUMNS = ("source", "source_record_id", "customer_id")
FILE_INDEX = "_file_index"


@dataclass
class Keyed:
    """A record type's rows with `customer_id`, `part` and `_file_index` (into `files`)."""

    table: pa.Table
    files: list[str]
    """Standardized files, relative to the lake root, in the order `_file_index` refers to."""
    unresolved: int
    unresolved_refs: pa.Table | None = None
    """(source, customer_ref) of the rows left out for want of a customer, once each."""


EMPTY_REFS = pa.table({"source": pa.array([], pa.string()), "customer_ref": pa.array([], pa.string())})


def unresolved_refs(rows: pa.Table) -> pa.Table:
    """Distinct (source, customer_ref) of `rows`."""
    pairs = rows.select(["source", "customer_ref"]).group_by(["source", "customer_ref"], use_threads=False)
    return pairs.aggregate([]).cast(EMPTY_REFS.schema)


def filter_columns(table: pa.Table, mask: pa.Array | pa.ChunkedArray) -> pa.Table:
    """`table.filter(mask)` one column at a time, each original column let go once filtered, so the peak
    is the table plus one column rather than two tables; the table itself when the mask keeps every row."""
    if table.num_rows == 0 or pc.all(mask).as_py():
        return table
    names = table.column_names
    out = []
    for name in names:
        out.append(table[name].filter(mask))
        table = table.drop_columns([name])
    return pa.table(out, names=names)


def customer_keys(lake: Lake, partitions: int) -> tuple[pa.Table, int]:
    """(source, source_record_id, customer_id, part) of every identity record whose person is not erased,
    and how many customers were left out as suppressed."""
    store = IdentityStore(lake)
    id_map = store.read_arrow("id_map", columns=list(KEY_COLUMNS), sort=False)
    if id_map is None:
        id_map = pa.table({c: pa.array([], pa.string()) for c in KEY_COLUMNS})
    id_map = id_map.select(list(KEY_COLUMNS))
    golden = store.read_arrow("golden", columns=["customer_id"], sort=False)
    if golden is None:
        golden = pa.table({"customer_id": pa.array([], pa.string())})
    erased = suppressed_customers(lake, id_map, golden)
    if len(erased):
        id_map = id_map.filter(pc.invert(pc.is_in(id_map["customer_id"], value_set=erased)))
    return with_partition(id_map, partitions), len(erased)


def with_partition(table: pa.Table, partitions: int) -> pa.Table:
    """`table` with a `part` column: the hash partition of its customer_id, hashed once per distinct id."""
    ids = pc.unique(table["customer_id"].combine_chunks()) if table.num_rows else pa.array([], pa.string())
    parts = pa.array(partition_of(ids.to_numpy(zero_copy_only=False), partitions), pa.int32())
    index = pc.index_in(table["customer_id"], value_set=ids)
    return table.append_column("part", pc.take(parts, index))


def read_with_files(
    lake: Lake, record: str, columns: list[str], files: list[str] | None = None
) -> tuple[pa.Table, list[str]]:
    """`columns` of standardized `record` rows (as `c360.sources.layout.read_standardized` reads them) with
    the index of the file each row came from; only `files` (relative to the lake root) when given."""
    schema = standardized_schema(record)
    root = lake.path("standardized", record)
    if not lake.fs.exists(root) or files == []:
        empty = schema.empty_table().select(columns)
        return empty.append_column(FILE_INDEX, pa.array([], pa.int32())), []
    source = root if files is None else [lake.path(f) for f in files]
    dataset = ds.dataset(source, filesystem=lake.arrow_fs, format="parquet", schema=schema, partitioning=None)
    table = dataset.to_table(columns=[*columns, "__fragment_index"])
    table = table.rename_columns([*columns, FILE_INDEX])
    return table, [lake.relative(f) for f in dataset.files]


def _joined_key(source: pa.ChunkedArray | pa.Array, ref: pa.ChunkedArray | pa.Array) -> pa.Array:
    """One string per (source, reference): a hash lookup on one column instead of a two-column join."""
    out = pc.binary_join_element_wise(source, ref, "\x1f")
    return out.combine_chunks() if isinstance(out, pa.ChunkedArray) else out


def key_rows(
    lake: Lake, record: str, columns: list[str], keys: pa.Table, files: list[str] | None = None
) -> Keyed:
    """Rows of `record` (of `files` only, when given) keyed through `keys` (from `customer_keys`); rows whose
    reference resolves to no (unsuppressed) customer are counted, not kept, and their references are in
    `Keyed.unresolved_refs`. The rows keep their order (a lookup, not a join)."""
    wanted = ["source", "customer_ref", *(c for c in columns if c not in ("source", "customer_ref"))]
    table, files = read_with_files(lake, record, wanted, files)
    at = pc.index_in(
        _joined_key(table["source"], table["customer_ref"]),
        value_set=_joined_key(keys["source"], keys["source_record_id"]),
    )
    resolved = pc.is_valid(at)
    unresolved = table.num_rows - int(pc.sum(resolved).as_py() or 0)
    refs = unresolved_refs(table.filter(pc.invert(resolved))) if unresolved else EMPTY_REFS
    at = at.filter(resolved)
    table = filter_columns(table, resolved)
    table = table.append_column("customer_id", keys["customer_id"].take(at))
    table = table.append_column("part", keys["part"].take(at))
    if "customer_ref" not in columns:
        table = table.drop_columns(["customer_ref"])
    return Keyed(table, files, unresolved, refs)


def file_partitions(keyed: Keyed) -> dict[str, list[int]]:
    """Standardized file -> the sorted partitions its keyed rows fall in."""
    out: dict[str, list[int]] = {f: [] for f in keyed.files}
    if keyed.table.num_rows == 0:
        return out
    pairs = (
        keyed.table.select([FILE_INDEX, "part"])
        .group_by([FILE_INDEX, "part"], use_threads=False)
        .aggregate([])
    )
    fi = pairs[FILE_INDEX].to_numpy()
    pt = pairs["part"].to_numpy()
    order = np.lexsort((pt, fi))
    for f, p in zip(fi[order].tolist(), pt[order].tolist(), strict=True):
        out[keyed.files[f]].append(int(p))
    return out
