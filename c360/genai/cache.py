"""Generated content kept for reuse: one SQLite file in the workspace (`llm.cache_path`), shared by every
process of the workspace, so an erasure run from the CLI reaches what a running server cached.

The key is a digest of task, customer, profile version (`grounding.view_version`: exactly what the prompt
showed), product data, offer terms, prompt version and model; a changed profile, product, offer or prompt
therefore misses. Entries expire after `llm.cache_ttl_seconds`. Each row also names its customer, for
erasure only: keys are digests, so nothing in a key identifies anyone.
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from c360.io.sqlite import connect

SCHEMA = """
CREATE TABLE IF NOT EXISTS content (
  key TEXT PRIMARY KEY,
  customer_id TEXT NOT NULL,
  expires_at REAL NOT NULL,
  body TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS content_customer ON content (customer_id);
"""


def cache_key(*parts: object) -> str:
    text = json.dumps([str(p) if p is not None else None for p in parts], separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


class ContentCache:
    """get / put / erase over one SQLite file; safe across threads (one connection, one lock)."""

    def __init__(self, path: str | Path, ttl_seconds: float, clock: Any = time.time) -> None:
        self.path = Path(path)
        self.ttl = float(ttl_seconds)
        self._clock = clock
        self._db = connect(self.path, SCHEMA, busy_timeout_ms=10_000)
        self._lock = threading.Lock()

    def get(self, key: str) -> dict[str, Any] | None:
        with self._lock:
            row = self._db.execute("SELECT expires_at, body FROM content WHERE key = ?", (key,)).fetchone()
        if row is None or row[0] <= self._clock():
            return None
        return json.loads(row[1])

    def put(self, key: str, customer_id: str, body: dict[str, Any]) -> None:
        if self.ttl <= 0:
            return
        text = json.dumps(body, separators=(",", ":"), ensure_ascii=False, default=str)
        with self._lock:
            self._db.execute(
                "INSERT OR REPLACE INTO content (key, customer_id, expires_at, body) VALUES (?, ?, ?, ?)",
                (key, customer_id, self._clock() + self.ttl, text),
            )

    def erase(self, customer_ids: Iterable[str]) -> int:
        """Remove every entry of these customers; returns how many."""
        ids = sorted(set(customer_ids))
        removed = 0
        with self._lock:
            for start in range(0, len(ids), 500):
                chunk = ids[start : start + 500]
                marks = ",".join("?" * len(chunk))
                removed += self._db.execute(
                    f"DELETE FROM content WHERE customer_id IN ({marks})", chunk
                ).rowcount
        return removed

    def purge_expired(self) -> int:
        with self._lock:
            return self._db.execute("DELETE FROM content WHERE expires_at <= ?", (self._clock(),)).rowcount

    def __len__(self) -> int:
        with self._lock:
            return self._db.execute("SELECT count(*) FROM content").fetchone()[0]

    def close(self) -> None:
        with self._lock:
            self._db.close()
