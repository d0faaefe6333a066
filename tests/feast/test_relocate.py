"""A copied or moved workspace works and leaves the original untouched (issue 11, defect 4).

Feast's file registry names the SQLite online file and the lake's feature folders by absolute path. Before
the fix, the first `feast apply` in a copy (the pipeline's features stage) dropped the original's online
tables, and materialize in the copy read the original's lake.
"""

from __future__ import annotations

import hashlib
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd
import pytest

from c360.features.materialize import materialize
from c360.features.store import apply_if_changed, foreign_locations, open_feature_store
from c360.profile.build import build_profiles
from c360.profile.store import open_profile_store
from c360.workspace import Workspace
from tests.profile_data import demo_workspace

pytestmark = [
    pytest.mark.feast,
    pytest.mark.ray,
    pytest.mark.filterwarnings("ignore:Stream feature views are experimental"),
]
# A stored value that changes with the build time alone (its recency term), so a rebuild a month later
# gives new values without new data.
FEATURE = "engagement_rfm:engagement_score"


@pytest.fixture(scope="module")
def original(ray_session, tmp_path_factory: pytest.TempPathFactory) -> Workspace:
    """The pipeline run once with the SQLite defaults: profiles a month ago, applied, materialized."""
    ws = demo_workspace(tmp_path_factory.mktemp("orig") / "ws", customers=150, seed=11)
    build_profiles(ws, as_of=datetime.now(UTC) - timedelta(days=30), partitions=2)
    apply_if_changed(ws)
    materialize(ws)
    return ws


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def state_files(ws: Workspace) -> dict[str, str]:
    data = ws.root / "data"
    return {p: digest(data / p) for p in ("online_store.db", "registry.db", "profiles.db")}


def latest(ws: Workspace) -> pd.Series:
    """The newest engagement_score per customer in the workspace's own lake."""
    rows = pd.concat([pd.read_parquet(f) for f in ws.lake.glob("features/engagement_rfm/*.parquet")])
    rows = rows.sort_values("event_timestamp").drop_duplicates("customer_id", keep="last")
    return rows.set_index("customer_id")["engagement_score"].dropna().astype(int)


def online(ws: Workspace, customers: list[str]) -> list[object]:
    rows = [{"customer_id": c} for c in customers]
    got = open_feature_store(ws).get_online_features(features=[FEATURE], entity_rows=rows).to_dict()
    return got["engagement_score"]


def run_features(ws: Workspace) -> None:
    """What `c360 run` does after profiles: apply when changed, then materialize."""
    apply_if_changed(ws)
    materialize(ws)


def test_a_copy_works_and_leaves_the_original_untouched(original: Workspace, tmp_path: Path) -> None:
    before = state_files(original)
    customers = sorted(latest(original).index)[:10]
    old_values = online(original, customers)
    assert old_values == latest(original).loc[customers].tolist()

    shutil.copytree(original.root, tmp_path / "copy")
    copy = Workspace.load(tmp_path / "copy")
    # c360's SQLite store is applied through Feast's apply (not plan/diff, which Feast keeps for its own
    # `sqlite` type), which records no online file in the registry: only the sources point at the original
    assert foreign_locations(copy) == ["sources"]
    assert online(copy, customers) == old_values  # the copied online store serves at once
    build_profiles(copy, as_of=datetime.now(UTC), full=True, partitions=2)  # a month later: new values
    run_features(copy)
    assert foreign_locations(copy) == []
    assert online(copy, customers) == latest(copy).loc[customers].tolist() != old_values
    with open_profile_store(copy) as store:
        assert store.get(customers[0]) is not None

    assert state_files(original) == before  # no byte of the original changed
    assert online(original, customers) == old_values
    build_profiles(original, as_of=datetime.now(UTC), full=True, partitions=2)
    report = materialize(original)  # the original still materializes into its own tables
    assert report.rows > 0
    assert online(original, customers) == latest(original).loc[customers].tolist()


def test_a_moved_workspace_works(original: Workspace, tmp_path: Path) -> None:
    old_root = original.root
    moved_root = Path(shutil.move(str(old_root), str(tmp_path / "moved")))
    moved = Workspace.load(moved_root)
    customers = sorted(latest(moved).index)[:10]
    build_profiles(moved, as_of=datetime.now(UTC), full=True, partitions=2)
    run_features(moved)
    assert online(moved, customers) == latest(moved).loc[customers].tolist()
    assert not old_root.exists()  # nothing recreated where the workspace used to be
