"""The Cosmos DB online store plugin through a real Feast FeatureStore against the stand-in.

A small repo in tmp_path: apply, materialize from parquet, push, read online, delete a feature view, delete an
entity, teardown. Then the conditional write when another writer races (the stand-in honours If-Match with 412
and answers 409 to a create of an existing document, as the service documents).
"""

from __future__ import annotations

import base64
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd
import pytest
from azure.cosmos.exceptions import CosmosResourceNotFoundError
from feast import Entity, FeatureStore, FeatureView, Field, FileSource, PushSource, RepoConfig
from feast.protos.feast.types.EntityKey_pb2 import EntityKey
from feast.protos.feast.types.Value_pb2 import Value
from feast.types import Float64, Int64, String
from feast.value_type import ValueType

from c360.devservices.cosmos import CosmosStandIn
from c360.errors import StoreUnavailableError
from c360.features.cosmos_online_store import (
    STORE_TYPE,
    CosmosOnlineStore,
    CosmosOnlineStoreConfig,
    _Stored,
    entity_partition_key,
)
from c360.io.cosmos import cosmos_client

pytestmark = [pytest.mark.feast, pytest.mark.azure]

NOW = datetime.now(UTC).replace(microsecond=0)


def _online_config(stand_in: CosmosStandIn, database: str) -> dict:
    return {
        "type": STORE_TYPE,
        "endpoint": stand_in.endpoint,
        "key": stand_in.key,
        "database": database,
        "verify_tls": False,
    }


def test_config_is_typed_and_rejects_unknown_keys():
    cfg = CosmosOnlineStoreConfig(endpoint="https://x:443/", key="a2V5")
    assert cfg.database == "feast"
    assert "a2V5" not in repr(cfg)  # the key is a secret
    with pytest.raises(ValueError, match="extra"):
        CosmosOnlineStoreConfig(endpoint="https://x:443/", key="a2V5", databse="typo")
    with pytest.raises(ValueError, match="bogus"):
        RepoConfig(
            project="p",
            registry="r.db",
            provider="local",
            online_store={"type": STORE_TYPE, "endpoint": "https://x/", "key": "k", "bogus": 1},
            entity_key_serialization_version=3,
        )


def _repo(tmp_path: Path):
    customer = Entity(name="customer", join_keys=["customer_id"], value_type=ValueType.STRING)
    stats_path = tmp_path / "stats.parquet"
    pd.DataFrame(
        {
            "customer_id": ["C1", "C2", "C3", "C1"],
            "total_purchases": [3, 1, 7, 4],
            "total_spend": [120.5, 10.0, 999.9, 150.0],
            "preferred_channel": ["email", "sms", "web", "push"],
            "event_timestamp": [NOW - timedelta(days=3)] * 3 + [NOW - timedelta(days=1)],
        }
    ).to_parquet(stats_path)
    stats = FeatureView(
        name="customer_stats",
        entities=[customer],
        ttl=timedelta(days=30),
        schema=[
            Field(name="total_purchases", dtype=Int64),
            Field(name="total_spend", dtype=Float64),
            Field(name="preferred_channel", dtype=String),
        ],
        source=FileSource(name="stats_source", path=str(stats_path), timestamp_field="event_timestamp"),
    )
    session_batch = tmp_path / "session.parquet"
    old = NOW - timedelta(days=5)
    pd.DataFrame(
        {"customer_id": ["C0"], "cart_items": [0], "cart_value": [0.0], "event_timestamp": [old]}
    ).to_parquet(session_batch)
    batch = FileSource(name="session_batch", path=str(session_batch), timestamp_field="event_timestamp")
    push = PushSource(name="session_push", batch_source=batch)
    session = FeatureView(
        name="session",
        entities=[customer],
        ttl=timedelta(days=1),
        schema=[Field(name="cart_items", dtype=Int64), Field(name="cart_value", dtype=Float64)],
        source=push,
    )
    return customer, stats, push, session


