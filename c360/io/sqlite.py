"""One way to open the embedded SQLite stores (profiles, event state, content cache) for a server: shared
between threads, autocommit, write-ahead log so readers never wait for a writer, and a busy timeout so two
processes on one file wait for each other instead of failing."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

BUSY_TIMEOUT_MS = 5000


def connect(path: str | Path, schema: str = "", busy_timeout_ms: int = BUSY_TIMEOUT_MS) -> sqlite3.Connection:
    """The file at `path` (its folder created), with `schema` applied; sqlite3.Error / OSError propagate."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(path, check_same_thread=False, isolation_level=None, timeout=busy_timeout_ms / 1e3)
    _wal(conn, time.monotonic() + busy_timeout_ms / 1e3)
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
    if schema:
        conn.executescript(schema)
    return conn


def _wal(conn: sqlite3.Connection, deadline: float) -> None:
    """Switch to the write-ahead log, waiting out another process that is creating the same file: SQLite
    answers that switch "database is locked" at once, without its busy handler (two processes opening a new
    GenAI ledger together failed so in CI)."""
    while True:
        try:
            conn.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as e:
            if "locked" not in str(e) or time.monotonic() > deadline:
                raise
            time.sleep(0.01)
