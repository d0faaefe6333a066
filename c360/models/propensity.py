"""Purchase propensity: the probability that a customer buys within a label's horizon (`kind: purchase`),
overall or in one category.

The classifier is LightGBM, shared with `c360.models.response` (`BoostedClassifier`): string columns become
LightGBM categoricals (the categories seen in training; an unseen value is missing), numbers stay numbers,
NaN is allowed. Training holds out a stratified `calibration_fraction` of its rows: the boosting rounds stop
early on it and a calibrator (Platt's sigmoid on the raw score by default, isotonic when asked) is fitted on
it, so the score is a probability a campaign can be sized with, not only a ranking.

Per category: a purchase label with `category` trains one model for that category, which is all a training
set holds. To rank categories for a customer in one model, `category_rows` expands feature rows to one row
per (customer, cutoff, category) with the customer's point-in-time history in that category (lines at or
before the cutoff only) and, when a horizon is given, the label "bought in this category in (cutoff, cutoff +
days]"; `category` is then a categorical feature beside the category's own history. One model shares what
categories have in common (recency, engagement) and still learns each category's own base rate; one model
per category would have to relearn those from a fraction of the rows each.

Held-out metrics: ROC-AUC, log loss, Brier score and lift in the top decile (the positive rate among the
10% highest scores over the overall rate).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pandas as pd

from c360.models.base import LABEL, Model, ModelError, check_training_frame, register

BOOSTER_FILE, ENCODER_FILE = "booster.txt", "encoder.json"

BOOSTER_DEFAULTS: dict[str, Any] = {
    "n_estimators": 600,
    "learning_rate": 0.05,
    "num_leaves": 15,
    "min_child_samples": 40,
    "subsample": 0.8,
    "colsample_bytree": 0.8,
    "reg_lambda": 1.0,
    "max_cat_to_onehot": 8,
    "cat_smooth": 20.0,
    "early_stopping_rounds": 50,
    "calibration": "sigmoid",  # sigmoid | isotonic | none
    "calibration_fraction": 0.2,
    "seed": 42,
    "n_jobs": 1,
}


# ------------------------------------------------------------------------------------------ metrics


def lift_at(y: np.ndarray, score: np.ndarray, fraction: float = 0.1) -> float:
    """Positive rate among the `fraction` highest scores over the overall positive rate."""
    y = np.asarray(y, dtype=float)
    base = y.mean() if len(y) else 0.0
    if base == 0:
        return float("nan")
    top = max(1, int(round(len(y) * fraction)))
    order = np.argsort(-np.asarray(score, dtype=float), kind="stable")[:top]
    return float(y[order].mean() / base)


def classification_metrics(y: np.ndarray, p: np.ndarray) -> dict[str, float]:
    """auc, log_loss, brier, lift_top_decile, base_rate, rows of held-out labels `y` and probabilities `p`."""
    from sklearn.metrics import brier_score_loss, log_loss, roc_auc_score

    y = np.asarray(y, dtype=int)
    p = np.clip(np.asarray(p, dtype=float), 1e-6, 1 - 1e-6)
    out = {"rows": float(len(y)), "base_rate": float(y.mean()) if len(y) else float("nan")}
    if len(np.unique(y)) < 2:
        return out
    out |= {
        "auc": float(roc_auc_score(y, p)),
        "log_loss": float(log_loss(y, p, labels=[0, 1])),
        "brier": float(brier_score_loss(y, p)),
        "lift_top_decile": lift_at(y, p, 0.1),
    }
    return out


# ------------------------------------------------------------------------------------------ encoding


class FrameEncoder:
    """Feature columns as LightGBM takes them: strings (and booleans stored as objects) become categoricals
    with the categories seen in training; everything else becomes float64."""

    def __init__(self, features: Sequence[str], categories: Mapping[str, list[str]] | None = None) -> None:
        self.features = list(features)
        self.categories: dict[str, list[str]] = dict(categories or {})

    @classmethod
    def fit(cls, frame: pd.DataFrame, features: Sequence[str]) -> FrameEncoder:
        categories = {}
        for col in features:
            s = frame[col]
            if not (pd.api.types.is_numeric_dtype(s) or pd.api.types.is_bool_dtype(s)):
                values = s.dropna().astype(str)
                categories[col] = sorted(values.unique().tolist())
        return cls(features, categories)

    def transform(self, frame: pd.DataFrame) -> pd.DataFrame:
        out = {}
        for col in self.features:
            s = frame[col] if col in frame.columns else pd.Series(np.nan, index=frame.index)
            if col in self.categories:
                text = s.astype("string").astype(object).where(s.notna(), None)
                out[col] = pd.Categorical(text, categories=self.categories[col])
            else:
                out[col] = pd.to_numeric(s.astype("Float64") if s.dtype == bool else s, errors="coerce")
                out[col] = pd.Series(out[col], index=frame.index).astype("float64")
        return pd.DataFrame(out, index=frame.index)

    def to_json(self) -> dict[str, Any]:
        return {"features": self.features, "categories": self.categories}


# ------------------------------------------------------------------------------------------ calibration


class Calibrator:
    """Raw booster margin -> probability: Platt's sigmoid (a, b), isotonic steps, or the booster's own."""

    def __init__(self, kind: str = "none", a: float = 1.0, b: float = 0.0, xs=None, ys=None) -> None:  # noqa: ANN001
        self.kind, self.a, self.b = kind, a, b
        self.xs = np.asarray(xs if xs is not None else [], dtype=float)
        self.ys = np.asarray(ys if ys is not None else [], dtype=float)

    @classmethod
    def fit(cls, kind: str, margin: np.ndarray, y: np.ndarray) -> Calibrator:
        if kind == "none" or len(np.unique(y)) < 2:
            return cls("none")
        if kind == "sigmoid":
            from sklearn.linear_model import LogisticRegression

            lr = LogisticRegression(C=1e6, max_iter=1000).fit(margin.reshape(-1, 1), y)
            return cls("sigmoid", float(lr.coef_[0, 0]), float(lr.intercept_[0]))
        if kind == "isotonic":
            from sklearn.isotonic import IsotonicRegression

            iso = IsotonicRegression(out_of_bounds="clip", y_min=1e-4, y_max=1 - 1e-4).fit(margin, y)
            return cls("isotonic", xs=iso.X_thresholds_, ys=iso.y_thresholds_)
        raise ModelError(f"calibration must be sigmoid, isotonic or none, not {kind!r}")

    def __call__(self, margin: np.ndarray) -> np.ndarray:
        if self.kind == "sigmoid":
            return 1.0 / (1.0 + np.exp(-(self.a * margin + self.b)))
        if self.kind == "isotonic":
            return np.interp(margin, self.xs, self.ys)
        return 1.0 / (1.0 + np.exp(-margin))

    def to_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "a": self.a, "b": self.b, "xs": self.xs.tolist(), "ys": self.ys.tolist()}


# ------------------------------------------------------------------------------------------ the classifier


class BoostedClassifier(Model):
    """A calibrated LightGBM binary classifier; `propensity` and `response` are this with their own name,
    score and feature preparation (`prepare`)."""

    defaults: ClassVar[dict[str, Any]] = dict(BOOSTER_DEFAULTS)

    def __init__(self, params: Mapping[str, Any] | None = None) -> None:
        super().__init__(params)
        self.booster_: Any = None
        self.encoder_: FrameEncoder | None = None
        self.calibrator_ = Calibrator()

    def prepare(self, frame: pd.DataFrame, features: Sequence[str]) -> list[str]:
        """The feature columns this model uses out of `features` (a subclass adds context columns)."""
        return list(features)

    def fit(
        self, train: pd.DataFrame, features: Sequence[str], valid: pd.DataFrame | None = None
    ) -> dict[str, float]:
        import lightgbm as lgb
        from sklearn.model_selection import train_test_split

        features = self.prepare(train, features)
        check_training_frame(self.name, train, features, classes=True)
        if not features:
            raise ModelError(f"{self.name}: no feature columns to train on")
        y = train[LABEL].astype(int).to_numpy()
        self.encoder_ = FrameEncoder.fit(train, features)
        x = self.encoder_.transform(train)
        p = self.params
        frac = float(p["calibration_fraction"])
        held = frac > 0 and min(np.bincount(y, minlength=2)) >= 10
        if held:
            fit_idx, cal_idx = train_test_split(
                np.arange(len(y)), test_size=frac, stratify=y, random_state=int(p["seed"])
            )
        else:
            fit_idx, cal_idx = np.arange(len(y)), np.arange(0)
        lgb_params = {
            "objective": "binary",
            "learning_rate": p["learning_rate"],
            "num_leaves": p["num_leaves"],
            "min_child_samples": p["min_child_samples"],
            "bagging_fraction": p["subsample"],
            "bagging_freq": 1,
            "feature_fraction": p["colsample_bytree"],
            "lambda_l2": p["reg_lambda"],
            "max_cat_to_onehot": p["max_cat_to_onehot"],
            "cat_smooth": p["cat_smooth"],
            "seed": int(p["seed"]),
            "num_threads": int(p["n_jobs"]),
            "verbosity": -1,
        }
        dtrain = lgb.Dataset(x.iloc[fit_idx], y[fit_idx], free_raw_data=False)
        valid_sets, callbacks = [], []
        if held and int(p["early_stopping_rounds"]) > 0:
            valid_sets = [lgb.Dataset(x.iloc[cal_idx], y[cal_idx], reference=dtrain)]
            callbacks = [lgb.early_stopping(int(p["early_stopping_rounds"]), verbose=False)]
        self.booster_ = lgb.train(
            lgb_params,
            dtrain,
            num_boost_round=int(p["n_estimators"]),
            valid_sets=valid_sets,
            callbacks=callbacks,
        )
        if held:
            self.calibrator_ = Calibrator.fit(
                str(p["calibration"]), self._margin(x.iloc[cal_idx]), y[cal_idx]
            )
        self.card.features = list(features)
        self.card.extra |= {
            "best_iteration": int(self.booster_.best_iteration or self.booster_.current_iteration()),
            "calibration": self.calibrator_.kind,
            "train_rows": len(y),
            "train_positives": int(y.sum()),
        }
        metrics: dict[str, float] = {}
        if valid is not None and len(valid):
            metrics = classification_metrics(valid[LABEL].astype(int).to_numpy(), self.probability(valid))
        self.card.metrics = metrics
        return metrics

    def _margin(self, x: pd.DataFrame) -> np.ndarray:
        it = self.booster_.best_iteration or None
        return self.booster_.predict(x, raw_score=True, num_iteration=it)

    def probability(self, frame: pd.DataFrame) -> np.ndarray:
        if self.booster_ is None or self.encoder_ is None:
            raise ModelError(f"{self.name}: not fitted")
        if len(frame) == 0:
            return np.zeros(0)
        return self.calibrator_(self._margin(self.encoder_.transform(frame)))

    def predict(self, frame: pd.DataFrame) -> pd.DataFrame:
        return pd.DataFrame({self.score_column: self.probability(frame)}, index=frame.index)

    @property
    def score_column(self) -> str:
        return self.name

    def feature_importance(self) -> pd.Series:
        """Total gain per feature, largest first."""
        gain = self.booster_.feature_importance(importance_type="gain")
        return pd.Series(gain, index=self.booster_.feature_name()).sort_values(ascending=False)

    def _save(self, folder: Path) -> None:
        self.booster_.save_model(str(folder / BOOSTER_FILE))
        doc = {"encoder": self.encoder_.to_json(), "calibrator": self.calibrator_.to_json()}  # type: ignore[union-attr]
        (folder / ENCODER_FILE).write_text(json.dumps(doc), encoding="utf-8")

    def _load(self, folder: Path) -> None:
        import lightgbm as lgb

        self.booster_ = lgb.Booster(model_file=str(folder / BOOSTER_FILE))
        doc = json.loads((folder / ENCODER_FILE).read_text(encoding="utf-8"))
        self.encoder_ = FrameEncoder(doc["encoder"]["features"], doc["encoder"]["categories"])
        self.calibrator_ = Calibrator(**doc["calibrator"])


@register
class Propensity(BoostedClassifier):
    """Purchase propensity (overall, or per category; see the module docstring)."""

    name = "propensity"
    score = None  # a purchase propensity, not mlScores.nextProductPropensity (a recommendation's score)


# ------------------------------------------------------------------------------------------ per category


def category_rows(
    frame: pd.DataFrame,
    lines: pd.DataFrame,
    categories: Sequence[str] | None = None,
    days: int | None = None,
) -> pd.DataFrame:
    """One row per (customer_id, event_timestamp, category) of `frame`, with the customer's history in the
    category as of event_timestamp from purchase `lines` (customer_id, ts, kind, category[, amount_rc]):
    `category_purchases`, `category_share` (of the customer's purchase lines), `category_days_since` (NaN
    when never), `category_spend`. With `days`, `label` is 1 when the customer buys a line of the category in
    (event_timestamp, event_timestamp + days]; otherwise a `label` in `frame` is dropped (it was about any
    category). Only lines at or before a row's time feed its features."""
    bought = lines[lines["kind"] == "purchase"].dropna(subset=["category", "ts"]).copy()
    bought["ts"] = pd.to_datetime(bought["ts"], utc=True)
    if "amount_rc" not in bought:
        bought["amount_rc"] = np.nan
    cats = sorted(bought["category"].astype(str).unique()) if categories is None else list(categories)
    base = frame.drop(columns=[LABEL], errors="ignore").reset_index(drop=True)
    base["event_timestamp"] = pd.to_datetime(base["event_timestamp"], utc=True)
    parts = []
    for cutoff, rows in base.groupby("event_timestamp", sort=True):
        past = bought[bought["ts"] <= cutoff]
        per = past.groupby(["customer_id", "category"]).agg(
            category_purchases=("ts", "size"), category_spend=("amount_rc", "sum"), last=("ts", "max")
        )
        total = past.groupby("customer_id").size()
        hit = None
        if days is not None:
            future = bought[(bought["ts"] > cutoff) & (bought["ts"] <= cutoff + pd.Timedelta(days=days))]
            hit = pd.MultiIndex.from_arrays([future["customer_id"], future["category"].astype(str)])
        for cat in cats:
            part = rows.copy()
            part["category"] = cat
            idx = pd.MultiIndex.from_arrays([part["customer_id"], part["category"]])
            stats = per.reindex(idx)
            part["category_purchases"] = stats["category_purchases"].fillna(0).to_numpy()
            part["category_spend"] = stats["category_spend"].fillna(0.0).to_numpy()
            n = total.reindex(part["customer_id"]).to_numpy(dtype=float)
            part["category_share"] = np.where(
                n > 0, part["category_purchases"] / np.where(n > 0, n, 1), np.nan
            )
            part["category_days_since"] = (cutoff - stats["last"]).dt.total_seconds().to_numpy() / 86400.0
            if hit is not None:
                part[LABEL] = idx.isin(hit).astype("int64")
            parts.append(part)
    if not parts:
        return base.assign(category=pd.Series(dtype=object))
    return pd.concat(parts, ignore_index=True)


CATEGORY_FEATURES = (
    "category",
    "category_purchases",
    "category_share",
    "category_days_since",
    "category_spend",
)


def top_categories(model: Model, frame: pd.DataFrame, n: int = 3) -> pd.DataFrame:
    """The `n` categories with the highest propensity per (customer_id, event_timestamp) of a frame built by
    `category_rows`: customer_id, event_timestamp, rank (1 = best), category, propensity."""
    scored = frame[["customer_id", "event_timestamp", "category"]].copy()
    scored["propensity"] = model.predict(frame).iloc[:, 0].to_numpy()
    scored = scored.sort_values(
        ["customer_id", "event_timestamp", "propensity"], ascending=[True, True, False]
    )
    scored["rank"] = scored.groupby(["customer_id", "event_timestamp"]).cumcount() + 1
    return scored[scored["rank"] <= n].reset_index(drop=True)
