"""Feast's SQLite online store, made to never go back in time (like Redis and c360's Cosmos store).

Feast 0.67's `SqliteOnlineStore.online_write_batch` upserts every row it is given, whatever its event time,
so a late materialization overwrites a newer pushed value (a consent withdrawal). This subclass keeps Feast's
layout and reads and only filters the batch before Feast writes it: per entity, the newest row of the batch
(the first one on a tie) is written only if it is newer than the stored row. The stored event times are read
and the rows written in one `BEGIN IMMEDIATE` transaction, so no other process writes between the check and
the write. Configured as

    online_store:
      type: c360.features.sqlite_online_store.C360SqliteOnlineStore
      path: data/online_store.db

It is what `online_store: sqlite` in c360.yaml renders (c360.features.store.online_store_config) and what the
shipped feature_repo/feature_store.yaml names, so the embedded default never goes back in time either.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any, Literal

from feast import FeatureView, RepoConfig
from feast.infra.key_encoding_utils import serialize_entity_key
from feast.infra.online_stores.helpers import compute_table_id
from feast.infra.online_stores.sqlite import SqliteOnlineStore, SqliteOnlineStoreConfig
from feast.protos.feast.types.EntityKey_pb2 import EntityKey as EntityKeyProto
from feast.protos.feast.types.Value_pb2 import Value as ValueProto
from feast.utils import to_naive_utc

STORE_TYPE = "c360.features.sqlite_online_store.C360SqliteOnlineStore"
READ_CHUNK = 500
"""Entity keys per `IN` list (SQLite's default limit on bound parameters is 32,766; old builds 999)."""

Row = tuple[EntityKeyProto, dict[str, ValueProto], datetime, datetime | None]


class C360SqliteOnlineStoreConfig(SqliteOnlineStoreConfig):
    """Feast's SQLite config under c360's store type; Feast's base model rejects unknown keys."""

    type: Literal["c360.features.sqlite_online_store.C360SqliteOnlineStore"] = STORE_TYPE  # type: ignore[assignment]


def _as_datetime(value: Any) -> datetime:
    """SQLite returns a `timestamp` column as datetime (PARSE_DECLTYPES) or, for odd rows, as text."""
    return value if isinstance(value, datetime) else datetime.fromisoformat(str(value))


class C360SqliteOnlineStore(SqliteOnlineStore):
    """SQLite online store whose writes skip rows not newer than the stored row of their entity and view."""

    def online_write_batch(
        self,
        config: RepoConfig,
        table: FeatureView,
        data: list[Row],
        progress: Callable[[int], Any] | None,
    ) -> None:
        conn = self._get_conn(config)
        version = config.entity_key_serialization_version
        name = compute_table_id(config.project, table, config.registry.enable_online_feature_view_versioning)
        newest: dict[bytes, tuple[datetime, Row]] = {}
        for row in data:
            key = serialize_entity_key(row[0], entity_key_serialization_version=version)
            ts = to_naive_utc(row[2])
            if key in newest and newest[key][0] >= ts:
                continue
            newest[key] = (ts, row)
        conn.execute("BEGIN IMMEDIATE")
        try:
            stored = _stored_event_times(conn, name, list(newest))
            keep = [row for key, (ts, row) in newest.items() if key not in stored or stored[key] < ts]
            # Feast's write runs inside `with conn:`, which commits this transaction when it is done.
            super().online_write_batch(config, table, keep, progress)
        except BaseException:
            if conn.in_transaction:
                conn.rollback()
            raise
        if conn.in_transaction:  # nothing was left to write
            conn.commit()
        if progress and len(data) > len(keep):
            progress(len(data) - len(keep))


def _stored_event_times(conn: sqlite3.Connection, table: str, keys: Sequence[bytes]) -> dict[bytes, datetime]:
    """The latest stored event time of each entity key that has a row in `table`."""
    quoted = '"' + table.replace('"', '""') + '"'
    found: dict[bytes, datetime] = {}
    for start in range(0, len(keys), READ_CHUNK):
        chunk = keys[start : start + READ_CHUNK]
        marks = ",".join("?" * len(chunk))
        rows = conn.execute(f"SELECT entity_key, event_ts FROM {quoted} WHERE entity_key IN ({marks})", chunk)
        for key, event_ts in rows:
            if event_ts is None:
                continue
            ts = _as_datetime(event_ts)
            if key not in found or found[key] < ts:
                found[key] = ts
    return found
