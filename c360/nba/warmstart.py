"""Warm-start the bandit from the `exposures` fact table (campaign sends and what came of them).

Each exposure row (customer_id, channel, offer_id, variant, clicked, converted, revenue_rc) becomes one
(context, action, reward, probability) example when its (offer, channel, variant) is a catalogue action
(else its (offer, channel) with any variant; else the row is skipped and counted). The context is the
customer's profile features as the caller supplies them (none: an empty context).

Exposures carry no logging probability: campaigns were targeted by hand, not drawn at random. We assume the
probability of the action sent was its share among all usable sends (a context-free propensity), and the
candidate set was every catalogue action on a channel the exposures use, plus no_action. That assumption is
wrong wherever targeting depended on the customer, so a warm start only seeds the bandit: online learning
with logged propensities takes over, and off-policy evaluation only ever uses the decision log.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import pandas as pd

from c360.nba.bandit import Bandit, Features
from c360.nba.catalog import NO_ACTION, Action, Catalog


@dataclass(frozen=True)
class WarmExample:
    context: Features
    actions: tuple[Action, ...]
    index: int
    reward: float
    probability: float


@dataclass(frozen=True)
class WarmStart:
    examples: list[WarmExample]
    skipped: int  # rows whose offer/channel is not in the catalogue


def examples_from_exposures(
    exposures: pd.DataFrame, catalog: Catalog, contexts: Mapping[str, Features] | None = None
) -> WarmStart:
    """Examples from exposure rows, in row order; see the module docstring for the assumed propensity."""
    contexts = contexts or {}
    exact = {(a.offer, a.channel, a.variant): a for a in catalog.actions if a.id != NO_ACTION}
    loose: dict[tuple[str, str | None], Action] = {}
    for a in catalog.actions:
        if a.id != NO_ACTION:
            loose.setdefault((a.offer, a.channel), a)
    chosen: list[Action | None] = []
    for offer, channel, variant in zip(
        exposures["offer_id"], exposures["channel"], exposures["variant"], strict=True
    ):
        chosen.append(exact.get((offer, channel, variant)) or loose.get((offer, channel)))
    used = [a for a in chosen if a is not None]
    if not used:
        return WarmStart([], len(chosen))
    channels = {a.channel for a in used}
    candidates = tuple(a for a in catalog.actions if a.channel in channels or a.id == NO_ACTION)
    share = pd.Series([a.id for a in used]).value_counts(normalize=True).to_dict()
    revenue = exposures["revenue_rc"] if "revenue_rc" in exposures else pd.Series(0.0, index=exposures.index)
    examples = []
    for pick, cid, click, conv, rev in zip(
        chosen, exposures["customer_id"], exposures["clicked"], exposures["converted"], revenue, strict=True
    ):
        if pick is None:
            continue
        a = pick
        reward = catalog.reward_of(bool(click), bool(conv), 0.0 if pd.isna(rev) else float(rev))
        examples.append(
            WarmExample(contexts.get(cid, {}), candidates, candidates.index(a), reward, share[a.id])
        )
    return WarmStart(examples, len(chosen) - len(used))


def warm_start(bandit: Bandit, warm: WarmStart, passes: int = 1) -> int:
    """Learn the examples (`passes` times); returns how many updates were made."""
    n = 0
    for _ in range(passes):
        for ex in warm.examples:
            bandit.learn(ex.context, ex.actions, ex.index, ex.probability, ex.reward, logged=False)
            n += 1
    return n
