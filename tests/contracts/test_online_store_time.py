"""One contract for every online store c360 configures: a write never takes a row back in time.

A late materialization must not overwrite a newer pushed value (a consent withdrawal). Run through Feast's
`online_write_batch` / `online_read` over c360's SQLite store, Feast's Redis store (this machine's 6379) and
c360's Cosmos DB store (the stand-in). Feast's own SQLite store is the known exception and the negative case:
it upserts whatever it is given, hence c360/features/sqlite_online_store.py.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from feast import Entity, FeatureView, Field, FileSource, RepoConfig
from feast.infra.online_stores.online_store import OnlineStore
from feast.protos.feast.types.EntityKey_pb2 import EntityKey
from feast.protos.feast.types.Value_pb2 import Value
from feast.types import Int64, String
from feast.value_type import ValueType

REDIS = "127.0.0.1:6379"
T1 = datetime(2026, 11, 1, 8, 0, tzinfo=UTC)
T2 = T1 + timedelta(hours=1)
T3 = T2 + timedelta(days=1)

CUSTOMER = Entity(name="customer", join_keys=["customer_id"], value_type=ValueType.STRING)
CONSENT = FeatureView(
    name="consent",
    entities=[CUSTOMER],
    ttl=timedelta(days=365),
    schema=[
        Field(name="customer_id", dtype=String),
        Field(name="email_opt_in", dtype=String),
        Field(name="version", dtype=Int64),
    ],
    source=FileSource(name="consent_source", path="consent.parquet", timestamp_field="event_timestamp"),
)


@dataclass
class Online:
    """One online store and its RepoConfig; `write` and `read` speak Feast's OnlineStore API."""

    store: OnlineStore
    config: RepoConfig

    def write(self, *rows: tuple[str, str, int, datetime]) -> None:
        data = [(key(cid), values(opt_in, version), ts, ts) for cid, opt_in, version, ts in rows]
        self.store.online_write_batch(self.config, CONSENT, data, None)

    def read(self, *ids: str) -> list[tuple[datetime, str, int] | None]:
        got = self.store.online_read(self.config, CONSENT, [key(c) for c in ids])
        out: list[tuple[datetime, str, int] | None] = []
        for ts, features in got:
            if ts is None or not any(v.WhichOneof("val") for v in (features or {}).values()):
                out.append(None)  # Feast's Redis store answers an unknown entity with empty values at 1970
                continue
            aware = ts.replace(tzinfo=UTC) if ts.tzinfo is None else ts.astimezone(UTC)
            out.append((aware, features["email_opt_in"].string_val, features["version"].int64_val))
        return out


def key(cid: str) -> EntityKey:
    return EntityKey(join_keys=["customer_id"], entity_values=[Value(string_val=cid)])


def values(opt_in: str, version: int) -> dict[str, Value]:
    return {"email_opt_in": Value(string_val=opt_in), "version": Value(int64_val=version)}


def _config(tmp_path: Path, online_store: dict) -> RepoConfig:
    return RepoConfig(
        project=f"t{uuid.uuid4().hex[:12]}",  # keys and tables never mix between tests
        provider="local",
        registry=str(tmp_path / "registry.db"),
        online_store=online_store,
        offline_store={"type": "file"},
        entity_key_serialization_version=3,
        repo_path=tmp_path,
    )


def _open(store: OnlineStore, config: RepoConfig) -> Iterator[Online]:
    store.update(config, [], [CONSENT], [], [CUSTOMER], partial=False)
    try:
        yield Online(store, config)
    finally:
        store.teardown(config, [CONSENT], [CUSTOMER])


def _c360_sqlite(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Online]:
    from c360.features.sqlite_online_store import STORE_TYPE, C360SqliteOnlineStore

    config = _config(tmp_path, {"type": STORE_TYPE, "path": str(tmp_path / "online.db")})
    yield from _open(C360SqliteOnlineStore(), config)


def _feast_sqlite(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Online]:
    from feast.infra.online_stores.sqlite import SqliteOnlineStore

    config = _config(tmp_path, {"type": "sqlite", "path": str(tmp_path / "online.db")})
    yield from _open(SqliteOnlineStore(), config)