def _online(fs: FeatureStore, features: list[str], ids: list[str]) -> dict[str, list]:
    return fs.get_online_features(features=features, entity_rows=[{"customer_id": c} for c in ids]).to_dict()


def test_feature_store_round_trip_on_cosmos(cosmos_endpoint: CosmosStandIn, tmp_path: Path):
    database = f"feast{uuid.uuid4().hex[:10]}"
    config = RepoConfig(
        project="c360test",
        provider="local",
        registry=str(tmp_path / "registry.db"),
        online_store=_online_config(cosmos_endpoint, database),
        offline_store={"type": "file"},
        entity_key_serialization_version=3,
        repo_path=tmp_path,
    )
    fs = FeatureStore(config=config, repo_path=str(tmp_path))
    customer, stats, push, session = _repo(tmp_path)
    fs.apply([customer, stats, push, session])

    client = cosmos_client(cosmos_endpoint.endpoint, cosmos_endpoint.key, verify_tls=False)
    container = client.get_database_client(database).get_container_client("feast_c360test")
    container.read()  # apply created the project's container

    # Materialize from parquet: the latest row per customer wins (C1 has two).
    fs.materialize(NOW - timedelta(days=10), NOW)
    got = _online(
        fs,
        ["customer_stats:total_purchases", "customer_stats:total_spend", "customer_stats:preferred_channel"],
        ["C1", "C2", "C3", "C-unknown"],
    )
    assert got["total_purchases"] == [4, 1, 7, None]
    assert got["total_spend"] == [150.0, 10.0, 999.9, None]
    assert got["preferred_channel"] == ["push", "sms", "web", None]

    # One document per entity and feature view (the session view materialized C0 from its batch source).
    docs = list(container.query_items("SELECT c.id FROM c", enable_cross_partition_query=True))
    assert sorted(d["id"] for d in docs) == ["customer_stats"] * 3 + ["session"]

    # Real-time signals through the push source.
    pushed = {
        "customer_id": ["C1", "C2"],
        "cart_items": [2, 5],
        "cart_value": [35.5, 80.0],
        "event_timestamp": [NOW] * 2,
    }
    fs.push("session_push", pd.DataFrame(pushed))
    features = ["session:cart_items", "session:cart_value", "customer_stats:total_spend"]
    got = _online(fs, features, ["C1", "C2", "C3"])
    assert got["cart_items"] == [2, 5, None]
    assert got["cart_value"] == [35.5, 80.0, None]
    assert got["total_spend"] == [150.0, 10.0, 999.9]

    # Entity deletion (erase): every feature view's document of C1 goes, nothing else.
    store = fs._get_provider().online_store
    assert isinstance(store, CosmosOnlineStore)
    c1 = EntityKey(join_keys=["customer_id"], entity_values=[Value(string_val="C1")])
    assert store.delete_entity_keys(fs.config, [c1]) == 2
    got = _online(fs, ["session:cart_items", "customer_stats:total_spend"], ["C1", "C2"])
    assert got["cart_items"] == [None, 5]
    assert got["total_spend"] == [None, 10.0]

    # Deleting a feature view removes its documents.
    fs.apply([], objects_to_delete=[session], partial=False)
    docs = container.query_items("SELECT c.id FROM c", enable_cross_partition_query=True)
    assert sorted(d["id"] for d in docs) == ["customer_stats", "customer_stats"]

    fs.teardown()
    with pytest.raises(CosmosResourceNotFoundError):
        container.read()
    client.close()


# ------------------------------------------------------------------ writes that never go back in time
# The contract itself (older, equal, newer, mixed batches) runs over every online store in
# tests/contracts/test_online_store_time.py; these cover the conditional write when another writer races.

T1 = datetime(2026, 11, 1, tzinfo=UTC)
T2, T3 = T1 + timedelta(hours=1), T1 + timedelta(hours=2)
A = EntityKey(join_keys=["customer_id"], entity_values=[Value(string_val="A")])
CONSENT = FeatureView(
    name="consent",
    entities=[Entity(name="customer", join_keys=["customer_id"], value_type=ValueType.STRING)],
    schema=[Field(name="customer_id", dtype=String), Field(name="version", dtype=Int64)],
    source=FileSource(name="consent_source", path="consent.parquet", timestamp_field="event_timestamp"),
)


