"""API keys with scopes, stored hashed in the workspace's local state (`data/api_keys.json`).

A key reads `c360_<id>_<secret>`: the id (8 hex characters) finds the record without scanning, the secret is
32 random bytes. The file holds the id, the scopes and an HMAC-SHA256 of the whole key under a random
per-file salt, never the key itself: a leaked file lets no one call the API, and the plain key is shown once,
by `c360 keys create`. The comparison is constant-time (`hmac.compare_digest`), and an unknown id is compared
against a dummy digest so that timing does not tell a wrong id from a wrong secret.

The file sits beside the profile store's SQLite file, outside the lake: the lake holds customer data that
erasure and retention rewrite; keys are the service's own credentials. A running server rereads the file
when it changes, so a revoked key stops working on its next request without a restart.
"""

from __future__ import annotations

import dataclasses
import fcntl
import hashlib
import hmac
import json
import os
import secrets
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from c360.errors import ConfigError, NotFoundError, ValidationError

SCOPES: tuple[str, ...] = ("profiles:read", "events:write", "decide", "consent:write", "admin:erase")
"""What a key may do: read profiles; write events; ask for decisions (personalize, NBA); erase customers."""
KEYS_FILE = "data/api_keys.json"
"""Where a workspace keeps its keys, relative to the workspace folder."""
KEY_PREFIX = "c360_"
ID_CHARS = 8
FORMAT_VERSION = 1


@dataclass(frozen=True)
class ApiKey:
    """One key as the store knows it: everything but the secret."""

    key_id: str
    scopes: frozenset[str]
    created_at: str
    name: str = ""
    revoked_at: str | None = None
    digest: str = field(default="", repr=False, compare=False)
    rate_limit: float | None = None
    """Requests a second this key may make; None: the workspace's `serving.rate_limit_per_second`."""

    @property
    def prefix(self) -> str:
        """What lists show and people recognize: the key's first characters, no part of the secret."""
        return f"{KEY_PREFIX}{self.key_id}_"

    @property
    def active(self) -> bool:
        return self.revoked_at is None

    def allows(self, scope: str) -> bool:
        return scope in self.scopes

    def to_record(self) -> dict[str, Any]:
        return {
            "id": self.key_id,
            "name": self.name,
            "scopes": sorted(self.scopes),
            "hash": self.digest,
            "created_at": self.created_at,
            "revoked_at": self.revoked_at,
            "rate_limit": self.rate_limit,
        }

    @classmethod
    def from_record(cls, record: dict[str, Any]) -> ApiKey:
        return cls(
            key_id=str(record["id"]),
            scopes=frozenset(record["scopes"]),
            created_at=str(record["created_at"]),
            name=str(record.get("name") or ""),
            revoked_at=record.get("revoked_at"),
            digest=str(record["hash"]),
            rate_limit=float(record["rate_limit"]) if record.get("rate_limit") else None,
        )


def check_scopes(scopes: Iterable[str]) -> frozenset[str]:
    """The scopes as a set; an unknown or missing scope is a ValidationError naming the known ones."""
    chosen = frozenset(s.strip() for s in scopes if s and s.strip())
    unknown = sorted(chosen - set(SCOPES))
    if unknown:
        raise ValidationError(f"unknown scope {', '.join(unknown)}; known: {', '.join(SCOPES)}")
    if not chosen:
        raise ValidationError(f"a key needs at least one scope: {', '.join(SCOPES)}")
    return chosen


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


