"""Append runs: when the only change since the last run is new standardized files (the usual incremental
load), their rows are keyed, converted and scored on their own and written as delta files beside each
partition's base file (`part-<p>.d<run>.parquet`, store.py), instead of recomputing whole partitions. A
run's cost then follows the new rows, not the lake.

An append gives the rows a full recompute would, because it is taken only when nothing else changed:

- no standardized file changed size or went away, no facts file was rewritten behind the stage's back;
- no identity record moved to another customer or went away (merges, splits, erasure); records that
  appeared are new customers or new records, unless rows already delivered referred to them while they
  were unknown (`facts/_state/unresolved-<run>.parquet` keeps those references);
- the reporting currency, rates and table-shaping settings are the same;
- no new line belongs to an order that already has lines (line numbers are per order).

Anything else takes the partition path (build.py), which also compacts: its partitions are written whole
and their deltas removed. Exposures are rebuilt for the customers whose new rows are sends or outcomes,
from their whole history (an open can credit a send delivered a run earlier), and their partitions'
exposure files rewritten. A partition holding `MAX_DELTAS` deltas is compacted by the next append.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds

from c360.facts.keyed import with_partition
from c360.facts.lines import QUARANTINE_FILE
from c360.facts.schemas import (
    EXPOSURE_TYPES,
    EXPOSURES,
    INTERACTIONS,
    OUTCOME_TYPES,
    SCHEMAS,
    TRANSACTION_LINES,
)
from c360.facts.store import (
    delta_file,
    deltas_by_partition,
    facts_partition_paths,
    partition_files,
    serialize,
    sort_for_write,
    write_partitions,
)
from c360.io.lake import Lake
from c360.schemas import QUARANTINE_SCHEMA

MAX_DELTAS = 8
"""Delta files a partition may hold; the append that would add one more compacts the partition instead."""

EXPOSURE_INTERACTION_COLUMNS = [
    "customer_id",
    "ts",
    "type",
    "channel",
    "campaign_id",
    "offer_id",
    "variant",
    "source",
    "source_record_id",
]
EXPOSURE_LINE_COLUMNS = ["customer_id", "source", "order_id", "ts", "campaign_id", "kind", "amount_rc"]


def new_files(before: dict[str, list[Any]], sizes: dict[str, int]) -> list[str] | None:
    """The standardized files that are new since the last run, or None when one changed or went away."""
    for f, record in before.items():
        if sizes.get(f) != record[0]:
            return None
    return sorted(f for f in sizes if f not in before)


def appeared_records(old: pa.Table, new: pa.Table) -> pa.Table | None:
    """(source, source_record_id) of identity records that are new since the snapshot `old`; None when any
    record moved to another customer or went away (the partition path re-keys their history)."""
    cols = ["source", "source_record_id", "customer_id"]
    left = new.select(cols)
    right = old.select(cols).rename_columns(["source", "source_record_id", "old_customer_id"])
    j = left.join(right, ["source", "source_record_id"], join_type="full outer", use_threads=False)
    moved = pc.and_(
        pc.is_valid(j["old_customer_id"]),
        pc.invert(pc.fill_null(pc.equal(j["customer_id"], j["old_customer_id"]), False)),
    )
    if pc.any(moved).as_py():
        return None
    return j.filter(pc.is_null(j["old_customer_id"])).select(["source", "source_record_id"])


def resolves_old_rows(appeared: pa.Table, unresolved: pa.Table | None) -> bool:
    """Whether a new record is one that rows delivered earlier referred to while it was unknown."""
    if unresolved is None or unresolved.num_rows == 0 or appeared.num_rows == 0:
        return False
    a = pc.binary_join_element_wise(appeared["source"], appeared["source_record_id"], "\x1f")
    u = pc.binary_join_element_wise(unresolved["source"], unresolved["customer_ref"], "\x1f")
    return bool(pc.any(pc.is_in(a, value_set=u.combine_chunks())).as_py())


def orders_seen(lake: Lake, lines: pa.Table) -> bool:
    """Whether any of `lines`' (source, order_id) already has lines in facts (their numbers would shift)."""
    orders = pc.unique(lines["order_id"].drop_null())
    files = facts_partition_paths(lake, TRANSACTION_LINES)
    if len(orders) == 0 or not files:
        return False
    dataset = ds.dataset(files, schema=SCHEMAS[TRANSACTION_LINES], format="parquet", filesystem=lake.arrow_fs)
    old = dataset.to_table(columns=["source", "order_id"], filter=pc.field("order_id").isin(orders))
    if old.num_rows == 0:
        return False
    key = pc.binary_join_element_wise(old["source"], old["order_id"], "\x1f")
    new_key = pc.binary_join_element_wise(lines["source"], lines["order_id"], "\x1f")
    return bool(pc.any(pc.is_in(new_key, value_set=pc.unique(key.combine_chunks()))).as_py())


