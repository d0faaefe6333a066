"""The API over HTTP through a real Ray Serve application (`serving.app:build_app`)."""

from __future__ import annotations

import time

import pytest
import requests

pytestmark = [pytest.mark.serving, pytest.mark.ray]


def test_health_without_a_key(served_api):
    r = requests.get(f"{served_api.url}/healthz", timeout=10)
    assert r.status_code == 200 and r.json() == {"status": "ok"}
    # ready once both model deployments answer, as a probe sees it: polled, not asked once
    deadline = time.monotonic() + 60
    while (ready := requests.get(f"{served_api.url}/readyz", timeout=10)).status_code != 200:
        assert ready.json()["error"]["code"] == "not_ready" and time.monotonic() < deadline, ready.text
        time.sleep(0.2)
    assert ready.json() == {"status": "ready"}


def test_a_profile_with_a_key_and_401_without(served_api):
    url = f"{served_api.url}/v1/profiles/C-ADA-OLD"
    r = requests.get(url, headers={"X-API-Key": served_api.data.read_key}, timeout=10)
    assert r.status_code == 200 and r.json()["customerId"] == "C-ADA"
    r = requests.get(url, timeout=10)
    assert r.status_code == 401 and r.json()["error"]["code"] == "unauthorized"
    r = requests.get(url, headers={"X-API-Key": served_api.data.events_key}, timeout=10)
    assert r.status_code == 403 and r.json()["error"]["code"] == "forbidden"
    r = requests.get(
        f"{served_api.url}/v1/profiles",
        params={"email": "bob@example.com"},
        headers={"Authorization": f"Bearer {served_api.data.read_key}"},
        timeout=10,
    )
    assert r.status_code == 200 and r.json()["customerId"] == "C-BOB"


def test_docs_and_metrics_are_served(served_api):
    requests.get(f"{served_api.url}/healthz", timeout=10)
    metrics = requests.get(f"{served_api.url}/metrics", timeout=10)
    assert metrics.status_code == 200
    assert 'c360_api_requests_total{method="GET",route="/healthz",status="200"}' in metrics.text
    assert requests.get(f"{served_api.url}/docs", timeout=10).status_code == 200
    assert (
        "/v1/profiles/{customer_id}"
        in requests.get(f"{served_api.url}/openapi.json", timeout=10).json()["paths"]
    )
