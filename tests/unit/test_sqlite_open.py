"""Opening an embedded SQLite store while another process creates the same file: the switch to the
write-ahead log is retried while SQLite answers "database is locked", up to the busy timeout."""

from __future__ import annotations

import sqlite3
import time

import pytest

from c360.io.sqlite import _wal, connect

pytestmark = pytest.mark.unit


class Locked:
    """A connection whose first `busy` journal-mode switches find the file locked."""

    def __init__(self, busy: int, message: str = "database is locked") -> None:
        self.busy, self.message, self.calls = busy, message, 0

    def execute(self, sql: str) -> None:
        self.calls += 1
        if self.calls <= self.busy:
            raise sqlite3.OperationalError(self.message)


def test_a_locked_switch_is_retried_until_it_succeeds() -> None:
    conn = Locked(busy=3)
    _wal(conn, time.monotonic() + 5)  # type: ignore[arg-type]
    assert conn.calls == 4


def test_it_gives_up_at_the_deadline_and_never_retries_another_error() -> None:
    with pytest.raises(sqlite3.OperationalError, match="locked"):
        _wal(Locked(busy=10**9), time.monotonic() + 0.05)  # type: ignore[arg-type]
    other = Locked(busy=1, message="disk I/O error")
    with pytest.raises(sqlite3.OperationalError, match="disk"):
        _wal(other, time.monotonic() + 5)  # type: ignore[arg-type]
    assert other.calls == 1


def test_a_store_opens_in_wal_mode(tmp_path) -> None:
    conn = connect(tmp_path / "a" / "store.db", "CREATE TABLE t (x INTEGER);")
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
