"""The suppression list: salted hashes of erased people's identifiers, so they never come back.

`c360 erase` adds one parquet file per erasure under `privacy/suppression/` holding (kind, hash) pairs:
identifiers (email, phone, device_id, cookie_id, social_handle, loyalty_id), source records
(`record`: "<source>:<source_record_id>") and customer ids. Hashes are SHA-256 over a per-workspace salt kept
in the lake's state (`_state/privacy/salt.json`), so the list holds no raw value and a copy of the list alone
cannot be matched against a dictionary of emails.

Two readers use it: ingest drops rows that match (`IngestSuppression`, and `raw_text_drop_mask` for rows
that only exist as raw text in quarantine), and training-set builders exclude
erased customers (`suppressed_customer_ids`, `is_suppressed_customer`, `exclude_suppressed`).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import re
import secrets
import unicodedata
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from c360.io.lake import Lake
from c360.schemas import STRONG_IDENTIFIERS
from c360.workspace import Workspace

SUPPRESSION_DIR = ("privacy", "suppression")
SALT_PATH = ("_state", "privacy", "salt.json")
IDENTIFIER_KINDS: tuple[str, ...] = STRONG_IDENTIFIERS
RECORD = "record"
CUSTOMER = "customer_id"
SCHEMA = pa.schema(
    [
        ("kind", pa.string()),
        ("hash", pa.string()),
        ("erasure_id", pa.string()),
        ("added_at", pa.timestamp("us", tz="UTC")),
    ]
)


def workspace_salt(lake: Lake, create: bool = False) -> str | None:
    """The workspace's hashing salt; created on first erasure (None if absent and not `create`)."""
    path = lake.path(*SALT_PATH)
    if lake.fs.exists(path):
        return str(json.loads(lake.read_text(path))["salt"])
    if not create:
        return None
    salt = secrets.token_hex(32)
    lake.write_text(path, json.dumps({"salt": salt, "created_at": datetime.now(UTC).isoformat()}))
    return salt


def canonical(value: object) -> str:
    """The form every value is hashed in: trimmed text, case-folded (standardized values are normalized)."""
    return str(value).strip().casefold()


def salted_hash(salt: str, kind: str, value: object) -> str:
    return hashlib.sha256(f"{salt}\x1f{kind}\x1f{canonical(value)}".encode()).hexdigest()


def record_value(source: str, source_record_id: object) -> str:
    return f"{source}:{source_record_id}"


@dataclass
class SuppressionList:
    """Hashes per kind, loaded from `privacy/suppression/`."""

    salt: str | None
    hashes: dict[str, set[str]] = field(default_factory=dict)

    @classmethod
    def load(cls, lake: Lake) -> SuppressionList:
        salt = workspace_salt(lake)
        out = cls(salt)
        if salt is None:
            return out
        for path in lake.glob("/".join(SUPPRESSION_DIR) + "/*.parquet"):
            t = lake.read_table(path, columns=["kind", "hash"])
            for kind, h in zip(t.column("kind").to_pylist(), t.column("hash").to_pylist(), strict=True):
                out.hashes.setdefault(kind, set()).add(h)
        return out

    def __bool__(self) -> bool:
        return self.salt is not None and any(self.hashes.values())

    def contains(self, kind: str, value: object) -> bool:
        if self.salt is None or value is None or canonical(value) == "":
            return False
        return salted_hash(self.salt, kind, value) in self.hashes.get(kind, set())

    def mask(self, kind: str, values: pa.Array | pa.ChunkedArray | list[object]) -> np.ndarray:
        """True where a value is on the list (hashing each distinct value once)."""
        seq = values.to_pylist() if isinstance(values, pa.Array | pa.ChunkedArray) else list(values)
        wanted = self.hashes.get(kind)
        if self.salt is None or not wanted:
            return np.zeros(len(seq), dtype=bool)
        seen: dict[object, bool] = {}
        out = np.zeros(len(seq), dtype=bool)
        for i, v in enumerate(seq):
            if v is None:
                continue
            hit = seen.get(v)
            if hit is None:
                hit = canonical(v) != "" and salted_hash(self.salt, kind, v) in wanted
                seen[v] = hit
            out[i] = hit
        return out


def add_to_suppression(lake: Lake, erasure_id: str, entries: Iterable[tuple[str, object]]) -> int:
    """Hash (kind, raw value) pairs and write them as one file of the list; returns how many were written."""
    salt = workspace_salt(lake, create=True)
    if salt is None:  # not under `python -O` either: without a salt nothing could be hashed
        raise RuntimeError("the workspace salt could not be created")
    pairs = sorted({(k, salted_hash(salt, k, v)) for k, v in entries if v is not None and canonical(v)})
    if not pairs:
        return 0
    now = datetime.now(UTC)
    table = pa.table(
        {
            "kind": [k for k, _ in pairs],
            "hash": [h for _, h in pairs],
            "erasure_id": [erasure_id] * len(pairs),
            "added_at": [now] * len(pairs),
        },
        schema=SCHEMA,
    )
    # Atomic and named by the erasure: a resumed erasure rewrites its own file, and a kill mid-write leaves
    # no torn file that would stop every later ingest from loading the list.
    lake.replace_table(table, lake.path(*SUPPRESSION_DIR, f"{erasure_id}.parquet"))
    return len(pairs)


# --------------------------------------------------------------------------------------------- consumers


def suppressed_customer_ids(ws: Workspace) -> frozenset[str]:
    """Salted hashes of every erased customer id (and ids merged into them)."""
    return frozenset(SuppressionList.load(ws.lake).hashes.get(CUSTOMER, set()))


def is_suppressed_customer(ws: Workspace, customer_id: str) -> bool:
    return SuppressionList.load(ws.lake).contains(CUSTOMER, customer_id)


