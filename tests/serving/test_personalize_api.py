"""The personalization routes through FastAPI's TestClient on the trained inference workspace, the models
in-process (`LocalModels`): answers checked for what the models decided, refusals as 4xx bodies with a
machine-readable code, no customer id or identifier in the logs, fallbacks and versions in /metrics."""

from __future__ import annotations

import logging

import pytest
from fastapi.testclient import TestClient

from c360.api.app import create_api
from c360.api.personalize import personalizer_for
from c360.inference.clients import LocalModels
from tests.inference.conftest import trained  # noqa: F401 - the session's trained workspace
from tests.inference.workspace import ROOMY, cookie_of

pytestmark = [pytest.mark.feast, pytest.mark.filterwarnings("ignore::DeprecationWarning")]


@pytest.fixture(scope="module")
def client(trained):  # noqa: F811
    models = LocalModels.for_workspace(trained.ws)
    models.load()  # else the first requests answer fallbacks while the models load
    with TestClient(create_api(trained.ws, models=models)) as c:
        c.headers["X-API-Key"] = trained.decide_key
        c.post("/v1/personalize", json={"customer_id": "c0002"})  # fills the popular cache
        yield c


def test_personalize_answers_every_part_for_a_customer(trained, client):  # noqa: F811
    r = client.post(
        "/v1/personalize",
        json={"customer_id": "c0002", "context": {"page": "/home", "device": "mobile", "cart": ["p2_03"]}},
    )
    assert r.status_code == 200, r.text
    body = r.json()
    items = [i["productId"] for i in body["recommendations"]]
    bought = set(trained.lines.loc[trained.lines["customer_id"] == "c0002", "product_id"])
    assert len(items) == 10 and not set(items) & (bought | {"p2_03"})
    assert body["nextBestAction"]["decisionId"] and body["scores"]["clv"] == 2.0
    assert body["segment"] == "at_risk" and body["modelVersions"]["recommendations"] == "1"
    # Feast has no realtime_signals view applied in this workspace: the store is flagged, nothing else
    assert body["fallbacks"] == [{"part": "signals", "reason": "store_unavailable"}]


def test_an_anonymous_visitor_is_stitched_or_served_the_popular_list(client):
    stitched = client.post("/v1/personalize", json={"anonymous_id": cookie_of("c0004")}).json()
    assert stitched["customerId"] == "c0004" and stitched["nextBestAction"]["decisionId"]
    stranger = client.post("/v1/personalize", json={"anonymous_id": "ck-unseen"}).json()
    assert stranger["customerId"] is None and {i["reason"] for i in stranger["recommendations"]} == {
        "popular"
    }
    assert {"part": "recommendations", "reason": "unknown_customer"} in stranger["fallbacks"]


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"customer_id": "c0002", "anonymous_id": "ck-1"},
        {"customer_id": "c0002", "n": 0},
        {"customer_id": "c0002", "context": {"device": "fridge"}},
        {"customer_id": "c0002", "surprise": 1},
        {"customer_id": "x" * 300},
    ],
)
def test_bad_requests_are_422_with_a_code_and_no_echo(client, body):
    r = client.post("/v1/personalize", json=body)
    assert r.status_code == 422 and r.json()["error"]["code"] == "invalid_request"
    assert "x" * 300 not in r.text and "fridge" not in r.text


def test_keys_and_scopes_are_checked(trained, client):  # noqa: F811
    r = client.post("/v1/personalize", json={"customer_id": "c0002"}, headers={"X-API-Key": ""})
    assert r.status_code == 401 and r.json()["error"]["code"] == "unauthorized"
    r = client.post("/v1/personalize", json={"customer_id": "c0002"}, headers={"X-API-Key": trained.read_key})
    assert r.status_code == 403 and r.json()["error"]["code"] == "forbidden"


