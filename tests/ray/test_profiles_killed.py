"""A profiles run stopped at a step boundary and run again ends where an uninterrupted run ends.

In process, a boundary raises instead of killing (the subprocess kill suite, c360/bench/faults.py, sends
SIGKILL). The case that mattered: a run stopped after its partitions were written had already dropped a
removed customer from `profiles/`, so the next run no longer saw them as removed and the profile store kept
their document.
"""

from __future__ import annotations

import shutil
from datetime import UTC, datetime
from pathlib import Path

import pytest

import c360.profile.build as build
from c360.bench.lakediff import differences, snapshot
from c360.errors import NotFoundError
from c360.privacy.suppression import add_to_suppression
from c360.profile.build import build_profiles, read_profiles
from c360.profile.store import open_profile_store
from c360.workspace import Workspace
from tests.profile_data import demo_workspace

pytestmark = pytest.mark.ray
FIRST = datetime(2026, 3, 1, tzinfo=UTC)
SECOND = datetime(2026, 3, 2, tzinfo=UTC)


class Stopped(Exception):
    pass


@pytest.fixture(scope="module")
def built_once(ray_session, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """Profiles built once; then one customer is suppressed, so the next run removes them."""
    ws = demo_workspace(tmp_path_factory.mktemp("prof") / "ws", customers=120, seed=4)
    build_profiles(ws, as_of=FIRST, partitions=2)
    cid = str(sorted(read_profiles(ws.lake, ["customer_id"])["customer_id"])[0])
    add_to_suppression(ws.lake, "erasure-1", [("customer_id", cid)])
    return ws.root, cid


@pytest.mark.parametrize("step", ["staged", "aggregated", "built", "store"])
def test_a_run_stopped_midway_then_rerun_equals_one_run(
    built_once: tuple[Path, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, step: str
) -> None:
    base, cid = built_once
    reference = Workspace.load(shutil.copytree(base, tmp_path / "reference"))
    assert build_profiles(reference, as_of=SECOND, partitions=2).removed == 1

    stopped = Workspace.load(shutil.copytree(base, tmp_path / "stopped"))

    def checkpoint(stage: str, name: str) -> None:
        if name == step:
            raise Stopped(name)

    with monkeypatch.context() as m:
        m.setattr(build, "checkpoint", checkpoint)
        with pytest.raises(Stopped):
            build_profiles(stopped, as_of=SECOND, partitions=2)
    build_profiles(stopped, partitions=2)  # no clock given: the stopped run is finished with its own
    with open_profile_store(stopped) as store, pytest.raises(NotFoundError):
        store.get(cid)
    assert differences(snapshot(reference.root), snapshot(stopped.root)) == []
    assert not stopped.lake.fs.exists(stopped.lake.path(*build.RUNNING_FILE))
