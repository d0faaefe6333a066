"""`Scorer`: a customer's churn risk, CLV, next-product propensity and segment, with the model versions.

The scores are those of the last `c360 score` run, which writes the same values into the profile's
`mlScores` and into Feast's `ml_scores` view: read from the profile document the ingress already holds, they
cost nothing, where an online-store read would add a round trip for the same numbers. The versions are the
champions that fill each score (`c360.models.score.PREFERENCE`, and `recs` for nextProductPropensity), read
from the registry once per process.

Fallbacks: no champion for any score (`not_trained`) and no customer (`unknown_customer`): scores and
segment null.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from c360.inference.parts import NOT_TRAINED, UNKNOWN_CUSTOMER, Part

if TYPE_CHECKING:
    from c360.workspace import Workspace

SCORE_FIELDS = ("churnRisk", "clv", "nextProductPropensity")
SCORE_MODELS: dict[str, tuple[str, ...]] = {
    "churnRisk": ("churn",),
    "clv": ("clv", "clv_bgnbd"),
    "segment": ("segments",),
    "nextProductPropensity": ("recs",),
}
"""Score -> the models that can fill it, in preference order (as `c360 score` chooses)."""


class Scorer:
    """Scores from a profile document; `versions`: score -> `model:version` of the champion filling it."""

    def __init__(self, versions: Mapping[str, str]) -> None:
        self.versions = dict(versions)

    @classmethod
    def for_workspace(cls, ws: Workspace) -> Scorer:
        from c360.models import registry

        versions: dict[str, str] = {}
        for score, models in SCORE_MODELS.items():
            for name in models:
                found = registry.champion(ws, name)
                if found is not None:
                    versions[score] = f"{name}:{found.version}"
                    break
        return cls(versions)

    def scores(self, customer_id: str | None, profile: Mapping[str, Any] | None) -> Part:
        """`value`: {scores: {churnRisk, clv, nextProductPropensity}, segment}; null where not scored."""
        if not self.versions:
            return Part(None, NOT_TRAINED)
        if customer_id is None or profile is None:
            return Part(None, UNKNOWN_CUSTOMER, extra={"versions": self.versions})
        ml = profile.get("mlScores") or {}
        value = {
            "scores": {f: _number(ml.get(f)) for f in SCORE_FIELDS},
            "segment": ml.get("segment") if isinstance(ml.get("segment"), str) else None,
        }
        return Part(value, None, ",".join(sorted(self.versions.values())), {"versions": self.versions})


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None
