"""The FastAPI app without Serve: keys and scopes, the profile routes, the error body, no PII in logs."""

from __future__ import annotations

import logging
import os
import threading
import time

import pytest
from fastapi import FastAPI, Request
from fastapi.testclient import TestClient

from c360.api.app import RequestGuard, create_api
from c360.errors import StoreUnavailableError
from c360.inference.clients import LocalModels
from c360.profile.store import ProfileStore
from tests.serving.api_data import FAMILY_TABLET, ApiWorkspace, api_workspace

pytestmark = pytest.mark.unit


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> ApiWorkspace:
    return api_workspace(tmp_path_factory.mktemp("api") / "ws")


@pytest.fixture(scope="module")
def client(data):
    with TestClient(create_api(data.ws.root)) as client:
        yield client


def read(data: ApiWorkspace) -> dict[str, str]:
    return {"X-API-Key": data.read_key}


def assert_error(response, status: int, code: str) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message"}
    assert body["error"]["code"] == code and body["error"]["message"]
    assert "Traceback" not in response.text


def test_health_routes_need_no_key(client):
    assert client.get("/healthz").json() == {"status": "ok"}
    assert client.get("/readyz").json() == {"status": "ready"}


def test_a_profile_with_a_key_in_either_header(client, data):
    r = client.get("/v1/profiles/C-ADA", headers=read(data))
    assert r.status_code == 200 and r.json()["traits"] == {"firstName": "Ada"}
    r = client.get("/v1/profiles/C-BOB", headers={"Authorization": f"Bearer {data.read_key}"})
    assert r.status_code == 200 and r.json()["customerId"] == "C-BOB"


def test_a_merged_away_id_answers_with_the_surviving_profile(client, data):
    r = client.get("/v1/profiles/C-ADA-OLD", headers=read(data))
    assert r.status_code == 200 and r.json()["customerId"] == "C-ADA"


@pytest.mark.parametrize(
    "query, customer",
    [
        ("email=ADA@Example.com", "C-ADA"),
        ("phone=%2B1 555 0001", "C-ADA"),
        ("device_id=dev-1", "C-ADA"),
        ("cookie_id=ck-9", "C-BOB"),
    ],
)
def test_a_profile_by_identifier(client, data, query, customer):
    r = client.get(f"/v1/profiles?{query}", headers=read(data))
    assert r.status_code == 200 and r.json()["customerId"] == customer


@pytest.mark.parametrize(
    "headers",
    [{}, {"X-API-Key": "c360_0123abcd_nope"}, {"Authorization": "Basic abc"}, {"X-API-Key": "nonsense"}],
)
def test_401_without_a_known_key(client, headers):
    r = client.get("/v1/profiles/C-ADA", headers=headers)
    assert_error(r, 401, "unauthorized")
    assert "Bearer" in r.headers["www-authenticate"]


def test_401_with_a_revoked_key(client, data):
    assert_error(
        client.get("/v1/profiles/C-ADA", headers={"X-API-Key": data.revoked_key}), 401, "unauthorized"
    )


def test_403_with_a_key_lacking_the_scope(client, data):
    r = client.get("/v1/profiles/C-ADA", headers={"X-API-Key": data.events_key})
    assert_error(r, 403, "forbidden")
    assert "profiles:read" in r.json()["error"]["message"]


def test_404_for_an_unknown_customer_or_identifier(client, data):
    r = client.get("/v1/profiles/C-NOBODY", headers=read(data))
    assert_error(r, 404, "not_found")
    assert "C-NOBODY" not in r.text
    r = client.get("/v1/profiles?email=nobody@example.com", headers=read(data))
    assert_error(r, 404, "not_found")
    assert "nobody@example.com" not in r.text
    assert_error(client.get("/v2/profiles/C-ADA", headers=read(data)), 404, "not_found")


def test_409_for_an_identifier_several_customers_hold(client, data, caplog):
    with caplog.at_level(logging.INFO, logger="c360"):
        r = client.get(f"/v1/profiles?device_id={FAMILY_TABLET}", headers=read(data))
    assert_error(r, 409, "ambiguous_identifier")
    assert "customer id" in r.json()["error"]["message"]
    for pii in (FAMILY_TABLET, "C-BOB", "C-EVE", "bob@example.com"):
        assert pii not in r.text and pii not in caplog.text
    # Each of them still answers by customer id, and by what only they hold.
    assert client.get("/v1/profiles/C-EVE", headers=read(data)).json()["customerId"] == "C-EVE"
    assert client.get("/v1/profiles?cookie_id=ck-9", headers=read(data)).json()["customerId"] == "C-BOB"


