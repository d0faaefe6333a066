"""The YAML `c360 train recs` and `c360 tune recs` read (`training/configs/recs.yaml`), validated once.

Recommendations do not train on a feature service's cutoffs like the other models: they train on the
purchases before a held-out window at the end of the facts and are measured on that window. So the config
says how long the window is, which rules the lists obey and whose consent they need; the hyper-parameters
(`params`, `tune.search_space`) are `c360.recs.model.RecsModel.defaults`' and an unknown one is refused
before any data is read.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import Field

from c360.errors import ValidationError
from c360.models.train_config import DISTRIBUTIONS, TuneSpec, read_document, validate_document
from c360.schemas import CONSENT_CHANNELS
from c360.settings import Strict


class RecsConfig(Strict):
    model: Literal["recs"] = "recs"
    holdout_days: int = Field(default=28, ge=1, le=366)
    """The last days of the facts: the held-out window the registered metrics are measured on."""
    validation_days: int = Field(default=28, ge=1, le=366)
    """`c360 tune recs`: the window before the held-out one that trials are compared on."""
    n: int = Field(default=10, ge=1, le=200)
    """Items per customer in `recommendations/` (and the k of the metrics)."""
    exclude_bought: bool = True
    """True: lists of items the customer has not bought (consumables excepted); False: repeats allowed."""
    consumables: list[str] = Field(default_factory=list)
    inactive: list[str] = Field(default_factory=list)
    max_per_category: int | None = Field(default=None, ge=1)
    consent_channel: str = "web"
    """The channel of the `personalization` consent a personal list needs (else: the popular list)."""
    refit: bool = True
    """Register the model refitted on every purchase (the held-out window too) with the same parameters;
    the metrics stay those of the fit before the window."""
    promote: Literal["first", "better", "always", "never"] = "first"
    metric: str = "ndcg"
    mode: Literal["max", "min"] = "max"
    ray: bool = True
    """ALS fits in a Ray task (`c360.recs.ray_fit`); EASE is one matrix inversion, fitted in-process."""
    params: dict[str, Any] = Field(default_factory=dict)
    tune: TuneSpec | None = None


def load_recs_config(source: str | Path | dict[str, Any] | RecsConfig | None) -> RecsConfig:
    """The config from a YAML file, a dict or nothing (defaults); unknown keys and hyper-parameters are
    named errors."""
    from c360.recs.model import RecsModel

    if isinstance(source, RecsConfig):
        return source
    doc, where = read_document(source, empty="config")
    config = validate_document(RecsConfig, doc, where)
    if config.consent_channel not in CONSENT_CHANNELS:
        raise ValidationError(
            f"{where}: consent_channel {config.consent_channel!r} is not one of {CONSENT_CHANNELS}"
        )
    RecsModel(config.params)  # unknown hyper-parameters: a ModelError naming them
    space = config.tune.search_space if config.tune else {}
    RecsModel({k: v for k, v in space.items() if not isinstance(v, dict)})
    unknown = sorted(set(space) - set(RecsModel.defaults))
    if unknown:
        raise ValidationError(f"{where}: tune.search_space: unknown hyper-parameter(s) {', '.join(unknown)}")
    for name, spec in space.items():
        if isinstance(spec, dict) and (len(spec) != 1 or next(iter(spec)) not in DISTRIBUTIONS):
            raise ValidationError(f"{where}: tune.search_space.{name}: one of {', '.join(DISTRIBUTIONS)}")
    return config
