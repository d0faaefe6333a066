"""The first step of `profiles`: every input keyed by customer and cut into hash partitions of customer_id.

Transactions and interactions come from the fact tables (`facts/transaction_lines`, `facts/interactions`),
which the facts stage already keyed by the current id map, with erased people left out, money converted
into the reporting currency and texts scored for sentiment. Consent still comes from the standardized rows
(joined onto the id map here) and the consent changes recorded through the API; the golden records from
identity. Arrow does the heavy lifting (column projection, the join, one sort): a few seconds for tens of
millions of rows, and no row is touched by Python. Each partition's rows land in
`profiles/_staging/<input>/part-<p>.parquet`, so the per-partition work (Ray Data tasks) reads only its own
customers. The partition of a customer is a seeded hash of its id, stable across runs and machines.
"""

from __future__ import annotations

import posixpath

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from c360.facts.schemas import INTERACTIONS, TRANSACTION_LINES
from c360.identity.golden import GOLDEN_FIELDS, LIST_FIELDS
from c360.identity.store import IdentityStore
from c360.identity.suppressed import Suppressed
from c360.io.lake import Lake
from c360.privacy.suppression import RECORD, record_value
from c360.sources.layout import read_standardized

INPUTS = ("golden", "transaction", "interaction", "consent")
COLUMNS: dict[str, list[str]] = {
    "transaction": ["order_id", "ts", "category", "amount_rc", "kind", "channel"],
    "interaction": ["ts", "type", "channel", "attributes", "sentiment"],
    "consent": ["ts", "purpose", "channel", "granted", "source"],
}
FACT_TABLES: dict[str, str] = {"transaction": TRANSACTION_LINES, "interaction": INTERACTIONS}
"""Profile input -> the fact table it is read from (the others are read as before)."""
CONSENT_UPDATES = ("consent", "updates")
PART_KEY = "c360partition001"


def partition_of(customer_ids: pa.Array | pd.Series | np.ndarray, partitions: int) -> np.ndarray:
    """The partition (0..partitions-1) of each customer id: a seeded 64-bit hash, the same everywhere."""
    ids = pd.Series(np.asarray(customer_ids, dtype=object))
    hashed = pd.util.hash_pandas_object(ids, index=False, hash_key=PART_KEY).to_numpy()
    return (hashed % np.uint64(partitions)).astype(np.int32)


def staging_path(lake: Lake, name: str, part: int) -> str:
    return lake.path("profiles", "_staging", name, f"part-{part:05d}.parquet")


def _keyed(lake: Lake, record: str, id_map: pa.Table) -> tuple[pa.Table, int]:
    """Standardized rows of `record` with their customer_id; unresolved references counted."""
    wanted = ["source", "customer_ref", *(c for c in COLUMNS[record] if c != "source")]
    table = read_standardized(lake, record).select(wanted)
    keys = id_map.select(["source", "source_record_id", "customer_id"]).rename_columns(
        ["source", "customer_ref", "customer_id"]
    )
    joined = table.join(keys, ["source", "customer_ref"], join_type="left outer", use_threads=True)
    unresolved = (
        joined.num_rows - pc.sum(pc.is_valid(joined["customer_id"])).as_py() if joined.num_rows else 0
    )
    joined = joined.filter(pc.is_valid(joined["customer_id"]))
    return joined.drop_columns(["customer_ref"]), int(unresolved)


def _facts(lake: Lake, record: str, customers: pa.Array) -> pa.Table:
    """The profile input `record` read from its fact table, for `customers` only (the golden customers
    profiled: facts built before an erasure reached identity may still hold someone suppressed since)."""
    from c360.facts.build import read_facts

    table = read_facts(lake, FACT_TABLES[record], columns=["customer_id", *COLUMNS[record]])
    return table.filter(pc.is_in(table["customer_id"], value_set=customers))


def _consent_updates(lake: Lake, aliases: pd.DataFrame) -> pa.Table | None:
    """Consent changes recorded through the API (c360.profile.consent), re-keyed through identity aliases."""
    files = lake.glob(posixpath.join(*CONSENT_UPDATES, "*.parquet"))
    if not files:
        return None
    df = pa.concat_tables([lake.read_table(f) for f in files]).to_pandas()
    if len(aliases):
        forward = dict(zip(aliases["alias_id"], aliases["customer_id"], strict=True))
        df["customer_id"] = df["customer_id"].map(lambda c: forward.get(c, c))
    return pa.Table.from_pandas(df[["customer_id", *COLUMNS["consent"]]], preserve_index=False)