@pytest.mark.parametrize("query", ["", "?email=a@example.com&phone=%2B15550001", "?email="])
def test_422_unless_exactly_one_identifier(client, data, query):
    assert_error(client.get(f"/v1/profiles{query}", headers=read(data)), 422, "invalid_request")


def test_422_never_echoes_the_value(client, data):
    r = client.get("/v1/profiles?email=" + "secret" * 60, headers=read(data))
    assert_error(r, 422, "invalid_request")
    assert "secret" not in r.text


def test_413_past_the_size_limit(data):
    with TestClient(create_api(data.ws, max_body_bytes=100)) as small:
        r = small.post("/v1/profiles/C-ADA", content=b"x" * 101, headers=read(data))
        assert_error(r, 413, "payload_too_large")
        assert_error(small.post("/v1/profiles/C-ADA", headers=read(data)), 405, "method_not_allowed")


def test_a_streamed_body_is_counted_as_it_arrives():
    echo = FastAPI()

    @echo.post("/echo")
    async def _echo(request: Request) -> dict[str, int]:
        return {"bytes": len(await request.body())}

    echo.add_middleware(RequestGuard, max_body_bytes=100)
    with TestClient(echo, raise_server_exceptions=False) as c:
        assert c.post("/echo", content=iter([b"x" * 50, b"x" * 50])).json() == {"bytes": 100}
        r = c.post("/echo", content=iter([b"x" * 60, b"x" * 60]))  # no Content-Length
        assert_error(r, 413, "payload_too_large")


class DownStore(ProfileStore):
    """A store whose every read fails as an outage does; or raises a bug."""

    backend = "down"

    def __init__(self, error: Exception) -> None:
        self.error = error

    @property
    def address(self) -> str:
        return "10.0.0.9:6379"

    def get(self, customer_id):
        raise self.error

    def lookup(self, kind, value):
        raise self.error

    def shared_identifiers(self):
        raise self.error

    def replace_shared_identifiers(self, keys):
        raise self.error

    def resolve(self, customer_id):
        raise self.error

    def _write_batch(self, batch):
        raise self.error

    def delete(self, customer_id):
        raise self.error

    def add_aliases(self, aliases):
        raise self.error

    def close(self):
        pass


def test_readyz_waits_for_the_models_given_to_the_app_and_a_model_that_cannot_load_counts_as_started(data):
    """Models given to the app (a server's) are loaded on a thread of their own from the first probe on;
    `/readyz` says 503 until every load has been tried. A load that fails leaves the fallback: ready."""
    release = threading.Event()

    def slow() -> object:
        release.wait(10)
        return object()

    def broken() -> object:
        raise StoreUnavailableError("no registered model")

    models = LocalModels(slow, broken, slow)
    with TestClient(create_api(data.ws, models=models)) as c:
        r = c.get("/readyz")
        assert_error(r, 503, "not_ready")
        assert "models" in r.json()["error"]["message"]
        release.set()
        deadline = time.monotonic() + 10
        while c.get("/readyz").status_code != 200 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert c.get("/readyz").json() == {"status": "ready"}


def test_503_when_the_store_is_down_and_readyz_says_so(data):
    down = DownStore(StoreUnavailableError("profile store (redis) at 10.0.0.9:6379 is unavailable"))
    with TestClient(create_api(data.ws, profile_store=down)) as c:
        assert c.get("/healthz").status_code == 200
        assert_error(c.get("/readyz"), 503, "not_ready")
        r = c.get("/v1/profiles/C-ADA", headers=read(data))
        assert_error(r, 503, "store_unavailable")
        assert "10.0.0.9" not in r.text


def test_a_bug_is_a_bare_500_logged_by_type_only(data, caplog):
    buggy = DownStore(KeyError("ada@example.com"))
    api = create_api(data.ws, profile_store=buggy)
    with (
        TestClient(api, raise_server_exceptions=False) as c,
        caplog.at_level(logging.INFO, logger="c360.api"),
    ):
        r = c.get("/v1/profiles/C-ADA", headers=read(data))
    assert_error(r, 500, "internal")
    assert "ada@example.com" not in r.text and "KeyError" not in r.text
    assert "KeyError" in caplog.text and "ada@example.com" not in caplog.text


