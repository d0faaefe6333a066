"""The decision log through the workspace's lake: parts per flush, on a local folder and on `abfs://`."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from c360.io.lake import Lake
from c360.nba.bandit import Bandit
from c360.nba.catalog import load_catalog
from c360.nba.decisions import DecisionLog, UnknownDecisionError
from c360.nba.engine import NextBestAction

T0 = datetime(2026, 12, 1, 23, 50, tzinfo=UTC)  # ten minutes before midnight: two days of parts
ALL = {"email", "sms", "push", "web"}


def _traffic(engine: NextBestAction, customers: list[str], n: int, start: int = 0) -> list[str]:
    made = []
    for i in range(start, start + n):
        now = T0 + timedelta(minutes=i)
        d = engine.decide(customers[i % len(customers)], {"seg": "vip", "dev": "mobile"}, ALL, now=now)
        engine.reward(d.decision_id, conversion=i % 3 == 0, ts=now + timedelta(minutes=5))
        made.append(d.decision_id)
    return made


@pytest.mark.unit
def test_writes_are_buffered_and_flushed_as_parts(tmp_path):
    catalog = load_catalog()
    log = DecisionLog(Lake(str(tmp_path)), batch=8, now=T0)
    engine = NextBestAction(catalog, Bandit(seed=0), log)
    _traffic(engine, ["C1"], 3)  # 6 lines buffered: below the batch, nothing written yet
    assert not list(tmp_path.rglob("*.jsonl"))
    assert log.get(engine.log.rewards()[0].decision_id)  # a read flushes first
    assert len(list(tmp_path.rglob("part-*.jsonl"))) == 2  # decisions and rewards of one day
    _traffic(engine, ["C1"], 30, start=3)
    log.close()
    parts = sorted(p.relative_to(tmp_path / "decisions").as_posix() for p in tmp_path.rglob("*.jsonl"))
    assert {p.rsplit("/", 1)[0] for p in parts} == {
        "2026-12-01",
        "2026-12-02",
        "rewards/2026-12-01",
        "rewards/2026-12-02",
    }
    assert not list(tmp_path.rglob("*.tmp"))
    reopened = DecisionLog(Lake(str(tmp_path)), now=T0)
    assert [d.decision_id for d in reopened.decisions()] == [d.decision_id for d in log.decisions()]
    assert [r.seq for r in reopened.rewards()] == list(range(33))


@pytest.mark.azure
def test_decisions_rewards_and_erase_on_abfs(azurite_lake, tmp_path):
    """The same log on ADLS (azurite): decide, reward, reopen, restore, erase one of two customers."""
    catalog = load_catalog()
    lake = Lake(azurite_lake.uri, azurite_lake.storage_options)
    log = DecisionLog(lake, batch=16, now=T0)
    engine = NextBestAction(catalog, Bandit(seed=0), log)
    made = _traffic(engine, ["C1", "C2"], 24)
    engine.checkpoint(tmp_path / "nba.vw")
    made += _traffic(engine, ["C1", "C2"], 16, start=24)
    engine.log.close()
    parts = lake.glob("decisions/**/*.jsonl")
    assert parts and all(p.startswith(lake.path("decisions")) for p in parts)

    reopened = DecisionLog(lake, now=T0)
    assert [d.decision_id for d in reopened.decisions()] == made
    assert [r.seq for r in reopened.rewards()] == list(range(40))
    restored = NextBestAction.restore(catalog, tmp_path / "nba.vw", reopened)  # relearns the last 16
    assert restored.bandit.rewards_learned_ == 40
    with pytest.raises(Exception, match="already rewarded"):
        reopened.add_reward(made[0], T0 + timedelta(hours=1), False, True, 0.0, 1.0)

    erased = reopened.erase({"C1"})
    assert (erased.decisions, erased.rewards) == (20, 20)
    assert erased.counts.files_rewritten >= 1
    text = "".join(lake.read_text(p) for p in lake.glob("decisions/**/*.jsonl"))
    assert '"C1"' not in text and made[0] not in text
    assert text.count('"C2"') == 40  # 20 decisions and 20 rewards of the other customer remain
    with pytest.raises(UnknownDecisionError):
        reopened.get(made[0])
    again = DecisionLog(lake, now=T0)
    assert {d.customer_id for d in again.decisions()} == {"C2"}
    assert [r.seq for r in again.rewards()] == list(range(40))  # tombstones keep the sequence
    assert again.erase({"C1"}).counts.files_rewritten == 0  # idempotent


@pytest.mark.unit
def test_a_failed_flush_loses_nothing_and_refuses_the_write_that_triggered_it(tmp_path):
    catalog = load_catalog()
    log = DecisionLog(Lake(str(tmp_path)), batch=1, now=T0)
    engine = NextBestAction(catalog, Bandit(seed=0), log)
    blocker = tmp_path / "decisions" / "2026-12-01"  # a file where the day's folder must go
    blocker.parent.mkdir(parents=True)
    blocker.write_text("not a folder")
    first = engine.decide("C1", {"seg": "vip"}, ALL, now=T0)  # buffered: nothing is due yet
    with pytest.raises(OSError):
        engine.decide("C2", {"seg": "vip"}, ALL, now=T0, decision_id="second")  # flushing `first` fails
    with pytest.raises(UnknownDecisionError):
        log.get("second")  # the decision that met the failure was not logged (nor served)
    blocker.unlink()
    log.flush()
    assert [d.decision_id for d in DecisionLog(Lake(str(tmp_path)), now=T0).decisions()] == [
        first.decision_id
    ]
    engine.decide("C2", {"seg": "vip"}, ALL, now=T0, decision_id="second")
    assert [d.decision_id for d in log.decisions()] == [first.decision_id, "second"]


@pytest.mark.unit
def test_old_lines_are_flushed_at_the_next_write(tmp_path):
    log = DecisionLog(Lake(str(tmp_path)), batch=1_000, flush_seconds=0.0, now=T0)
    engine = NextBestAction(load_catalog(), Bandit(seed=0), log)
    engine.decide("C1", {"seg": "vip"}, ALL, now=T0)
    assert not list(tmp_path.rglob("*.jsonl"))
    engine.decide("C2", {"seg": "vip"}, ALL, now=T0)  # the first line is due: written before this one
    (part,) = tmp_path.rglob("*.jsonl")
    assert '"C1"' in part.read_text() and '"C2"' not in part.read_text()
