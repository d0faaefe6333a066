"""Churn risk: an XGBoost classifier with calibrated probabilities and the top reasons per customer.

- Features: numbers as they are, strings as XGBoost native categoricals through a `FrameEncoder` saved with
  the model (an unseen or missing value goes down the learned missing branch); NaN allowed everywhere.
- Calibration: the training rows are split (stratified, seeded) into a fitting part and a calibration part.
  The booster stops early on the calibration part, then a Platt (logistic on the margin; keeps the ranking, so
  the AUC) or isotonic map is fitted there. Raw boosted probabilities are usually over-confident after early
  stopping on log loss with row/column subsampling; the held-out metrics show both (`ece`, `ece_raw`).
- Reasons: per customer, the features whose contributions (XGBoost `pred_contribs` on the margin) push the
  risk up most, at most `reasons` of them, largest first; a customer with no feature pushing up has none.
  `reasons_method` "approx" (default) takes the per-path contributions (Saabas, `approx_contribs`), "shap"
  exact TreeSHAP. Exact SHAP costs ~0.8 ms per customer here against ~0.09 ms (measured on 10,000 rows,
  ~530 depth-3 trees): 13 minutes instead of 1.5 for a million customers, beyond the 5-minute scoring
  budget; the two agree on the first reason for ~91% of customers.

Held-out metrics (when `fit` gets `valid`): auc, log_loss, brier, ece (10 equal-width bins), ece_raw.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pandas as pd

from c360.models.base import LABEL, Model, ModelError, check_training_frame, register
from c360.models.boosting import (
    XGB_TREE_DEFAULTS,
    BoosterData,
    BoosterFit,
    FrameEncoder,
    load_booster,
    plain_fit,
    save_booster,
    xgb_dmatrix,
    xgb_tree_params,
)

STATE_FILE = "churn.json"
CALIBRATIONS = ("platt", "isotonic", "none")
REASONS_METHODS = ("approx", "shap")


def binary_labels(name: str, values: pd.Series) -> np.ndarray:
    """0/1 labels from booleans or numbers; anything else is refused by name."""
    if pd.api.types.is_bool_dtype(values):
        return values.astype("int8").to_numpy()
    numeric = pd.to_numeric(values, errors="coerce")
    if numeric.isna().any() or not set(np.unique(numeric)) <= {0, 1}:
        raise ModelError(f"{name}: the label must be 0/1 or true/false")
    return numeric.astype("int8").to_numpy()


def expected_calibration_error(y: np.ndarray, p: np.ndarray, bins: int = 10) -> float:
    """Mean |observed rate - mean predicted| over equal-width probability bins, weighted by bin size."""
    idx = np.minimum((p * bins).astype(int), bins - 1)
    counts = np.bincount(idx, minlength=bins)
    gaps = np.abs(np.bincount(idx, weights=y, minlength=bins) - np.bincount(idx, weights=p, minlength=bins))
    return float(gaps.sum() / max(counts.sum(), 1))


def classification_metrics(y: np.ndarray, p: np.ndarray) -> dict[str, float]:
    from sklearn.metrics import brier_score_loss, log_loss, roc_auc_score

    p = np.clip(p, 1e-7, 1 - 1e-7)
    out = {
        "log_loss": float(log_loss(y, p, labels=[0, 1])),
        "brier": float(brier_score_loss(y, p)),
        "ece": expected_calibration_error(y, p),
        "rows": float(len(y)),
        "positive_rate": float(np.mean(y)),
    }
    if len(np.unique(y)) == 2:
        out["auc"] = float(roc_auc_score(y, p))
    return out


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.clip(z, -35, 35)))


@register
class ChurnModel(Model):
    name = "churn"
    score = "churnRisk"
    booster_library: ClassVar[str] = "xgboost"
    defaults: ClassVar[dict[str, Any]] = {
        **XGB_TREE_DEFAULTS,
        "calibration": "platt",
        "calibration_fraction": 0.2,
        "reasons": 3,
        "reasons_method": "approx",
        "nthread": 1,
        "seed": 42,
    }

    def __init__(self, params: dict[str, Any] | None = None) -> None:
        super().__init__(params)
        if self.params["calibration"] not in CALIBRATIONS:
            raise ModelError(
                f"churn: calibration {self.params['calibration']!r} unknown; known: {', '.join(CALIBRATIONS)}"
            )
        if not 0.0 <= float(self.params["calibration_fraction"]) < 1.0:
            raise ModelError("churn: calibration_fraction must be in [0, 1)")
        if self.params["reasons_method"] not in REASONS_METHODS:
            raise ModelError(
                f"churn: reasons_method {self.params['reasons_method']!r} unknown; "
                f"known: {', '.join(REASONS_METHODS)}"
            )
        self.encoder_: FrameEncoder | None = None
        self.booster_: Any = None
        self.calibrator_: dict[str, Any] = {"method": "none"}

    # ------------------------------------------------------------------ fitting

    def xgb_params(self) -> dict[str, Any]:
        p = self.params
        return {
            "objective": "binary:logistic",
            "eval_metric": "logloss",
            **xgb_tree_params(p),
        }

    def fit(
        self,
        train: pd.DataFrame,
        features: Sequence[str],
        valid: pd.DataFrame | None = None,
        *,
        booster_fit: BoosterFit | None = None,
    ) -> dict[str, float]:
        features = [f for f in features if f != LABEL]
        if not features:
            raise ModelError("churn: no feature columns")
        check_training_frame(self.name, train, features, classes=True)
        train = train[train[LABEL].notna()]
        y = binary_labels(self.name, train[LABEL])
        self.encoder_ = FrameEncoder.fit(train, features)
        X = self.encoder_.transform(train)
        fit_idx, cal_idx = self._split(y)
        fit_data = BoosterData(X.iloc[fit_idx], {"label": y[fit_idx]}, self.encoder_.categorical)
        cal_data = (
            BoosterData(X.iloc[cal_idx], {"label": y[cal_idx]}, self.encoder_.categorical)
            if len(cal_idx)
            else None
        )
        self.booster_ = (booster_fit or plain_fit)(
            "xgboost",
            self.xgb_params(),
            fit_data,
            cal_data,
            int(self.params["n_estimators"]),
            int(self.params["early_stopping_rounds"]) or None,
        )
        method = self.params["calibration"] if cal_data is not None else "none"
        self.calibrator_ = {"method": "none"}
        if method != "none" and cal_data is not None:
            self.calibrator_ = _fit_calibrator(
                method, self._margin(cal_data.X), y[cal_idx], int(self.params["seed"])
            )
        self.card.features = list(features)
        self.card.params = dict(self.params)
        self.card.extra = {
            "trees": int(self.booster_.num_boosted_rounds()),
            "categorical": self.encoder_.categorical,
            "calibration": {"method": self.calibrator_["method"], "rows": int(len(cal_idx))},
            "train_rows": int(len(fit_idx)),
        }
        metrics: dict[str, float] = {}
        if valid is not None and len(valid):
            valid = valid[valid[LABEL].notna()]
            yv = binary_labels(self.name, valid[LABEL])
            margin = self._margin(self.encoder_.transform(valid))
            metrics = classification_metrics(yv, self._calibrate(margin))
            metrics["ece_raw"] = expected_calibration_error(yv, _sigmoid(margin))
        self.card.metrics = metrics
        return metrics

    def _split(self, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Stratified fitting / calibration row positions; no calibration part when a class is too rare."""
        frac = float(self.params["calibration_fraction"])
        idx = np.arange(len(y))
        minority = int(min(np.sum(y == 0), np.sum(y == 1)))
        if frac == 0.0 or minority * frac < 5:
            return idx, idx[:0]
        from sklearn.model_selection import train_test_split

        fit_idx, cal_idx = train_test_split(
            idx, test_size=frac, stratify=y, random_state=int(self.params["seed"])
        )
        return np.sort(fit_idx), np.sort(cal_idx)

    # ------------------------------------------------------------------ predicting

    def _require_fitted(self) -> None:
        if self.booster_ is None or self.encoder_ is None:
            raise ModelError("churn: the model is not fitted")

    def _margin(self, X: pd.DataFrame) -> np.ndarray:
        dm = xgb_dmatrix(X, self.encoder_.categorical, int(self.params["nthread"]))
        return self.booster_.predict(dm, output_margin=True)

    def _calibrate(self, margin: np.ndarray) -> np.ndarray:
        cal = self.calibrator_
        if cal["method"] == "platt":
            return _sigmoid(cal["a"] * margin + cal["b"])
        if cal["method"] == "isotonic":
            return np.interp(_sigmoid(margin), cal["x"], cal["y"])
        return _sigmoid(margin)

    def predict(self, frame: pd.DataFrame) -> pd.DataFrame:
        """`churn_risk` (calibrated probability) and `reasons` (feature names) per row, same index."""
        self._require_fitted()
        X = self.encoder_.transform(frame)
        dm = xgb_dmatrix(X, self.encoder_.categorical, int(self.params["nthread"]))
        risk = self._calibrate(self.booster_.predict(dm, output_margin=True))
        contribs = self.booster_.predict(
            dm, pred_contribs=True, approx_contribs=self.params["reasons_method"] == "approx"
        )
        reasons = top_reasons(contribs[:, :-1], X.columns, int(self.params["reasons"]))
        return pd.DataFrame({"churn_risk": risk, "reasons": reasons}, index=frame.index)

    # ------------------------------------------------------------------ persistence

    def _save(self, folder: Path) -> None:
        self._require_fitted()
        save_booster("xgboost", self.booster_, folder)
        state = {"encoder": self.encoder_.to_dict(), "calibrator": self.calibrator_}
        (folder / STATE_FILE).write_text(json.dumps(state), encoding="utf-8")

    def _load(self, folder: Path) -> None:
        state = json.loads((folder / STATE_FILE).read_text(encoding="utf-8"))
        self.encoder_ = FrameEncoder.from_dict(state["encoder"])
        self.calibrator_ = state["calibrator"]
        if self.calibrator_["method"] == "isotonic":
            self.calibrator_["x"] = np.asarray(self.calibrator_["x"])
            self.calibrator_["y"] = np.asarray(self.calibrator_["y"])
        self.booster_ = load_booster("xgboost", folder)


