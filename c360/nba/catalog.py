"""The action catalogue and the eligibility rules the next-best-action bandit chooses within.

The bandit only ever sees actions a rule allows, so the rules are hard business limits, never something a
model may trade away: marketing consent on the action's channel (the same purpose/channel notions as
`c360.privacy.consent`, default deny), per-channel and total frequency caps, a cooldown before the same
action is repeated, and margin / discount limits. "no_action" is always in the catalogue and always
eligible: a customer who consented to no channel (or who hit every cap) gets exactly `[no_action]`, and the
decision is logged with probability 1 and reason `no_eligible_action` (the documented fallback).

A catalogue is validated once, when loaded: an unknown channel, a duplicate id or an unknown key raises a
named error before any decision is made.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from pydantic import ValidationError as PydanticError

from c360.errors import ConfigError
from c360.privacy.consent import check_purpose_channel, is_permitted
from c360.schemas import CONSENT_CHANNELS, CONSENT_PURPOSES

NO_ACTION = "no_action"
DEFAULT_CATALOG = Path(__file__).resolve().parents[2] / "training" / "configs" / "nba" / "catalog.yaml"


class CatalogError(ConfigError):
    """The action catalogue is invalid (a malformed field, an unknown key, a duplicate id)."""


class UnknownChannelError(CatalogError):
    """An action names a channel consent does not know (known: `c360.schemas.CONSENT_CHANNELS`)."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Action(_Strict):
    """One offer on one channel in one content variant."""

    id: str = Field(min_length=1, pattern=r"^[A-Za-z0-9_.-]+$")
    offer: str = Field(min_length=1, pattern=r"^[A-Za-z0-9_.-]+$")
    channel: str | None  # None only for no_action
    discount: float = Field(ge=0.0, lt=1.0)
    variant: str = Field(default="default", pattern=r"^[A-Za-z0-9_.-]+$")
    margin: float = Field(ge=-1.0, le=1.0)  # share of the (discounted) price kept

    @field_validator("channel")
    @classmethod
    def _known_channel(cls, v: str | None) -> str | None:
        if v is not None and v not in CONSENT_CHANNELS:
            raise ValueError(f"unknown channel {v!r}; known: {', '.join(CONSENT_CHANNELS)}")
        return v


class Cap(_Strict):
    max_contacts: int = Field(ge=0)
    days: float = Field(gt=0)


class RewardWeights(_Strict):
    """reward = click * click + conversion * conversion + revenue * revenue (cost fed to VW = -reward)."""

    click: float = 0.0
    conversion: float = 1.0
    revenue: float = 0.0


class Catalog(_Strict):
    purpose: str = "marketing"
    min_margin: float = 0.0
    max_discount: float = 1.0
    attribution_days: float = Field(default=7.0, gt=0)
    frequency_caps: dict[str, Cap] = Field(default_factory=dict)
    total_cap: Cap | None = None
    cooldown_days: float = Field(default=0.0, ge=0)
    reward: RewardWeights = RewardWeights()
    actions: tuple[Action, ...]

    @field_validator("purpose")
    @classmethod
    def _known_purpose(cls, v: str) -> str:
        if v not in CONSENT_PURPOSES:
            raise ValueError(f"unknown consent purpose {v!r}; known: {', '.join(CONSENT_PURPOSES)}")
        return v

    @field_validator("frequency_caps")
    @classmethod
    def _known_cap_channels(cls, v: dict[str, Cap]) -> dict[str, Cap]:
        bad = sorted(set(v) - set(CONSENT_CHANNELS))
        if bad:
            raise ValueError(f"unknown channel {bad[0]!r}; known: {', '.join(CONSENT_CHANNELS)}")
        return v

    @model_validator(mode="after")
    def _ids(self) -> Catalog:
        ids = [a.id for a in self.actions]
        dup = sorted({i for i in ids if ids.count(i) > 1})
        if dup:
            raise ValueError(f"duplicate action ids: {', '.join(dup)}")
        for a in self.actions:
            if a.channel is None and a.id != NO_ACTION:
                raise ValueError(f"action {a.id!r} has no channel (only {NO_ACTION} may have none)")
        return self

    def by_id(self) -> dict[str, Action]:
        return {a.id: a for a in self.actions}

    def reward_of(self, click: bool, conversion: bool, revenue: float) -> float:
        w = self.reward
        return w.click * float(click) + w.conversion * float(conversion) + w.revenue * float(revenue)


NO_ACTION_ACTION = Action(id=NO_ACTION, offer="none", channel=None, discount=0.0, variant="none", margin=0.0)