def exposure_customers(interactions: pa.Table, lines: pa.Table) -> pa.Array:
    """Customers whose new rows are sends or outcomes: their exposures may change."""
    kinds = pa.array([*EXPOSURE_TYPES, *OUTCOME_TYPES], pa.string())
    ix = interactions.filter(pc.is_in(interactions["type"], value_set=kinds))["customer_id"]
    ln = lines.filter(pc.is_valid(lines["campaign_id"]))["customer_id"]
    both = pa.chunked_array([*ix.chunks, *ln.chunks], pa.string())
    return pc.unique(both.combine_chunks()) if len(both) else pa.array([], pa.string())


def _read(lake: Lake, table: str, parts: list[int], columns: list[str], where: pc.Expression) -> pa.Table:
    files = [path for p in parts for path in partition_files(lake, table, p)]
    schema = pa.schema([SCHEMAS[table].field(c) for c in columns])
    if not files:
        return schema.empty_table()
    dataset = ds.dataset(files, schema=SCHEMAS[table], format="parquet", filesystem=lake.arrow_fs)
    return dataset.to_table(columns=columns, filter=where).cast(schema)


def exposure_inputs(
    lake: Lake, customers: pa.Array, partitions: int, interactions: pa.Table, lines: pa.Table
) -> tuple[pa.Table, pa.Table]:
    """What build_exposures reads of `customers`' whole history (facts so far plus this run's rows): their
    sends and outcomes, and the lines of their orders that carry a campaign; the interactions with `part`.
    Nothing else changes an exposure, so the rest of their history is not read."""
    parts = sorted(set(with_partition(pa.table({"customer_id": customers}), partitions)["part"].to_pylist()))
    kinds = pa.array([*EXPOSURE_TYPES, *OUTCOME_TYPES], pa.string())
    mine = pc.field("customer_id").isin(customers)
    ix_old = _read(
        lake, INTERACTIONS, parts, EXPOSURE_INTERACTION_COLUMNS, mine & pc.field("type").isin(kinds)
    )
    ix_new = interactions.filter(
        pc.and_(
            pc.is_in(interactions["customer_id"], value_set=customers), pc.is_in(interactions["type"], kinds)
        )
    )
    campaign = pc.field("campaign_id").is_valid()
    orders_old = _read(lake, TRANSACTION_LINES, parts, ["order_id"], mine & campaign)["order_id"]
    new_mine = lines.filter(pc.is_in(lines["customer_id"], value_set=customers))
    orders_new = new_mine.filter(pc.is_valid(new_mine["campaign_id"]))["order_id"]
    orders = pa.chunked_array([*orders_old.chunks, *orders_new.chunks], pa.string()).drop_null().unique()
    ln_old = _read(
        lake, TRANSACTION_LINES, parts, EXPOSURE_LINE_COLUMNS, mine & pc.field("order_id").isin(orders)
    )
    ln_new = new_mine.filter(pc.is_in(new_mine["order_id"], value_set=orders))
    ix = pa.concat_tables([ix_old, ix_new.select(EXPOSURE_INTERACTION_COLUMNS).cast(ix_old.schema)])
    ln = pa.concat_tables([ln_old, ln_new.select(EXPOSURE_LINE_COLUMNS).cast(ln_old.schema)])
    return with_partition(ix, partitions), ln