def test_logs_hold_route_templates_not_ids_or_identifiers(client, data, caplog):
    with caplog.at_level(logging.INFO, logger="c360.api"):
        client.get("/v1/profiles/C-ADA", headers=read(data))
        client.get("/v1/profiles?email=ada@example.com", headers=read(data))
        client.get("/v1/profiles/C-NOBODY", headers=read(data))
    assert "/v1/profiles/{customer_id} 200" in caplog.text and "/v1/profiles 200" in caplog.text
    for pii in ("C-ADA", "C-NOBODY", "ada@example.com", "ada%40example.com", data.read_key):
        assert pii not in caplog.text


def test_openapi_documents_the_versioned_routes_and_both_key_schemes(client):
    spec = client.get("/openapi.json").json()
    assert {"/healthz", "/readyz", "/v1/profiles", "/v1/profiles/{customer_id}"} <= set(spec["paths"])
    assert {"ApiKeyHeader", "Bearer"} <= set(spec["components"]["securitySchemes"])
    assert {"200", "404", "409", "422"} <= set(spec["paths"]["/v1/profiles"]["get"]["responses"])
    assert client.get("/docs").status_code == 200


def test_metrics_count_requests_and_latency_per_route_template(data):
    expected = [
        'c360_api_requests_total{method="GET",route="/v1/profiles/{customer_id}",status="200"} 2.0',
        'c360_api_requests_total{method="GET",route="/v1/profiles/{customer_id}",status="401"} 1.0',
        'c360_api_requests_total{method="GET",route="/v1/profiles",status="200"} 1.0',
        'c360_api_requests_total{method="GET",route="<unmatched>",status="404"} 1.0',
        'c360_api_request_duration_seconds_count{method="GET",route="/v1/profiles/{customer_id}"} 3.0',
    ]
    with TestClient(create_api(data.ws)) as c:
        answers = [
            c.get("/v1/profiles/C-ADA", headers=read(data)),
            c.get("/v1/profiles/C-ADA-OLD", headers=read(data)),
            c.get("/v1/profiles/C-ADA"),
            c.get("/v1/profiles?email=ada@example.com", headers=read(data)),
            c.get("/no/such/route/C-ADA"),
        ]
        assert [a.status_code for a in answers] == [200, 200, 401, 200, 404], [a.text for a in answers]
        r = c.get("/metrics")
    missing = [line for line in expected if line not in r.text]
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/plain")
    assert not missing, (missing, r.text)
    assert "C-ADA" not in r.text and "example.com" not in r.text


def test_two_apps_count_apart_even_in_prometheus_multiprocess_mode(tmp_path):
    """`import feast.metrics` sets PROMETHEUS_MULTIPROC_DIR, and a process started after it (an xdist worker,
    a replica) has prometheus_client keep same-named values in one shared memory map; our counts must not."""
    import subprocess
    import sys

    code = (
        "from c360.api.metrics import ApiMetrics\n"
        "a, b = ApiMetrics(), ApiMetrics()\n"
        "a.observe('/x', 'GET', 200, 0.001)\n"
        "b.observe('/x', 'GET', 200, 0.002)\n"
        "print(b.render().decode())\n"
    )
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(tmp_path)}
    run = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    out = run.stdout
    assert 'c360_api_requests_total{method="GET",route="/x",status="200"} 1.0' in out
    assert 'c360_api_request_duration_seconds_bucket{le="0.0025",method="GET",route="/x"} 1.0' in out


def test_a_key_past_its_rate_gets_429_with_retry_after(data):
    from c360.api.keys import KeyStore

    _, slow_key = KeyStore.for_workspace(data.ws).create(["profiles:read"], name="slow", rate_limit=0.5)
    with TestClient(create_api(data.ws.root)) as client:
        headers = {"X-API-Key": slow_key}
        # A bucket of 1 s of traffic at the default 1000/s with burst 2000 holds 2 s: one request at 0.5/s.
        assert client.get("/v1/profiles/C-ADA", headers=headers).status_code == 200
        r = client.get("/v1/profiles/C-ADA", headers=headers)
        assert_error(r, 429, "rate_limited")
        assert 1 <= int(r.headers["Retry-After"]) <= 2
        # Another key is not held back by this one's rate.
        assert client.get("/v1/profiles/C-ADA", headers=read(data)).status_code == 200
