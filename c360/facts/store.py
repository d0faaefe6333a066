"""Where the fact tables live and how they are read and written.

    facts/<table>/part-<p:05d>.parquet     customer tables, p = partition_of(customer_id, facts.partitions)
    facts/<table>/part-<p:05d>.d<run>.parquet   rows a run appended to partition p (append.py): read with
                                           the base file as one partition, merged into it by compaction
    facts/products/products.parquet        one file each for the tables not keyed by customer
    facts/product_similarity/product_similarity.parquet

A partition is serialized in memory first and its bytes hashed: the digest decides whether the file on the
lake is rewritten, so a run whose recomputed rows are unchanged writes nothing. Files are replaced
atomically (`Lake.replace_bytes`): a reader sees the old partition or the new one.
"""

from __future__ import annotations

import hashlib
import re
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds
import pyarrow.parquet as pq

from c360.facts.schemas import CUSTOMER_TABLES, FACTS, SCHEMAS
from c360.io.lake import Lake

SORT_KEYS: dict[str, list[str]] = {
    "transaction_lines": ["customer_id", "ts", "source_record_id", "source", "line"],
    "interactions": ["customer_id", "ts", "source_record_id", "source"],
    "exposures": ["customer_id", "ts", "exposure_id"],
}


_PART_NAME = re.compile(r"^part-(\d+)(?:\.d[0-9A-Za-z]+)?\.parquet$")


def partition_file(lake: Lake, table: str, part: int) -> str:
    """The partition's base file."""
    return lake.path(FACTS, table, f"part-{part:05d}.parquet")


def delta_file(lake: Lake, table: str, part: int, run_id: str) -> str:
    """A file of rows run `run_id` appended to the partition."""
    return lake.path(FACTS, table, f"part-{part:05d}.d{run_id}.parquet")


def part_of_name(name: str) -> int | None:
    """The partition a facts file name (base or delta) belongs to; None for any other name."""
    m = _PART_NAME.match(name.rsplit("/", 1)[-1])
    return int(m.group(1)) if m else None


def is_delta(name: str) -> bool:
    return ".d" in name.rsplit("/", 1)[-1] and part_of_name(name) is not None


def partition_files(lake: Lake, table: str, part: int) -> list[str]:
    """The partition's base file and its deltas, those that exist (filesystem-native paths), sorted."""
    return [p for p in lake.glob(f"{FACTS}/{table}/part-{part:05d}*.parquet") if part_of_name(p) == part]


def deltas_by_partition(lake: Lake, table: str) -> dict[int, list[str]]:
    """Partition -> its delta files."""
    out: dict[int, list[str]] = {}
    for path in lake.glob(f"{FACTS}/{table}/part-*.d*.parquet"):
        part = part_of_name(path)
        if part is not None:
            out.setdefault(part, []).append(path)
    return out


def single_file(lake: Lake, table: str) -> str:
    return lake.path(FACTS, table, f"{table}.parquet")


def facts_partition_paths(lake: Lake, table: str) -> list[str]:
    """The files of one facts table (filesystem-native paths), sorted."""
    if table not in SCHEMAS:
        raise ValueError(f"unknown facts table {table!r} (one of {', '.join(SCHEMAS)})")
    if table in CUSTOMER_TABLES:
        return lake.glob(f"{FACTS}/{table}/part-*.parquet")
    path = single_file(lake, table)
    return [path] if lake.fs.exists(path) else []


def read_facts(
    lake: Lake, table: str, columns: list[str] | None = None, filter: pc.Expression | None = None
) -> pa.Table:
    """Every partition of a facts table in `SCHEMAS[table]` (or its `columns`), optionally filtered by a
    dataset expression (`pc.field("ts") < cutoff`): only the rows and columns asked for are read."""
    schema = SCHEMAS[table]
    files = facts_partition_paths(lake, table)
    if not files:
        empty = schema.empty_table()
        return empty.select(columns) if columns else empty
    dataset = ds.dataset(files, schema=schema, format="parquet", filesystem=lake.arrow_fs)
    return dataset.to_table(columns=columns, filter=filter)