def exclude_suppressed(ws: Workspace, table: pa.Table, column: str = "customer_id") -> pa.Table:
    """`table` without rows of erased customers: what training-set builders call before returning rows."""
    lst = SuppressionList.load(ws.lake)
    if not lst or table.num_rows == 0:
        return table
    return table.filter(pa.array(~lst.mask(CUSTOMER, table.column(column))))


# --------------------------------------------------------------------------------------------- ingest


@dataclass
class IngestSuppression:
    """What ingest asks of the list for one file: which raw rows and which standardized rows to drop."""

    lst: SuppressionList

    @classmethod
    def load(cls, lake: Lake) -> IngestSuppression:
        return cls(SuppressionList.load(lake))

    def __bool__(self) -> bool:
        return bool(self.lst)

    def raw_drop_mask(
        self, table: pa.Table, source: str, id_column: str | None, ref_column: str | None
    ) -> np.ndarray:
        """Raw rows whose own record id or customer reference is a suppressed source record.

        Checked before standardization so a suppressed person's row that would be quarantined (with its raw
        values) is dropped too.
        """
        drop = np.zeros(table.num_rows, dtype=bool)
        for col in (id_column, ref_column):
            if col and col in table.column_names:
                values = [
                    None if v is None else record_value(source, v) for v in table.column(col).to_pylist()
                ]
                drop |= self.lst.mask(RECORD, values)
        return drop

    def standardized_drop_mask(self, table: pa.Table) -> np.ndarray:
        """Standardized rows carrying a suppressed identifier, record id or customer reference."""
        drop = self.record_drop_mask(table)
        for kind in IDENTIFIER_KINDS:
            if kind in table.column_names:
                drop |= self.lst.mask(kind, table.column(kind))
        return drop

    def record_drop_mask(self, table: pa.Table) -> np.ndarray:
        """Standardized rows of a suppressed source record (their own id or their customer reference).

        What the stages after ingest use: an identifier can be shared (a household phone), and the other
        people who carry it keep their records; only a new delivery carrying it is held back at ingest."""
        drop = np.zeros(table.num_rows, dtype=bool)
        if table.num_rows == 0:
            return drop
        sources = table.column("source").to_pylist()
        for col in ("source_record_id", "customer_ref"):
            if col in table.column_names:
                values = [
                    None if v is None else record_value(s, v)
                    for s, v in zip(sources, table.column(col).to_pylist(), strict=True)
                ]
                drop |= self.lst.mask(RECORD, values)
        return drop


def drop_quarantine_rows(quarantine: pa.Table, rows: Iterable[int]) -> pa.Table:
    """A quarantine table without the entries of the given data rows (of suppressed people)."""
    wanted = pa.array(sorted(set(rows)), pa.int64())
    if len(wanted) == 0 or quarantine.num_rows == 0:
        return quarantine
    return quarantine.filter(pc.invert(pc.is_in(quarantine.column("row"), value_set=wanted)))


# --------------------------------------------------------------------------------------------- raw text

_FIELD_SPLIT = re.compile(r"[\"',;|\t\r\n{}\[\]]+")
_WORD_SPLIT = re.compile(r"[\s:=<>()]+")


def _leaves(value: object, out: list[str]) -> None:
    if isinstance(value, dict):
        for v in value.values():
            _leaves(v, out)
    elif isinstance(value, list):
        for v in value:
            _leaves(v, out)
    elif value is not None:
        out.append(str(value))


def raw_tokens(raw: str) -> set[str]:
    """Every value a quarantined row's raw text could hold, for matching against the list.

    `raw` is what the quarantine keeps: a JSON object of the delivered values, a JSON line, or a JSON string
    of a CSV line that could not be parsed. Whatever it is, its values (whole fields, which keep the spaces
    of a phone number, and the words inside them) are candidates; a false candidate costs one hash.
    """
    texts = [raw]
    with contextlib.suppress(json.JSONDecodeError, RecursionError):
        _leaves(json.loads(raw), texts)
    out: set[str] = set()
    for text in texts:
        for part in _FIELD_SPLIT.split(text):
            part = part.strip()
            if not part:
                continue
            out.add(part)
            out.update(w for w in _WORD_SPLIT.split(part) if w)
    out |= {unicodedata.normalize("NFKC", t) for t in out if not t.isascii()}
    return out


def raw_text_drop_mask(
    lst: SuppressionList,
    raws: Sequence[str | None],
    source: str,
    variants: Callable[[str], Iterable[tuple[str, str]]] | None = None,
) -> np.ndarray:
    """True where a raw row holds a suppressed identifier, record id or customer id of any kind.

    For rows that never became standardized values (malformed, rejected, too large): only their raw text is
    left to match. `variants(token)` adds normalized forms a token takes once standardized, as (kind, value)
    pairs (a national phone number in E.164, say); it comes from the caller so privacy imports no stage.
    """
    out = np.zeros(len(raws), dtype=bool)
    if lst.salt is None or not any(lst.hashes.values()):
        return out
    salt = lst.salt
    seen: dict[str, bool] = {}
    for i, raw in enumerate(raws):
        if not raw:
            continue
        hit = seen.get(raw)
        if hit is None:
            tokens = raw_tokens(raw)
            pairs = {(kind, t) for kind in lst.hashes for t in tokens if kind != RECORD}
            pairs |= {(RECORD, record_value(source, t)) for t in tokens}
            if variants is not None:
                pairs |= {p for t in tokens for p in variants(t)}
            hit = any(salted_hash(salt, k, v) in lst.hashes.get(k, ()) for k, v in pairs if canonical(v))
            seen[raw] = hit
        out[i] = hit
    return out
