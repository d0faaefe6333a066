"""Append runs (c360/facts/append.py): new standardized files become delta files whose rows are exactly what
a full recompute of the same lake gives; compaction, and the partition path after a merge, fold the deltas
back into the base files with nothing lost or doubled."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pytest

from c360.bench.facts import bench_workspace
from c360.bench.synthetic_lake import add_increment, write_lake
from c360.facts import append
from c360.facts.build import build_facts, read_facts
from c360.facts.schemas import CUSTOMER_TABLES, EXPOSURES, INTERACTIONS, TRANSACTION_LINES
from c360.facts.store import SORT_KEYS, deltas_by_partition
from c360.identity.store import IdentityStore
from c360.workspace import Workspace

pytestmark = pytest.mark.unit

END = datetime(2026, 6, 1, tzinfo=UTC)
N = 1_500


def _workspace(root: Path, increments: int) -> Workspace:
    ws = bench_workspace(root)
    ws.settings.facts.partitions = 4
    write_lake(ws.lake, N, seed=11, block=500, end=END)
    return ws


def _increment(ws: Workspace, k: int) -> None:
    start = datetime(2026, 6, 1 + 3 * k, tzinfo=UTC)
    add_increment(ws.lake, N, start, fraction=0.004, seed=20 + k, block=500)


def _table(ws: Workspace, name: str) -> pd.DataFrame:
    frame = read_facts(ws.lake, name).to_pandas()
    keys = [c for c in SORT_KEYS[name] if c in frame.columns]
    return frame.sort_values(keys).reset_index(drop=True)


def _assert_same_facts(a: Workspace, b: Workspace) -> None:
    for name in CUSTOMER_TABLES:
        left, right = _table(a, name), _table(b, name)
        assert len(left) == len(right) > 0, name
        pd.testing.assert_frame_equal(left, right, check_exact=True, obj=name)


@pytest.fixture
def pair(tmp_path: Path) -> tuple[Workspace, Workspace]:
    """An appending workspace (full build, then increments) and one built fully from the same lake."""
    return _workspace(tmp_path / "appending", 0), _workspace(tmp_path / "reference", 0)


def test_an_increment_is_appended_and_equals_a_full_build(pair):
    appending, reference = pair
    build_facts(appending, full=True)
    _increment(appending, 0)
    report = build_facts(appending)
    assert report.appended and report.partitions_recomputed == 0 and report.partitions_appended == 4
    assert sum(len(v) for v in deltas_by_partition(appending.lake, TRANSACTION_LINES).values()) == 4
    assert report.texts_scored > 0  # only the new texts: a full build scores hundreds
    _increment(reference, 0)
    build_facts(reference, full=True)
    _assert_same_facts(appending, reference)
    assert report.rows == {t: n for t, n in build_facts(reference).rows.items()}
    again = build_facts(appending)
    assert again.unchanged


def test_compaction_and_a_merge_fold_deltas_into_the_base(pair, monkeypatch):
    appending, reference = pair
    monkeypatch.setattr(append, "MAX_DELTAS", 1)
    build_facts(appending, full=True)
    for k in range(3):  # the second and third appends compact every partition they touch
        _increment(appending, k)
        _increment(reference, k)
        report = build_facts(appending)
        assert report.appended
    assert all(len(v) <= 1 for v in deltas_by_partition(appending.lake, INTERACTIONS).values())
    build_facts(reference, full=True)
    _assert_same_facts(appending, reference)

    # a merge moves a record to another customer: the partition path re-keys and drops the deltas it covers
    for ws in (appending, reference):
        store = IdentityStore(ws.lake)
        id_map = store.read_arrow("id_map", sort=False)
        ids = sorted(set(id_map["customer_id"].to_pylist()))
        moved = pa.compute.if_else(
            pa.compute.equal(id_map["customer_id"], ids[1]), ids[0], id_map["customer_id"]
        )
        id_map = id_map.set_column(id_map.schema.get_field_index("customer_id"), "customer_id", moved)
        store.write("id_map", id_map, "merge-run")
        golden = store.read_arrow("golden", sort=False)
        store.write("golden", golden.filter(pa.compute.not_equal(golden["customer_id"], ids[1])), "merge-run")
    report = build_facts(appending)
    assert not report.appended and report.partitions_recomputed >= 1
    build_facts(reference, full=True)
    _assert_same_facts(appending, reference)
    gone = read_facts(appending.lake, EXPOSURES).to_pandas()
    assert not gone.empty
