"""The decision log, rewards, replay, checkpoint / restore and erasure, through `NextBestAction`."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from c360.io.lake import Lake
from c360.nba.bandit import Bandit, BanditError
from c360.nba.catalog import NO_ACTION, load_catalog
from c360.nba.decisions import (
    DecisionLog,
    DuplicateRewardError,
    ReplayMismatchError,
    RewardWindowError,
    UnknownDecisionError,
)
from c360.nba.engine import NO_ELIGIBLE_ACTION, NextBestAction
from c360.nba.ope import evaluate_checkpoint, greedy_policy

pytestmark = pytest.mark.unit
T0 = datetime(2026, 12, 1, 9, tzinfo=UTC)
ALL = {"email", "sms", "push", "web"}


@pytest.fixture
def catalog():
    return load_catalog()


def _log(tmp_path):
    return DecisionLog(Lake(str(tmp_path)), attribution_days=7, now=T0)


def _engine(tmp_path, catalog, seed=0):
    return NextBestAction(catalog, Bandit(seed=seed), _log(tmp_path))


def _context(i):
    return {
        "seg": ["loyal", "vip", "prospect"][i % 3],
        "dev": ["mobile", "desktop"][i % 2],
        "eng": (i % 7) / 7,
    }


def _traffic(engine, n, start=0, learn=True):
    """n decisions, each rewarded: conversion when the action is a push on mobile or an email at a desktop."""
    out = []
    for i in range(start, start + n):
        now = T0 + timedelta(minutes=i)
        d = engine.decide(f"C{i % 40:03d}", _context(i), ALL, now=now)
        action = engine.catalog.by_id()[d.action_id]
        win = (action.channel == "push") == (_context(i)["dev"] == "mobile") and action.id != NO_ACTION
        engine.reward(d.decision_id, conversion=win, ts=now + timedelta(hours=1), learn=learn)
        out.append(d)
    return out


def test_log_round_trip_and_replay(tmp_path, catalog):
    engine = _engine(tmp_path, catalog)
    d = engine.decide("C001", _context(1), ALL, now=T0)
    engine.replay(d)  # model unchanged since: the same pmf again, and the draw picks the logged action
    engine.log.close()
    reopened = _log(tmp_path)
    (back,) = list(reopened.decisions())
    assert back == d
    assert back.actions[-1] == NO_ACTION and back.action_id in back.actions
    assert back.probability == pytest.approx(back.pmf[back.action_index]) and 0 < back.probability <= 1
    assert sum(back.pmf) == pytest.approx(1.0)
    files = list((tmp_path / "decisions").rglob("*.jsonl"))
    assert [f.parent.name for f in files] == ["2026-12-01"] and files[0].name.startswith("part-")
    record = json.loads(files[0].read_text())
    assert {"decision_id", "ts", "customer_id", "context", "actions", "probability", "model_version"} <= set(
        record
    )
    other = (back.action_index + 1) % len(back.actions)
    moved = back.__class__(**{**vars(back), "action_index": other, "action_id": back.actions[other]})
    with pytest.raises(ReplayMismatchError, match="draw"):  # the logged draw does not pick that action
        engine.replay(moved, check_model=False)
    pmf = [0.5, 0.5] + [0.0] * (len(back.pmf) - 2)
    other_model = back.__class__(
        **{
            **vars(back),
            "pmf": pmf,
            "action_index": 0,
            "action_id": back.actions[0],
            "probability": 0.5,
            "draw": 0.1,
        }
    )
    with pytest.raises(ReplayMismatchError, match="another pmf"):  # same version, the model disagrees
        engine.replay(other_model)


def test_no_consent_gets_no_action_logged_with_probability_one(tmp_path, catalog):
    engine = _engine(tmp_path, catalog)
    d = engine.decide("C002", _context(2), set(), now=T0)
    assert (d.action_id, d.probability, d.reason, d.actions) == (
        NO_ACTION,
        1.0,
        NO_ELIGIBLE_ACTION,
        [NO_ACTION],
    )


def test_reward_errors(tmp_path, catalog):
    engine = _engine(tmp_path, catalog)
    d = engine.decide("C003", _context(3), ALL, now=T0)
    learned = engine.bandit.rewards_learned_
    with pytest.raises(UnknownDecisionError):
        engine.reward("no-such-decision", conversion=True, ts=T0)
    with pytest.raises(RewardWindowError, match="attribution window"):
        engine.reward(d.decision_id, conversion=True, ts=T0 + timedelta(days=7, seconds=1))
    with pytest.raises(RewardWindowError, match="before"):
        engine.reward(d.decision_id, conversion=True, ts=T0 - timedelta(seconds=1))
    assert engine.bandit.rewards_learned_ == learned  # nothing learnt from a refused reward
    engine.reward(d.decision_id, conversion=True, ts=T0 + timedelta(days=6))
    with pytest.raises(DuplicateRewardError):
        engine.reward(d.decision_id, conversion=False, ts=T0 + timedelta(days=6))
    assert engine.bandit.rewards_learned_ == learned + 1
    assert [r.reward for r in engine.log.rewards()] == [1.0]
    # a reopened log still knows the decision was rewarded
    engine.log.close()
    again = NextBestAction(catalog, engine.bandit, _log(tmp_path))
    with pytest.raises(DuplicateRewardError):
        again.reward(d.decision_id, conversion=True, ts=T0 + timedelta(days=1))


def test_checkpoint_reload_and_restart_lose_no_reward(tmp_path, catalog):
    engine = _engine(tmp_path, catalog)
    _traffic(engine, 300)
    path = tmp_path / "model store" / "nba.vw"  # a space in the path, as a lake path may have
    version = engine.checkpoint(path)
    assert engine.bandit.version == f"{version}+0"
    probe = [(_context(i), catalog.actions) for i in range(6)]
    reloaded = Bandit.load(path)
    for ctx, actions in probe:
        assert reloaded.pmf(ctx, actions) == pytest.approx(engine.bandit.pmf(ctx, actions), abs=1e-6)
    _traffic(engine, 200, start=300)  # learnt after the checkpoint, then the process "dies"
    live = [engine.bandit.pmf(ctx, actions) for ctx, actions in probe]
    stale = [reloaded.pmf(ctx, actions) for ctx, actions in probe]
    assert not np.allclose(live, stale, atol=1e-6)  # the 200 rewards changed the model
    engine.log.close()
    restored = NextBestAction.restore(catalog, path, _log(tmp_path))
    assert restored.bandit.rewards_learned_ == 500
    back = [restored.bandit.pmf(ctx, actions) for ctx, actions in probe]
    assert np.allclose(back, live, atol=1e-6)


def test_checkpoint_files_and_bad_checkpoints(tmp_path, catalog):
    with pytest.raises(BanditError):
        Bandit.load(tmp_path / "missing.vw")
    engine = _engine(tmp_path, catalog)
    path = tmp_path / "m" / "nba.vw"
    _traffic(engine, 20)
    engine.checkpoint(path)
    # a crash after the next model file is written but before the metadata commit: the old pair stands
    (path.parent / "nba.vw.nba-deadbeef-999").write_bytes(b"half a model")
    assert Bandit.load(path).rewards_learned_ == 20
    _traffic(engine, 5, start=20)
    second = engine.checkpoint(path)
    names = sorted(f.name for f in path.parent.iterdir())
    assert names == sorted(["nba.vw.meta.json", f"nba.vw.{second}", "nba.vw.nba-deadbeef-999"])
    assert Bandit.load(path).rewards_learned_ == 25
    (path.parent / f"nba.vw.{second}").unlink()
    with pytest.raises(BanditError, match="missing"):
        Bandit.load(path)


def test_erasure_removes_a_customer_and_keeps_the_others(tmp_path, catalog):
    engine = _engine(tmp_path, catalog)
    made = _traffic(engine, 120)
    path = tmp_path / "nba.vw"
    engine.checkpoint(path)
    before = list(engine.log.decisions())
    gone = {"C005", "C007"}
    n_gone = sum(d.customer_id in gone for d in before)
    assert n_gone == 6
    removed = engine.log.erase(gone)
    assert (removed.decisions, removed.rewards) == (n_gone, n_gone)
    after = list(engine.log.decisions())
    assert len(after) == len(before) - n_gone
    assert not {d.customer_id for d in after} & gone
    assert [d for d in before if d.customer_id not in gone] == after
    for r in engine.log.rewards():
        assert r.customer_id not in gone
    raw = "".join(p.read_text() for p in (tmp_path / "decisions").rglob("*.jsonl"))
    assert "C005" not in raw and "C007" not in raw
    erased_id = next(d.decision_id for d in made if d.customer_id == "C005")
    assert erased_id not in raw
    with pytest.raises(UnknownDecisionError):
        engine.log.get(erased_id)
    # the reward sequence has no gaps, so a restore after erasure still relearns from the right place
    assert [r.seq for r in engine.log.rewards()] == list(range(120))
    _traffic(engine, 10, start=120)
    live = engine.bandit.pmf(_context(1), catalog.actions)
    engine.log.close()
    restored = NextBestAction.restore(catalog, path, _log(tmp_path))
    assert restored.bandit.rewards_learned_ == 130
    assert np.allclose(restored.bandit.pmf(_context(1), catalog.actions), live, atol=1e-6)


def test_evaluate_checkpoint_on_the_decision_log(tmp_path, catalog):
    """`c360 nba evaluate`'s computation: a candidate checkpoint's greedy policy on a production log."""
    production = _engine(tmp_path / "prod", catalog, seed=3)
    candidate = _engine(tmp_path / "cand", catalog, seed=4)
    _traffic(candidate, 600)  # the candidate learnt elsewhere
    path = tmp_path / "candidate.vw"
    candidate.checkpoint(path)
    logged = _traffic(production, 1_500, learn=False)  # production explores (uniformly: it never learns)
    production.log.flush()
    estimates = evaluate_checkpoint(production.log, catalog, path, n_boot=200)
    policy = greedy_policy(candidate.bandit)
    by_id = catalog.by_id()
    truth = 0.0
    for i, d in enumerate(logged):
        pick = by_id[d.actions[int(np.argmax(policy(d.context, candidate.actions_of(d.actions))))]]
        truth += (pick.channel == "push") == (_context(i)["dev"] == "mobile") and pick.id != NO_ACTION
    truth /= len(logged)
    assert truth > 0.9  # the candidate learnt the rule
    for e in estimates:
        assert e.n == 1_500
        assert e.low <= truth <= e.high, (e, truth)
