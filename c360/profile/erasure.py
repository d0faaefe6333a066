"""The profile stage's part of an erasure: the profile store, and the `profiles/` and `features/` folders.

The profile store deletes the person's documents, aliases and identifier index entries, whichever backend.
SQLite keeps deleted rows' bytes around (free pages, the write-ahead log, unallocated space left by b-tree
splits), so on SQLite the delete runs with `secure_delete` on and the file is rebuilt (`wipe_sqlite`): that
rewrites the whole database, a cost the embedded default pays per erasure; Redis and Cosmos DB delete in
place. The lake folders this stage writes are cleaned by key (`erase_from_folder`). Deleting what is already
gone is a no-op, so each step can run again after an interruption.
"""

from __future__ import annotations

import sqlite3

from c360.privacy.lakefiles import erase_from_folder
from c360.privacy.rewrite import StoreCounts, wipe_sqlite
from c360.privacy.subject import FunctionStep, Subject
from c360.profile.store import open_profile_store
from c360.workspace import Workspace


def erase_from_profile_store(ws: Workspace, subject: Subject) -> StoreCounts:
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
            wipe_sqlite(conn, counts)
    return counts


PROFILE_STORE_STEP = FunctionStep("profile_store", erase_from_profile_store)
PROFILES_STEP = FunctionStep("profiles", lambda ws, subject: erase_from_folder(ws.lake, "profiles", subject))
FEATURES_STEP = FunctionStep("features", lambda ws, subject: erase_from_folder(ws.lake, "features", subject))
