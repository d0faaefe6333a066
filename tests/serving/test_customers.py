"""Consent and erasure over HTTP without Serve: `PUT /v1/customers/{id}/consent`, `DELETE /v1/customers/{id}`
and the erasure request's status (the whole erasure through the API is in tests/ray/test_erase.py)."""

from __future__ import annotations

import time

import pytest
from fastapi.testclient import TestClient

from c360.api.app import create_api
from c360.api.keys import KeyStore
from c360.erasure_plan import erase_or_resume
from c360.privacy.requests import ErasureRequests, ErasureWorker
from c360.profile.store import open_profile_store
from tests.serving.api_data import ApiWorkspace, api_workspace
from tests.serving.test_api import assert_error

pytestmark = pytest.mark.unit


@pytest.fixture
def data(tmp_path) -> ApiWorkspace:
    return api_workspace(tmp_path / "ws")


def key(data: ApiWorkspace, *scopes: str) -> dict[str, str]:
    return {"X-API-Key": KeyStore.for_workspace(data.ws).create(scopes)[1]}


def test_a_consent_change_is_served_by_the_next_request(data):
    consent, reader = key(data, "consent:write"), key(data, "profiles:read")
    with TestClient(create_api(data.ws.root)) as client:
        body = {"changes": [{"purpose": "marketing", "channel": "email", "granted": True}], "source": "prefs"}
        r = client.put("/v1/customers/C-ADA-OLD/consent", json=body, headers=consent)
        assert r.status_code == 200, r.text
        assert r.json()["customerId"] == "C-ADA"  # a merged-away id is recorded on the survivor
        assert r.json()["consent"]["marketing"]["email"]["granted"] is True
        profile = client.get("/v1/profiles/C-ADA", headers=reader).json()
        assert profile["consent"]["marketing"]["email"]["granted"] is True
        assert profile["preferences"]["marketingChannels"] == ["email"]

        withdraw = {"changes": [{"purpose": "marketing", "channel": "email", "granted": False}]}
        client.put("/v1/customers/C-ADA/consent", json=withdraw, headers=consent)
        profile = client.get("/v1/profiles/C-ADA", headers=reader).json()
        assert profile["consent"]["marketing"]["email"]["granted"] is False
        assert profile["preferences"]["marketingChannels"] == []
    ledger = list((data.ws.root / "data" / "lake" / "consent" / "updates").glob("*.parquet"))
    assert len(ledger) == 2, "each statement lands in the lake's consent ledger"


def test_consent_refusals(data):
    consent = key(data, "consent:write")
    good = {"changes": [{"purpose": "marketing", "channel": "email", "granted": True}]}
    with TestClient(create_api(data.ws.root)) as client:
        assert_error(
            client.put("/v1/customers/C-NOBODY/consent", json=good, headers=consent), 404, "not_found"
        )
        bad_channel = {"changes": [{"purpose": "marketing", "channel": "pigeon", "granted": True}]}
        r = client.put("/v1/customers/C-ADA/consent", json=bad_channel, headers=consent)
        assert_error(r, 422, "invalid_request")
        assert "changes.0.channel" in r.json()["error"]["message"]
        assert_error(client.put("/v1/customers/C-ADA/consent", json={"changes": []}, headers=consent), 422,
                     "invalid_request")  # fmt: skip
        assert_error(client.put("/v1/customers/C-ADA/consent", json=good, headers=key(data, "profiles:read")),
                     403, "forbidden")  # fmt: skip
    with open_profile_store(data.ws) as store:
        assert "consent" not in store.get("C-ADA"), "nothing was recorded by a refused request"


def test_an_erasure_request_is_a_job_with_a_status(data):
    eraser = key(data, "admin:erase")
    with TestClient(create_api(data.ws.root)) as client:
        assert_error(client.delete("/v1/customers/C-NOBODY", headers=eraser), 404, "not_found")
        assert_error(
            client.delete("/v1/customers/C-BOB", headers=key(data, "profiles:read")), 403, "forbidden"
        )
        r = client.delete("/v1/customers/C-BOB", headers=eraser)
        assert r.status_code == 202, r.text
        url = r.json()["status_url"]
        assert url == f"/v1/erasures/{r.json()['request_id']}"
        deadline = time.monotonic() + 60
        while (status := client.get(url, headers=eraser).json())["status"] in ("queued", "running"):
            assert time.monotonic() < deadline
            time.sleep(0.05)
        # This workspace has profiles but no identity graph, so the erasure finds nobody to erase.
        assert status["status"] == "failed" and status["error"] == "not_found"
        assert "customer_id" not in status and len(status["customer_hash"]) == 64
        assert_error(client.get("/v1/erasures/er_nope", headers=eraser), 404, "not_found")
        assert_error(client.get("/v1/erasures/..%2F..%2Fetc", headers=eraser), 404, "not_found")
        assert_error(client.get(url, headers=key(data, "profiles:read")), 403, "forbidden")


def test_a_request_queued_before_a_restart_is_taken_by_the_next_worker(data):
    requests = ErasureRequests(data.ws)
    queued = requests.submit("C-EVE", key_id="k1")
    assert [r.request_id for r in requests.pending()] == [queued.request_id]
    worker = ErasureWorker(data.ws, lambda ws, ids: erase_or_resume(ws, ids), poll_s=0.05)
    try:
        deadline = time.monotonic() + 60
        while requests.get(queued.request_id).status in ("queued", "running"):
            assert time.monotonic() < deadline
            time.sleep(0.05)
    finally:
        worker.close()
    assert requests.pending() == []
    assert requests.get(queued.request_id).customer_id is None
