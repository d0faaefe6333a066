"""One way to open the embedded SQLite stores (profiles, event state, content cache) for a server: shared
between threads, autocommit, write-ahead log so readers never wait for a writer, and a busy timeout so two
processes on one file wait for each other instead of failing."""

from __future__ import annotations

import sqlite3
from pathlib import Path

BUSY_TIMEOUT_MS = 5000


def connect(path: str | Path, schema: str = "", busy_timeout_ms: int = BUSY_TIMEOUT_MS) -> sqlite3.Connection:
    """The file at `path` (its folder created), with `schema` applied; sqlite3.Error / OSError propagate."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
    if schema:
        conn.executescript(schema)
    return conn
