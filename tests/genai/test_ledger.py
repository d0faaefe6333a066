"""The workspace's shared budget and pacing (c360.genai.ledger): two processes on one ledger file spend one
budget, a new UTC day starts from zero, two writers (as two replicas would be) stay within the backend's
rate limit together; and the deadline of one content request."""

from __future__ import annotations

import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import date

import pytest

from c360.genai.ledger import SharedBudget, SharedPacer
from c360.genai.resilience import DeadlineExceeded, Pacer
from c360.genai.standin import StandInServer
from c360.genai.tasks import ContentRequest
from tests.genai.conftest import DECIDED, http_settings, make_writer, profile

pytestmark = pytest.mark.unit

RESERVE_200 = """
import sys
from c360.genai.ledger import SharedBudget
budget = SharedBudget(sys.argv[1], daily_tokens=1000)
print(sum(budget.reserve(5, 5) for _ in range(200)))
"""


def test_two_processes_on_one_ledger_never_spend_more_than_the_day(tmp_path):
    ledger = tmp_path / "ledger.sqlite"
    runs = [
        subprocess.Popen([sys.executable, "-c", RESERVE_200, str(ledger)], stdout=subprocess.PIPE, text=True)
        for _ in range(2)
    ]
    taken = [int(run.communicate(timeout=60)[0]) for run in runs]
    assert all(run.returncode == 0 for run in runs)
    assert sum(taken) == 100  # 1,000 tokens / 10 a reservation, whoever won them
    snap = SharedBudget(ledger, daily_tokens=1000).snapshot()
    assert snap["tokens"] == 1000 and snap["refused"] == 300


def test_a_new_utc_day_starts_from_zero_and_settling_corrects_the_estimate(tmp_path):
    day = [date(2026, 12, 6)]
    budget = SharedBudget(
        tmp_path / "l.sqlite", 1000, daily_cost=0.01, price_in_per_1k=0.01, today=lambda: day[0]
    )
    other = SharedBudget(
        tmp_path / "l.sqlite", 1000, daily_cost=0.01, price_in_per_1k=0.01, today=lambda: day[0]
    )
    assert budget.reserve(400, 400) and not other.reserve(100, 150)
    budget.settle((400, 400), (300, 100))  # the call used less than its estimate
    assert other.snapshot()["tokens"] == 400 and other.reserve(100, 150)
    assert not budget.reserve(600, 0)  # the cost cap: 0.01 a day at 0.01 per 1k input tokens
    day[0] = date(2026, 12, 7)
    assert other.snapshot()["tokens"] == 0 and budget.reserve(900, 100)
    assert budget.snapshot() == {
        "day": "2026-12-07",
        "tokens": 1000,
        "daily_tokens": 1000,
        "cost": 0.009,
        "refused": 0,
    }


def test_the_shared_pacer_keeps_two_pacers_to_one_rate_and_holds_both_on_a_429(tmp_path):
    path = tmp_path / "l.sqlite"
    a, b = SharedPacer(path, 100.0, burst=5), SharedPacer(path, 100.0, burst=5)
    started = time.perf_counter()
    with ThreadPoolExecutor(4) as pool:
        list(pool.map(lambda i: (a if i % 2 else b).wait(), range(45)))
    assert time.perf_counter() - started >= 0.38  # 5 at once, then 40 at 100/s between both
    a.rate_limited(0.3)
    assert b.rate == 50.0
    started = time.perf_counter()
    b.wait()
    assert time.perf_counter() - started >= 0.29
    for _ in range(10):
        b.succeeded()
    assert a.rate == 60.0
    a.rate_limited(5.0)
    started = time.perf_counter()
    with pytest.raises(DeadlineExceeded):
        b.wait(deadline=time.monotonic() + 1.0)
    assert time.perf_counter() - started < 0.5


def test_without_returning_a_slot_is_taken_in_an_immediate_transaction(tmp_path, monkeypatch):
    from c360.genai import ledger

    monkeypatch.setattr(ledger, "RETURNING", False)  # SQLite before 3.35
    pacer = SharedPacer(tmp_path / "l.sqlite", 20.0)
    started = time.perf_counter()
    for _ in range(5):
        pacer.wait()
    assert 0.19 <= time.perf_counter() - started < 1.0