def serialize(table: pa.Table) -> tuple[bytes, str]:
    """Parquet bytes of `table` and their digest (the same rows always give the same bytes)."""
    sink = pa.BufferOutputStream()
    pq.write_table(table, sink, compression="zstd")
    data = sink.getvalue().to_pybytes()
    return data, hashlib.blake2b(data, digest_size=16).hexdigest()


def sort_for_write(table: pa.Table, name: str) -> pa.Table:
    """Rows in (part, customer_id, ts, ...) order, so partitions are contiguous slices. Customers are ranked
    once (a few hundred thousand ids) and rows sorted by that integer first: string comparisons are left for
    the rare ties on (customer, ts)."""
    if table.num_rows == 0:
        return table
    pairs = (
        table.select(["customer_id", "part"])
        .group_by(["customer_id", "part"], use_threads=False)
        .aggregate([])
    )
    pairs = pairs.sort_by([("part", "ascending"), ("customer_id", "ascending")])
    rank = pc.index_in(table["customer_id"], value_set=pairs["customer_id"].combine_chunks())
    keyed = table.append_column("_rank", rank)
    keys = [("_rank", "ascending", "at_end"), *((k, "ascending", "at_end") for k in SORT_KEYS[name][1:])]
    return table.combine_chunks().take(pc.sort_indices(keyed, sort_keys=keys))  # one chunk: a faster take


def write_partitions(
    lake: Lake, name: str, table: pa.Table, parts: list[int], digests: dict[str, str]
) -> dict[str, Any]:
    """Write partitions `parts` of table `name` from `table` (rows of exactly those partitions, with `part`).
    `digests` (partition -> digest, as strings) is updated in place; a partition whose bytes did not change
    is not rewritten, one left without rows loses its file. The rows are the whole partition, so its delta
    files go (after the base is in place). Returns counts."""
    schema = SCHEMAS[name]
    deltas = deltas_by_partition(lake, name)
    ordered = sort_for_write(table, name)
    part_col = ordered["part"].to_numpy() if ordered.num_rows else np.array([], np.int32)
    slices: dict[int, pa.Table] = {}
    for p in sorted(parts):
        lo, hi = np.searchsorted(part_col, p, side="left"), np.searchsorted(part_col, p, side="right")
        if hi > lo:
            slices[p] = ordered.slice(lo, hi - lo).select(schema.names).cast(schema)
    # Parquet encoding releases the GIL: partitions are serialized two at a time.
    with ThreadPoolExecutor(max_workers=2) as pool:
        encoded = dict(zip(slices, pool.map(serialize, slices.values()), strict=True))
    written = removed = 0
    for p in sorted(parts):
        key = str(p)
        path = partition_file(lake, name, p)
        if p not in encoded:
            if key in digests or lake.fs.exists(path):
                lake.rm(path)
                digests.pop(key, None)
                removed += 1
            for delta in deltas.get(p, []):
                lake.rm(delta)
                removed += 1
            continue
        data, digest = encoded.pop(p)
        if digests.get(key) != digest or not lake.fs.exists(path):
            lake.replace_bytes(path, data)
            digests[key] = digest
            written += 1
        for delta in deltas.get(p, []):
            lake.rm(delta)
            removed += 1
    return {"written": written, "removed": removed}


def write_single(lake: Lake, name: str, table: pa.Table, digests: dict[str, str]) -> bool:
    """Write a one-file table when its bytes changed; returns whether it was written."""
    path = single_file(lake, name)
    data, digest = serialize(table.cast(SCHEMAS[name]))
    if digests.get(name) == digest and lake.fs.exists(path):
        return False
    lake.replace_bytes(path, data)
    digests[name] = digest
    return True
