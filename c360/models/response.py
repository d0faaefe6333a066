"""Campaign response: the probability that an exposure (an email send, an offer shown) converts within the
attribution window, from training sets of a `kind: response` label (one row per exposure, features as of the
exposure's time, `exposure_id` beside the label).

The classifier is the calibrated LightGBM of `c360.models.propensity` (`BoostedClassifier`). What the
sender chose is context the customer's features cannot hold: `exposure_context` adds the exposure's
`channel`, `campaign_id`, `offer_id`, `variant` and `type` from `facts/exposures` by `exposure_id`, and the
model uses whichever of them a frame carries (`CONTEXT`) beside the feature service's columns, as
categoricals. A context column is left out when it carries nothing (a single value, or none) or when its
values do not recur over time: of the newest fifth of the training rows (by `event_timestamp`), fewer than
`recur_share` carry a value the older rows have. Campaign ids are often new for every send; a model keyed
on them learns per-campaign effects it can never apply to the next campaign (on the demo data, where every
campaign is monthly, leaving them out lifts held-out AUC from 0.57 to 0.62). Always-on campaigns recur and
stay in.

What the customer did with earlier exposures is history the feature service does not hold per offer:
`exposure_history` adds, as known at each row's time, their earlier sends, opens, clicks and conversions
(an outcome counts from the moment it happened) and the sends and conversions of the same offer.

Held-out metrics: ROC-AUC, log loss, Brier score, lift in the top decile.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

import pandas as pd

from c360.models.base import register
from c360.models.propensity import BOOSTER_DEFAULTS, BoostedClassifier

CONTEXT: tuple[str, ...] = ("channel", "campaign_id", "offer_id", "variant", "type")


@register
class Response(BoostedClassifier):
    """Campaign response (see the module docstring)."""

    name = "response"
    score = None  # a per-exposure score: decisions read it, profiles do not
    defaults: ClassVar[dict[str, Any]] = {**BOOSTER_DEFAULTS, "context": list(CONTEXT), "recur_share": 0.8}

    def prepare(self, frame: pd.DataFrame, features: Sequence[str]) -> list[str]:
        context, dropped = [], []
        for c in self.params["context"]:
            if c not in frame.columns or c in features:
                continue
            if frame[c].nunique(dropna=True) > 1 and recurs(frame, c, float(self.params["recur_share"])):
                context.append(c)
            else:
                dropped.append(c)
        self.card.extra["context_left_out"] = dropped
        return [*features, *context]


def recurs(frame: pd.DataFrame, column: str, share: float) -> bool:
    """Whether most of the newest fifth of rows (by event_timestamp) carry a value of `column` that older
    rows have; without timestamps, True."""
    if "event_timestamp" not in frame.columns or len(frame) < 10:
        return True
    ordered = frame.sort_values("event_timestamp", kind="stable")[column]
    split = int(len(ordered) * 0.8)
    old, new = ordered.iloc[:split], ordered.iloc[split:].dropna()
    return bool(len(new) == 0 or new.isin(set(old.dropna())).mean() >= share)


def exposure_context(ws: Any, frame: pd.DataFrame, columns: Sequence[str] = CONTEXT) -> pd.DataFrame:
    """`frame` with the exposure's context columns from `facts/exposures`, matched on `exposure_id` (a left
    join: a row whose exposure is not in the facts keeps nulls)."""
    from c360.facts.schemas import EXPOSURES
    from c360.facts.store import read_facts

    wanted = [c for c in columns if c not in frame.columns]
    if not wanted or "exposure_id" not in frame.columns:
        return frame
    facts = read_facts(ws.lake, EXPOSURES, ["exposure_id", *wanted]).to_pandas()
    facts = facts.drop_duplicates("exposure_id")
    out = frame.merge(facts, on="exposure_id", how="left")
    out.index = frame.index
    return out


HISTORY_FEATURES: tuple[str, ...] = (
    "prior_exposures",
    "prior_opens",
    "prior_clicks",
    "prior_conversions",
    "prior_offer_exposures",
    "prior_offer_conversions",
)


def _count_before(
    events: pd.DataFrame, rows: pd.DataFrame, time_col: str, by: list[str], name: str
) -> pd.Series:
    """Per row of `rows` (by + event_timestamp), how many `events` (by + time_col) happened strictly
    before its event_timestamp."""
    ev = events.dropna(subset=[time_col, *by])[[*by, time_col]].rename(columns={time_col: "_t"})
    ev = ev.sort_values([*by, "_t"], kind="stable")
    ev[name] = ev.groupby(by).cumcount() + 1
    ev = ev.sort_values("_t", kind="stable")
    q = rows[[*by, "event_timestamp"]].reset_index().rename(columns={"event_timestamp": "_t"})
    q = q.dropna(subset=by).sort_values("_t", kind="stable")
    got = pd.merge_asof(q, ev, on="_t", by=by, direction="backward", allow_exact_matches=False)
    return got.set_index("index")[name].reindex(rows.index).fillna(0).astype("int64")


def exposure_history(exposures: pd.DataFrame, frame: pd.DataFrame) -> pd.DataFrame:
    """`frame` (customer_id, event_timestamp, optional offer_id) with the customer's earlier exposures and
    their outcomes as known at each row's time: sends, opens, clicks and conversions that happened strictly
    before it (an outcome counts at its own time, never at the send's), and the sends and conversions of
    the same offer. `exposures` are rows of `facts/exposures`."""
    times = ("ts", "first_open_ts", "first_click_ts", "conversion_ts")
    ex = exposures.copy()
    for col in times:  # one unit on both sides, as merge_asof needs
        ex[col] = pd.to_datetime(ex[col], utc=True).astype("datetime64[ns, UTC]")
    rows = frame.copy()
    rows["event_timestamp"] = pd.to_datetime(rows["event_timestamp"], utc=True).astype("datetime64[ns, UTC]")
    for df in (ex, rows):
        df["customer_id"] = df["customer_id"].astype(str)
    out = frame.copy()
    specs = [
        ("prior_exposures", "ts", ["customer_id"]),
        ("prior_opens", "first_open_ts", ["customer_id"]),
        ("prior_clicks", "first_click_ts", ["customer_id"]),
        ("prior_conversions", "conversion_ts", ["customer_id"]),
    ]
    if "offer_id" in rows.columns and "offer_id" in ex.columns:
        rows["offer_id"] = rows["offer_id"].astype(object)
        ex["offer_id"] = ex["offer_id"].astype(object)
        specs += [
            ("prior_offer_exposures", "ts", ["customer_id", "offer_id"]),
            ("prior_offer_conversions", "conversion_ts", ["customer_id", "offer_id"]),
        ]
    for name, time_col, by in specs:
        out[name] = _count_before(ex, rows, time_col, by, name).to_numpy()
    return out
