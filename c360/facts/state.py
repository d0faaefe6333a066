"""What the facts stage remembers between runs (`facts/_state/facts.json`) and how it decides what changed.

The state holds an input fingerprint (the listing of standardized transaction, interaction, product and
fx_rate files with their sizes, the identity id map's files and run id, the suppression list, the facts files
themselves, the settings that shape the tables and the code version): when it is unchanged a run returns at
once. Otherwise the partitions to recompute are those of

- every standardized file that is new, resized or gone (the partitions its rows fell in, then or now);
- every identity record whose customer changed (merge, split, erasure): the old customer's partition and the
  new one's, found by comparing the id map with a snapshot (`facts/_state/keys-<run>.parquet`) kept by the
  last run, so history moves with the person whatever identity did;
- every facts file that is missing or no longer the size this stage wrote (retention or an erasure
  rewrote it).

A change of partitions, reporting currency, FX rates or table-shaping settings recomputes everything.
"""

from __future__ import annotations

import hashlib
import json
import posixpath
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from c360.facts.schemas import FACTS
from c360.identity.store import IdentityStore
from c360.io.lake import Lake
from c360.privacy.suppression import SUPPRESSION_DIR

STATE_FILE = (FACTS, "_state", "facts.json")
FINGERPRINT_FOLDERS = (
    "standardized/transaction",
    "standardized/interaction",
    "standardized/product",
    "standardized/fx_rate",
    "identity/id_map",
    "/".join(SUPPRESSION_DIR),
    FACTS,
)


@dataclass
class FactsState:
    run_id: str = ""
    config: str = ""
    """Digest of what shapes every row (partitions, currency, FX rates, settings, code version)."""
    fingerprint: str = ""
    files: dict[str, list[Any]] = field(default_factory=dict)
    """Standardized file (transaction, interaction) -> [size, partitions as a hex bit mask]."""
    keys: str | None = None
    """The id-map snapshot of the last run, relative to the lake root."""
    keys_inputs: str = ""
    """Digest of what the snapshot was keyed from (`keys_inputs`): while it holds, the snapshot is the
    keys."""
    digests: dict[str, dict[str, str]] = field(default_factory=dict)
    """table -> partition (or the table's name for one-file tables) -> content digest."""
    sizes: dict[str, int] = field(default_factory=dict)
    """facts file (relative) -> its size when this stage wrote it."""
    counts: dict[str, dict[str, int]] = field(default_factory=dict)
    """table -> partition -> rows, as written."""
    products: str = ""
    """Digest of the product inputs the products table was built from."""
    sentiment_model: str = ""
    """The scorer the stored sentiment came from: another one rescores every text."""
    unresolved: str | None = None
    """(source, customer_ref) of rows left out for want of a customer (relative path of a parquet file):
    a record appearing under one of them sends the next run down the partition path (append.py)."""

    @classmethod
    def load(cls, lake: Lake) -> FactsState:
        path = lake.path(*STATE_FILE)
        if not lake.fs.exists(path):
            return cls()
        doc = json.loads(lake.read_text(path))
        return cls(**{k: v for k, v in doc.items() if k in cls.__dataclass_fields__})

    def save(self, lake: Lake) -> None:
        lake.replace_text(lake.path(*STATE_FILE), json.dumps(self.__dict__, sort_keys=True))


def listing(lake: Lake, folder: str) -> dict[str, int]:
    """Files below `folder` (relative) -> size; hidden temporaries and the facts state left out."""
    root = lake.path(folder)
    with lake.guard():
        if not lake.fs.exists(root):
            return {}
        found = lake.fs.find(root, detail=True)
    out: dict[str, int] = {}
    for path, info in found.items():
        rel = lake.relative(path.removeprefix("abfs://"))
        if posixpath.basename(rel).startswith(".") or rel.startswith(f"{FACTS}/_state/"):
            continue
        out[rel] = int(info.get("size") or 0)
    return out


def digest(*parts: Any) -> str:
    text = json.dumps(parts, sort_keys=True, default=str)
    return hashlib.blake2b(text.encode(), digest_size=16).hexdigest()


def input_fingerprint(lake: Lake, settings: dict[str, Any]) -> str:
    """Everything that could change a facts row, cheaply: listings and sizes, not contents."""
    state = IdentityStore(lake).read_json("state") or {}
    listings = {f: sorted(listing(lake, f).items()) for f in FINGERPRINT_FOLDERS}
    return digest(listings, state.get("run_id"), settings)


def keys_inputs(lake: Lake, partitions: int) -> str:
    """Digest of everything `customer_keys` reads (the identity id map and golden files, the suppression
    list) and the partition count: equal digests, equal keys."""
    folders = ("identity/id_map", "identity/golden", "/".join(SUPPRESSION_DIR))
    return digest({f: sorted(listing(lake, f).items()) for f in folders}, partitions)


def mask_of(parts: list[int]) -> str:
    value = 0
    for p in parts:
        value |= 1 << int(p)
    return format(value, "x")


def parts_of(mask: str) -> set[int]:
    value = int(mask, 16) if mask else 0
    return {i for i in range(value.bit_length()) if value >> i & 1}


def changed_file_parts(
    before: dict[str, list[Any]], sizes: dict[str, int], now: dict[str, list[int]]
) -> tuple[set[int], dict[str, list[Any]]]:
    """Partitions touched by standardized files that are new, resized or gone; and the new file records."""
    dirty: set[int] = set()
    records: dict[str, list[Any]] = {}
    for f, parts in now.items():
        size = sizes.get(f, -1)
        records[f] = [size, mask_of(parts)]
        old = before.get(f)
        if old is None or old[0] != size or old[1] != records[f][1]:
            dirty |= set(parts) | (parts_of(old[1]) if old else set())
    for f, old in before.items():
        if f not in now:
            dirty |= parts_of(old[1])
    return dirty, records


def changed_key_parts(old: pa.Table | None, new: pa.Table) -> set[int]:
    """Partitions of identity records whose customer changed, appeared or went away (old and new side)."""
    if old is None:
        return set(pc.unique(new["part"]).to_pylist()) if new.num_rows else set()
    left = new.select(["source", "source_record_id", "customer_id", "part"])
    right = old.select(["source", "source_record_id", "customer_id", "part"]).rename_columns(
        ["source", "source_record_id", "old_customer_id", "old_part"]
    )
    j = left.join(right, ["source", "source_record_id"], join_type="full outer", use_threads=True)
    same = pc.fill_null(pc.equal(j["customer_id"], j["old_customer_id"]), False)
    diff = j.filter(pc.invert(same))
    parts = np.concatenate(
        [
            diff["part"].drop_null().to_numpy(zero_copy_only=False),
            diff["old_part"].drop_null().to_numpy(zero_copy_only=False),
        ]
    )
    return {int(p) for p in np.unique(parts)}
