"""The one model interface: fit on a point-in-time training set, predict on feature rows, save and load with
a card that says what made the model, held-out metrics.

Every model is a `Model` subclass registered in `MODELS` under its `name`. A model folder holds `card.json`
(the `ModelCard`) and whatever the subclass's `_save` writes; `Model.load` refuses a folder written by another
c360 model format or trained on another feature service than the one asked for, with a named error.

Frames are pandas: `customer_id`, optional `event_timestamp`, the feature columns, and `label` when training.
Ray Train / Tune (`c360.models.ray_fit`) and batch scoring (`c360.models.score`) move the same frames through
Ray Datasets; the classes here never need a cluster.
"""

from __future__ import annotations

import json
import math
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pandas as pd

from c360 import __version__
from c360.errors import NotFoundError, ValidationError

MODEL_FORMAT = 1
"""Bumped when a saved model folder changes shape: older folders are refused by name, never misread."""
CARD_FILE = "card.json"
LABEL = "label"
ID_COLUMNS = ("customer_id", "event_timestamp", "cutoff", "exposure_id", "as_of")

MODELS: dict[str, type[Model]] = {}
"""Model name -> class; filled by `register`."""


class ModelError(ValidationError):
    """Training or loading refused: empty or single-class data, unknown hyper-parameters, a foreign model."""


@dataclass
class ModelCard:
    """What is saved beside every model and logged with it to MLflow."""

    name: str
    """The model's registered name (`MODELS` key): churn, churn_survival, clv, clv_bgnbd, propensity, ..."""
    format: int = MODEL_FORMAT
    c360_version: str = __version__
    feature_service: str | None = None
    features: list[str] = field(default_factory=list)
    label: dict[str, Any] | None = None
    """The label definition it was trained on (LabelSettings as a dict, plus its name)."""
    training_set: dict[str, Any] | None = None
    """The training set's id, path, rows, positives and facts fingerprint (spec.json's identity)."""
    params: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, float] = field(default_factory=dict)
    """Held-out metrics (auc, log_loss, rmse, spearman, concordance, silhouette, ...)."""
    trained_at: str = field(default_factory=lambda: datetime.now(UTC).isoformat(timespec="seconds"))
    extra: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True, indent=1, default=_jsonable)

    @classmethod
    def from_json(cls, text: str) -> ModelCard:
        doc = json.loads(text)
        return cls(**{k: v for k, v in doc.items() if k in cls.__dataclass_fields__})


def _jsonable(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, (datetime, pd.Timestamp)):
        return value.isoformat()
    return str(value)


def register(cls: type[Model]) -> type[Model]:
    """Class decorator: make a model known by its name (load, tune and score find it there)."""
    MODELS[cls.name] = cls
    return cls


def model_class(name: str) -> type[Model]:
    if name not in MODELS:
        import c360.models.catalog  # noqa: F401 - imports every model module, which registers itself

    if name not in MODELS:
        raise NotFoundError(f"unknown model {name!r}; known: {', '.join(sorted(MODELS)) or 'none'}")
    return MODELS[name]


class Model(ABC):
    """Subclasses set `name`, `score` (the mlScores field the model fills, or None), `defaults` (every
    hyper-parameter the model accepts, with its default) and implement fit / predict / _save / _load."""

    name: ClassVar[str]
    score: ClassVar[str | None] = None
    defaults: ClassVar[dict[str, Any]] = {}

    def __init__(self, params: Mapping[str, Any] | None = None) -> None:
        params = dict(params or {})
        unknown = sorted(set(params) - set(self.defaults))
        if unknown:
            raise ModelError(
                f"{self.name}: unknown hyper-parameter(s) {', '.join(unknown)}; "
                f"known: {', '.join(sorted(self.defaults)) or 'none'}"
            )
        self.params: dict[str, Any] = {**self.defaults, **params}
        self.card = ModelCard(name=self.name, params=dict(self.params))

    # ------------------------------------------------------------------ what a subclass implements

    @abstractmethod
    def fit(
        self, train: pd.DataFrame, features: Sequence[str], valid: pd.DataFrame | None = None
    ) -> dict[str, float]:
        """Fit on `train` (features + `label`); return held-out metrics on `valid` when given (also kept in
        `self.card.metrics`)."""

    @abstractmethod
    def predict(self, frame: pd.DataFrame) -> pd.DataFrame:
        """One row per input row (same index), the model's outputs as columns (the first is the score)."""

    @abstractmethod
    def _save(self, folder: Path) -> None: ...

    @abstractmethod
    def _load(self, folder: Path) -> None: ...

    # ------------------------------------------------------------------ shared behaviour

    def save(self, folder: str | Path) -> Path:
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        self._save(folder)
        (folder / CARD_FILE).write_text(self.card.to_json(), encoding="utf-8")
        return folder

    @classmethod
    def load(cls, folder: str | Path, feature_service: str | None = None) -> Model:
        """The model saved in `folder`; a named error when it is not a c360 model of this format, not this
        class (when called on a subclass), or trained on another feature service than `feature_service`."""
        folder = Path(folder)
        card_path = folder / CARD_FILE
        if not card_path.exists():
            raise NotFoundError(f"{folder}: no {CARD_FILE}; not a c360 model folder")
        card = ModelCard.from_json(card_path.read_text(encoding="utf-8"))
        if card.format != MODEL_FORMAT:
            raise ModelError(
                f"{folder}: model format {card.format} written by c360 {card.c360_version}; this c360 "
                f"({__version__}) reads format {MODEL_FORMAT}: retrain the model"
            )
        klass = model_class(card.name) if cls is Model else cls
        if klass.name != card.name:
            raise ModelError(f"{folder}: holds a {card.name!r} model, not {klass.name!r}")
        if feature_service is not None and card.feature_service not in (None, feature_service):
            raise ModelError(
                f"{folder}: trained on feature service {card.feature_service!r}, not {feature_service!r}"
            )
        model = klass(card.params)
        model.card = card
        model._load(folder)
        return model


def check_training_frame(name: str, frame: pd.DataFrame, features: Sequence[str], *, classes: bool) -> None:
    """Named errors before any fitting: no rows, no label, missing features, one class only."""
    if frame is None or len(frame) == 0:
        raise ModelError(f"{name}: the training set is empty")
    if LABEL not in frame.columns:
        raise ModelError(f"{name}: the training set has no {LABEL!r} column")
    missing = [f for f in features if f not in frame.columns]
    if missing:
        raise ModelError(f"{name}: features missing from the training set: {', '.join(missing)}")
    if classes:
        values = pd.unique(frame[LABEL].dropna())
        if len(values) < 2:
            raise ModelError(
                f"{name}: the training set has a single class ({values[0] if len(values) else 'none'}); "
                "a classifier needs both"
            )


def feature_columns(frame: pd.DataFrame) -> list[str]:
    """Every column of a training set but the ids and the label."""
    return [c for c in frame.columns if c not in ID_COLUMNS and c != LABEL]


def finite(value: float) -> float | None:
    return float(value) if value is not None and math.isfinite(value) else None
