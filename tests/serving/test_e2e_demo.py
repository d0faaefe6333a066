"""End to end on Serve: demo data, the whole pipeline, the Serve application (Gateway and model deployments)
over that workspace, then events, personalization and an erasure through HTTP alone.

- a `Product Added` event changes the cart signal `/v1/personalize` answers within one second;
- an `identify` event stitches an anonymous id, and `/v1/personalize` by that anonymous id answers the
  customer (the stitch lives in a store every replica shares);
- `DELETE /v1/customers/{id}` finishes as a job, after which the erasure scan finds the customer's id
  nowhere in the workspace, events and stitches included.
"""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime

import pytest
import requests
from rich.console import Console

from c360.api.keys import SCOPES, KeyStore
from c360.bench.lakediff import scan
from c360.demo import generate_demo_data
from c360.identity.store import IdentityStore
from c360.pipeline import run_pipeline
from c360.workspace import Workspace, init_workspace

pytestmark = [pytest.mark.serving, pytest.mark.ray, pytest.mark.slow]
PREFIX = "/e2e"


@pytest.fixture(scope="module")
def demo_app(served_api, tmp_path_factory):
    """A demo workspace after `c360 run`, served as a second application on the session's Serve."""
    from ray import serve

    from serving.app import build_app

    root = tmp_path_factory.mktemp("e2e-demo") / "ws"
    init_workspace(root)
    ws = Workspace.load(root)
    generate_demo_data(ws, customers=300, seed=11)
    run_pipeline(ws, Console(quiet=True))
    key = KeyStore.for_workspace(ws).create(SCOPES, name="e2e", rate_limit=1e6)[1]
    serve.run(build_app({"workspace": str(root), "num_cpus": 0}), name="c360-e2e", route_prefix=PREFIX,
              blocking=False)  # fmt: skip
    session = requests.Session()
    session.headers["X-API-Key"] = key
    try:
        yield ws, f"{served_api.url}{PREFIX}", session
    finally:
        serve.delete("c360-e2e")


def _event(kind: str, **fields) -> dict:
    now = datetime.now(UTC).isoformat()
    return {"type": kind, "message_id": uuid.uuid4().hex, "timestamp": now, **fields}


def test_events_personalization_and_erasure_over_http(demo_app):
    ws, url, http = demo_app
    customers = sorted(IdentityStore(ws.lake).read("clusters")["customer_id"])
    cid = customers[len(customers) // 2]
    assert http.get(f"{url}/v1/profiles/{cid}", timeout=30).status_code == 200

    def personalize(body: dict) -> dict:
        """The answer, asked again while the profile lookup itself timed out (a busy replica on 2 cores
        misses the lookup's 10 ms budget now and then: that answer is the anonymous fallback, flagged)."""
        for _ in range(20):
            r = http.post(f"{url}/v1/personalize", json=body, timeout=30)
            assert r.status_code == 200, r.text
            answer = r.json()
            if {"part": "profile", "reason": "timeout"} not in answer["fallbacks"]:
                return answer
            time.sleep(0.05)
        raise AssertionError(f"the profile lookup kept timing out: {answer}")

    def signals() -> dict | None:
        body = personalize({"customer_id": cid})
        assert body["customerId"] == cid
        return None if any(f["part"] == "signals" for f in body["fallbacks"]) else (body["signals"] or {})

    deadline = time.monotonic() + 60  # the first answers come while the replicas load their models
    while (warm := signals()) is None and time.monotonic() < deadline:
        time.sleep(0.2)
    assert warm is not None, "personalize never answered its signals part"
    before = warm.get("cart_items") or 0

    started = time.monotonic()
    added = _event("track", user_id=cid, event="Product Added",
                   properties={"product_id": "e2e-sku", "price": 4.0, "quantity": 3})  # fmt: skip
    r = http.post(f"{url}/v1/events", json={"batch": [added]}, timeout=30)
    assert r.status_code == 200 and r.json()["accepted"] == 1, r.text
    seen = before
    while time.monotonic() - started < 1.0 and seen != before + 3:
        seen = (signals() or {}).get("cart_items", seen)
    assert seen == before + 3, f"the cart signal was not answered within 1 s ({before} -> {seen})"

    anonymous = f"anon-{uuid.uuid4().hex[:8]}"
    identify = _event("identify", anonymous_id=anonymous, user_id=cid)
    assert http.post(f"{url}/v1/events", json={"batch": [identify]}, timeout=30).json()["accepted"] == 1
    stitched = personalize({"anonymous_id": anonymous})
    assert stitched["customerId"] == cid

    assert scan(ws.root, [cid]), "the customer is in the workspace before the erasure"
    accepted = http.delete(f"{url}/v1/customers/{cid}", timeout=30)
    assert accepted.status_code == 202, accepted.text
    status_url = f"{url.removesuffix(PREFIX)}{accepted.json()['status_url']}"  # a path from the host's root
    deadline = time.monotonic() + 300
    while (status := http.get(status_url, timeout=30).json())["status"] in ("queued", "running"):
        assert time.monotonic() < deadline, status
        time.sleep(0.25)
    assert status["status"] == "done", status
    assert http.get(f"{url}/v1/profiles/{cid}", timeout=30).status_code == 404
    gone = personalize({"anonymous_id": anonymous})
    assert gone["customerId"] is None, "the stitch went with the customer"
    assert scan(ws.root, [cid]) == []