def _fit_calibrator(method: str, margin: np.ndarray, y: np.ndarray, seed: int) -> dict[str, Any]:
    if method == "platt":
        from sklearn.linear_model import LogisticRegression

        lr = LogisticRegression(C=1e6, random_state=seed).fit(margin.reshape(-1, 1), y)
        return {"method": "platt", "a": float(lr.coef_[0, 0]), "b": float(lr.intercept_[0])}
    from sklearn.isotonic import IsotonicRegression

    iso = IsotonicRegression(out_of_bounds="clip", y_min=1e-4, y_max=1 - 1e-4).fit(_sigmoid(margin), y)
    return {"method": "isotonic", "x": iso.X_thresholds_.tolist(), "y": iso.y_thresholds_.tolist()}


def top_reasons(contribs: np.ndarray, names: Sequence[str], k: int) -> list[list[str]]:
    """Per row, the at most `k` features with the largest positive contribution, largest first."""
    names = np.asarray(list(names), dtype=object)
    if contribs.size == 0 or k <= 0:
        return [[] for _ in range(len(contribs))]
    k = min(k, contribs.shape[1])
    order = np.argsort(-contribs, axis=1, kind="stable")[:, :k]
    top = np.take_along_axis(contribs, order, axis=1)
    return [list(names[o[t > 0]]) for o, t in zip(order, top, strict=True)]
