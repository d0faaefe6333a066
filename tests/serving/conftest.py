"""The one real Serve application of the test session, on the session's Ray and a free loopback port."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from c360.io.ports import free_port
from tests.serving.api_data import ApiWorkspace, api_workspace


@dataclass(frozen=True)
class ServedApi:
    url: str
    data: ApiWorkspace


@pytest.fixture(scope="session")
def served_api(tmp_path_factory, ray_session) -> ServedApi:
    """`serving.app:build_app` under `serve.run` on the small API workspace; Serve stops at the end of the
    session (Ray itself is the session's, stopped by `ray_session`)."""
    from ray import serve

    from serving.app import build_app

    data = api_workspace(tmp_path_factory.mktemp("served") / "ws")
    port = free_port()
    serve.start(http_options={"host": "127.0.0.1", "port": port})
    try:
        # No CPU reserved: tests/ray trains on 2 workers x 1 CPU on this same 2-CPU Ray after these tests, and
        # a replica holding 0.5 CPU for the rest of the session would leave that training waiting forever.
        app = build_app({"workspace": str(data.ws.root), "num_cpus": 0})
        serve.run(app, name="c360", route_prefix="/", blocking=False)
        yield ServedApi(f"http://127.0.0.1:{port}", data)
    finally:
        serve.shutdown()
