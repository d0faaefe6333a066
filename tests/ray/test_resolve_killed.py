"""A resolve run stopped at a step boundary and run again ends where an uninterrupted run ends.

In process, a boundary raises instead of killing (no cleanup runs either way: resolve has no `finally`);
the subprocess kill suite (c360/bench/faults.py) does the same with SIGKILL. Before the journal, an
incremental run stopped after its first tables left parts that the next run read as last run's.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

import c360.identity.journal as journal
import c360.identity.outputs as outputs
import c360.identity.resolve as resolve_module
from c360.bench.lakediff import differences, snapshot
from c360.identity.resolve import resolve
from c360.identity.store import IdentityStore
from c360.workspace import Workspace, init_workspace
from tests.ray.test_resolve_empty import LINKING, LONERS, write_load

pytestmark = pytest.mark.ray


class Stopped(Exception):
    pass


def stop_at(monkeypatch: pytest.MonkeyPatch, step: str) -> None:
    def checkpoint(stage: str, name: str) -> None:
        if name == step:
            raise Stopped(name)

    for module in (journal, outputs, resolve_module):
        monkeypatch.setattr(module, "checkpoint", checkpoint)


@pytest.fixture
def resolved_once(ray_session, tmp_path: Path) -> Path:
    """A workspace resolved once, with a second load waiting (an incremental run that links)."""
    root = tmp_path / "base"
    init_workspace(root)
    write_load(root, LONERS, "2024-01-01")
    resolve(Workspace.load(root), progress=False)
    write_load(root, LINKING, "2024-01-02")
    return root


@pytest.mark.parametrize("step", ["id_map", "links", "changes", "snapshots", "state", "commit"])
def test_an_incremental_run_stopped_midway_then_rerun_equals_one_run(
    resolved_once: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, step: str
) -> None:
    reference = shutil.copytree(resolved_once, tmp_path / "reference")
    assert resolve(Workspace.load(reference), progress=False).mode == "incremental"

    stopped = shutil.copytree(resolved_once, tmp_path / "stopped")
    ws = Workspace.load(stopped)
    with monkeypatch.context() as m:
        stop_at(m, step)
        with pytest.raises(Stopped):
            resolve(ws, progress=False)
    # Readers in between see the last committed run (or, stopped in its commit, the new one).
    id_map = IdentityStore(ws.lake).read("id_map")
    assert len(id_map) == (5 if step == "commit" else 3)
    resolve(ws, progress=False)
    assert differences(snapshot(reference), snapshot(stopped)) == []
    assert not (stopped / "data" / "lake" / "identity" / "state" / "journal.json").exists()
