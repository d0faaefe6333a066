"""Operator corrections: must-link (`c360 identity link A B`) and do-not-link (`c360 identity unlink A B`).

A and B are customer ids (current or retired) or record keys `source:source_record_id`. A customer id stands
for the records it holds when the correction is made; the rule is stored as record keys, so it keeps its
meaning after later merges and splits. The next `resolve` honours every rule and records the merge or split.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

import numpy as np
import pandas as pd

from c360.errors import NotFoundError, ValidationError
from c360.identity.store import IdentityStore
from c360.workspace import Workspace

CORRECTION_COLUMNS = [
    "correction_id",
    "kind",
    "left_ref",
    "right_ref",
    "left_keys",
    "right_keys",
    "created_at",
    "note",
]


@dataclass(frozen=True)
class Correction:
    correction_id: str
    kind: Literal["link", "unlink"]
    left_ref: str
    right_ref: str
    left_keys: list[str]
    right_keys: list[str]


def _records_of(ref: str, id_map: pd.DataFrame, aliases: pd.DataFrame) -> list[str]:
    if ":" in ref and (id_map["record_key"] == ref).any():
        return [ref]
    current = ref
    if len(aliases):
        hit = aliases.loc[aliases["alias_id"] == ref, "customer_id"]
        if len(hit):
            current = str(hit.iloc[0])
    keys = id_map.loc[id_map["customer_id"] == current, "record_key"]
    if keys.empty:
        raise NotFoundError(
            f"{ref!r} is neither a customer id nor a record key (source:source_record_id) known to identity"
        )
    return sorted(keys.astype(str))


def add_correction(
    ws: Workspace, kind: Literal["link", "unlink"], a: str, b: str, note: str = ""
) -> Correction:
    """Persist a must-link or do-not-link rule between A and B; the next resolve applies it."""
    if kind not in ("link", "unlink"):
        raise ValidationError(f"correction kind must be link or unlink, got {kind!r}")
    if a == b:
        raise ValidationError("a correction needs two different references")
    store = IdentityStore(ws.lake)
    id_map = store.read("id_map")
    if id_map is None:
        raise NotFoundError("no identity graph yet: run `c360 resolve` first")
    aliases = store.read("aliases")
    aliases = aliases if aliases is not None else pd.DataFrame(columns=["alias_id", "customer_id"])
    left, right = _records_of(a, id_map, aliases), _records_of(b, id_map, aliases)
    if kind == "unlink" and set(left) & set(right):
        # Unlinking a record from its own customer: keep the named record apart from the rest.
        if len(left) == 1:
            right = [k for k in right if k not in left]
        elif len(right) == 1:
            left = [k for k in left if k not in right]
        else:
            raise ValidationError("unlink needs at least one side to be a single record of that customer")
    created = datetime.now(UTC)
    cid = hashlib.blake2b(f"{kind}|{a}|{b}|{created.isoformat()}".encode(), digest_size=6).hexdigest()
    row = {
        "correction_id": cid,
        "kind": kind,
        "left_ref": a,
        "right_ref": b,
        "left_keys": left,
        "right_keys": right,
        "created_at": created,
        "note": note,
    }
    existing = load_corrections(store)
    table = (
        pd.concat([existing, pd.DataFrame([row])], ignore_index=True)
        if len(existing)
        else pd.DataFrame([row])
    )
    store.write("corrections", table[CORRECTION_COLUMNS])
    return Correction(cid, kind, a, b, left, right)


def load_corrections(store: IdentityStore) -> pd.DataFrame:
    df = store.read("corrections")
    return df if df is not None else pd.DataFrame(columns=CORRECTION_COLUMNS)


def correction_groups(
    corrections: pd.DataFrame, key_index: pd.Index
) -> tuple[list[list[int]], list[tuple[list[int], list[int]]], dict[int, str]]:
    """Corrections as rid groups: must-link groups, do-not-link pairs of groups, and rid -> correction id.

    A later correction overrides an earlier one on the same records: an unlink after a link wins, and back.
    """
    must: list[list[int]] = []
    cannot: list[tuple[list[int], list[int]]] = []
    touched: dict[int, str] = {}
    latest: dict[frozenset[str], int] = {}
    rows = corrections.sort_values("created_at", kind="stable").reset_index(drop=True)
    for i, row in rows.iterrows():
        latest[frozenset([*row["left_keys"], "|", *row["right_keys"]])] = int(i)
    for i, row in rows.iterrows():
        if latest[frozenset([*row["left_keys"], "|", *row["right_keys"]])] != i:
            continue
        left = key_index.get_indexer(list(row["left_keys"]))
        right = key_index.get_indexer(list(row["right_keys"]))
        left, right = left[left >= 0].tolist(), right[right >= 0].tolist()
        if not left or not right:
            continue
        for r in (*left, *right):
            touched[int(r)] = str(row["correction_id"])
        if row["kind"] == "link":
            must.append(sorted({*left, *right}))
        else:
            cannot.append((sorted(left), sorted(right)))
    return must, cannot, touched


def as_list(values: object) -> list[str]:
    if isinstance(values, np.ndarray):
        return [str(v) for v in values.tolist()]
    return [str(v) for v in values] if values is not None else []
