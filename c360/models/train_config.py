"""The YAML a training or tuning run reads (`training/configs/<model>.yaml`), validated once at the edge.

Unknown keys fail with their dotted path; hyper-parameters (`params`, `tune.search_space`) are checked
against the model's own `defaults` before any data is read, so a typo never costs a training set.

    model: churn                 # a registered model name
    label: churn                 # a label in features.labels (default: the model's usual one)
    features: null               # a feature service (default: the label's)
    cutoffs: null                # explicit dates; else start/end/every; else `count` cutoffs ending at
    start: null                  #   the newest one the facts can label
    end: null
    every: 8w
    count: 4
    holdout_cutoffs: 1           # the last cutoff(s) are the held-out test set
    promote: first               # first | better | always | never
    metric: auc                  # what `promote: better` and tune compare (mode: max or min)
    mode: max
    ray: true                    # fit through Ray Train when the model supports it
    params: {max_depth: 4}
    tune: {num_samples: 4, scheduler: {name: asha, max_t: 3}, search_space: {max_depth: {randint: [3, 8]}}}
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal, TypeVar

import yaml
from pydantic import Field
from pydantic import ValidationError as PydanticError

from c360.errors import ValidationError
from c360.models.base import ModelError, model_class
from c360.settings import Strict

M = TypeVar("M", bound=Strict)

DEFAULT_LABEL = {
    "churn": "churn",
    "churn_survival": "churn",
    "clv": "clv",
    "clv_bgnbd": "clv",
    "propensity": "propensity",
    "response": "response",
    "segments": "propensity",
}
"""The label (features.labels) each model trains on unless its config names another; segments are
unsupervised and take the propensity set's rows (everyone known at a cutoff, a 30-day horizon, so recent
cutoffs); their label is not used."""

DEFAULT_FEATURES = {"segments": "clv"}
"""Feature services a model reads unless its config names one (else the label's): segments cluster the
clv service's behaviour (recency, purchases and spend give the RFM names), not next_best_action's, which
carries other models' scores."""

DISTRIBUTIONS = ("uniform", "loguniform", "randint", "qrandint", "choice", "grid")


class SchedulerSpec(Strict):
    name: Literal["asha", "fifo"] = "asha"
    max_t: int = Field(default=3, ge=1, le=20)
    """Rungs: a trial at rung i fits on i/max_t of the training rows (successive halving over data)."""
    grace_period: int = Field(default=1, ge=1)
    reduction_factor: float = Field(default=3, gt=1)


class TuneSpec(Strict):
    num_samples: int = Field(default=4, ge=1, le=1000)
    max_concurrent_trials: int = Field(default=1, ge=1, le=64)
    """1 on a 2-core machine: concurrent trials only share the same cores (COMPONENTS.md)."""
    cpus_per_trial: float = Field(default=1, gt=0)
    seed: int = 42
    scheduler: SchedulerSpec = Field(default_factory=SchedulerSpec)
    search_space: dict[str, Any] = Field(default_factory=dict)
    """name -> a fixed value, or one of {uniform: [lo, hi]}, {loguniform: [lo, hi]}, {randint: [lo, hi]},
    {qrandint: [lo, hi, q]}, {choice: [...]}, {grid: [...]}."""


class TrainConfig(Strict):
    model: str
    label: str | None = None
    features: str | None = None
    cutoffs: list[str] | None = None
    start: str | None = None
    end: str | None = None
    every: str = "8w"
    count: int = Field(default=4, ge=2, le=200)
    holdout_cutoffs: int = Field(default=1, ge=1)
    promote: Literal["first", "better", "always", "never"] = "first"
    metric: str | None = None
    mode: Literal["max", "min"] = "max"
    ray: bool = True
    params: dict[str, Any] = Field(default_factory=dict)
    tune: TuneSpec | None = None

    @property
    def label_name(self) -> str:
        return self.label or DEFAULT_LABEL.get(self.model, self.model)

    @property
    def feature_service(self) -> str | None:
        return self.features or DEFAULT_FEATURES.get(self.model)


def read_document(
    source: str | Path | dict[str, Any] | None, empty: str = "defaults"
) -> tuple[dict[str, Any], str]:
    """A config's mapping and where it came from (for error messages): a YAML file, a dict or nothing
    (`empty`); a missing file, bad YAML or a document that is not a mapping are named errors."""
    if source is None:
        return {}, empty
    if isinstance(source, dict):
        return dict(source), "config"
    path = Path(source)
    if not path.exists():
        raise ValidationError(f"config file {path} does not exist")
    try:
        doc = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        raise ValidationError(f"{path}: not valid YAML: {exc}") from None
    if not isinstance(doc, dict):
        raise ValidationError(f"{path}: a training config is a mapping")
    return doc, str(path)


def validate_document(kind: type[M], doc: dict[str, Any], where: str) -> M:
    """`doc` as the pydantic model `kind`; every problem named by its dotted path, in one error."""
    try:
        return kind.model_validate(doc)
    except PydanticError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or '(top)'}: {e['msg']}" for e in exc.errors()
        )
        raise ValidationError(f"{where}: {problems}") from None


def load_config(source: str | Path | dict[str, Any] | None, model: str | None = None) -> TrainConfig:
    """A config from a YAML file, a dict or nothing (the model's defaults); `model` fills or must match the
    file's `model:`. Unknown keys and unknown hyper-parameters are named errors."""
    doc, where = read_document(source)
    if model is not None:
        if doc.get("model") not in (None, model):
            raise ValidationError(f"{where} configures model {doc['model']!r}, not {model!r}")
        doc["model"] = model
    if "model" not in doc:
        raise ValidationError(f"{where}: name the model (`model: churn`)")
    config = validate_document(TrainConfig, doc, where)
    check_params(config)
    return config


def check_params(config: TrainConfig) -> None:
    """Every hyper-parameter named in `params` or `tune.search_space` is one the model knows."""
    known = model_class(config.model).defaults
    named = set(config.params) | set(config.tune.search_space if config.tune else {})
    unknown = sorted(named - set(known))
    if unknown:
        raise ModelError(
            f"{config.model}: unknown hyper-parameter(s) {', '.join(unknown)}; "
            f"known: {', '.join(sorted(known)) or 'none'}"
        )
    for name, spec in (config.tune.search_space if config.tune else {}).items():
        if isinstance(spec, dict) and (len(spec) != 1 or next(iter(spec)) not in DISTRIBUTIONS):
            raise ValidationError(
                f"tune.search_space.{name}: one of {', '.join(DISTRIBUTIONS)} "
                f"(like {{randint: [3, 8]}}), not {spec}"
            )
