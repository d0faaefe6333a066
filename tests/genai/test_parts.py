"""Smaller parts: the budget's day and cost cap, the Entra ID token path of Azure OpenAI, the CLI."""

from __future__ import annotations

import io
import json
import sys
import types
from datetime import date

import pytest
from typer.testing import CliRunner

from c360.errors import NotFoundError
from c360.genai.budget import Budget
from c360.profile.store import open_profile_store
from c360.settings import LLMSettings
from c360.workspace import Workspace
from tests.genai.conftest import DECIDED, make_writer, profile

pytestmark = pytest.mark.unit


def test_budget_caps_tokens_and_cost_and_starts_again_each_day():
    day = [date(2026, 12, 1)]
    budget = Budget(1000, daily_cost=0.01, price_in_per_1k=0.01, price_out_per_1k=0.02, today=lambda: day[0])
    assert budget.reserve(400, 100)
    budget.settle((400, 100), (300, 50))
    assert budget.tokens == 350 and budget.cost == pytest.approx(0.004)
    assert not budget.reserve(100, 300)  # cost: 0.004 + 0.001 + 0.006 > 0.01
    assert budget.reserve(100, 100) and not budget.reserve(600, 0)
    day[0] = date(2026, 12, 2)
    assert budget.reserve(900, 0) and budget.snapshot()["day"] == "2026-12-02"


def test_azure_without_a_key_uses_an_entra_id_token(server, monkeypatch):
    calls = {}
    fake = types.ModuleType("azure.identity")

    class DefaultAzureCredential:
        pass

    def get_bearer_token_provider(credential, scope):
        calls["scope"] = scope
        return lambda: "entra-token"

    fake.DefaultAzureCredential = DefaultAzureCredential
    fake.get_bearer_token_provider = get_bearer_token_provider
    monkeypatch.setitem(sys.modules, "azure.identity", fake)
    monkeypatch.delenv("AZURE_OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("AZURE_OPENAI_AD_TOKEN", raising=False)
    settings = LLMSettings(
        provider="azure_openai",
        base_url=server.endpoint,
        api_version="2024-10-21",
        deployment="d",
        timeout_seconds=2,
    )
    from c360.genai.tasks import ContentRequest

    content = make_writer(settings).write(
        ContentRequest("offer", "C-1", action_id="d10_email", decided_at=DECIDED)
    )
    assert content.source == "model"
    assert calls["scope"] == "https://cognitiveservices.azure.com/.default"
    headers = {k.lower(): v for k, v in server.requests[-1]["headers"].items()}
    assert headers.get("authorization") == "Bearer entra-token" and "api-key" not in headers


def test_cli_writes_offline_content_for_a_workspace_customer(tmp_path):
    from c360.cli import app

    (tmp_path / "c360.yaml").write_text("workspace: genai-cli\n", encoding="utf-8")
    with open_profile_store(Workspace.load(tmp_path)) as store:
        store.upsert_many([profile("C-1")])
    result = CliRunner().invoke(
        app,
        [
            "genai",
            "write",
            "offer",
            "--customer",
            "C-1",
            "--action",
            "d25_email",
            "-w",
            str(tmp_path),
            "--json",
        ],
    )
    assert result.exit_code == 0, result.output
    doc = json.loads(result.output)
    assert doc["source"] == "template" and doc["offer"]["discount_percent"] == 25
    missing = CliRunner().invoke(
        app, ["genai", "write", "offer", "--customer", "C-X", "--action", "d25_email", "-w", str(tmp_path)]
    )
    assert isinstance(missing.exception, NotFoundError)  # run_cli maps it to exit code 3


def test_benchmark_runs_small_and_its_burst_fails_nothing():
    from rich.console import Console

    from c360.bench.genai import run

    figures = run(Console(file=io.StringIO()), repeats=50, ttft_requests=5, burst=40)
    assert figures["burst_sources"] == {"model": 40} and figures["burst_429"] == 0
    assert figures["burst_failed"] == 0 and 0 < figures["burst_tokens"] <= figures["burst_budget"]
    assert figures["offline_p99_ms"] < 50 and figures["cache_hit_p99_ms"] < 50  # loose: shared cores


def test_offer_copy_for_a_decision_is_optional_content():
    from c360.genai.service import offer_copy_for_decision

    writer = make_writer(LLMSettings(), {"C-1": profile(), "C-NO": profile("C-NO", email=False)})
    doc = offer_copy_for_decision(writer, "C-1", "d25_email", DECIDED)
    assert doc is not None and doc["offer"]["discount_percent"] == 25
    assert offer_copy_for_decision(writer, "C-1", "no_action") is None
    assert offer_copy_for_decision(writer, "C-NO", "d25_email") is None


def test_chat_reads_open_ticket_texts_from_the_lake(tmp_path, server):
    from datetime import UTC, datetime

    import pyarrow as pa

    from c360.facts.schemas import INTERACTIONS, SCHEMAS
    from c360.facts.store import partition_file
    from c360.genai.service import lake_open_tickets
    from c360.genai.tasks import ContentRequest
    from c360.profile.staging import partition_of
    from tests.genai.conftest import http_settings

    (tmp_path / "c360.yaml").write_text("workspace: genai-tickets\n", encoding="utf-8")
    ws = Workspace.load(tmp_path)
    ts = [datetime(2026, 11, d, tzinfo=UTC) for d in (1, 2, 3, 4)]
    rows = [
        {
            "customer_id": "C-1",
            "ts": ts[0],
            "type": "support_ticket",
            "status": "open",
            "text": "Lamp flickers",
        },
        {
            "customer_id": "C-1",
            "ts": ts[1],
            "type": "support_ticket",
            "status": "closed",
            "text": "Old issue",
        },
        {"customer_id": "C-1", "ts": ts[2], "type": "social_mention", "text": "Love the shop"},
        {
            "customer_id": "C-1",
            "ts": ts[3],
            "type": "support_ticket",
            "status": "open",
            "text": "Parcel late",
        },
        {"customer_id": "C-2", "ts": ts[3], "type": "support_ticket", "status": "open", "text": "Not yours"},
    ]
    parts = partition_of([r["customer_id"] for r in rows], ws.settings.facts.partitions)
    for part in set(parts.tolist()):
        mine = [r for r, p in zip(rows, parts, strict=True) if p == part]
        ws.lake.write_table(
            pa.Table.from_pylist(mine, schema=SCHEMAS[INTERACTIONS]),
            partition_file(ws.lake, INTERACTIONS, part),
        )
    tickets = lake_open_tickets(ws)
    assert tickets("C-1") == ("Parcel late", "Lamp flickers") and tickets("C-9") == ()
    writer = make_writer(http_settings(server), {"C-1": profile()}, open_tickets=tickets)
    writer.write(ContentRequest("chat", "C-1", message="Any news?"))
    sent = server.requests[-1]["body"]["messages"][1]["content"]
    assert "Parcel late" in sent and "Old issue" not in sent and "Not yours" not in sent
    generic = make_writer(
        http_settings(server), {"C-1": profile(personalization=False)}, open_tickets=tickets
    )
    generic.write(ContentRequest("chat", "C-1", message="Any news?"))
    assert "Parcel late" not in server.requests[-1]["body"]["messages"][1]["content"]