class _Race:
    """Our store and another writer's store on one container; `stale_write` decides on an earlier read."""

    def __init__(self, stand_in: CosmosStandIn, tmp_path: Path, **online: object) -> None:
        self.config = RepoConfig(
            project="race",
            provider="local",
            registry=str(tmp_path / "registry.db"),
            online_store={**_online_config(stand_in, f"race{uuid.uuid4().hex[:10]}"), **online},
            offline_store={"type": "file"},
            entity_key_serialization_version=3,
        )
        self.ours, self.other = CosmosOnlineStore(), CosmosOnlineStore()
        self.ours.update(self.config, [], [CONSENT], [], [], partial=False)
        self.pk = entity_partition_key(A, 3)

    def write(self, by: CosmosOnlineStore, version: int, ts: datetime) -> None:
        by.online_write_batch(
            self.config, CONSENT, [(A, {"version": Value(int64_val=version)}, ts, None)], None
        )

    def read(self) -> tuple[datetime | None, int | None]:
        [(ts, features)] = self.ours.online_read(self.config, CONSENT, [A])
        return ts, features["version"].int64_val if features else None

    def stored(self) -> _Stored | None:
        return self.ours._stored(self.config, self.ours._container(self.config), "consent", [self.pk]).get(
            self.pk
        )

    def stale_write(self, version: int, ts: datetime, seen: _Stored | None) -> bool:
        encoded = base64.b64encode(Value(int64_val=version).SerializeToString()).decode()
        doc = {"id": "consent", "pk": self.pk, "event_ts": ts.isoformat(), "features": {"version": encoded}}
        return self.ours._write_if_newer(
            self.config, self.ours._container(self.config), "consent", ts, doc, seen
        )


def test_a_write_that_lost_a_race_to_a_newer_row_is_skipped(cosmos_endpoint: CosmosStandIn, tmp_path: Path):
    race = _Race(cosmos_endpoint, tmp_path)
    race.write(race.ours, 1, T1)
    seen = race.stored()  # we read T1 and decide to write T2 ...
    race.write(race.other, 3, T3)  # ... another writer puts T3 first: our ETag is stale (412 on replace)
    assert race.stale_write(2, T2, seen) is False
    assert race.read() == (T3, 3)


def test_a_write_that_lost_a_race_to_an_older_row_still_lands(cosmos_endpoint: CosmosStandIn, tmp_path: Path):
    race = _Race(cosmos_endpoint, tmp_path)
    race.write(race.ours, 1, T1)
    seen = race.stored()
    race.write(race.other, 2, T1 + timedelta(minutes=1))  # newer than what we read, older than ours
    assert race.stale_write(3, T3, seen) is True  # 412, read again, replace with the fresh ETag
    assert race.read() == (T3, 3)


def test_a_create_that_lost_a_race_is_decided_again(cosmos_endpoint: CosmosStandIn, tmp_path: Path):
    race = _Race(cosmos_endpoint, tmp_path)
    race.write(race.other, 3, T3)  # created after we found nothing stored
    assert race.stale_write(2, T2, None) is False  # 409 on create, read again: T3 is newer
    assert race.read() == (T3, 3)


def test_a_document_that_keeps_changing_fails_by_name(cosmos_endpoint: CosmosStandIn, tmp_path: Path):
    race = _Race(cosmos_endpoint, tmp_path, conflict_retries=0)
    race.write(race.ours, 1, T1)
    seen = race.stored()
    race.write(race.other, 2, T1 + timedelta(minutes=1))
    with pytest.raises(StoreUnavailableError, match="kept changing"):
        race.stale_write(3, T3, seen)
    assert race.read() == (T1 + timedelta(minutes=1), 2)
