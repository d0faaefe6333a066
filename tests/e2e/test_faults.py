"""Fault injection: erase, resolve and profiles killed at a sample of their step boundaries, then re-run.

The slow test runs `c360.bench.faults` on a small demo workspace: for each stage the first, a middle and the
last boundary an uninterrupted run crossed (`python -m c360.bench faults` runs all of them); the second
uninterrupted run (the control) only when a killed run's lake differs, to tell which one is at fault. A
stage with no boundary fails: a suite that kills nothing proves nothing. The unit tests show that the
comparison and the scan see what they must (a lost row, a left-over file, a person in SQLite or a cp1252
file), and that the columns they ignore are the listed ones only.
"""

from __future__ import annotations

import json
import shutil
import sqlite3
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from rich.console import Console

from c360.bench.faults import STAGES, FaultRow, pick_sample, run
from c360.bench.lakediff import IGNORED, differences, scan, snapshot
from c360.workspace import init_workspace

CUSTOMERS = 300


@pytest.fixture(scope="module")
def suite(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, list[str]], list[FaultRow]]:
    return run(
        customers=CUSTOMERS,
        sample=True,
        control="on-failure",  # the second uninterrupted run only when a kill's comparison fails
        workdir=tmp_path_factory.mktemp("faults"),
        console=Console(width=200, quiet=True),
    )


@pytest.mark.slow
@pytest.mark.parametrize("stage", STAGES)
def test_a_killed_stage_finishes_on_rerun_as_if_never_killed(
    suite: tuple[dict[str, list[str]], list[FaultRow]], stage: str
) -> None:
    found, rows = suite
    mine = [r for r in rows if r.stage == stage]
    setup = [r.difference for r in mine]
    assert found[stage], f"{stage} crossed no checkpoint(): nothing was killed; {setup}"
    control, killed = mine[0], mine[1:]
    assert control.rerun_ok and control.lake_equal is not False, (
        f"two uninterrupted runs differ: {control.difference}"
    )
    assert [r.step for r in killed] == pick_sample(found[stage])
    for r in killed:
        assert r.killed, f"{stage}:{r.step}: the run was not killed at the boundary"
        assert r.rerun_ok, f"{stage}:{r.step}: {r.difference}"
        assert r.lake_equal, f"{stage}:{r.step}: {r.difference}"
    if stage == "erase":
        assert all(r.traces == 0 for r in mine), [(r.step, r.traces) for r in mine]


# ---------------------------------------------------------------------------------- the checks themselves


@pytest.fixture
def workspace_pair(tmp_path: Path) -> tuple[Path, Path]:
    """Two equal workspaces holding a parquet table, a JSON state file and a SQLite store."""
    a = tmp_path / "a"
    init_workspace(a)
    lake = a / "data" / "lake"
    (lake / "profiles").mkdir(parents=True)
    table = pa.table({"customer_id": ["c1", "c2", "c3"], "spend": [1.5, 2.0, 0.25]})
    pq.write_table(table, lake / "profiles" / "part-00000.parquet")
    (lake / "_state").mkdir()
    (lake / "_state" / "run.json").write_text(json.dumps({"run_id": "r1", "done": ["a"]}), encoding="utf-8")
    conn = sqlite3.connect(a / "data" / "profiles.db")
    conn.execute("CREATE TABLE profiles (id TEXT, doc TEXT)")
    conn.executemany("INSERT INTO profiles VALUES (?, ?)", [("c1", "{}"), ("c2", "{}")])
    conn.commit()
    conn.close()
    b = tmp_path / "b"
    shutil.copytree(a, b)
    return a, b


@pytest.mark.unit
def test_equal_workspaces_compare_equal_and_run_ids_are_ignored(workspace_pair: tuple[Path, Path]) -> None:
    a, b = workspace_pair
    state = b / "data" / "lake" / "_state" / "run.json"
    state.write_text(json.dumps({"run_id": "r2", "done": ["a"]}), encoding="utf-8")
    assert "run_id" in IGNORED
    assert differences(snapshot(a), snapshot(b)) == []


@pytest.mark.unit
def test_a_lost_row_a_left_over_part_or_a_changed_state_is_a_difference(
    workspace_pair: tuple[Path, Path],
) -> None:
    a, b = workspace_pair
    lake = b / "data" / "lake"
    one_row = pa.table({"customer_id": ["c1"], "spend": [1.5]})
    pq.write_table(one_row, lake / "profiles" / "part-00000.parquet")
    (lake / "_state" / "run.json").write_text(json.dumps({"run_id": "r1", "done": []}), encoding="utf-8")
    (lake / "profiles" / "tmp-123.json").write_text("{}", encoding="utf-8")
    conn = sqlite3.connect(b / "data" / "profiles.db")
    conn.execute("DELETE FROM profiles WHERE id = 'c2'")
    conn.commit()
    conn.close()
    diffs = differences(snapshot(a), snapshot(b), limit=10)
    assert len(diffs) == 4, diffs
    assert any("profiles/*.parquet: 1 row(s) vs 3, 2 missing" in d for d in diffs)
    assert any("profiles/(files): extra" in d for d in diffs)
    assert any("_state/(files)" in d for d in diffs)
    assert any("profiles.db::profiles" in d for d in diffs)


@pytest.mark.unit
def test_the_scan_finds_a_person_in_sqlite_parquet_and_a_cp1252_file(tmp_path: Path) -> None:
    (tmp_path / "raw").mkdir()
    (tmp_path / "raw" / "export.csv").write_bytes("id;name\n7;Zoë Quaxwörth\n".encode("cp1252"))
    pq.write_table(pa.table({"email": ["zq@example.org"]}), tmp_path / "t.parquet")
    conn = sqlite3.connect(tmp_path / "store.db")
    conn.execute("CREATE TABLE t (v TEXT)")
    conn.execute("INSERT INTO t VALUES ('cus_zq_1')")
    conn.commit()
    conn.close()
    hits = scan(tmp_path, ["Quaxwörth", "ZQ@example.org", "cus_zq_1", "nobody"])
    assert sorted(hits) == [
        ("raw/export.csv", "quaxwörth"),
        ("store.db", "cus_zq_1"),
        ("t.parquet", "zq@example.org"),
    ]
    assert scan(tmp_path, ["quaxwörth"], exclude=("raw/",)) == []


@pytest.mark.unit
def test_the_sample_is_the_first_a_middle_and_the_last_boundary() -> None:
    assert pick_sample(["a", "b", "c", "d", "e"]) == ["a", "c", "e"]
    assert pick_sample(["a", "b"]) == ["a", "b"]
    assert pick_sample([]) == []
