"""`NextBestAction`: eligibility, the bandit and the decision log together, as serving will call them.

`decide` filters the catalogue with the customer's consents and contact history, lets the bandit choose
among what is left, and logs the decision before returning it (a decision that is not logged is never
served). `reward` checks the reward against the log (unknown, already rewarded, outside the attribution
window: a named error), appends it to the log and only then learns it, so the log is the source of truth.
`checkpoint` saves the model atomically; `restore` loads the last checkpoint and relearns the rewards the log
holds beyond it, so a restart loses no learned reward.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from pathlib import Path

from c360.nba.bandit import Bandit, BanditError, Features, sample_index
from c360.nba.catalog import NO_ACTION, Action, Catalog, Contact, eligible_actions
from c360.nba.decisions import Decision, DecisionLog, ReplayMismatchError, Reward

NO_ELIGIBLE_ACTION = "no_eligible_action"


class NextBestAction:
    def __init__(self, catalog: Catalog, bandit: Bandit, log: DecisionLog) -> None:
        self.catalog = catalog
        self.bandit = bandit
        self.log = log
        self._actions = catalog.by_id()

    def actions_of(self, ids: Sequence[str]) -> list[Action]:
        try:
            return [self._actions[i] for i in ids]
        except KeyError as exc:
            raise BanditError(f"logged action {exc.args[0]!r} is not in the catalogue") from None

    def decide(
        self,
        customer_id: str,
        context: Features,
        channels: Iterable[str],
        history: Sequence[Contact] = (),
        now: datetime | None = None,
        decision_id: str | None = None,
    ) -> Decision:
        now = now or datetime.now(UTC)
        eligible = eligible_actions(self.catalog, channels, history, now).actions
        return self.decide_among(customer_id, context, eligible, now, decision_id)

    def decide_among(
        self,
        customer_id: str,
        context: Features,
        eligible: Sequence[Action],
        now: datetime,
        decision_id: str | None = None,
    ) -> Decision:
        """Choose among already-filtered actions (their last one must be no_action) and log the decision."""
        if not eligible or eligible[-1].id != NO_ACTION:
            raise BanditError("eligible actions must end with no_action")
        choice = self.bandit.decide(context, eligible)
        decision = Decision(
            decision_id=decision_id or uuid.uuid4().hex,
            ts=now.isoformat(),
            customer_id=customer_id,
            context=dict(context),
            actions=[a.id for a in eligible],
            action_index=choice.index,
            action_id=eligible[choice.index].id,
            probability=choice.probability,
            pmf=list(choice.pmf),
            draw=choice.draw,
            model_version=self.bandit.version,
            reason="bandit" if len(eligible) > 1 else NO_ELIGIBLE_ACTION,
        )
        self.log.append(decision)
        return decision

    def reward(
        self,
        decision_id: str,
        click: bool = False,
        conversion: bool = False,
        revenue: float = 0.0,
        ts: datetime | None = None,
        learn: bool = True,
    ) -> Reward:
        """Check, log, then learn a reward (`learn=False`: a frozen model, e.g. a policy under evaluation)."""
        value = self.catalog.reward_of(click, conversion, revenue)
        decision, record = self.log.add_reward(
            decision_id, ts or datetime.now(UTC), click, conversion, revenue, value
        )
        if learn:
            self._learn(decision, record)
        return record

    def _learn(self, decision: Decision, record: Reward) -> None:
        actions = self.actions_of(decision.actions)
        self.bandit.learn(
            decision.context, actions, decision.action_index, decision.probability, record.reward
        )

    def checkpoint(self, path: str | Path) -> str:
        self.log.flush()
        return self.bandit.save(path)

    @classmethod
    def restore(cls, catalog: Catalog, path: str | Path, log: DecisionLog) -> NextBestAction:
        """The checkpoint at `path` plus every reward the log holds beyond it (by sequence number)."""
        engine = cls(catalog, Bandit.load(path), log)
        learned = engine.bandit.rewards_learned_
        todo = [r for r in log.rewards() if r.seq >= learned]
        by_id = {d.decision_id: d for d in log.decisions()} if todo else {}
        for r in todo:
            decision = by_id.get(r.decision_id)
            if decision is None:  # an erased customer's tombstone: nothing left to learn, but count it
                engine.bandit.rewards_learned_ += 1
                engine.bandit.rewards_since_checkpoint_ += 1
            else:
                engine._learn(decision, r)
        return engine

    def replay(self, decision: Decision, check_model: bool = True) -> None:
        """Re-derive a logged decision: the draw must pick the logged action from the logged pmf and, when
        the bandit is at the logged model version, the model must give the logged pmf again."""
        if sample_index(decision.pmf, decision.draw) != decision.action_index:
            raise ReplayMismatchError(
                f"decision {decision.decision_id}: the draw does not pick the logged action"
            )
        if abs(decision.pmf[decision.action_index] - decision.probability) > 1e-9:
            raise ReplayMismatchError(f"decision {decision.decision_id}: probability differs from its pmf")
        if decision.actions[decision.action_index] != decision.action_id:
            raise ReplayMismatchError(f"decision {decision.decision_id}: action id differs from its index")
        if check_model and self.bandit.version == decision.model_version:
            pmf = self.bandit.pmf(decision.context, self.actions_of(decision.actions))
            if any(abs(a - b) > 1e-6 for a, b in zip(pmf, decision.pmf, strict=True)):
                raise ReplayMismatchError(f"decision {decision.decision_id}: the model gives another pmf")