def catalog_from_dict(data: Mapping[str, Any]) -> Catalog:
    """Validate a catalogue; `no_action` is appended unless declared. Errors name the field that failed."""
    data = dict(data)
    actions = list(data.get("actions") or [])
    if not any(isinstance(a, Mapping) and a.get("id") == NO_ACTION for a in actions):
        actions.append(NO_ACTION_ACTION.model_dump())
    data["actions"] = actions
    try:
        return Catalog.model_validate(data)
    except PydanticError as exc:
        errors = exc.errors()
        parts = []
        for err in errors:
            where = ".".join(str(p) for p in err["loc"])
            parts.append(f"{where}: {err['msg']}")
        message = "invalid action catalogue: " + "; ".join(parts)
        if any("unknown channel" in str(err.get("msg", "")) for err in errors):
            raise UnknownChannelError(message) from None
        raise CatalogError(message) from None


def load_catalog(path: str | Path = DEFAULT_CATALOG) -> Catalog:
    """The catalogue in a YAML file (default: `training/configs/nba/catalog.yaml`)."""
    p = Path(path)
    try:
        data = yaml.safe_load(p.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise CatalogError(f"cannot read action catalogue {p}: {exc}") from None
    if not isinstance(data, Mapping):
        raise CatalogError(f"action catalogue {p} is not a mapping")
    return catalog_from_dict(data)


@dataclass(frozen=True)
class Contact:
    """One past decision that reached the customer (no_action is not a contact)."""

    ts: datetime
    action_id: str
    channel: str


def permitted_channels(consents: Mapping[str, Any] | None, purpose: str = "marketing") -> frozenset[str]:
    """Channels the profile's `consent` section grants for `purpose`: `c360.privacy.consent.is_permitted`
    per channel (only `granted: true` counts; anything else is a deny)."""
    return frozenset(ch for ch in CONSENT_CHANNELS if is_permitted(consents, purpose, ch))


@dataclass(frozen=True)
class Eligibility:
    actions: tuple[Action, ...]  # always ends with no_action
    refused: dict[str, str]  # action id -> the first rule that refused it


def eligible_actions(
    catalog: Catalog,
    channels: Iterable[str],
    history: Sequence[Contact] = (),
    now: datetime | None = None,
) -> Eligibility:
    """The actions this customer may get now, in catalogue order, with `no_action` always last.

    `channels` are the consented channels (`permitted_channels`); `history` the customer's past contacts
    (only those before `now` count). A channel outside CONSENT_CHANNELS raises, like the consent check does.
    """
    allowed = frozenset(channels)
    for channel in sorted(allowed):
        check_purpose_channel(catalog.purpose, channel)
    if history and now is None:
        raise ValueError("eligibility with a contact history needs `now`")
    per_channel: dict[str, int] = {}
    total = 0
    recent_actions: set[str] = set()
    if history and now is not None:
        for ch, cap in catalog.frequency_caps.items():
            since = now - timedelta(days=cap.days)
            per_channel[ch] = sum(1 for c in history if c.channel == ch and since <= c.ts <= now)
        if catalog.total_cap is not None:
            since = now - timedelta(days=catalog.total_cap.days)
            total = sum(1 for c in history if since <= c.ts <= now)
        if catalog.cooldown_days > 0:
            since = now - timedelta(days=catalog.cooldown_days)
            recent_actions = {c.action_id for c in history if since <= c.ts <= now}
    out: list[Action] = []
    refused: dict[str, str] = {}
    for a in catalog.actions:
        if a.id == NO_ACTION:
            continue
        reason = _refusal(catalog, a, allowed, per_channel, total, recent_actions)
        if reason:
            refused[a.id] = reason
        else:
            out.append(a)
    no_action = catalog.by_id()[NO_ACTION]
    return Eligibility(tuple([*out, no_action]), refused)


def _refusal(
    catalog: Catalog,
    a: Action,
    allowed: frozenset[str],
    per_channel: Mapping[str, int],
    total: int,
    recent_actions: set[str],
) -> str:
    if a.channel not in allowed:
        return "consent"
    if a.margin < catalog.min_margin:
        return "margin"
    if a.discount > catalog.max_discount:
        return "discount"
    channel = a.channel or ""
    cap = catalog.frequency_caps.get(channel)
    if cap is not None and per_channel.get(channel, 0) >= cap.max_contacts:
        return "frequency_cap"
    if catalog.total_cap is not None and total >= catalog.total_cap.max_contacts:
        return "total_cap"
    if a.id in recent_actions:
        return "cooldown"
    return ""
