"""The identity tables a run reads and writes: last run's (`Previous`), this run's (`IdentityTables`), and the
last stage of a run, which writes the one over the other.

A run replaces the rows of the records it clustered (all of them in a full run; in an incremental run the
stored components that something new can have changed, see `c360.identity.incremental`); the rows of every
other component are kept as they are, in Arrow, without a pass through pandas.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from c360.faults import checkpoint
from c360.identity.incremental import member
from c360.identity.store import IdentityStore


@dataclass(frozen=True)
class RunStamp:
    """The run a table row was written by."""

    run_id: str
    at: datetime


@dataclass(frozen=True)
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


@dataclass(frozen=True)
class IdentityTables:
    """This run's rows of every identity table (`c360.identity.tables.identity_tables`)."""

    id_map: pd.DataFrame
    clusters: pd.DataFrame
    golden: pd.DataFrame
    links: pd.DataFrame
    aliases: pd.DataFrame
    """Every alias ever made (the table is rewritten whole)."""
    changes: pd.DataFrame
    """This run's merges, splits and new customers (appended to the change log)."""
    replaced_customers: pa.Array
    """Last run's customers of the records clustered again: their clusters and golden rows are replaced."""
    record_keys: pa.Array
    """The records clustered again: every link of their components starts at one of them."""


@dataclass(frozen=True)
class StoredCounts:
    """What the store holds once the run's tables are written: kept rows and this run's."""

    customers: int
    deterministic_links: int
    probabilistic_links: int


def write_tables(
    store: IdentityStore, tables: IdentityTables, previous: Previous, run_id: str
) -> StoredCounts:
    """Write this run's rows: over last run's in a full run; in an incremental run as a part that retires
    the rows it replaces (every customer the records belonged to, every link of their components)."""
    parts = {
        "id_map": (tables.id_map, None),
        "clusters": (tables.clusters, tables.replaced_customers),
        "golden": (tables.golden, tables.replaced_customers),
        "links": (tables.links, tables.record_keys),
    }
    for name, (frame, drop) in parts.items():
        if previous.incremental:
            store.append(name, frame, run_id, drop=drop)
        else:
            store.write(name, frame, run_id)
        checkpoint("resolve", name)
    store.write("aliases", tables.aliases)
    checkpoint("resolve", "aliases")
    store.append_changes(tables.changes, run_id)
    checkpoint("resolve", "changes")
    return stored_counts(tables, previous)


def stored_counts(tables: IdentityTables, previous: Previous) -> StoredCounts:
    """Customers and links in the store: this run's rows, and in an incremental run the rows it kept
    (counted from masks over last run's tables: the kept links are not materialized)."""
    det = int((tables.links["kind"] == "deterministic").sum())
    prob = int((tables.links["kind"] == "probabilistic").sum())
    customers = len(tables.clusters)
    if previous.incremental:
        customers += len(previous.clusters) - len(tables.replaced_customers)
        if previous.links is not None:
            kept = ~member(previous.links, "record_key_l", tables.record_keys)
            kind = previous.links.column("kind")
            is_det = pc.equal(kind, "deterministic").to_numpy(zero_copy_only=False)
            is_prob = pc.equal(kind, "probabilistic").to_numpy(zero_copy_only=False)
            det, prob = det + int((kept & is_det).sum()), prob + int((kept & is_prob).sum())
    return StoredCounts(customers=customers, deterministic_links=det, probabilistic_links=prob)
