"""Every model module, imported so each registers itself in `c360.models.base.MODELS`."""

from __future__ import annotations

import importlib

MODULES = (
    "c360.models.churn",
    "c360.models.survival",
    "c360.models.clv",
    "c360.models.propensity",
    "c360.models.response",
    "c360.models.segments",
)

OWN_COMMAND = ("c360.recs.model", "c360.nba.model")
"""Models registered for loading and `c360 models`, made by a command of their own (`c360 train recs`,
`c360 nba register`), not by `train_model` over a feature service's training set."""

for _module in MODULES + OWN_COMMAND:
    try:
        importlib.import_module(_module)
    except ModuleNotFoundError as exc:  # a model module not written yet; anything else it raises propagates
        if exc.name != _module:
            raise
