"""The privacy audit log: one JSON document per erasure or retention pass under `privacy/audit/`.

Records say what was done and how much, never to whom in a readable form: the customer appears only as the
salted hash the suppression list uses, and counts are rows, files, bytes and keys per store. A record's name
follows from its id and time, and it is written atomically, so a job that writes it again after being
interrupted (an erasure resumed from its journal) replaces it rather than adding a second one.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from c360.io.lake import Lake

AUDIT_DIR = ("privacy", "audit")


def write_audit(lake: Lake, record_id: str, at: datetime, kind: str, body: dict[str, Any]) -> str:
    """Write one audit record; returns its path relative to the lake root."""
    doc = {"id": record_id, "kind": kind, "at": at.isoformat(), **body}
    name = f"{at.strftime('%Y%m%dT%H%M%S')}-{record_id}.json"
    path = lake.path(*AUDIT_DIR, name)
    lake.replace_text(path, json.dumps(doc, indent=1, sort_keys=True, default=str))
    return lake.relative(path)


def read_audit(lake: Lake) -> list[dict[str, Any]]:
    """Every audit record, oldest first."""
    return [json.loads(lake.read_text(p)) for p in lake.glob("/".join(AUDIT_DIR) + "/*.json")]