def test_a_reward_is_taken_once_and_unknown_decisions_are_404(client):
    decision = client.post("/v1/personalize", json={"customer_id": "c0006"}).json()["nextBestAction"]
    url = f"/v1/decisions/{decision['decisionId']}/reward"
    r = client.post(url, json={"click": True, "conversion": True, "revenue": 12.5})
    assert r.status_code == 200 and r.json()["reward"] == 1.0  # the catalogue's weights: conversion = 1
    r = client.post(url, json={"conversion": True})
    assert r.status_code == 409 and r.json()["error"]["code"] == "conflict"
    r = client.post("/v1/decisions/not-a-decision/reward", json={"conversion": True})
    assert r.status_code == 404 and r.json()["error"]["code"] == "not_found"
    r = client.post(url, json={"revenue": -1})
    assert r.status_code == 422


def test_the_personalizer_takes_its_budgets_from_the_workspace(client):
    assert personalizer_for(client.app.state.context).budget == ROOMY


def test_customer_recommendations_follow_consent(client):
    r = client.get("/v1/customers/c0002/recommendations", params={"n": 3})
    body = r.json()
    assert r.status_code == 200 and len(body["recommendations"]) == 3 and body["fallbacks"] == []
    assert body["recommendations"][0]["reason"].startswith("because you bought")
    denied = client.get("/v1/customers/c0005/recommendations", params={"n": 3}).json()
    assert denied["fallbacks"] == [{"part": "recommendations", "reason": "no_consent"}]
    assert client.get("/v1/customers/c0002/recommendations", params={"n": 500}).status_code == 422


def test_similar_products_and_an_unknown_product(client):
    r = client.get("/v1/products/p0_01/similar", params={"n": 4})
    assert r.status_code == 200 and len(r.json()["similar"]) == 4
    assert all(i["productId"] != "p0_01" for i in r.json()["similar"])
    r = client.get("/v1/products/p9_99/similar")
    assert r.status_code == 404 and r.json()["error"]["code"] == "not_found"


def test_no_customer_id_or_identifier_reaches_the_logs(client, caplog):
    caplog.set_level(logging.DEBUG)
    client.post("/v1/personalize", json={"customer_id": "c0008", "context": {"cart": ["p1_01"]}})
    client.post("/v1/personalize", json={"anonymous_id": cookie_of("c0010")})
    client.get("/v1/customers/c0012/recommendations")
    server = [r for r in caplog.records if not r.name.startswith("httpx")]  # the test's own client logs URLs
    assert server and not [
        r for r in server if any(s in r.getMessage() for s in ("c0008", "c0010", "c0012", "p1_01"))
    ]


def test_metrics_show_fallbacks_and_model_versions(client):
    client.get("/v1/customers/c0005/recommendations")
    text = client.get("/metrics").text
    assert 'c360_personalize_fallbacks_total{part="recommendations",reason="no_consent"}' in text
    assert 'c360_model_version_info{part="recommendations",version="1"} 1.0' in text
    assert 'c360_model_version_info{part="nextBestAction",version="nba-' in text


def test_personalize_includes_the_offer_copy_of_the_chosen_action_when_asked(client):
    plain = client.post("/v1/personalize", json={"customer_id": "c0002"}).json()
    assert "content" not in plain
    offered = 0
    for cid in ("c0004", "c0006", "c0008", "c0010"):
        body = client.post("/v1/personalize", json={"customer_id": cid, "content": True}).json()
        action, copy = body["nextBestAction"], body["content"]["offer"]
        assert "content" not in {f["part"] for f in body["fallbacks"]}
        if action["action"] == "no_action":
            assert copy is None
            continue
        offered += 1
        # The copy is of the offer the bandit chose, never another, and its terms are that offer's.
        assert copy["task"] == "offer" and copy["offer"]["offer"] == action["offer"], (action, copy)
        assert copy["content"]["offer"]["discount_percent"] == copy["offer"]["discount_percent"]
    assert offered, "the bandit chose an offer for at least one of these customers"
