"""The personalization routes through a real Ray Serve application: the Gateway reaching the Recommender and
NextBestAction deployments through their handles (scores are read in the Gateway). On the session's
untrained API workspace every model part falls back, flagged `not_trained`; on a trained workspace (a second
application beside it) the deployments answer, and a reward's refusal crosses the handle as its own
status."""

from __future__ import annotations

import time

import pytest
import requests

from c360.api.keys import KeyStore
from tests.inference.workspace import trained_workspace

pytestmark = [pytest.mark.serving, pytest.mark.ray, pytest.mark.filterwarnings("ignore::DeprecationWarning")]
PREFIX = "/trained"


def test_untrained_models_fall_back_flagged_never_an_error(served_api):
    _, key = KeyStore.for_workspace(served_api.data.ws).create(["decide"], name="served-storefront")
    headers = {"X-API-Key": key}
    r = requests.post(
        f"{served_api.url}/v1/personalize", json={"customer_id": "C-ADA-OLD"}, headers=headers, timeout=30
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["customerId"] == "C-ADA" and body["recommendations"] == []
    assert body["nextBestAction"] == {
        "decisionId": None, "action": "no_action", "channel": None, "offer": None, "propensity": None
    }  # fmt: skip
    reasons = {f["part"]: f["reason"] for f in body["fallbacks"]}
    assert reasons["scores"] == "not_trained"  # the ingress's own scorer, loaded in its constructor
    # the model deployments' parts: not trained, or a cold first hop past its timeout, flagged either way
    assert {reasons.get("recommendations"), reasons.get("nextBestAction")} <= {"not_trained", "timeout"}
    r = requests.post(f"{served_api.url}/v1/decisions/d-1/reward", json={}, headers=headers, timeout=30)
    assert r.status_code == 404 and r.json()["error"]["code"] == "not_found"


@pytest.fixture(scope="module")
def trained_app(served_api, tmp_path_factory):
    """A second application on the session's Serve, over a trained workspace, at PREFIX."""
    from ray import serve

    from serving.app import build_app

    data = trained_workspace(tmp_path_factory.mktemp("served-trained") / "ws")
    serve.run(
        build_app({"workspace": str(data.ws.root), "num_cpus": 0}),
        name="c360-trained",
        route_prefix=PREFIX,
        blocking=False,
    )
    try:
        yield f"{served_api.url}{PREFIX}", data
    finally:
        serve.delete("c360-trained")


def test_the_model_deployments_answer_and_refusals_cross_the_handle(trained_app):
    url, data = trained_app
    headers = {"X-API-Key": data.decide_key}
    deadline, body = time.monotonic() + 60, {}
    while time.monotonic() < deadline:  # the first calls warm the handles (and fill the popular cache)
        body = requests.post(
            f"{url}/v1/personalize", json={"customer_id": "c0002"}, headers=headers, timeout=30
        ).json()
        if not [f for f in body["fallbacks"] if f["part"] != "signals"]:
            break
        time.sleep(0.2)
    # No Feast repo is applied here: the signals part falls back (store_unavailable, or a timeout when the
    # busy replica's thread for it starts late), and nothing else does.
    assert [f["part"] for f in body["fallbacks"]] == ["signals"], body
    assert body["fallbacks"][0]["reason"] in ("store_unavailable", "timeout"), body
    bought = set(data.lines.loc[data.lines["customer_id"] == "c0002", "product_id"])
    items = [i["productId"] for i in body["recommendations"]]
    assert len(items) == 10 and not set(items) & bought and body["modelVersions"]["recommendations"] == "1"
    decision = body["nextBestAction"]["decisionId"]
    assert decision and body["scores"]["clv"] == 2.0
    reward = f"{url}/v1/decisions/{decision}/reward"
    assert requests.post(reward, json={"conversion": True}, headers=headers, timeout=30).status_code == 200
    again = requests.post(reward, json={"conversion": True}, headers=headers, timeout=30)
    assert again.status_code == 409 and again.json()["error"]["code"] == "conflict"
    similar = requests.get(f"{url}/v1/products/nope/similar", headers=headers, timeout=30)
    assert similar.status_code == 404 and similar.json()["error"]["code"] == "not_found"
    metrics = requests.get(f"{url}/metrics", timeout=30).text
    assert 'c360_model_version_info{part="recommendations",version="1"} 1.0' in metrics