def _redis(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Online]:
    from feast.infra.online_stores.redis import RedisOnlineStore

    yield from _open(RedisOnlineStore(), _config(tmp_path, {"type": "redis", "connection_string": REDIS}))


def _cosmos(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Online]:
    from c360.features.cosmos_online_store import STORE_TYPE, CosmosOnlineStore

    stand_in = request.getfixturevalue("cosmos_endpoint")
    online_store = {
        "type": STORE_TYPE,
        "endpoint": stand_in.endpoint,
        "key": stand_in.key,
        "database": f"t{uuid.uuid4().hex[:12]}",
        "verify_tls": False,
        "read_chunk": 2,  # several stored-time queries per batch, as in a large materialization
    }
    yield from _open(CosmosOnlineStore(), _config(tmp_path, online_store))


BACKENDS: dict[str, Callable[..., Iterator[Online]]] = {
    "sqlite": _c360_sqlite,
    "redis": _redis,
    "cosmos": _cosmos,
}


@pytest.fixture(
    params=[
        pytest.param("sqlite", marks=pytest.mark.unit),
        pytest.param("redis"),
        pytest.param("cosmos", marks=pytest.mark.azure),
    ]
)
def online(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Online]:
    yield from BACKENDS[request.param](request, tmp_path)


def test_a_late_write_does_not_overwrite_a_newer_row(online: Online):
    online.write(("A", "no", 2, T2), ("B", "yes", 1, T1))  # A withdrew consent at T2
    online.write(("A", "yes", 1, T1))  # a late materialization of T1
    assert online.read("A", "B") == [(T2, "no", 2), (T1, "yes", 1)]


def test_a_write_at_the_same_event_time_is_skipped(online: Online):
    online.write(("A", "no", 2, T2))
    online.write(("A", "yes", 3, T2))
    assert online.read("A") == [(T2, "no", 2)]


def test_a_newer_write_replaces_and_leaves_other_entities_alone(online: Online):
    online.write(("A", "no", 2, T2), ("B", "yes", 1, T1))
    online.write(("A", "yes", 3, T3))
    online.write(("C", "yes", 1, T1))
    assert online.read("A", "B", "C", "unknown") == [(T3, "yes", 3), (T1, "yes", 1), (T1, "yes", 1), None]


def test_a_row_newer_by_a_millisecond_replaces(online: Online):
    online.write(("A", "no", 2, T2 + timedelta(milliseconds=1)))
    online.write(("A", "yes", 1, T2))
    online.write(("A", "yes", 3, T2 + timedelta(milliseconds=2)))
    [(_, opt_in, version)] = online.read("A")  # Feast's SQLite reads return whole seconds
    assert (opt_in, version) == ("yes", 3)


def test_a_mixed_batch_applies_only_the_newer_rows(online: Online):
    online.write(("A", "no", 2, T2), ("B", "no", 2, T2))
    online.write(
        ("A", "yes", 1, T1),  # older than stored: skipped
        ("B", "yes", 3, T3),  # newer than stored: written
        ("C", "yes", 1, T1),  # not stored yet: written
        ("D", "no", 2, T2),  # D twice in one batch, newest first: the newest wins
        ("D", "yes", 1, T1),
        ("E", "yes", 1, T1),  # E twice, newest last: the newest wins
        ("E", "no", 3, T3),
    )
    assert online.read("A", "B", "C", "D", "E") == [
        (T2, "no", 2),
        (T3, "yes", 3),
        (T1, "yes", 1),
        (T2, "no", 2),
        (T3, "no", 3),
    ]


@pytest.mark.unit
def test_feasts_own_sqlite_store_goes_back_in_time(request: pytest.FixtureRequest, tmp_path: Path):
    """The negative case: why c360 renders its own SQLite store. Fails once Feast's store stops doing this."""
    for online in _feast_sqlite(request, tmp_path):
        online.write(("A", "no", 2, T2))
        online.write(("A", "yes", 1, T1))
        assert online.read("A") == [(T1, "yes", 1)]
