"""Is a workspace the same as another, and does it still hold a person? The two checks of the fault suite.

`snapshot` reads a workspace into comparable tables: every parquet folder (all its files' rows, sorted), the
identity tables as the store reads them (the latest part per key wins, so a run that wrote its parts in two
goes is judged by what it means, not by its file names), every SQLite database table, every JSON document,
and every other file by its digest. File names keep their folder but lose run stamps and random ids, which
differ between any two runs. Columns and JSON keys in `IGNORED` are dropped, each for a stated reason; any
other difference between a resumed run and an uninterrupted one is a failure, and `differences` says which
table and row.

`scan` is the erasure scan: every file's bytes (SQLite pages and CSV included), parquet decoded to text.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import sqlite3
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

IGNORED: dict[str, str] = {
    "run_id": "names the run that wrote a table or state file; a resumed stage is a second run",
    "json.runs": "erasure audit: how many runs an erasure took, 2 when it was resumed, by design",
    "seconds": "wall time of a run or of one of its steps",
    "at": "identity changes and the erasure audit: when the run recorded it (wall clock)",
    "json.id": "erasure audit: the erasure's id, a wall-clock stamp and a random suffix",
    "erasure_id": "suppression list: the id (as above) of the erasure that added the hash",
    "added_at": "suppression list: when an erasure added the hash (wall clock)",
    "fingerprint.version": "ingest watermark: a raw file's mtime, set by an erasure's rewrite (wall clock)",
    "lastUpdated": "Feast registry: when apply last wrote it (a copied workspace's first run re-applies it)",
    "lastUpdatedTimestamp": "Feast registry: when apply last wrote an object",
    "createdTimestamp": "Feast registry: when apply recorded a feature view version",
    "versionId": "Feast registry: a random id per apply and per recorded feature view version",
    "featureViewProto": "Feast registry: a recorded version's serialized feature view, timestamps inside",
    "userDefinedFunction.body": "Feast registry: an on-demand view's function pickled by dill, whose bytes "
    "follow the hash seed of the process that applied it (its source text, `bodyText`, is compared)",
    "first_seen": "identity clusters: the wall-clock time of the run that first saw the customer",
    "updated_at": "identity clusters: the wall-clock time of the run that last changed the customer",
    "json.keys": "facts state: the name of its id-map snapshot file, stamped with the run that wrote it (the "
    "file itself is compared, under its name without the stamp)",
}
"""Column or JSON key -> why it may differ between two correct runs of the same stage on the same input.
`parent.key` ignores the key only under that parent; `json.key` at a JSON file's top level. Found by comparing
two uninterrupted runs; keep it short."""

IGNORED_FOLDERS: dict[str, str] = {
    "_state/leases": "the workspace lease: who holds it (command, pid, times), coordination rather than "
    "data; a killed holder leaves its record behind, and the next holder rewrites it",
}
"""Lake folders left out of the comparison, each for a stated reason."""

SQLITE_MAGIC = b"SQLite format 3\x00"
FEAST_REGISTRY = "registry.db"
SQLITE_SIDECARS = ("-wal", "-shm", "-journal")
RUN_STAMP = re.compile(r"\d{8}T\d{6}\d*Z?")
RANDOM_ID = re.compile(r"(?<![0-9a-z])[0-9a-f]{8,}(?![0-9a-z])|[0-9a-f]{8}-[0-9a-f-]{27}")
IDENTITY_PARTED = {
    "identity/state/records": "records",
    "identity/state/prepared": "prepared",
    "identity/id_map": "id_map",
    "identity/clusters": "clusters",
    "identity/golden": "golden",
    "identity/links": "links",
}
"""Lake folders kept in parts (identity/store.py): compared as the store reads them."""


@dataclass(frozen=True)
class Snapshot:
    tables: dict[str, tuple[str, list[str]]]
    """key -> (schema, canonical rows sorted)."""


def _norm(value: Any, parent: str = "") -> Any:
    """A JSON-able value; floats to 12 significant digits (summation order may vary across workers)."""
    if isinstance(value, float):
        return "nan" if math.isnan(value) else float(f"{value:.12g}")
    if isinstance(value, dict):
        return {
            str(k): _norm(v, str(k))
            for k, v in value.items()
            if k not in IGNORED and f"{parent}.{k}" not in IGNORED
        }
    if isinstance(value, list | tuple):
        return [_norm(v, parent) for v in value]
    if isinstance(value, bytes):
        return "bytes:" + hashlib.sha256(value).hexdigest()[:16]
    if value is None or isinstance(value, str | int | bool):
        return value
    return str(value)


def _rows(records: list[dict[str, Any]]) -> list[str]:
    return sorted(json.dumps(_norm(r), sort_keys=True, default=str) for r in records)


def _schema(schema: pa.Schema) -> str:
    return ", ".join(f"{f.name}:{f.type}" for f in schema if f.name not in IGNORED)


def _feast_registry(data: bytes) -> dict[str, Any]:
    """A Feast file registry (a protobuf) as a document, so its apply timestamps can be left out."""
    from feast.protos.feast.core.Registry_pb2 import Registry
    from google.protobuf.json_format import MessageToDict

    registry = Registry()
    registry.ParseFromString(data)
    return _unordered(MessageToDict(registry))


def _unordered(value: Any) -> Any:
    """Every list sorted by its items' content (ignored keys left out): Feast fills the registry's lists in a
    set's order, which changes with the hash seed between two runs of the same apply."""
    if isinstance(value, dict):
        return {k: _unordered(v) for k, v in value.items()}
    if isinstance(value, list):
        items = [_unordered(v) for v in value]
        return sorted(items, key=lambda v: json.dumps(_norm(v), sort_keys=True, default=str))
    return value


