"""Feast's Redis online store raises redis-py's errors from deep inside Feast; `online_store_call` at
c360's call site turns them into one StoreUnavailableError naming the server, never its password."""

from __future__ import annotations

import pytest

from c360.errors import StoreUnavailableError
from c360.features.store import delete_online_entities, open_feature_store
from c360.io.outages import online_store_call
from c360.settings import parse_settings
from c360.workspace import Workspace

pytestmark = pytest.mark.feast
PASSWORD = "pw-4711-secret"


def _workspace(tmp_path, redis_url: str) -> Workspace:
    settings = parse_settings(
        f"workspace: t\nstores:\n  profile:\n    redis_url: {redis_url}\n  feast:\n    online_store: redis\n",
        env={},
    )
    return Workspace.from_settings(settings, root=tmp_path)


@pytest.mark.parametrize(
    "address",
    [
        "127.0.0.1:1",  # down: nothing listens
        "127.0.0.1:6379",  # up (this machine kind runs Redis there), but it refuses the password
    ],
)
def test_online_store_outage_names_the_server_without_the_password(tmp_path, address):
    ws = _workspace(tmp_path, f"redis://:{PASSWORD}@{address}/0")
    store = open_feature_store(ws)
    with pytest.raises(StoreUnavailableError) as caught, online_store_call(ws.settings):
        delete_online_entities(store, ["C1"])
    message = caught.value.message
    assert message.startswith(f"Feast online store (redis) at redis://:***@{address}/0 is unavailable")
    assert "stores.profile.redis_url" in message and PASSWORD not in message
