"""What every model part of a personalization answers, and the reason codes of its fallbacks.

A part (recommendations, next-best-action, scores, signals) always answers: with the model's output, or
with its documented fallback and the reason it fell back. Parts travel as plain dicts (`Part.to_dict`) so
the same value crosses a Ray Serve handle, a thread and an HTTP body unchanged.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

NOT_TRAINED = "not_trained"
"""No production version of the model yet (a fresh workspace)."""
TIMEOUT = "timeout"
"""The part did not answer within its time budget."""
STORE_UNAVAILABLE = "store_unavailable"
"""A store the part reads (profile store, Feast online store, decision log) failed."""
NO_CONSENT = "no_consent"
"""The customer has not consented to what the part would do (personalization, marketing on a channel)."""
UNKNOWN_CUSTOMER = "unknown_customer"
"""No profile for the id (or an anonymous id no profile holds): non-personalized answers."""
MODEL_ERROR = "model_error"
"""The model raised: logged by type, answered with the fallback."""
REASONS = (NOT_TRAINED, TIMEOUT, STORE_UNAVAILABLE, NO_CONSENT, UNKNOWN_CUSTOMER, MODEL_ERROR)

RECS, NBA, SCORES, SIGNALS, PROFILE = "recommendations", "nextBestAction", "scores", "signals", "profile"
PARTS = (RECS, NBA, SCORES, SIGNALS, PROFILE)


@dataclass
class Part:
    """One part's answer. `fallback` is None when the model answered, else the reason code (REASONS)."""

    value: Any
    fallback: str | None = None
    version: str | None = None
    """The model version that produced `value` (None for a fallback no model produced)."""
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, doc: dict[str, Any]) -> Part:
        return cls(doc["value"], doc.get("fallback"), doc.get("version"), doc.get("extra") or {})