def _golden(store: IdentityStore) -> pa.Table:
    cols = [
        "customer_id",
        "first_observed",
        *GOLDEN_FIELDS,
        *(f"{f}__from" for f in GOLDEN_FIELDS),
        *LIST_FIELDS,
    ]
    table = store.read_arrow("golden")
    if table is None:
        return pa.table({c: pa.array([], pa.string()) for c in cols})
    return table.select([c for c in cols if c in table.column_names])


def suppressed_customers(lake: Lake, id_map: pa.Table, golden: pa.Table) -> pa.Array:
    """Customer ids of suppressed people: the id itself or one of its records on the list. Not an identifier:
    a household phone or a shared email also belongs to people who were not erased, and they keep theirs.

    The lake may still hold them (an erasure killed midway, or one that has not reached identity yet);
    leaving them out of every input means no profile, feature row or store document is built for them, and
    a profile built before is removed by the run like any customer that is gone.
    """
    check = Suppressed.load(lake).check
    if not check:
        return pa.array([], pa.string())
    lst = check.lst
    ids = golden["customer_id"]
    gone = lst.mask("customer_id", ids)
    records = [
        record_value(s, r)
        for s, r in zip(id_map["source"].to_pylist(), id_map["source_record_id"].to_pylist(), strict=True)
    ]
    by_record = id_map["customer_id"].filter(pa.array(lst.mask(RECORD, records)))
    by_value = ids.filter(pa.array(gone)).combine_chunks()
    return pc.unique(pa.concat_arrays([by_value, by_record.combine_chunks()]))


def _write_parts(lake: Lake, name: str, table: pa.Table, partitions: int) -> None:
    parts = partition_of(table["customer_id"].to_numpy(zero_copy_only=False), partitions)
    order = np.argsort(parts, kind="stable")
    table = table.take(pa.array(order))
    bounds = np.searchsorted(parts[order], np.arange(partitions + 1))
    for p in range(partitions):
        chunk = table.slice(bounds[p], bounds[p + 1] - bounds[p])
        path = staging_path(lake, name, p)
        lake.write_table(chunk, path)


def stage_inputs(lake: Lake, partitions: int) -> dict[str, int]:
    """Write every input's partitions; returns rows per input, how many consent rows had no customer and
    how many customers were left out as suppressed. The fact tables must be current (`build_facts`)."""
    store = IdentityStore(lake)
    id_map = store.read_arrow("id_map", columns=["source", "source_record_id", "customer_id"])
    if id_map is None:
        id_map = pa.table(
            {c: pa.array([], pa.string()) for c in ("source", "source_record_id", "customer_id")}
        )
    aliases = store.read("aliases")
    aliases = aliases if aliases is not None else pd.DataFrame(columns=["alias_id", "customer_id"])
    counts: dict[str, int] = {}
    golden = _golden(store)
    erased = suppressed_customers(lake, id_map, golden)
    if len(erased):  # an erasure not finished yet (or killed midway): they get no profile, no feature row
        id_map = id_map.filter(pc.invert(pc.is_in(id_map["customer_id"], value_set=erased)))
        golden = golden.filter(pc.invert(pc.is_in(golden["customer_id"], value_set=erased)))
    counts["suppressed"] = len(erased)
    _write_parts(lake, "golden", golden, partitions)
    counts["golden"] = golden.num_rows
    customers = golden["customer_id"].combine_chunks()
    for record in FACT_TABLES:
        table = _facts(lake, record, customers)
        _write_parts(lake, record, table, partitions)
        counts[record] = table.num_rows
    table, unresolved = _keyed(lake, "consent", id_map)
    updates = _consent_updates(lake, aliases)
    if updates is not None:
        updates = updates.cast(table.select(updates.column_names).schema)
        table = pa.concat_tables([table.select(updates.column_names), updates])
    _write_parts(lake, "consent", table, partitions)
    counts["consent"] = table.num_rows
    counts["consent_unresolved"] = unresolved
    return counts


def read_part(lake: Lake, name: str, part: int) -> pd.DataFrame:
    return pq.read_table(staging_path(lake, name, part), filesystem=lake.arrow_fs).to_pandas()
