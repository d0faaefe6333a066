"""`POST /v1/content/{task}` over a real workspace (SQLite profile store, key file) with the stand-in as
the configured OpenAI-compatible endpoint: JSON answers, the SSE chat stream, consent and scope errors,
and an erasure through the workspace's erasure step."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from c360.api.app import create_api
from c360.api.content import content_routes
from c360.api.keys import KeyStore
from c360.genai.erasure import erase_genai_cache
from c360.genai.standin import StandInServer
from c360.privacy.subject import Subject
from c360.profile.store import open_profile_store
from c360.workspace import Workspace
from tests.genai.conftest import profile

pytestmark = pytest.mark.unit


@dataclass
class Api:
    client: TestClient
    ws: Workspace
    key: str
    reader: str
    server: StandInServer


def _workspace(root: Path, url: str) -> Workspace:
    root.mkdir(parents=True, exist_ok=True)
    (root / "c360.yaml").write_text(
        f"workspace: genai-api\nllm:\n  provider: openai\n  base_url: {url}\n  timeout_seconds: 2\n",
        encoding="utf-8",
    )
    ws = Workspace.load(root)
    with open_profile_store(ws) as store:
        store.upsert_many(
            [profile("C-1"), profile("C-NOMAIL", email=False), profile("C-GEN", personalization=False)]
        )
    return ws


@pytest.fixture
def api(tmp_path) -> Iterator[Api]:
    with StandInServer() as server:
        ws = _workspace(tmp_path / "ws", server.url)
        keys = KeyStore.for_workspace(ws)
        _, key = keys.create(["decide"], name="content")
        _, reader = keys.create(["profiles:read"], name="reader")
        app = create_api(ws)
        if not any(getattr(r, "path", "") == "/v1/content/{task}" for r in app.routes):
            app.include_router(content_routes(app.state.context))
        with TestClient(app) as client:
            yield Api(client, ws, key, reader, server)


def post(api: Api, task: str, body: dict, key: str | None = None, **headers: str):
    return api.client.post(f"/v1/content/{task}", json=body, headers={"X-API-Key": key or api.key, **headers})


def test_email_for_the_chosen_action(api):
    r = post(
        api, "email", {"customer_id": "C-1", "action_id": "d25_email", "decided_at": "2026-12-01T09:00:00Z"}
    )
    assert r.status_code == 200, r.text
    doc = r.json()
    assert doc["source"] == "model" and doc["personalized"] is True
    assert set(doc["content"]) == {"subject", "preheader", "text", "html", "offer"}
    assert doc["offer"]["discount_percent"] == 25 and doc["offer"]["expires_on"] == "2026-12-08"
    again = post(
        api, "email", {"customer_id": "C-1", "action_id": "d25_email", "decided_at": "2026-12-01T09:00:00Z"}
    )
    assert again.json()["source"] == "cache"


def test_consent_scope_and_validation_errors(api):
    r = post(api, "email", {"customer_id": "C-NOMAIL", "action_id": "d25_email"})
    assert r.status_code == 403 and "marketing" in r.json()["error"]["message"]
    assert (
        post(api, "offer", {"customer_id": "C-1", "action_id": "d25_email"}, key=api.reader).status_code
        == 403
    )
    assert post(api, "email", {"customer_id": "C-1"}).status_code == 422  # no action_id
    assert post(api, "poem", {"customer_id": "C-1"}).status_code in (400, 404, 422)
    assert post(api, "offer", {"customer_id": "C-NOBODY", "action_id": "d25_email"}).status_code == 404
    generic = post(api, "offer", {"customer_id": "C-GEN", "action_id": "d25_email"}).json()
    assert generic["personalized"] is False and "Ada" not in json.dumps(generic["content"])


def test_chat_streams_as_server_sent_events(api):
    body = {"customer_id": "C-1", "message": "Where is my parcel?", "tickets": ["Parcel late"]}
    with api.client.stream(
        "POST", "/v1/content/chat", json=body, headers={"X-API-Key": api.key, "Accept": "text/event-stream"}
    ) as r:
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream")
        raw = "".join(r.iter_text())
    events = [block.split("\n", 1) for block in raw.strip().split("\n\n")]
    kinds = [e[0].removeprefix("event: ") for e in events]
    assert kinds.count("delta") > 2 and kinds[-1] == "done"
    final = json.loads(events[-1][1].removeprefix("data: "))
    deltas = "".join(json.loads(e[1].removeprefix("data: "))["text"] for e in events[:-1])
    assert deltas.strip() == final["content"]["reply"]


def test_chat_stream_refused_before_it_starts_when_the_customer_is_unknown(api):
    r = post(api, "chat", {"customer_id": "C-NOBODY", "message": "hi", "stream": True})
    assert r.status_code == 404


def test_erasure_step_removes_what_the_server_cached(api):
    post(api, "offer", {"customer_id": "C-1", "action_id": "d10_email"})
    counts = erase_genai_cache(api.ws, Subject("C-1", {"C-1"}))
    assert counts.keys == 1
    assert post(api, "offer", {"customer_id": "C-1", "action_id": "d10_email"}).json()["source"] == "model"
