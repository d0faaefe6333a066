"""What every gradient-boosted model shares: the frame encoding saved with the model, the one booster training
call (`train_booster`) that the plain path and Ray Train's workers both run, and booster save/load.

A boosted model (churn, churn_survival, and any model setting `booster_library`) prepares its data (encoding,
splits, calibration) and hands the booster's training to a `BoosterFit`: a callable
`(library, params, train, valid, num_boost_round, early_stopping_rounds) -> booster`. `plain_fit` trains in
this process; `c360.models.ray_fit.RayTrainFit` trains the same call inside a Ray Train worker group.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import pandas as pd

from c360.models.base import ModelError

LIBRARIES = ("xgboost", "lightgbm")
_ROW = "__c360_row"
_LABEL_PREFIX = "__c360_y_"
BOOSTER_FILE = {"xgboost": "booster.ubj", "lightgbm": "booster.txt"}


@dataclass
class BoosterData:
    """What a booster trains on: numeric columns (categoricals already as float codes, NaN for missing), the
    label arrays by XGBoost info name (`label`, or `label_lower_bound` + `label_upper_bound` for survival:aft)
    and the names of the columns to treat as categorical."""

    X: pd.DataFrame
    labels: dict[str, np.ndarray]
    categorical: list[str] = field(default_factory=list)

    def frame(self) -> pd.DataFrame:
        """One flat frame (features, labels, row number): what a Ray Dataset carries to the workers."""
        out = self.X.reset_index(drop=True).copy()
        for name, values in self.labels.items():
            out[_LABEL_PREFIX + name] = np.asarray(values, dtype="float64")
        out[_ROW] = np.arange(len(out), dtype="int64")
        return out

    @classmethod
    def from_frame(cls, frame: pd.DataFrame, categorical: Sequence[str]) -> BoosterData:
        frame = frame.sort_values(_ROW, kind="stable")  # the plain path's order: same rows -> same booster
        labels = {
            c[len(_LABEL_PREFIX) :]: frame[c].to_numpy() for c in frame.columns if c.startswith(_LABEL_PREFIX)
        }
        X = frame.drop(columns=[c for c in frame.columns if c.startswith(_LABEL_PREFIX) or c == _ROW])
        return cls(X=X.reset_index(drop=True), labels=labels, categorical=list(categorical))


class BoosterFit(Protocol):
    def __call__(
        self,
        library: str,
        params: Mapping[str, Any],
        train: BoosterData,
        valid: BoosterData | None,
        num_boost_round: int,
        early_stopping_rounds: int | None,
    ) -> Any: ...


def passive_threads() -> None:
    # OpenMP threads spinning while waiting starve the other core's work on this 2-core machine.
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")


def train_booster(
    library: str,
    params: Mapping[str, Any],
    train: BoosterData,
    valid: BoosterData | None,
    num_boost_round: int,
    early_stopping_rounds: int | None,
    extra_params: Mapping[str, Any] | None = None,
) -> Any:
    """The one training call both paths run: returns an xgboost.Booster cut at its best iteration, or a
    lightgbm.Booster whose `best_iteration` is set."""
    passive_threads()
    if library == "xgboost":
        import xgboost as xgb

        def dmatrix(data: BoosterData) -> Any:
            dm = xgb_dmatrix(data.X, data.categorical, int(params.get("nthread", 1)))
            dm.set_info(**{k: np.asarray(v, dtype="float32") for k, v in data.labels.items()})
            return dm

        dtrain = dmatrix(train)
        evals = [(dmatrix(valid), "valid")] if valid is not None else []
        booster = xgb.train(
            {**params, **(extra_params or {})},
            dtrain,
            num_boost_round=num_boost_round,
            evals=evals,
            early_stopping_rounds=early_stopping_rounds if evals else None,
            verbose_eval=False,
        )
        if evals and early_stopping_rounds:
            booster = booster[: booster.best_iteration + 1]
        return booster
    if library == "lightgbm":
        import lightgbm as lgb

        def dataset(data: BoosterData, reference: Any = None) -> Any:
            return lgb.Dataset(
                data.X,
                label=data.labels["label"],
                categorical_feature=list(data.categorical) or "auto",
                reference=reference,
                free_raw_data=False,
            )

        dtrain = dataset(train)
        valid_sets = [dataset(valid, dtrain)] if valid is not None else []
        callbacks = (
            [lgb.early_stopping(early_stopping_rounds, verbose=False)]
            if valid_sets and early_stopping_rounds
            else []
        )
        return lgb.train(
            {"verbosity": -1, **params, **(extra_params or {})},
            dtrain,
            num_boost_round=num_boost_round,
            valid_sets=valid_sets,
            valid_names=["valid"] if valid_sets else None,
            callbacks=callbacks,
        )
    raise ModelError(f"unknown booster library {library!r}; known: {', '.join(LIBRARIES)}")


XGB_TREE_DEFAULTS: dict[str, Any] = {
    "n_estimators": 2000,
    "learning_rate": 0.02,
    "max_depth": 3,
    "min_child_weight": 5.0,
    "subsample": 0.8,
    "colsample_bytree": 0.8,
    "reg_lambda": 1.0,
    "max_cat_to_onehot": 8,
    "early_stopping_rounds": 100,
}
"""The tree hyper-parameters (and their defaults) of c360's XGBoost models: shallow trees, a slow rate and
early stopping, so one default travels across data sets instead of being tuned to one."""


def xgb_tree_params(p: Mapping[str, Any]) -> dict[str, Any]:
    """The XGBoost tree parameters every c360 booster takes from its hyper-parameters (the objective and
    metric are the model's own)."""
    return {
        "tree_method": "hist",
        "eta": float(p["learning_rate"]),
        "max_depth": int(p["max_depth"]),
        "min_child_weight": float(p["min_child_weight"]),
        "subsample": float(p["subsample"]),
        "colsample_bytree": float(p["colsample_bytree"]),
        "lambda": float(p["reg_lambda"]),
        "max_cat_to_onehot": int(p["max_cat_to_onehot"]),
        "nthread": int(p["nthread"]),
        "seed": int(p["seed"]),
    }


def lgb_tree_params(p: Mapping[str, Any]) -> dict[str, Any]:
    """The same tree hyper-parameters (`XGB_TREE_DEFAULTS`' names) for LightGBM: depth-limited trees of at
    most 2^max_depth leaves, the minimum hessian per leaf, row and column sampling, L2; deterministic."""
    depth = int(p["max_depth"])
    return {
        "learning_rate": float(p["learning_rate"]),
        "max_depth": depth,
        "num_leaves": max(2, 2**depth),
        "min_sum_hessian_in_leaf": float(p["min_child_weight"]),
        "bagging_fraction": float(p["subsample"]),
        "bagging_freq": 1,
        "feature_fraction": float(p["colsample_bytree"]),
        "lambda_l2": float(p["reg_lambda"]),
        "max_cat_to_onehot": int(p["max_cat_to_onehot"]),
        "num_threads": int(p["nthread"]),
        "seed": int(p["seed"]),
        "deterministic": True,
        "force_row_wise": True,
        "verbosity": -1,
    }


def xgb_dmatrix(X: pd.DataFrame, categorical: Sequence[str], nthread: int = 1) -> Any:
    """An xgboost DMatrix of encoded features: categorical columns typed "c" (codes), the rest "q"."""
    import xgboost as xgb

    return xgb.DMatrix(
        X.to_numpy(dtype="float32"),
        feature_names=[str(c) for c in X.columns],
        feature_types=["c" if c in categorical else "q" for c in X.columns],
        enable_categorical=bool(categorical),
        missing=np.nan,
        nthread=nthread,
    )


def plain_fit(
    library: str,
    params: Mapping[str, Any],
    train: BoosterData,
    valid: BoosterData | None,
    num_boost_round: int,
    early_stopping_rounds: int | None,
) -> Any:
    """The plain library path: the booster trained in this process."""
    return train_booster(library, params, train, valid, num_boost_round, early_stopping_rounds)


def save_booster(library: str, booster: Any, folder: Path) -> Path:
    path = folder / BOOSTER_FILE[library]
    if library == "xgboost":
        booster.save_model(str(path))
    else:
        booster.save_model(str(path), num_iteration=booster.best_iteration or None)
    return path


def load_booster(library: str, folder: Path) -> Any:
    path = folder / BOOSTER_FILE[library]
    if library == "xgboost":
        import xgboost as xgb

        booster = xgb.Booster()
        booster.load_model(str(path))
        return booster
    import lightgbm as lgb

    return lgb.Booster(model_file=str(path))


@dataclass
class FrameEncoder:
    """Feature columns to the numbers a booster reads, learned on the training rows and saved with the model.

    Numbers and booleans stay numbers (NaN allowed). A timestamp becomes the days from it to the row's own
    time (`event_timestamp`, the training set's cutoff; now when the frame has none, as in scoring), never
    the absolute date, which would tie the model to the calendar it was trained in. Anything else is
    categorical: each value seen in training gets a code (most frequent first), and a value never seen, or
    missing, becomes NaN, which the booster routes down its learned missing branch, so a new category at
    scoring time never fails."""

    features: list[str]
    categories: dict[str, list[str]] = field(default_factory=dict)
    timestamps: list[str] = field(default_factory=list)

    @classmethod
    def fit(cls, frame: pd.DataFrame, features: Sequence[str]) -> FrameEncoder:
        categories: dict[str, list[str]] = {}
        timestamps: list[str] = []
        for name in features:
            col = frame[name]
            if _is_timestamp(col):
                timestamps.append(name)
                continue
            if pd.api.types.is_bool_dtype(col) or (
                pd.api.types.is_numeric_dtype(col) and not isinstance(col.dtype, pd.CategoricalDtype)
            ):
                continue
            counts = _as_text(col).dropna().value_counts(sort=False)
            order = sorted(counts.index, key=lambda v: (-int(counts[v]), v))
            categories[name] = [str(v) for v in order]
        return cls(features=list(features), categories=categories, timestamps=timestamps)

    @property
    def categorical(self) -> list[str]:
        return [f for f in self.features if f in self.categories]

    def transform(self, frame: pd.DataFrame) -> pd.DataFrame:
        missing = [f for f in self.features if f not in frame.columns]
        if missing:
            raise ModelError(f"features missing from the frame: {', '.join(missing)}")
        out: dict[str, np.ndarray] = {}
        for name in self.features:
            col = frame[name]
            if name in self.timestamps:
                out[name] = _days_before(col, frame)
            elif name in self.categories:
                codes = pd.Categorical(_as_text(col), categories=self.categories[name]).codes.astype(
                    "float64"
                )
                codes[codes < 0] = np.nan
                out[name] = codes
            else:
                out[name] = pd.to_numeric(col, errors="coerce").astype("float64").to_numpy()
        return pd.DataFrame(out, index=frame.index, columns=self.features)

    def to_dict(self) -> dict[str, Any]:
        return {"features": self.features, "categories": self.categories, "timestamps": self.timestamps}

    @classmethod
    def from_dict(cls, doc: Mapping[str, Any]) -> FrameEncoder:
        return cls(
            features=list(doc["features"]),
            categories={k: list(v) for k, v in doc["categories"].items()},
            timestamps=list(doc.get("timestamps", [])),
        )


def _is_timestamp(col: pd.Series) -> bool:
    return isinstance(col.dtype, pd.DatetimeTZDtype) or pd.api.types.is_datetime64_any_dtype(col)


def _utc(values: pd.Series) -> pd.Series:
    values = pd.to_datetime(values, errors="coerce")
    return values.dt.tz_localize("UTC") if values.dt.tz is None else values.dt.tz_convert("UTC")


def _days_before(col: pd.Series, frame: pd.DataFrame) -> np.ndarray:
    """Days from each timestamp to its row's time (event_timestamp, else now), NaN where missing."""
    if "event_timestamp" in frame.columns and _is_timestamp(frame["event_timestamp"]):
        at = _utc(frame["event_timestamp"])
    else:
        at = pd.Series(pd.Timestamp.now(tz="UTC"), index=frame.index)
    return ((at - _utc(col)).dt.total_seconds() / 86_400.0).to_numpy(dtype="float64")


def _as_text(col: pd.Series) -> pd.Series:
    """Values as strings, missing kept missing: the one spelling fit and transform both compare."""
    return col.astype(object).where(col.notna(), None).map(lambda v: v if v is None else str(v))