def replace_exposures(
    lake: Lake, rebuilt: pa.Table, customers: pa.Array, partitions: int, digests: dict[str, str]
) -> dict[str, Any]:
    """The exposure partitions of `customers`: their stored rows less those customers' plus `rebuilt`
    (those customers' exposures now, with `part`), written when their bytes changed."""
    parts = sorted(set(with_partition(pa.table({"customer_id": customers}), partitions)["part"].to_pylist()))
    schema = SCHEMAS[EXPOSURES]
    tables = [rebuilt.select([*schema.names, "part"])]
    others = ~pc.field("customer_id").isin(customers)
    for p in parts:  # a file's partition is its name's: no customer id is hashed again
        for path in partition_files(lake, EXPOSURES, p):
            kept = lake.read_table(path, filters=others).select(schema.names).cast(schema)
            tables.append(kept.append_column("part", pa.repeat(pa.scalar(p, pa.int32()), kept.num_rows)))
    rows = pa.concat_tables([t.cast(tables[0].schema) for t in tables])
    result = write_partitions(lake, EXPOSURES, rows, parts, digests)
    found = {int(i["values"]): int(i["counts"]) for i in pc.value_counts(rows["part"]).to_pylist()}
    return {**result, "counts": {str(p): found.get(p, 0) for p in parts}}


def write_deltas(
    lake: Lake, name: str, table: pa.Table, run_id: str, partitions: int, digests: dict[str, str]
) -> dict[str, int]:
    """`table`'s rows (with `part`) appended to their partitions as delta files; a partition already
    holding MAX_DELTAS deltas is compacted instead: its base, deltas and these rows become its new base."""
    if table.num_rows == 0:
        return {"written": 0, "removed": 0, "compacted": 0}
    schema = SCHEMAS[name]
    deltas = deltas_by_partition(lake, name)
    ordered = sort_for_write(table, name)
    part_col = ordered["part"].to_numpy()
    parts = sorted(int(p) for p in np.unique(part_col))
    full = [p for p in parts if len(deltas.get(p, [])) >= MAX_DELTAS]
    written = removed = 0
    if full:
        files = [path for p in full for path in partition_files(lake, name, p)]
        stored = ds.dataset(files, schema=schema, format="parquet", filesystem=lake.arrow_fs).to_table()
        mine = ordered.filter(pc.is_in(ordered["part"], value_set=pa.array(full, pa.int32())))
        mine = mine.select([*schema.names, "part"])
        rows = pa.concat_tables([with_partition(stored, partitions).cast(mine.schema), mine])
        result = write_partitions(lake, name, rows, full, digests)
        written += result["written"]
        removed += result["removed"]
    for p in parts:
        if p in full:
            continue
        lo, hi = np.searchsorted(part_col, p, side="left"), np.searchsorted(part_col, p, side="right")
        data, _ = serialize(ordered.slice(lo, hi - lo).select(schema.names).cast(schema))
        lake.replace_bytes(delta_file(lake, name, p, run_id), data)
        written += 1
    return {"written": written, "removed": removed, "compacted": len(full)}


def merge_quarantine(lake: Lake, by_source: dict[str, pa.Table]) -> int:
    """Add this run's no_fx_rate lines to each source's quarantine file (earlier runs' lines stay: an
    append is taken only when the rates did not change)."""
    added = 0
    for source, rows in by_source.items():
        path = lake.path("quarantine", source, QUARANTINE_FILE)
        old = [lake.read_table(path).cast(QUARANTINE_SCHEMA)] if lake.fs.exists(path) else []
        merged = pa.concat_tables([*old, rows.cast(QUARANTINE_SCHEMA)])
        merged = merged.sort_by([("file", "ascending"), ("row", "ascending")])
        data, _ = serialize(merged)
        lake.replace_bytes(path, data)
        added += rows.num_rows
    return added
