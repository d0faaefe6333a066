"""What a facts run recomputes: partitions of changed standardized files and of re-keyed identity records."""

from __future__ import annotations

import pyarrow as pa
import pytest

from c360.facts.state import changed_file_parts, changed_key_parts, mask_of, parts_of

pytestmark = pytest.mark.unit


def test_masks_round_trip():
    assert parts_of(mask_of([0, 3, 31, 4095])) == {0, 3, 31, 4095}
    assert parts_of(mask_of([])) == set()


def test_new_resized_and_removed_files_mark_their_partitions():
    before = {"a": [10, mask_of([1, 2])], "b": [20, mask_of([3])], "gone": [5, mask_of([7])]}
    sizes = {"a": 10, "b": 21, "new": 3}
    now = {"a": [1, 2], "b": [4], "new": [9]}
    dirty, records = changed_file_parts(before, sizes, now)
    assert dirty == {3, 4, 7, 9}  # a unchanged; b old and new partitions; gone; new
    assert records["b"] == [21, mask_of([4])] and "gone" not in records


def _keys(rows: list[tuple[str, str, int]]) -> pa.Table:
    return pa.table(
        {
            "source": ["crm"] * len(rows),
            "source_record_id": [r[0] for r in rows],
            "customer_id": [r[1] for r in rows],
            "part": pa.array([r[2] for r in rows], pa.int32()),
        }
    )


def test_a_merge_marks_the_old_and_the_new_partition_and_nothing_else():
    old = _keys([("r1", "A", 1), ("r2", "B", 2), ("r3", "C", 3), ("r4", "D", 4)])
    new = _keys([("r1", "A", 1), ("r2", "A", 1), ("r3", "C", 3), ("r5", "E", 5)])  # B into A; r4 erased
    assert changed_key_parts(old, new) == {1, 2, 4, 5}
    assert changed_key_parts(new, new) == set()
    assert changed_key_parts(None, new) == {1, 3, 5}


def test_partitions_are_built_in_batches_of_bounded_rows(monkeypatch):
    from c360.facts import build

    monkeypatch.setattr(build, "ROWS_PER_BATCH", 10)
    parts = pa.chunked_array([pa.array([0] * 6 + [1] * 6 + [2] * 3 + [5] * 30, pa.int32())])
    assert build.partition_batches([parts], [0, 1, 2, 3, 5]) == [[0], [1, 2, 3], [5]]
    assert build.partition_batches([parts], []) == []
