"""The embedded SQLite profile store and the factory that picks a backend from the workspace config."""

from __future__ import annotations

import sqlite3
import threading

import pytest

from c360.errors import AmbiguousIdentifierError, NotFoundError
from c360.profile.store import identifier_key, open_profile_store
from c360.profile.store.sqlite import SqliteProfileStore
from c360.settings import parse_settings
from c360.workspace import Workspace

pytestmark = pytest.mark.unit


def test_factory_opens_the_configured_sqlite_file_relative_to_the_workspace(tmp_path):
    settings = parse_settings(
        "stores:\n  profile:\n    backend: sqlite\n    sqlite_path: state/p.db\n", env={}
    )
    ws = Workspace.from_settings(settings, root=tmp_path)
    with open_profile_store(ws) as store:
        assert isinstance(store, SqliteProfileStore)
        store.upsert({"customerId": "C1", "identities": {"email": ["a@example.com"]}})
    assert (tmp_path / "state" / "p.db").exists()
    # Reopened: the data persisted.
    with open_profile_store(ws) as store:
        assert store.lookup("email", "A@example.com") == "C1"


def test_wal_mode_and_no_raw_identifiers_in_the_index(tmp_path):
    with SqliteProfileStore(tmp_path / "p.db") as store:
        store.upsert(
            {"customerId": "C1", "identities": {"email": ["ada@example.com"], "phone": ["+15550001"]}}
        )
    conn = sqlite3.connect(tmp_path / "p.db")
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    keys = [k for (k,) in conn.execute("SELECT key FROM identifiers")]
    conn.close()
    assert sorted(keys) == sorted(
        [identifier_key("email", "ada@example.com"), identifier_key("phone", "+15550001")]
    )
    assert not any("example" in k or "5550001" in k for k in keys)


def test_shared_identifiers_hold_digests_and_no_customer_even_after_an_erasure(tmp_path):
    family = {"email": ["home@example.com"], "deviceIds": ["tablet-home"]}
    with SqliteProfileStore(tmp_path / "p.db") as store:
        store.upsert_many([{"customerId": c, "identities": family} for c in ("C1", "C2", "C3")])
        shared = {identifier_key("email", "home@example.com"), identifier_key("device", "tablet-home")}
        store.replace_shared_identifiers(shared)
        assert store.delete("C1")
    conn = sqlite3.connect(tmp_path / "p.db")
    (columns,) = conn.execute(
        "SELECT group_concat(name) FROM pragma_table_info('shared_identifiers')"
    ).fetchone()
    rows = [k for (k,) in conn.execute("SELECT key FROM shared_identifiers")]
    held = {c for (c,) in conn.execute("SELECT customer_id FROM identifiers")}
    conn.close()
    assert columns == "key" and set(rows) == shared
    assert not any("example" in k or "tablet" in k for k in rows)
    assert "C1" not in held


def test_identifier_keys_normalize_before_hashing():
    assert identifier_key("email", " Ada@Example.COM ") == identifier_key("email", "ada@example.com")
    assert identifier_key("phone", "+1 555 0001") == identifier_key("phone", "+15550001")
    assert identifier_key("device", "AbC") != identifier_key("device", "abc")  # device ids are case-sensitive
    assert identifier_key("email", "x@y.z") != identifier_key("cookie", "x@y.z")


def test_concurrent_readers_and_a_writer(tmp_path):
    with SqliteProfileStore(tmp_path / "p.db") as store:
        store.upsert_many([{"customerId": f"C{i}", "n": 0} for i in range(50)])
        errors: list[BaseException] = []

        def read() -> None:
            try:
                for _ in range(200):
                    for i in (0, 25, 49):
                        assert store.get(f"C{i}")["customerId"] == f"C{i}"
                    with pytest.raises(NotFoundError):
                        store.get("nobody")
            except BaseException as exc:  # noqa: BLE001 - surfaced below
                errors.append(exc)

        threads = [threading.Thread(target=read) for _ in range(4)]
        for t in threads:
            t.start()
        for n in range(1, 20):
            store.upsert_many([{"customerId": f"C{i}", "n": n} for i in range(50)])
        for t in threads:
            t.join()
        assert errors == []
        assert store.get("C7")["n"] == 19


def test_a_store_from_schema_version_0_is_migrated_with_its_data(tmp_path):
    path = tmp_path / "old.db"
    conn = sqlite3.connect(path)
    conn.executescript(
        "CREATE TABLE profiles (customer_id TEXT PRIMARY KEY, doc TEXT NOT NULL) WITHOUT ROWID;"
        "CREATE TABLE identifiers (key TEXT PRIMARY KEY, customer_id TEXT NOT NULL) WITHOUT ROWID;"
        "CREATE TABLE aliases (old_id TEXT PRIMARY KEY, new_id TEXT NOT NULL) WITHOUT ROWID;"
    )
    conn.execute('INSERT INTO profiles VALUES (\'C1\', \'{"customerId":"C1","n":1}\')')
    conn.execute("INSERT INTO identifiers VALUES (?, 'C1')", (identifier_key("email", "a@example.com"),))
    conn.execute("INSERT INTO aliases VALUES ('OLD', 'C1')")
    conn.commit()
    conn.close()
    with SqliteProfileStore(path) as store:
        assert store.get("C1") == {"customerId": "C1", "n": 1}
        assert store.get("OLD")["customerId"] == "C1"
        assert store.lookup("email", "a@example.com") == "C1"
        assert store.shared_identifiers() == frozenset()  # a store from before shared identifiers
        store.upsert({"customerId": "C1", "n": 2})
        assert store.get("C1")["n"] == 2
    conn = sqlite3.connect(path)
    (table_sql,) = conn.execute("SELECT sql FROM sqlite_master WHERE name = 'profiles'").fetchone()
    assert "WITHOUT ROWID" not in table_sql.upper()
    assert conn.execute("PRAGMA user_version").fetchone()[0] >= 1
    assert conn.execute("SELECT count(*) FROM sqlite_master WHERE name = 'profiles_v0'").fetchone()[0] == 0
    conn.close()


def test_a_shared_keys_entry_is_dropped_so_the_file_does_not_depend_on_the_writers_order(tmp_path) -> None:
    files = []
    for order in (["c1", "c2"], ["c2", "c1"]):  # the partition tasks finished the other way round
        store = SqliteProfileStore(tmp_path / f"{order[0]}.db")
        for cid in order:
            store.upsert({"customerId": cid, "identities": {"deviceIds": ["tablet-1"]}})
        store.replace_shared_identifiers({identifier_key("device", "tablet-1")})
        assert store.shared_identifiers() == {identifier_key("device", "tablet-1")}
        files.append(store._conn.execute("SELECT key, customer_id FROM identifiers ORDER BY key").fetchall())
    assert files[0] == files[1]
    # the lookup answers as before: nobody in particular
    with pytest.raises(AmbiguousIdentifierError):
        store.lookup("device", "tablet-1")
