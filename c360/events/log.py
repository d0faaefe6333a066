"""The lake's `events/` folder: accepted events, append-only by part, as the decision log writes its lines.

    events/<YYYY-MM-DD>/part-<flush time>-<writer>-<n>.parquet     by UTC day of the event's timestamp

Rows are buffered and each flush writes new, immutable parquet parts (object stores cannot append), named so
they sort in write order and two writers never collide. A flush happens when `batch` rows are buffered,
when the oldest is `flush_seconds` old (`flush_if_due`, which the sink's background thread calls), and on
`close`. A part is written whole or not at all; a failed flush keeps its rows for the next one. The price
of buffering: a crash loses the unflushed rows (at most `batch`, or `flush_seconds` of them), whose message
ids are already marked seen.

Every row carries `customer_id` (null while the anonymous id is not stitched), `user_id` and
`anonymous_id`, the key columns erasure (`c360.events.erasure`) filters on.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections import defaultdict
from datetime import UTC, datetime
from typing import Any

import pyarrow as pa

from c360.errors import ConfigError
from c360.events.schema import IdentifyEvent, PageEvent, Received
from c360.io.lake import Lake

FOLDER = "events"
SCHEMA = pa.schema(
    [
        ("message_id", pa.string()),
        ("type", pa.string()),
        ("event", pa.string()),
        ("customer_id", pa.string()),
        ("user_id", pa.string()),
        ("anonymous_id", pa.string()),
        ("timestamp", pa.timestamp("us", tz="UTC")),
        ("received_at", pa.timestamp("us", tz="UTC")),
        ("properties", pa.string()),
        ("traits", pa.string()),
        ("context", pa.string()),
    ]
)


def event_row(received: Received, customer_id: str | None, received_at: datetime) -> dict[str, Any]:
    e = received.event
    name = None if isinstance(e, IdentifyEvent) else (e.name if isinstance(e, PageEvent) else e.event)
    return {
        "message_id": e.message_id,
        "type": e.type,
        "event": name,
        "customer_id": customer_id,
        "user_id": e.user_id,
        "anonymous_id": e.anonymous_id,
        "timestamp": received.ts,
        "received_at": received_at,
        "properties": None if isinstance(e, IdentifyEvent) else _json(e.properties),
        "traits": _json(e.traits) if isinstance(e, IdentifyEvent) else None,
        "context": _json(e.context),
    }


def _json(value: dict[str, Any]) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=str)


class EventLog:
    """Buffered parquet parts under `<lake>/events/<day>/`."""

    def __init__(self, lake: Lake, batch: int = 5_000, flush_seconds: float = 5.0) -> None:
        if batch < 1:
            raise ConfigError(f"event log batch {batch} must be at least 1")
        self.lake, self.batch, self.flush_seconds = lake, batch, flush_seconds
        self.parts = 0
        self._rows: list[dict[str, Any]] = []
        self._oldest = 0.0
        self._writer = uuid.uuid4().hex[:8]
        self._lock = threading.Lock()

    def append(self, rows: list[dict[str, Any]]) -> None:
        if not rows:
            return
        with self._lock:
            if not self._rows:
                self._oldest = time.monotonic()
            self._rows.extend(rows)
            due = len(self._rows) >= self.batch
        if due:
            self.flush()

    @property
    def buffered(self) -> int:
        return len(self._rows)

    def flush_if_due(self) -> None:
        if self._rows and time.monotonic() - self._oldest >= self.flush_seconds:
            self.flush()

    def flush(self) -> int:
        """Write what is buffered, one part per day; returns the rows written."""
        with self._lock:
            rows, self._rows = self._rows, []
            if not rows:
                return 0
            try:
                by_day: dict[str, list[dict[str, Any]]] = defaultdict(list)
                for row in rows:
                    by_day[row["timestamp"].date().isoformat()].append(row)
                stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
                for day, day_rows in sorted(by_day.items()):
                    self.parts += 1
                    name = f"part-{stamp}-{self._writer}-{self.parts:06d}.parquet"
                    table = pa.Table.from_pylist(day_rows, schema=SCHEMA)
                    self.lake.write_table(table, self.lake.path(FOLDER, day, name))
                    # Written days leave the buffer at once, so a failure on a later day rewrites none twice.
                    rows = [r for r in rows if r["timestamp"].date().isoformat() != day]
            except BaseException:
                self._rows = rows + self._rows
                raise
            return sum(len(v) for v in by_day.values())

    def close(self) -> None:
        self.flush()
