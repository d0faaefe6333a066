"""The identity store keeps its big tables in parts: a full run writes one, an incremental run adds its rows
and a drop list; reads merge them (the latest part holding or dropping a key wins), and past MAX_PARTS the
table is compacted into one part."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pyarrow as pa

from c360.identity.store import MAX_PARTS, IdentityStore
from c360.io.lake import Lake


def golden(ids: list[str], name: str) -> pd.DataFrame:
    return pd.DataFrame({"customer_id": ids, "first_name": [f"{name}-{i}" for i in ids], "n_records": 1})


def test_parts_merge_on_read_with_drop_lists(tmp_path: Path) -> None:
    store = IdentityStore(Lake(str(tmp_path)))
    store.write("golden", golden(["a", "b", "c", "d"], "full"), "r1")
    # Run 2 recomputes b (and drops it), merges c into b (drops c), adds e.
    store.append("golden", golden(["b", "e"], "r2"), "r2", drop=pa.array(["b", "c"]))
    got = store.read("golden")
    assert got["customer_id"].tolist() == ["a", "b", "d", "e"]
    assert got.set_index("customer_id")["first_name"].to_dict() == {
        "a": "full-a",
        "b": "r2-b",
        "d": "full-d",
        "e": "r2-e",
    }
    # A drop list is part of the table: erasure scrubs it with the parts.
    assert any("/drop-r2" in f for f in store.files("golden"))
    # A later run's rows win over an earlier incremental part's.
    store.append("golden", golden(["e"], "r3"), "r3", drop=pa.array(["e", "a"]))
    got = store.read("golden").set_index("customer_id")["first_name"].to_dict()
    assert got == {"b": "r2-b", "d": "full-d", "e": "r3-e"}


def test_appended_parts_keep_the_first_schema_and_compact(tmp_path: Path) -> None:
    store = IdentityStore(Lake(str(tmp_path)))
    store.write("golden", golden(["a", "b"], "full"), "r00")
    for i in range(1, MAX_PARTS + 2):
        batch = golden([f"x{i}"], "inc").assign(first_name=None)  # all null: keeps the stored string type
        store.append("golden", batch, f"r{i:02d}", drop=pa.array(["a"]) if i == 1 else None)
    parts = [f for f in store.files("golden") if "/part-" in f]
    assert len(parts) <= MAX_PARTS
    got = store.read("golden")
    assert got["customer_id"].tolist() == ["b"] + sorted(f"x{i}" for i in range(1, MAX_PARTS + 2))
    assert store.read_arrow("golden").schema.field("first_name").type == pa.string()


def test_a_column_empty_in_the_full_run_takes_the_type_a_later_run_brings(tmp_path: Path) -> None:
    """FEBRL-like data has no emails, so the full run stores `emails` as list<null> and a nickname column of
    nulls; an incremental run that brings the first email must append (it failed to cast string to null)."""
    store = IdentityStore(Lake(str(tmp_path)))
    first = pa.table(
        {
            "customer_id": ["a", "b"],
            "emails": pa.array([[], []], pa.list_(pa.null())),
            "nickname": pa.array([None, None], pa.null()),
        }
    )
    store.write("golden", first, "r1")
    later = pa.table({"customer_id": ["c"], "emails": pa.array([["c@example.com"]]), "nickname": ["Jo"]})
    store.append("golden", later, "r2")
    got = store.read_arrow("golden")
    assert got.schema.field("emails").type == pa.list_(pa.string())
    assert got.to_pydict() == {
        "customer_id": ["a", "b", "c"],
        "emails": [[], [], ["c@example.com"]],
        "nickname": [None, None, "Jo"],
    }
