"""Campaign response: the probability that an exposure (an email send, an offer shown) converts within the
attribution window, from training sets of a `kind: response` label (one row per exposure, features as of the
exposure's time, `exposure_id` beside the label).

The classifier is the calibrated LightGBM of `c360.models.propensity` (`BoostedClassifier`). What the
sender chose is context the customer's features cannot hold: `exposure_context` adds the exposure's
`channel`, `campaign_id`, `offer_id`, `variant` and `type` from `facts/exposures` by `exposure_id`, and the
model uses whichever of them a frame carries (`CONTEXT`) beside the feature service's columns, as
categoricals. A context column with a single value (or none) in training carries nothing and is left out.

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
    defaults: ClassVar[dict[str, Any]] = {**BOOSTER_DEFAULTS, "context": list(CONTEXT)}

    def prepare(self, frame: pd.DataFrame, features: Sequence[str]) -> list[str]:
        context = [
            c
            for c in self.params["context"]
            if c in frame.columns and c not in features and frame[c].nunique(dropna=True) > 1
        ]
        return [*features, *context]


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