class KeyStore:
    """The keys of one workspace in one JSON file; safe to share between threads of one server."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()
        self._stamp: tuple[int, int, int] | None = None
        self._salt = b""
        self._keys: dict[str, ApiKey] = {}

    @classmethod
    def for_workspace(cls, ws: Any) -> KeyStore:
        """The store of a `Workspace` (anything with `resolve_path`)."""
        return cls(ws.resolve_path(KEYS_FILE))

    # ------------------------------------------------------------------ reading

    def _file_stamp(self) -> tuple[int, int, int] | None:
        try:
            st = self.path.stat()
        except FileNotFoundError:
            return None
        return (st.st_ino, st.st_mtime_ns, st.st_size)  # every save replaces the file: a new inode

    def _refresh(self) -> None:
        """Reread the file when it changed since the last read (a stat per call: microseconds)."""
        stamp = self._file_stamp()
        if stamp == self._stamp:
            return
        if stamp is None:
            self._salt, self._keys = b"", {}
        else:
            try:
                data = json.loads(self.path.read_text(encoding="utf-8"))
                self._salt = bytes.fromhex(data["salt"])
                keys = [ApiKey.from_record(r) for r in data["keys"]]
            except (OSError, ValueError, KeyError, TypeError) as exc:
                raise ConfigError(
                    f"the API key file {self.path} is unreadable: {type(exc).__name__}"
                ) from None
            self._keys = {k.key_id: k for k in keys}
        self._stamp = stamp

    def list(self, include_revoked: bool = True) -> list[ApiKey]:
        """Every key, oldest first (ids, names, scopes and dates; the secret is not stored anywhere)."""
        with self._lock:
            self._refresh()
            keys = sorted(self._keys.values(), key=lambda k: (k.created_at, k.key_id))
        return [k for k in keys if include_revoked or k.active]

    # ------------------------------------------------------------------ writing

    @contextmanager
    def _file_lock(self) -> Iterator[None]:
        """Serialize writers across processes (two `c360 keys create` at once would each save the file
        without the other's key): an advisory lock on a file beside the key file."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path.with_name(f".{self.path.name}.lock"), "a") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def _save(self) -> None:
        data = {
            "version": FORMAT_VERSION,
            "salt": self._salt.hex(),
            "keys": [k.to_record() for k in self._keys.values()],
        }
        self.path.parent.mkdir(parents=True, exist_ok=True)
        scratch = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
        fd = os.open(scratch, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(data, f, indent=1)
        os.replace(scratch, self.path)  # readers see the old file or the new one, never half of one
        self._stamp = self._file_stamp()

    def create(
        self, scopes: Iterable[str], name: str = "", rate_limit: float | None = None
    ) -> tuple[ApiKey, str]:
        """A new key with these scopes: its record, and the plain key (returned once, stored nowhere)."""
        chosen = check_scopes(scopes)
        if rate_limit is not None and not rate_limit > 0:
            raise ValidationError(f"a rate limit is a number of requests a second above 0, not {rate_limit}")
        with self._lock, self._file_lock():
            self._refresh()
            if not self._salt:
                self._salt = secrets.token_bytes(32)
            key_id = secrets.token_hex(ID_CHARS // 2)
            while key_id in self._keys:
                key_id = secrets.token_hex(ID_CHARS // 2)
            plain = f"{KEY_PREFIX}{key_id}_{secrets.token_urlsafe(32)}"
            key = ApiKey(
                key_id, chosen, _now(), name=name.strip(), digest=self._digest(plain), rate_limit=rate_limit
            )
            self._keys[key_id] = key
            self._save()
        return key, plain

    def revoke(self, key: str) -> ApiKey:
        """Revoke a key by its id or its prefix (`c360_<id>_` or the plain key itself). Revoking twice is
        harmless: the first date stays."""
        key_id = _key_id_of(key) or key.strip()
        with self._lock, self._file_lock():
            self._refresh()
            found = self._keys.get(key_id)
            if found is None:
                raise NotFoundError(f"no API key with id {key_id!r}")
            if found.active:
                found = dataclasses.replace(found, revoked_at=_now())
                self._keys[key_id] = found
                self._save()
        return found

    # ------------------------------------------------------------------ checking

    def _digest(self, plain: str) -> str:
        return hmac.new(self._salt, plain.encode("utf-8"), hashlib.sha256).hexdigest()

    def authenticate(self, presented: str | None) -> ApiKey | None:
        """The active key a request presented, or None (unknown, malformed, revoked: the caller cannot
        tell which, and neither can a stopwatch)."""
        if not presented:
            return None
        with self._lock:
            self._refresh()
            key_id = _key_id_of(presented)
            found = self._keys.get(key_id) if key_id else None
            expected = found.digest if found is not None else _DUMMY_DIGEST
            matches = hmac.compare_digest(self._digest(presented), expected)
        if found is None or not matches or not found.active:
            return None
        return found


_DUMMY_DIGEST = "0" * 64


def _key_id_of(text: str) -> str | None:
    """The id inside a key or a prefix (`c360_<id>_...`), or None when the text is not shaped like one."""
    text = text.strip()
    if not text.startswith(KEY_PREFIX):
        return None
    key_id = text[len(KEY_PREFIX) : len(KEY_PREFIX) + ID_CHARS]
    rest = text[len(KEY_PREFIX) + ID_CHARS :]
    if len(key_id) != ID_CHARS or not rest.startswith("_"):
        return None
    try:
        int(key_id, 16)
    except ValueError:
        return None
    return key_id
