"""Customers and event builders for the event sink tests."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

REDIS_URL = "redis://127.0.0.1:6379/0"
PROFILES = [
    {"customerId": "C-ADA", "identities": {"email": ["ada@example.com"], "phone": ["+15550001"]}},
    {"customerId": "C-BOB", "identities": {"email": ["bob@example.com"]}},
    {"customerId": "C-EVE", "identities": {}},
]
MERGED_AWAY = {"C-ADA-OLD": "C-ADA"}


def uid() -> str:
    return uuid.uuid4().hex


def track(event: str, ts: datetime | None = None, **fields: Any) -> dict[str, Any]:
    out = {"type": "track", "event": event, "message_id": uid(), **fields}
    if ts is not None:
        out["timestamp"] = ts.isoformat()
    return out


def page(ts: datetime | None = None, **fields: Any) -> dict[str, Any]:
    out = {"type": "page", "name": "home", "message_id": uid(), **fields}
    if ts is not None:
        out["timestamp"] = ts.isoformat()
    return out


def identify(**fields: Any) -> dict[str, Any]:
    return {"type": "identify", "message_id": uid(), **fields}


def now() -> datetime:
    return datetime.now(UTC)
