"""What every replica of the event sink shares and a restart keeps: the message ids seen, and the stitches.

- Seen message ids: `claim(ids)` marks ids as seen and says which were new, atomically per id, so two
  replicas given the same event accept it once. An id is remembered for `ttl_seconds`, which the sink sets
  to the oldest event it accepts plus the future skew it allows: an older copy is refused for its age anyway.
- Stitches: anonymous id -> customer id, written by identify events and read by every later event of that
  anonymous id. Keys are SHA-256 digests (no raw identifier in a key, as in the profile store); the raw
  anonymous id is kept in the value, because erasure must find the lake rows that carry it.

One backend per `stores.profile.backend`, beside the profile store: a SQLite file next to the profile
database, keys under the workspace's Redis prefix, or one Cosmos DB container `<container>-events`
(partitioned by `/id`; a seen id is a document that expires by the service's TTL).
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Collection, Mapping, Sequence
from pathlib import Path
from typing import Any

from c360.errors import StoreUnavailableError
from c360.io.sqlite import connect
from c360.privacy.rewrite import StoreCounts, wipe_sqlite
from c360.workspace import Workspace

SQLITE_FILE = "events_state.db"


def anonymous_key(anonymous_id: str) -> str:
    return "stitch:" + hashlib.sha256(anonymous_id.encode()).hexdigest()


class EventState(ABC):
    """Seen message ids and stitched anonymous ids, shared by every replica of the sink."""

    backend: str

    def __init__(self, ttl_seconds: float) -> None:
        self.ttl_seconds = float(ttl_seconds)

    @abstractmethod
    def claim(self, message_ids: Sequence[str]) -> list[bool]:
        """Mark ids as seen; True for each id seen here for the first time (a repeat within the call is
        False)."""

    @abstractmethod
    def release(self, message_ids: Collection[str]) -> None:
        """Forget claimed ids whose events were then not kept (the request failed), so a retry is accepted."""

    @abstractmethod
    def stitched(self, anonymous_ids: Collection[str]) -> dict[str, str]:
        """anonymous id -> customer id for the ids that are stitched."""

    @abstractmethod
    def stitch(self, pairs: Mapping[str, str]) -> None:
        """Record anonymous id -> customer id (the latest identify wins)."""

    @abstractmethod
    def forget_customers(self, customer_ids: Collection[str]) -> list[str]:
        """Remove every stitch to these customers (erasure); returns the anonymous ids that were stitched."""

    @abstractmethod
    def close(self) -> None: ...


class SqliteEventState(EventState):
    """Two tables in one SQLite file (WAL, so replicas on one machine share it)."""

    backend = "sqlite"
    SCHEMA = """
    CREATE TABLE IF NOT EXISTS seen (message_id TEXT PRIMARY KEY, expires REAL NOT NULL) WITHOUT ROWID;
    CREATE INDEX IF NOT EXISTS seen_by_expiry ON seen (expires);
    CREATE TABLE IF NOT EXISTS stitches (
        key TEXT PRIMARY KEY, anonymous_id TEXT NOT NULL, customer_id TEXT NOT NULL
    ) WITHOUT ROWID;
    CREATE INDEX IF NOT EXISTS stitches_by_customer ON stitches (customer_id);
    """
    PRUNE_EVERY = 10_000

    def __init__(self, path: str | Path, ttl_seconds: float) -> None:
        super().__init__(ttl_seconds)
        self.path = Path(path)
        try:
            self._conn = connect(self.path, self.SCHEMA)
        except (sqlite3.Error, OSError) as exc:
            raise self._unavailable(exc) from None
        self._lock = threading.Lock()
        self._claims = 0

    def _unavailable(self, exc: BaseException) -> StoreUnavailableError:
        return StoreUnavailableError(f"event state (sqlite) at {self.path} is unavailable: {exc}")

    def claim(self, message_ids: Sequence[str]) -> list[bool]:
        now = time.time()
        with self._lock:
            try:
                if self._claims >= self.PRUNE_EVERY:
                    self._conn.execute("DELETE FROM seen WHERE expires < ?", (now,))
                    self._claims = 0
                # One statement for the batch; an expired row counts as unseen (it is replaced, not kept),
                # and RETURNING names the ids written, so a repeat within the batch is not among them twice.
                new = {
                    row[0]
                    for row in self._conn.execute(
                        "INSERT INTO seen SELECT value, ? FROM json_each(?) WHERE true "
                        "ON CONFLICT(message_id) DO UPDATE SET expires = excluded.expires "
                        "WHERE seen.expires < ? RETURNING message_id",
                        (now + self.ttl_seconds, json.dumps(list(message_ids)), now),
                    ).fetchall()
                }
            except sqlite3.Error as exc:
                raise self._unavailable(exc) from None
            self._claims += len(message_ids)
        out: list[bool] = []
        for mid in message_ids:
            out.append(mid in new)
            new.discard(mid)
        return out

    def release(self, message_ids: Collection[str]) -> None:
        with self._lock:
            try:
                self._conn.executemany("DELETE FROM seen WHERE message_id = ?", [(m,) for m in message_ids])
            except sqlite3.Error as exc:
                raise self._unavailable(exc) from None

    def stitched(self, anonymous_ids: Collection[str]) -> dict[str, str]:
        ids = list(set(anonymous_ids))
        out: dict[str, str] = {}
        with self._lock:
            try:
                for start in range(0, len(ids), 500):
                    chunk = ids[start : start + 500]
                    marks = ",".join("?" * len(chunk))
                    rows = self._conn.execute(
                        f"SELECT anonymous_id, customer_id FROM stitches WHERE key IN ({marks})",
                        [anonymous_key(a) for a in chunk],
                    ).fetchall()
                    out.update(dict(rows))
            except sqlite3.Error as exc:
                raise self._unavailable(exc) from None
        return out

    def stitch(self, pairs: Mapping[str, str]) -> None:
        rows = [(anonymous_key(a), a, c) for a, c in pairs.items()]
        with self._lock:
            try:
                self._conn.executemany("INSERT OR REPLACE INTO stitches VALUES (?, ?, ?)", rows)
            except sqlite3.Error as exc:
                raise self._unavailable(exc) from None

    def forget_customers(self, customer_ids: Collection[str]) -> list[str]:
        """Delete the customers' stitches so that no byte of them stays on disk: with `secure_delete` on,
        then the file rebuilt and its write-ahead log emptied (`wipe_sqlite`; a plain DELETE leaves the
        rows in free pages and in the log, where the erasure scan found them)."""
        out: list[str] = []
        with self._lock:
            try:
                self._conn.execute("PRAGMA secure_delete=ON")
                for cid in set(customer_ids):
                    rows = self._conn.execute(
                        "DELETE FROM stitches WHERE customer_id = ? RETURNING anonymous_id", (cid,)
                    ).fetchall()
                    out += [r[0] for r in rows]
                if out:
                    wipe_sqlite(self._conn, StoreCounts())
            except sqlite3.Error as exc:
                raise self._unavailable(exc) from None
        return sorted(out)

    def close(self) -> None:
        with self._lock:
            self._conn.close()


class RedisEventState(EventState):
    """`seen:<message id>` with an expiry (SET NX EX), `stitch:<sha256>` -> JSON, `stitched-by:<customer>`."""

    backend = "redis"

    def __init__(self, url: str, key_prefix: str, ttl_seconds: float) -> None:
        import redis

        from c360.io.outages import redact_url

        super().__init__(ttl_seconds)
        self.url, self.prefix = url, f"{key_prefix}events:"
        self._errors = (redis.RedisError,)
        self._address = redact_url(url)
        try:
            self._client = redis.Redis.from_url(
                url, decode_responses=True, socket_connect_timeout=2.0, socket_timeout=5.0
            )
            self._client.ping()
        except (redis.RedisError, ValueError) as exc:
            raise self._unavailable(exc) from None

    def _unavailable(self, exc: BaseException) -> StoreUnavailableError:
        return StoreUnavailableError(f"event state (redis) at {self._address} is unavailable: {exc}")

    def _run(self, build: Any) -> list[Any]:
        try:
            with self._client.pipeline(transaction=False) as pipe:
                build(pipe)
                return pipe.execute()
        except self._errors as exc:
            raise self._unavailable(exc) from None

    def claim(self, message_ids: Sequence[str]) -> list[bool]:
        ttl = max(1, int(self.ttl_seconds))
        return [
            bool(r)
            for r in self._run(
                lambda p: [p.set(f"{self.prefix}seen:{m}", 1, nx=True, ex=ttl) for m in message_ids]
            )
        ]

    def release(self, message_ids: Collection[str]) -> None:
        if message_ids:
            self._run(lambda p: p.delete(*[f"{self.prefix}seen:{m}" for m in message_ids]))

    def stitched(self, anonymous_ids: Collection[str]) -> dict[str, str]:
        ids = list(set(anonymous_ids))
        found = self._run(lambda p: [p.hget(f"{self.prefix}{anonymous_key(a)}", "c") for a in ids])
        return {a: c for a, c in zip(ids, found, strict=True) if c is not None}

    def stitch(self, pairs: Mapping[str, str]) -> None:
        def build(p: Any) -> None:
            for a, c in pairs.items():
                p.hset(f"{self.prefix}{anonymous_key(a)}", mapping={"a": a, "c": c})
                p.sadd(f"{self.prefix}stitched-by:{c}", a)

        self._run(build)

    def forget_customers(self, customer_ids: Collection[str]) -> list[str]:
        out: list[str] = []
        for cid in set(customer_ids):
            (anons,) = self._run(lambda p, cid=cid: p.smembers(f"{self.prefix}stitched-by:{cid}"))
            anons = sorted(anons)
            keys = [f"{self.prefix}{anonymous_key(a)}" for a in anons]
            current = self._run(lambda p, keys=keys: [p.hget(k, "c") for k in keys]) if keys else []
            # An anonymous id stitched to someone else since then is that person's now: leave it.
            mine = [(a, k) for a, k, c in zip(anons, keys, current, strict=True) if c == cid]
            self._run(
                lambda p, cid=cid, mine=mine: p.delete(
                    f"{self.prefix}stitched-by:{cid}", *[k for _, k in mine]
                )
            )
            out += [a for a, _ in mine]
        return sorted(out)

    def close(self) -> None:
        self._client.close()


def event_state_ttl(max_age_seconds: float, future_seconds: float) -> float:
    """How long a seen id must be remembered: an older copy of the event is refused for its age."""
    return max_age_seconds + future_seconds + 3600.0


def open_event_state(ws: Workspace, ttl_seconds: float) -> EventState:
    """The event state beside the workspace's profile store (`stores.profile.backend`)."""
    profile = ws.settings.stores.profile
    if profile.backend == "sqlite":
        path = ws.resolve_path(profile.sqlite_path).parent / SQLITE_FILE
        return SqliteEventState(path, ttl_seconds)
    if profile.backend == "redis":
        return RedisEventState(profile.redis_url, f"c360:{ws.settings.workspace}:", ttl_seconds)
    from c360.events.cosmos_state import CosmosEventState

    return CosmosEventState(
        profile.cosmos_endpoint,
        profile.cosmos_key.get_secret_value(),
        database=profile.cosmos_database,
        container=f"{profile.cosmos_container}-events",
        verify_tls=profile.cosmos_verify_tls,
        ttl_seconds=ttl_seconds,
    )
