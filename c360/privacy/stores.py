"""Erasing a person from the serving stores: the profile store and Feast's online store, whichever backend.

SQLite keeps deleted rows' bytes in free pages and in its write-ahead log; for an erasure that is not
deletion. Both SQLite stores therefore delete with `secure_delete` on (freed content is overwritten with
zeros), then VACUUM and truncate the log, so the person's values are gone from the files on disk too.
`secure_delete` alone is not enough: when earlier writes split or rebalanced a b-tree page, SQLite left
copies of the moved rows in the page's unallocated space, which no later delete touches; only rebuilding
the file (VACUUM) removes them. That rewrites the whole database, a cost the embedded default pays per
erasure; Redis and Cosmos DB delete in place.
"""

from __future__ import annotations

import logging
import sqlite3
from pathlib import Path
from typing import Any

from c360.privacy.rewrite import StoreCounts
from c360.privacy.subject import Subject
from c360.workspace import Workspace

log = logging.getLogger(__name__)


def _wipe_sqlite(conn: sqlite3.Connection, counts: StoreCounts) -> None:
    """Rebuild the file without the deleted rows' leftovers, then empty the write-ahead log.

    The rebuilt database counts as one file rewritten, its size as bytes rewritten."""
    if conn.in_transaction:
        conn.commit()
    conn.execute("VACUUM")
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    (pages,) = conn.execute("PRAGMA page_count").fetchone()
    (page_size,) = conn.execute("PRAGMA page_size").fetchone()
    counts.files_rewritten += 1
    counts.bytes_rewritten += pages * page_size


def erase_from_profile_store(ws: Workspace, subject: Subject) -> StoreCounts:
    from c360.profile.store import open_profile_store

    counts = StoreCounts()
    settings = ws.settings.stores.profile
    if settings.backend == "sqlite" and not ws.resolve_path(settings.sqlite_path).exists():
        counts.notes.append("profile store (sqlite): no database file yet")
        return counts
    with open_profile_store(ws) as store:
        conn: sqlite3.Connection | None = getattr(store, "_conn", None) if store.backend == "sqlite" else None
        if conn is not None:
            conn.execute("PRAGMA secure_delete=ON")
        for cid in sorted(subject.customer_ids):
            counts.keys += int(store.delete(cid))
        if conn is not None:
            _wipe_sqlite(conn, counts)
    return counts


def _feast_registry_exists(ws: Workspace) -> bool:
    feast = ws.settings.stores.feast
    return feast.registry == "sql" or ws.resolve_path(feast.registry_path).exists()


def erase_from_feast_online(ws: Workspace, subject: Subject) -> StoreCounts:
    counts = StoreCounts()
    if not _feast_registry_exists(ws):
        counts.notes.append("feast: no registry yet (nothing applied or materialized)")
        return counts
    from c360.features.store import delete_online_entities, open_feature_store

    store: Any = open_feature_store(ws)
    online = store._get_provider().online_store
    conn: sqlite3.Connection | None = None
    if type(online).__name__ == "SqliteOnlineStore":
        path = Path(store.config.online_store.path)
        if not path.exists():
            counts.notes.append("feast online store (sqlite): no database file yet")
            return counts
        conn = online._get_conn(store.config)
        conn.execute("PRAGMA secure_delete=ON")
    counts.keys = delete_online_entities(store, sorted(subject.customer_ids))
    if conn is not None:
        _wipe_sqlite(conn, counts)
    return counts