def test_a_workspace_keeps_its_ledger_under_llm_ledger_path(tmp_path):
    from c360.genai.service import shared_budget, shared_pacer
    from c360.workspace import Workspace

    (tmp_path / "c360.yaml").write_text(
        "workspace: genai-ledger\nllm: {daily_token_budget: 500, ledger_path: state/ledger.sqlite}\n",
        encoding="utf-8",
    )
    ws = Workspace.load(tmp_path)
    budget, pacer = shared_budget(ws), shared_pacer(ws)
    assert budget.reserve(250, 250) and not budget.reserve(1, 0)
    pacer.wait()
    assert (tmp_path / "state" / "ledger.sqlite").is_file()
    again = shared_budget(ws)
    assert again.snapshot()["tokens"] == 500
    for part in (budget, pacer, again):
        part.close()


def test_the_in_memory_pacer_does_not_wait_past_a_deadline():
    pacer = Pacer(10.0)
    pacer.rate_limited(5.0)
    started = time.perf_counter()
    with pytest.raises(DeadlineExceeded):
        pacer.wait(deadline=time.monotonic() + 1.0)
    assert time.perf_counter() - started < 0.5


def offer_for(cid: str) -> ContentRequest:
    return ContentRequest("offer", cid, action_id="d10_email", decided_at=DECIDED)


def test_two_writers_on_one_ledger_burst_within_the_backends_rate_limit(tmp_path):
    """Each writer alone would be allowed the whole rate: only the shared pacer keeps the pair under it."""
    path = tmp_path / "ledger.sqlite"
    people = {f"C-{i}": profile(f"C-{i}") for i in range(80)}
    with StandInServer(rate_per_second=20) as limited:
        settings = http_settings(limited, requests_per_second=16, max_retries=0)
        writers = [
            make_writer(
                settings,
                people,
                pacer=SharedPacer(path, 16, burst=2),
                budget=SharedBudget(path, settings.daily_token_budget),
            )
            for _ in range(2)
        ]
        started = time.perf_counter()
        with ThreadPoolExecutor(8) as pool:
            contents = list(pool.map(lambda i: writers[i % 2].write(offer_for(f"C-{i}")), range(80)))
        seconds = time.perf_counter() - started
        for writer in writers:
            writer.close()
    assert [c.source for c in contents] == ["model"] * 80, {f for c in contents for f in c.flags}
    assert limited.statuses.get(429, 0) == 0
    assert seconds >= 4.0  # 80 calls at 16/s between both (32/s apart: past the server's 20/s)
    spent = sum(c.tokens_in + c.tokens_out for c in contents)
    assert SharedBudget(path, 1).snapshot()["tokens"] == spent


def test_a_failing_backend_answers_from_the_template_by_the_deadline(server):
    server.script(*["500"] * 50)
    settings = http_settings(server, request_deadline_seconds=1.0, max_retries=10)
    writer = make_writer(settings)
    started = time.perf_counter()
    content = writer.write(offer_for("C-1"))
    seconds = time.perf_counter() - started
    assert content.source == "template" and "deadline" in content.flags
    assert seconds < 1.0 + 0.3
    assert 1 < server.statuses[500] < 11  # retried, but not as often as max_retries would allow


def test_a_retry_after_past_the_deadline_is_not_waited_for(server):
    sleeps: list[float] = []
    server.script(("429", 1.5))
    settings = http_settings(server, request_deadline_seconds=1.0, max_retry_wait_seconds=5.0)
    started = time.perf_counter()
    content = make_writer(settings, sleep=sleeps.append).write(offer_for("C-1"))
    assert content.source == "template" and content.flags == ["deadline"]
    assert sleeps == [] and time.perf_counter() - started < 0.5
    assert server.statuses == {429: 1}


def test_a_stalled_call_is_cut_at_the_deadline_not_at_its_timeout(server):
    server.script("stall")
    settings = http_settings(server, timeout_seconds=5.0, request_deadline_seconds=0.8)
    started = time.perf_counter()
    events = list(
        make_writer(settings).stream_chat(
            ContentRequest("chat", "C-1", message="Where is my parcel?", decided_at=DECIDED)
        )
    )
    assert time.perf_counter() - started < 0.8 + 0.5
    assert events[-1].kind == "done" and events[-1].content.flags == ["deadline"]


def test_an_unavailable_ledger_spends_nothing_and_paces_no_call(tmp_path):
    from c360.genai.resilience import BackendError

    budget, pacer = SharedBudget(tmp_path / "l.sqlite", 1000), SharedPacer(tmp_path / "l.sqlite", 10.0)
    budget.close()
    pacer.close()
    assert not budget.reserve(1, 1) and budget.refused == 1
    budget.settle((1, 1), (0, 0))  # logged, not raised
    with pytest.raises(BackendError):
        pacer.wait()
    pacer.rate_limited(1.0)
    pacer.succeeded()
