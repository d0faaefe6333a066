"""`NextBestActionPolicy` on the trained workspace's bandit and decision log: consent decides the channels,
every served decision is in the log with its probability, a reward is logged once, and the fallbacks are
the default action, flagged."""

from __future__ import annotations

import time

import pytest

from c360.inference.nba import NextBestActionPolicy
from c360.inference.parts import NO_CONSENT, NOT_TRAINED, TIMEOUT, UNKNOWN_CUSTOMER
from c360.nba.catalog import NO_ACTION
from c360.nba.decisions import DecisionLog, DuplicateRewardError, UnknownDecisionError
from tests.inference.workspace import profile_of

pytestmark = [pytest.mark.feast, pytest.mark.filterwarnings("ignore::DeprecationWarning")]


@pytest.fixture
def policy(trained):
    found = NextBestActionPolicy.for_workspace(trained.ws)
    yield found
    found.close()


def test_a_decision_uses_consented_channels_only_and_is_logged(policy):
    seen = set()
    for k in range(2, 40, 2):  # even ids: marketing consent on email and web only
        customer = f"c{k:04d}"
        answer = policy.decide(customer, profile_of(customer), {"device": "mobile"})
        value = answer.value
        assert answer.fallback is None and answer.version == policy.version
        logged = policy.log.get(value["decisionId"])
        assert logged.customer_id == customer and logged.action_id == value["action"]
        assert logged.probability == pytest.approx(value["propensity"]) and 0 < value["propensity"] <= 1
        assert logged.context["dev"] == "mobile" and logged.context["seg"] in {"champions", "at_risk"}
        seen.add(value["channel"])
    assert seen <= {"email", "web", None} and seen & {"email", "web"}


def test_without_marketing_consent_the_logged_decision_is_no_action(policy):
    answer = policy.decide("c0001", profile_of("c0001"), {})
    assert answer.fallback == NO_CONSENT and answer.value["action"] == NO_ACTION
    logged = policy.log.get(answer.value["decisionId"])
    assert logged.probability == 1.0 and logged.reason == "no_eligible_action"


def test_a_reward_is_logged_once_and_unknown_decisions_are_refused(trained, policy):
    decided = policy.decide("c0004", profile_of("c0004"), {}).value
    done = policy.reward(decided["decisionId"], conversion=True)
    assert done["reward"] == 1.0
    with pytest.raises(DuplicateRewardError):
        policy.reward(decided["decisionId"], conversion=True)
    with pytest.raises(UnknownDecisionError):
        policy.reward("no-such-decision")
    policy.log.flush()
    rewards = {r.decision_id: r for r in DecisionLog(trained.ws.lake).rewards()}  # as a new reader sees it
    assert rewards[decided["decisionId"]].conversion and rewards[decided["decisionId"]].customer_id == "c0004"


def test_a_decision_past_its_deadline_is_neither_served_nor_logged(policy):
    before = sum(1 for _ in policy.log.decisions())
    late = policy.decide("c0006", profile_of("c0006"), {}, deadline=time.time() - 0.001)
    assert late.fallback == TIMEOUT and late.value["decisionId"] is None and late.value["action"] == NO_ACTION
    assert sum(1 for _ in policy.log.decisions()) == before


def test_without_a_bandit_or_a_customer_the_default_action_is_flagged(trained, policy):
    unknown = policy.decide(None, None, {})
    assert unknown.fallback == UNKNOWN_CUSTOMER and unknown.value["decisionId"] is None
    untrained = NextBestActionPolicy(None, DecisionLog(trained.ws.lake), None)
    answer = untrained.decide("c0002", profile_of("c0002"), {})
    assert answer.fallback == NOT_TRAINED and answer.value["action"] == NO_ACTION and answer.version is None
    with pytest.raises(UnknownDecisionError):
        untrained.reward("anything")
