"""Workspaces for the event sink: a profile store with three customers and an applied Feast repo, on the
embedded SQLite stores or on the Redis server of this machine (profile store, event state and Feast online
store all on Redis, under a workspace name of their own, removed afterwards)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest

from c360.events.signals import ANONYMOUS
from c360.events.sink import EventSink
from c360.features.store import apply, delete_online_entities, open_feature_store
from c360.profile.store import open_profile_store
from c360.workspace import Workspace
from tests.events.event_data import MERGED_AWAY, PROFILES, REDIS_URL


@dataclass
class EventsWorkspace:
    ws: Workspace
    backend: str
    feature_store: Any
    profiles: Any
    sinks: list[EventSink] = field(default_factory=list)
    extra: list[str] = field(default_factory=list)

    def sink(self, **kwargs: Any) -> EventSink:
        """A new sink: a replica, or the same process after a restart (it shares nothing in memory)."""
        sink = EventSink(self.ws, self.profiles, self.feature_store, **kwargs)
        self.sinks.append(sink)
        return sink

    def customer(self) -> str:
        """A customer of its own for one test (signals accumulate over a module's tests)."""
        cid = f"C-{uuid.uuid4().hex[:10]}"
        self.profiles.upsert({"customerId": cid, "identities": {}})
        self.extra.append(cid)
        return cid

    def lake_rows(self) -> list[dict[str, Any]]:
        lake = self.ws.lake
        rows: list[dict[str, Any]] = []
        for path in lake.glob("events/**/*.parquet"):
            rows += pq.read_table(path, filesystem=lake.arrow_fs).to_pylist()
        return rows


def write_config(root: Path, backend: str) -> None:
    name = f"evt-{uuid.uuid4().hex[:8]}"
    text = f"workspace: {name}\n"
    if backend == "redis":
        text += (
            f"stores:\n  profile:\n    backend: redis\n    redis_url: {REDIS_URL}\n"
            "  feast:\n    online_store: redis\n"
        )
    root.mkdir(parents=True, exist_ok=True)
    (root / "c360.yaml").write_text(text, encoding="utf-8")


@pytest.fixture(scope="module", params=["sqlite", "redis"])
def events_ws(request, tmp_path_factory) -> Iterator[EventsWorkspace]:
    root = tmp_path_factory.mktemp(f"events-{request.param}") / "ws"
    write_config(root, request.param)
    ws = Workspace.load(root)
    apply(ws)
    profiles = open_profile_store(ws)
    profiles.upsert_many(PROFILES)
    profiles.add_aliases(MERGED_AWAY)
    data = EventsWorkspace(ws, request.param, open_feature_store(ws), profiles)
    try:
        yield data
    finally:
        for sink in data.sinks:
            sink.close()
        if request.param == "redis":
            _clean_redis(data)
        profiles.close()


def _clean_redis(data: EventsWorkspace) -> None:
    keys = {r["customer_id"] for r in data.lake_rows() if r["customer_id"]}
    keys |= {ANONYMOUS + r["anonymous_id"] for r in data.lake_rows() if r["anonymous_id"]}
    delete_online_entities(data.feature_store, keys | {p["customerId"] for p in PROFILES} | set(data.extra))
    for cid in [p["customerId"] for p in PROFILES] + list(MERGED_AWAY) + data.extra:
        data.profiles.delete(cid)
    import redis

    client = redis.Redis.from_url(REDIS_URL)
    prefix = f"c360:{data.ws.settings.workspace}:"
    for key in client.scan_iter(match=f"{prefix}*", count=1000):
        client.delete(key)
    client.close()
