"""An erasure reaches the decision log: through the real erasure plan, one of two customers is forgotten."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from c360.erasure_plan import erasure_plan
from c360.errors import NotFoundError
from c360.nba.bandit import Bandit
from c360.nba.catalog import load_catalog
from c360.nba.decisions import DecisionLog
from c360.nba.engine import NextBestAction
from c360.privacy import erase as orchestrator
from c360.privacy.subject import Subject
from c360.workspace import Workspace, init_workspace

pytestmark = pytest.mark.unit
T0 = datetime(2026, 12, 1, 9, tzinfo=UTC)
GONE, KEPT, MERGED = "cus_zq4711", "cus_kx0815", "cus_zq0042"  # MERGED: an id merged into GONE


def _find(ws: Workspace, customer_id: str) -> Subject:
    """The identity graph's answer for these two people (the real one needs a resolved graph on Ray)."""
    people = {GONE: Subject(GONE, {GONE, MERGED}), KEPT: Subject(KEPT, {KEPT})}
    if customer_id not in people:
        raise NotFoundError(f"no customer {customer_id!r} in the identity graph")
    return people[customer_id]


def test_erasure_plan_removes_one_customer_from_the_decision_log(tmp_path: Path) -> None:
    init_workspace(tmp_path / "ws")
    ws = Workspace.load(tmp_path / "ws")
    catalog = load_catalog()
    engine = NextBestAction(catalog, Bandit(seed=0), DecisionLog(ws.lake, now=T0))
    made: dict[str, list[str]] = {GONE: [], KEPT: [], MERGED: []}
    for i in range(60):
        who = (GONE, KEPT, MERGED)[i % 3]
        now = T0 + timedelta(hours=i)  # three days of parts
        d = engine.decide(who, {"seg": "vip", "dev": "mobile"}, {"email", "push"}, now=now)
        engine.reward(d.decision_id, conversion=i % 2 == 0, ts=now + timedelta(minutes=3))
        made[who].append(d.decision_id)
    checkpoint = Path(ws.lake.path("models", "nba", "nba.vw"))
    engine.checkpoint(checkpoint)
    engine.log.close()
    kept_before = [d for d in engine.log.decisions() if d.customer_id == KEPT]

    assert "decisions" in [s.name for s in erasure_plan().steps]
    plan = dataclasses.replace(erasure_plan(), find_subject=_find)
    report = orchestrator.erase_customers(ws, plan, [GONE], reason="test")
    assert report.stores["decisions"].rows == 80  # 40 decisions and their 40 rewards (GONE and MERGED)

    files = list(Path(ws.lake.path("decisions")).rglob("*"))
    text = "".join(f.read_text() for f in files if f.is_file())
    assert GONE not in text and MERGED not in text
    assert not any(i in text for i in made[GONE] + made[MERGED])
    log = DecisionLog(ws.lake, now=T0)
    assert [d for d in log.decisions() if d.customer_id == KEPT] == kept_before
    assert {d.customer_id for d in log.decisions()} == {KEPT}
    assert [r.seq for r in log.rewards()] == list(range(60))  # tombstones keep the sequence
    # the checkpoint holds hashed weights of context features, never a customer row
    model_bytes = b"".join(f.read_bytes() for f in checkpoint.parent.iterdir())
    assert not any(c.encode() in model_bytes for c in (GONE, KEPT, MERGED))
    restored = NextBestAction.restore(catalog, checkpoint, log)
    assert restored.bandit.rewards_learned_ == 60
