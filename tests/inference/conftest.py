"""One trained workspace per session for the online inference tests (a recs champion fitted on the small
shop, a bandit checkpoint, profiles in the SQLite store): training takes ~20 s, so it is built once."""

from __future__ import annotations

import pytest

from tests.inference.workspace import TrainedWorkspace, trained_workspace


@pytest.fixture(scope="session")
def trained(tmp_path_factory: pytest.TempPathFactory) -> TrainedWorkspace:
    return trained_workspace(tmp_path_factory.mktemp("inference") / "ws")