def normalized_name(name: str) -> str:
    """A file name without what differs between runs: run stamps and random ids."""
    return RANDOM_ID.sub("<id>", RUN_STAMP.sub("<run>", name))


def _sqlite_tables(path: Path, key: str) -> dict[str, tuple[str, list[str]]]:
    out = {}
    conn = sqlite3.connect(path)
    try:
        query = "SELECT name FROM sqlite_master WHERE type='table' ORDER BY name"
        names = [n for (n,) in conn.execute(query)]
        for name in names:
            cur = conn.execute(f'SELECT * FROM "{name}"')
            cols = [d[0] for d in cur.description]
            rows = [dict(zip(cols, row, strict=True)) for row in cur]
            out[f"{key}::{name}"] = (", ".join(c for c in cols if c not in IGNORED), _rows(rows))
    finally:
        conn.close()
    return out


def snapshot(root: Path) -> Snapshot:
    """Every table, document and file of the workspace at `root`, in comparable form (see the module doc)."""
    from c360.identity.store import IdentityStore
    from c360.workspace import Workspace

    tables: dict[str, tuple[str, list[str]]] = {}
    parquet: dict[str, list[pa.Table]] = {}
    files: dict[str, list[dict[str, Any]]] = {}
    ws = Workspace.load(root)
    lake_root = Path(ws.lake.root).resolve()
    parted = {lake_root / folder: name for folder, name in IDENTITY_PARTED.items()}
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        rel = path.relative_to(root)
        folder = str(rel.parent)
        if any(parent in parted for parent in path.resolve().parents):
            continue
        if path.name.endswith(SQLITE_SIDECARS):
            continue  # read through the database itself
        if any(f"/{ignored}/" in f"/{rel.as_posix()}" for ignored in IGNORED_FOLDERS):
            continue
        data = path.read_bytes()
        try:
            if path.suffix == ".parquet":
                parquet.setdefault(folder, []).append(pq.read_table(path))
            elif data.startswith(SQLITE_MAGIC):
                tables.update(_sqlite_tables(path, str(rel)))
            elif path.name == FEAST_REGISTRY:
                doc = {"file": path.name, "json": _feast_registry(data)}
                files.setdefault(folder, []).append(doc)
            elif path.suffix == ".json":
                doc = {"file": normalized_name(path.name), "json": json.loads(data)}
                files.setdefault(folder, []).append(doc)
            else:
                digest = hashlib.sha256(data).hexdigest()
                files.setdefault(folder, []).append({"file": normalized_name(path.name), "sha256": digest})
        except Exception as exc:  # a half-written file is a finding, not a crash of the comparison
            tables[f"{rel} (unreadable)"] = ("", [f"{type(exc).__name__}: {exc}"])
    for folder, parts in parquet.items():
        schema = " | ".join(sorted({_schema(t.schema) for t in parts}))
        tables[f"{folder}/*.parquet"] = (schema, _rows([r for t in parts for r in t.to_pylist()]))
    for folder, docs in files.items():
        tables[f"{folder}/(files)"] = ("", _rows(docs))
    store = IdentityStore(ws.lake)
    for folder, name in IDENTITY_PARTED.items():
        key = f"{(lake_root / folder).relative_to(root.resolve())} (identity store: {name})"
        try:
            table = store.read_arrow(name)
        except Exception as exc:  # as above: the store cannot read what the run left
            tables[key] = ("", [f"unreadable: {type(exc).__name__}: {exc}"])
            continue
        if table is not None:
            tables[key] = (_schema(table.schema), _rows(table.to_pylist()))
    return Snapshot(tables)


def _clip(text: str, limit: int = 240) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


def differences(expected: Snapshot, got: Snapshot, limit: int = 5) -> list[str]:
    """What differs between an uninterrupted run's workspace and a resumed one's: first `limit`, by table."""
    out = []
    for key in sorted(expected.tables.keys() | got.tables.keys()):
        if key not in got.tables:
            out.append(f"{key}: missing (present after the uninterrupted run)")
        elif key not in expected.tables:
            out.append(f"{key}: extra ({len(got.tables[key][1])} row(s); absent after the uninterrupted run)")
        else:
            (s1, r1), (s2, r2) = expected.tables[key], got.tables[key]
            if s1 != s2:
                out.append(f"{key}: schema {_clip(s2, 120)} instead of {_clip(s1, 120)}")
            elif r1 != r2:
                lost = Counter(r1) - Counter(r2)
                extra = Counter(r2) - Counter(r1)
                first = (
                    f"missing {_clip(next(iter(lost)))}" if lost else f"unexpected {_clip(next(iter(extra)))}"
                )
                out.append(
                    f"{key}: {len(r2)} row(s) vs {len(r1)}, {sum(lost.values())} missing, "
                    f"{sum(extra.values())} unexpected; {first}"
                )
        if len(out) >= limit:
            break
    return out


def scan(root: Path, needles: list[str], exclude: tuple[str, ...] = ()) -> list[tuple[str, str]]:
    """(file, needle) for every file under root holding a needle: bytes as UTF-8 and as Latin-1 (a file in
    another encoding is still scanned), SQLite pages included, parquet also decoded to text. `exclude`:
    path prefixes (relative to root) left out."""
    hits = []
    folded = [n.casefold() for n in needles]
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        if str(path.relative_to(root)).startswith(exclude):
            continue
        data = path.read_bytes()
        blob = data.decode("utf-8", "replace").casefold() + "\n" + data.decode("latin-1").casefold()
        if path.suffix == ".parquet":
            blob += json.dumps(pq.read_table(path).to_pylist(), default=str).casefold()
        hits += [(str(path.relative_to(root)), n) for n in folded if n in blob]
    return hits
