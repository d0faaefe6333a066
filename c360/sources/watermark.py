"""What has been ingested already: one small JSON state file per source and file set, in the lake.

A raw file is identified by its path plus a fingerprint (size and modification time locally, size and etag on
Azure), so a file re-delivered under the same name with new content is ingested again, and its outputs replace
the old ones. The state is written only after a file's outputs are in place, and written atomically (temp
file, then rename), so a crash at any point leaves either the old state or the new, never half of one.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from c360.io.lake import Lake

STATE_DIR = ("_state", "ingest")
STATE_VERSION = 1


def fingerprint(info: dict[str, Any]) -> dict[str, Any]:
    """A file's identity beyond its path, from fsspec's `info()` (local: mtime; adlfs: etag)."""
    mark: Any = info.get("etag") or info.get("ETag")
    if mark is None:
        mark = info.get("mtime") or info.get("last_modified") or info.get("LastModified")
    if isinstance(mark, datetime):
        mark = mark.isoformat()
    return {"size": int(info.get("size") or 0), "version": str(mark) if mark is not None else ""}


@dataclass
class Watermark:
    """Files of one (source, file set) already ingested: relative path -> fingerprint and what it produced."""

    source: str
    file_set: str
    files: dict[str, dict[str, Any]] = field(default_factory=dict)
    dirty: bool = False

    @staticmethod
    def state_path(lake: Lake, source: str, file_set: str) -> str:
        return lake.path(*STATE_DIR, source, f"{file_set}.json")

    @classmethod
    def load(cls, lake: Lake, source: str, file_set: str) -> Watermark:
        path = cls.state_path(lake, source, file_set)
        if not lake.fs.exists(path):
            return cls(source, file_set)
        doc = json.loads(lake.read_text(path))
        return cls(source, file_set, files=dict(doc.get("files", {})))

    def is_new(self, rel: str, mark: dict[str, Any]) -> bool:
        done = self.files.get(rel)
        return done is None or done.get("fingerprint") != mark

    def outputs_of(self, rel: str) -> list[str]:
        return list(self.files.get(rel, {}).get("outputs", []))

    def record(self, rel: str, mark: dict[str, Any], outputs: list[str], rows: int, accepted: int) -> None:
        self.files[rel] = {
            "fingerprint": mark,
            "outputs": outputs,
            "rows": rows,
            "accepted": accepted,
            "ingested_at": datetime.now(UTC).isoformat(),
        }
        self.dirty = True

    def save(self, lake: Lake) -> None:
        if not self.dirty:
            return
        path = self.state_path(lake, self.source, self.file_set)
        doc = {
            "version": STATE_VERSION,
            "source": self.source,
            "file_set": self.file_set,
            "files": self.files,
        }
        lake.replace_text(path, json.dumps(doc, indent=1, sort_keys=True))
        self.dirty = False
