"""The pipeline registers the Feast repo only when it is new or has changed."""

from __future__ import annotations

import pytest

from c360.features.store import apply_if_changed
from c360.workspace import Workspace, init_workspace

pytestmark = pytest.mark.feast


def test_apply_runs_once_then_only_when_the_registry_is_gone(tmp_path):
    init_workspace(tmp_path)
    ws = Workspace.load(tmp_path)
    assert apply_if_changed(ws) is True
    assert apply_if_changed(ws) is False
    ws.resolve_path(ws.settings.stores.feast.registry_path).unlink()
    assert apply_if_changed(ws) is True
