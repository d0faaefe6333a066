"""`NextBestActionPolicy`: one decision per request through the production bandit, and its rewards.

Loaded once per process: the champion `nba` version (its checkpoint and catalogue) or, before one is
registered, the workspace's `current` checkpoint with the default catalogue (`c360.nba.workspace`),
restored with every reward the decision log holds beyond it. Eligibility is the engine's: only channels the
profile's `consent` section grants for the catalogue's purpose (marketing), the frequency caps and the
cooldown over the customer's contacts in the log since the process started plus those it read at load.

Every decision is logged before it is returned (`NextBestAction.decide`), with the probability it was
chosen with. A decision made after the caller's `deadline` (a wall-clock time the caller stops waiting at)
is not logged: it would never be served, and a logged decision nobody saw would bias off-policy evaluation.

Fallbacks: no bandit (`not_trained`) and no customer (`unknown_customer`): the default action, `no_action`,
without a decision id (nothing was decided, so nothing can be rewarded). A customer who consented to no
channel gets the engine's own logged `no_action` decision (probability 1), flagged `no_consent`.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from c360.inference.parts import NO_CONSENT, NOT_TRAINED, TIMEOUT, UNKNOWN_CUSTOMER, Part
from c360.nba.catalog import NO_ACTION, Catalog, Contact, permitted_channels
from c360.nba.decisions import DecisionLog, UnknownDecisionError

if TYPE_CHECKING:
    from c360.nba.engine import NextBestAction
    from c360.workspace import Workspace

DAYPARTS = ((0, "evening"), (6, "morning"), (12, "afternoon"), (18, "evening"))
"""UTC hour from which each part of the day starts (the simulator's dayparts)."""


def default_action() -> dict[str, Any]:
    return {"decisionId": None, "action": NO_ACTION, "channel": None, "offer": None, "propensity": None}


def daypart(now: datetime) -> str:
    return [name for hour, name in DAYPARTS if now.hour >= hour][-1]


def age_band(age: Any) -> str:
    if not isinstance(age, int | float):
        return "unknown"
    return "u30" if age < 30 else "30_49" if age < 50 else "50_64" if age < 65 else "65p"


def context_features(profile: Mapping[str, Any], context: Mapping[str, Any], now: datetime) -> dict[str, Any]:
    """The bandit's context from the profile document and the request (`c360.nba.simulator`'s features:
    segment, age band, preferred channel, engagement, churn risk, device, part of the day). No identifier
    and no free text from the request reaches the log: the device is one of two tokens."""
    scores = profile.get("mlScores") or {}
    engagement = profile.get("engagement") or {}
    demographics = profile.get("demographics") or {}
    features: dict[str, Any] = {
        "seg": str(scores.get("segment") or "unknown"),
        "age": age_band(demographics.get("age")),
        "pch": str(engagement.get("preferredChannel") or "unknown"),
        "dev": "mobile" if context.get("device") == "mobile" else "desktop",
        "day": daypart(now),
    }
    for key, value in (("eng", engagement.get("engagementScore")), ("churn", scores.get("churnRisk"))):
        if isinstance(value, int | float):
            features[key] = round(float(value), 2)
    return features


class NextBestActionPolicy:
    """Decide and reward through one engine (None: not trained) and the workspace's decision log."""

    def __init__(self, engine: NextBestAction | None, log: DecisionLog, catalog: Catalog | None) -> None:
        self.engine = engine
        self.log = log
        self.catalog = catalog
        self.version = engine.bandit.checkpoint_version if engine is not None else None
        """The checkpoint served; the log records each decision's exact state (`+<rewards learned since>`)."""
        self._lock = threading.Lock()  # VW's learner and the log's buffer are not thread-safe
        self._contacts: dict[str, list[Contact]] = {}
        if engine is not None and catalog is not None:
            self._read_contacts(catalog)

    @classmethod
    def for_workspace(cls, ws: Workspace) -> NextBestActionPolicy:
        from c360.models import registry
        from c360.nba.catalog import DEFAULT_CATALOG, load_catalog
        from c360.nba.engine import NextBestAction
        from c360.nba.model import NbaPolicy
        from c360.nba.workspace import current_checkpoint

        checkpoint, catalog = None, None
        champion = registry.load_champion(ws, NbaPolicy.name)
        if isinstance(champion, NbaPolicy):
            checkpoint, catalog = champion.checkpoint_, champion.catalog_
        else:
            current = current_checkpoint(ws)
            if current.with_name(current.name + ".meta.json").is_file():
                checkpoint, catalog = current, load_catalog(DEFAULT_CATALOG)
        days = catalog.attribution_days if catalog is not None else 7.0
        log = DecisionLog(ws.lake, attribution_days=days)
        engine = NextBestAction.restore(catalog, checkpoint, log) if checkpoint and catalog else None
        return cls(engine, log, catalog)

    def _read_contacts(self, catalog: Catalog) -> None:
        """Contacts of the log's decisions within the longest cap or cooldown window."""
        days = [c.days for c in catalog.frequency_caps.values()] + [catalog.cooldown_days]
        if catalog.total_cap is not None:
            days.append(catalog.total_cap.days)
        since = datetime.now(UTC) - timedelta(days=max(days))
        channel = {a.id: a.channel for a in catalog.actions}
        for d in self.log.decisions():
            ts = datetime.fromisoformat(d.ts)
            if d.action_id != NO_ACTION and ts >= since and channel.get(d.action_id):
                self._contacts.setdefault(d.customer_id, []).append(
                    Contact(ts, d.action_id, str(channel[d.action_id]))
                )

    def decide(
        self,
        customer_id: str | None,
        profile: Mapping[str, Any] | None,
        context: Mapping[str, Any] | None = None,
        deadline: float | None = None,
    ) -> Part:
        """The next-best action for the customer (`value`: decisionId, action, channel, offer, propensity)."""
        if self.engine is None or self.catalog is None:
            return Part(default_action(), NOT_TRAINED)
        if customer_id is None or profile is None:
            return Part(default_action(), UNKNOWN_CUSTOMER)
        now = datetime.now(UTC)
        channels = permitted_channels(profile.get("consent"), self.catalog.purpose)
        features = context_features(profile, context or {}, now)
        with self._lock:
            if deadline is not None and time.time() > deadline:
                return Part(default_action(), TIMEOUT)
            history = self._contacts.get(customer_id, [])
            decision = self.engine.decide(customer_id, features, channels, history, now)
            action = self.engine.catalog.by_id()[decision.action_id]
            if action.channel is not None:
                self._contacts.setdefault(customer_id, []).append(Contact(now, action.id, action.channel))
        value = {
            "decisionId": decision.decision_id,
            "action": action.id,
            "channel": action.channel,
            "offer": action.offer,
            "propensity": decision.probability,
        }
        return Part(value, None if channels else NO_CONSENT, self.version, {"state": decision.model_version})

    def reward(
        self, decision_id: str, click: bool = False, conversion: bool = False, revenue: float = 0.0
    ) -> dict[str, Any]:
        """Log a reward, then learn it. UnknownDecisionError (404), DuplicateRewardError (409) or
        RewardWindowError (422) when the log refuses it."""
        with self._lock:
            if self.engine is None:  # no bandit made a decision this process could credit
                self.log.check_reward(decision_id, datetime.now(UTC))
                raise UnknownDecisionError(f"unknown decision {decision_id!r}: no bandit is loaded")
            record = self.engine.reward(decision_id, click, conversion, revenue)
        return {"decisionId": decision_id, "reward": record.reward, "sequence": record.seq}

    def close(self) -> None:
        with self._lock:
            self.log.close()
            if self.engine is not None:
                self.engine.bandit.close()
