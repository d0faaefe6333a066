"""Stable customer ids: new, merge (most history keeps the id), split (larger part keeps it), aliases."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pandas as pd
import pytest

from c360.identity.ids import assign_ids, merge_aliases, new_customer_id

pytestmark = pytest.mark.unit
AT = datetime(2026, 1, 1, tzinfo=UTC)


def prev(mapping: dict[str, str]) -> pd.DataFrame:
    return pd.DataFrame({"record_key": list(mapping), "customer_id": list(mapping.values())})


def hist(rows: list[tuple[str, int, str]]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "customer_id": [r[0] for r in rows],
            "n_records": [r[1] for r in rows],
            "first_seen": pd.to_datetime([r[2] for r in rows], utc=True),
        }
    )


def test_first_run_gives_deterministic_new_ids() -> None:
    keys = np.array(["s:1", "s:2", "s:3"])
    a = assign_ids(keys, np.array([0, 0, 2]), prev({}), hist([]), set(), "r1", AT)
    b = assign_ids(keys, np.array([0, 0, 2]), prev({}), hist([]), set(), "r2", AT)
    assert a.customer_of_label == b.customer_of_label
    assert a.customer_of_label[0] == new_customer_id("s:1", set())
    assert a.changes["kind"].tolist() == ["new", "new"]


def test_new_record_joins_existing_customer() -> None:
    keys = np.array(["s:1", "s:2", "s:3"])
    out = assign_ids(
        keys,
        np.array([0, 0, 0]),
        prev({"s:1": "A", "s:2": "A"}),
        hist([("A", 2, "2025-01-01")]),
        {"A"},
        "r",
        AT,
    )
    assert out.customer_of_label == {0: "A"} and out.changes.empty


def test_merge_most_history_keeps_id_other_becomes_alias() -> None:
    keys = np.array(["s:1", "s:2", "s:3", "s:4"])
    p = prev({"s:1": "A", "s:2": "B", "s:3": "B", "s:4": "B"})
    h = hist([("A", 1, "2020-01-01"), ("B", 3, "2025-01-01")])
    out = assign_ids(
        keys, np.zeros(4, dtype=int), p, h, {"A", "B"}, "r", AT, reasons={0: "deterministic link (email)"}
    )
    assert out.customer_of_label == {0: "B"}  # B has more records, though A is older
    assert out.new_aliases[["alias_id", "customer_id"]].values.tolist() == [["A", "B"]]
    row = out.changes.iloc[0]
    assert (row.kind, row.customer_id, row.other_customer_id, row.reason) == (
        "merge",
        "B",
        "A",
        "deterministic link (email)",
    )
    # Equal history: the earlier customer keeps its id; equal again: the smaller id.
    h2 = hist([("A", 2, "2025-01-01"), ("B", 2, "2020-01-01")])
    p2 = prev({"s:1": "A", "s:2": "A", "s:3": "B", "s:4": "B"})
    assert assign_ids(keys, np.zeros(4, dtype=int), p2, h2, {"A", "B"}, "r", AT).customer_of_label == {0: "B"}
    h3 = hist([("A", 2, "2025-01-01"), ("B", 2, "2025-01-01")])
    assert assign_ids(keys, np.zeros(4, dtype=int), p2, h3, {"A", "B"}, "r", AT).customer_of_label == {0: "A"}


def test_split_larger_part_keeps_id() -> None:
    keys = np.array(["s:1", "s:2", "s:3"])
    p = prev({"s:1": "A", "s:2": "A", "s:3": "A"})
    out = assign_ids(keys, np.array([0, 1, 1]), p, hist([("A", 3, "2025-01-01")]), {"A"}, "r", AT,
                     reasons={0: "link refused: do_not_link"})  # fmt: skip
    assert out.customer_of_label[1] == "A"  # records 2 and 3 are the larger part
    split = out.changes.iloc[0]
    assert (split.kind, split.other_customer_id, split.records) == ("split", "A", 1)
    assert split.customer_id == out.customer_of_label[0] != "A"
    assert split.reason == "link refused: do_not_link"


def test_ids_are_never_reused_and_alias_chains_collapse() -> None:
    cid = new_customer_id("s:1", set())
    assert new_customer_id("s:1", {cid}) != cid
    a1 = pd.DataFrame({"alias_id": ["A"], "customer_id": ["B"], "created_at": [AT], "run_id": ["r1"]})
    a2 = pd.DataFrame({"alias_id": ["B"], "customer_id": ["C"], "created_at": [AT], "run_id": ["r2"]})
    merged = merge_aliases(a1, a2)
    assert dict(zip(merged["alias_id"], merged["customer_id"], strict=True)) == {"A": "C", "B": "C"}
