"""The writer's rules with the offline templates and with the stand-in: consent first, a minimized profile
in the prompt, the chosen offer only, cache, budget, erasure of cached content."""

from __future__ import annotations

import json
import logging

import pytest

from c360.errors import NotFoundError, ValidationError
from c360.genai.budget import Budget
from c360.genai.cache import ContentCache
from c360.genai.erasure import erase_genai_cache
from c360.genai.tasks import ContentRequest
from c360.privacy.consent import ConsentRequiredError
from c360.privacy.subject import Subject
from c360.settings import LLMSettings, Settings
from c360.workspace import Workspace
from tests.genai.conftest import DECIDED, http_settings, make_writer, profile

pytestmark = pytest.mark.unit


def email_request(cid: str = "C-1", action: str = "d25_email") -> ContentRequest:
    return ContentRequest("email", cid, product_id="P-LAMP", action_id=action, decided_at=DECIDED)


def test_offline_email_states_the_chosen_offer_exactly():
    content = make_writer(LLMSettings()).write(email_request())
    assert content.source == "template" and content.personalized
    assert content.fields["offer"] == {"discount_percent": 25, "expires_on": "2026-12-08"}
    assert "25% off" in content.fields["text"] and "22.50 EUR" in content.fields["text"]
    assert content.fields["text"].startswith("Hi Ada,")


def test_no_marketing_consent_on_email_means_no_email():
    writer = make_writer(LLMSettings(), {"C-1": profile(email=False)})
    with pytest.raises(ConsentRequiredError):
        writer.write(email_request())
    # a push offer is still allowed: consent is per channel
    assert writer.write(ContentRequest("offer", "C-1", action_id="ship_push", decided_at=DECIDED)).fields


def test_no_personalization_consent_gives_generic_content(server):
    writer = make_writer(http_settings(server), {"C-1": profile(personalization=False)})
    content = writer.write(email_request())
    assert not content.personalized and "no_personalization_consent" in content.flags
    assert "Ada" not in json.dumps(content.fields)
    sent = json.loads(server.requests[-1]["body"]["messages"][1]["content"])
    assert sent["data"]["customer"] == {}


def test_the_prompt_never_carries_pii_unless_allowed(server):
    make_writer(http_settings(server)).write(
        ContentRequest("chat", "C-1", message="hello", tickets=("parcel late",), decided_at=DECIDED)
    )
    body = json.dumps(server.requests[-1]["body"])
    for value in ("ada.quill@example.com", "+447700900123", "Quill", "1 Long Lane", "1990-04-02"):
        assert value not in body
    assert "Ada" in body and "parcel late" in body
    make_writer(http_settings(server, allow_pii_fields=["email"])).write(email_request())
    assert "ada.quill@example.com" in json.dumps(server.requests[-1]["body"])


def test_markup_in_a_name_never_reaches_prompt_or_output(server):
    writer = make_writer(http_settings(server), {"C-1": profile(name="<img src=x onerror=alert(1)>Ada")})
    content = writer.write(email_request())
    assert "<img" not in json.dumps(server.requests[-1]["body"]) and "<img" not in content.fields["html"]


def test_requests_missing_what_the_task_needs_are_refused():
    writer = make_writer(LLMSettings())
    for bad in (
        dict(task="email"),
        dict(task="product_description"),
        dict(task="chat", message=" "),
        dict(task="poem"),
    ):
        with pytest.raises(ValidationError):
            ContentRequest(customer_id="C-1", **bad)
    with pytest.raises(ValidationError):  # an email for a push action
        writer.write(ContentRequest("email", "C-1", action_id="ship_push"))
    with pytest.raises(ValidationError):  # no_action has no offer
        writer.write(ContentRequest("offer", "C-1", action_id="no_action"))
    with pytest.raises(NotFoundError):
        writer.write(ContentRequest("product_description", "C-1", product_id="P-NONE"))


def test_cache_hits_misses_on_change_expires_and_is_erased(server, tmp_path):
    now = [1000.0]
    cache = ContentCache(tmp_path / "c.sqlite", ttl_seconds=60, clock=lambda: now[0])
    people = {"C-1": profile()}
    writer = make_writer(http_settings(server), people, cache=cache)
    assert writer.write(email_request()).source == "model"
    assert writer.write(email_request()).source == "cache"
    assert len(server.requests) == 1
    assert writer.write(email_request(action="d10_email")).source == "model"  # another offer
    people["C-1"] = profile(name="Adele")  # another profile version
    assert writer.write(email_request()).source == "model"
    now[0] += 61
    assert writer.write(email_request()).source == "model"  # expired
    assert len(cache) == 3


def test_erasure_removes_a_persons_cached_content(tmp_path, server):
    ws = Workspace.from_settings(Settings(), tmp_path)
    cache = ContentCache(ws.resolve_path(ws.settings.llm.cache_path), 3600)
    writer = make_writer(http_settings(server), {"C-1": profile(), "C-2": profile("C-2")}, cache=cache)
    writer.write(email_request("C-1"))
    writer.write(email_request("C-2"))
    counts = erase_genai_cache(ws, Subject("C-1", {"C-1", "C-1-OLD"}))
    assert counts.keys == 1 and len(cache) == 1
    assert writer.write(email_request("C-1")).source == "model"
    assert writer.write(email_request("C-2")).source == "cache"


def test_past_the_budget_templates_answer_flagged(server):
    writer = make_writer(http_settings(server), budget=Budget(daily_tokens=1500))
    sources = [writer.write(email_request()) for _ in range(3)]
    assert sources[0].source == "model"
    assert sources[-1].source == "template" and "budget_exhausted" in sources[-1].flags
    assert writer.budget.tokens <= 1500


def test_every_generation_is_logged_without_pii(server, caplog):
    caplog.set_level(logging.INFO, logger="c360.genai")
    make_writer(http_settings(server)).write(email_request())
    line = next(r.getMessage() for r in caplog.records if r.name == "c360.genai")
    assert "model=gpt-4o-mini" in line and "prompt=content-v1" in line and "tokens_in=" in line
    assert "latency_ms=" in line
    for value in ("C-1", "Ada", "example.com", "Quill"):
        assert value not in line


def test_the_erasure_plan_runs_the_genai_step_after_the_serving_stores():
    from c360.erasure_plan import erasure_plan

    names = [s.name for s in erasure_plan().steps]
    assert names.index("genai_cache") < names.index("profiles")


def test_a_decision_time_at_the_end_of_the_calendar_is_a_validation_error():
    from datetime import UTC, datetime

    with pytest.raises(ValidationError):
        make_writer(LLMSettings()).write(
            ContentRequest(
                "offer", "C-1", action_id="d10_email", decided_at=datetime(9999, 12, 30, tzinfo=UTC)
            )
        )
