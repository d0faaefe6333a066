"""The features stage's part of an erasure: the person's rows in Feast's online store, whichever backend.

On SQLite the delete runs with `secure_delete` on and the file is then rebuilt (`wipe_sqlite`), so the
values are gone from the bytes on disk, not only from queries. Deleting entities that are already gone is a
no-op, so the step can run again after an interruption. Feast is imported only when a registry exists: a
workspace that never materialized has nothing to erase there.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

from c360.io.outages import online_store_call
from c360.privacy.rewrite import StoreCounts, wipe_sqlite
from c360.privacy.subject import FunctionStep, Subject
from c360.workspace import Workspace


def _feast_registry_exists(ws: Workspace) -> bool:
    feast = ws.settings.stores.feast
    return feast.registry == "sql" or ws.resolve_path(feast.registry_path).exists()


def erase_from_feast_online(ws: Workspace, subject: Subject) -> StoreCounts:
    counts = StoreCounts()
    if not _feast_registry_exists(ws):
        counts.notes.append("feast: no registry yet (nothing applied or materialized)")
        return counts
    from c360.features.store import delete_online_entities, open_feature_store  # feast is slow to import

    store: Any = open_feature_store(ws)
    online = store._get_provider().online_store
    conn: sqlite3.Connection | None = None
    from feast.infra.online_stores.sqlite import SqliteOnlineStore

    if isinstance(online, SqliteOnlineStore):  # Feast's or c360's subclass: the same file layout
        path = Path(store.config.online_store.path)
        if not path.exists():
            counts.notes.append("feast online store (sqlite): no database file yet")
            return counts
        conn = online._get_conn(store.config)
        conn.execute("PRAGMA secure_delete=ON")
    with online_store_call(ws.settings):
        counts.keys = delete_online_entities(store, sorted(subject.customer_ids))
    if conn is not None:
        wipe_sqlite(conn, counts)
    return counts


FEAST_ONLINE_STEP = FunctionStep("feast_online", erase_from_feast_online)
