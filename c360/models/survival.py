"""Time to churn: an XGBoost accelerated-failure-time model (`survival:aft`), expected remaining lifetime.

Frame: the feature columns, a duration column (`duration` parameter, default `tenure_days`: how long the
customer has been a customer, in the state's units) and `label` = 1 when the customer churned at that
duration, 0 when still a customer then (right-censored). The duration column is never a feature. With
`event_window` w (a c360 churn label: churned within w days after the cutoff, the duration the tenure at the
cutoff) an event is interval-censored in (t, t + w] and a non-event right-censored at t + w. Rows without a
duration are left out of training (counted in the card) and get no remaining lifetime.

The booster learns mu(x) in log T = mu(x) + sigma * Z (Z normal, logistic or extreme-value). XGBoost fixes
sigma while fitting; the model then re-estimates sigma by censored maximum likelihood on its internal
validation rows, so lifetimes come out on the data's own scale without tuning the parameter per data set.

predict() gives, per row:
- `expected_remaining_lifetime`: E[min(T, t0 + H) - t0 | T > t0], the restricted mean residual lifetime from
  the customer's current duration t0 (0 when the frame has no duration column) over the horizon H (`horizon`,
  default the longest duration seen in training: beyond the data the tail is extrapolation);
- `median_lifetime`: exp(mu), the median total lifetime.

Held-out metric: Harrell's concordance index (`concordance`) of the predicted median lifetime against
(duration, event), computed in numpy (`concordance_index`).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pandas as pd
from scipy import optimize, special

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
from c360.models.churn import binary_labels

STATE_FILE = "survival.json"
DISTRIBUTIONS = ("normal", "logistic", "extreme")
CONCORDANCE_MAX_ROWS = 50_000
"""Above this many rows the O(n^2) pair count runs on a seeded sample of this size."""


def concordance_index(
    durations: np.ndarray,
    predicted: np.ndarray,
    events: np.ndarray,
    *,
    max_rows: int = CONCORDANCE_MAX_ROWS,
    seed: int = 0,
    chunk: int = 2048,
) -> float:
    """Harrell's C: among comparable pairs, the share ordered the same way by `predicted` (a time: larger
    means longer-lived) as by the observed durations; ties in `predicted` count one half.

    A pair (i, j) is comparable when i had the event and either T_i < T_j, or T_i == T_j and j is censored
    (the event came first): the convention of lifelines' `concordance_index`. NaN when no pair is
    comparable."""
    t = np.asarray(durations, dtype="float64")
    p = np.asarray(predicted, dtype="float64")
    e = np.asarray(events).astype(bool)
    if not (len(t) == len(p) == len(e)):
        raise ValueError("durations, predicted and events differ in length")
    if len(t) > max_rows:
        keep = np.random.default_rng(seed).choice(len(t), size=max_rows, replace=False)
        t, p, e = t[keep], p[keep], e[keep]
    concordant = tied = pairs = 0.0
    ev = np.flatnonzero(e)
    for start in range(0, len(ev), chunk):
        i = ev[start : start + chunk]
        ti, pi = t[i][:, None], p[i][:, None]
        comparable = (t[None, :] > ti) | ((t[None, :] == ti) & ~e[None, :])
        pairs += comparable.sum()
        concordant += (comparable & (p[None, :] > pi)).sum()
        tied += (comparable & (p[None, :] == pi)).sum()
    return float((concordant + 0.5 * tied) / pairs) if pairs else float("nan")


def _log_sf(z: np.ndarray, dist: str) -> np.ndarray:
    if dist == "normal":
        return special.log_ndtr(-z)
    if dist == "logistic":
        return -np.logaddexp(0.0, z)
    return -np.exp(np.clip(z, -50, 50))  # extreme value (minimum): S = exp(-e^z), T Weibull


def _log_pdf(z: np.ndarray, dist: str) -> np.ndarray:
    if dist == "normal":
        return -0.5 * z**2 - 0.5 * np.log(2 * np.pi)
    if dist == "logistic":
        return z - 2 * np.logaddexp(0.0, z)
    zc = np.clip(z, -50, 50)
    return zc - np.exp(zc)


def fit_scale(log_t: np.ndarray, mu: np.ndarray, events: np.ndarray, dist: str) -> float:
    """Censored maximum-likelihood sigma of log T - mu (events: density, censored: survival)."""
    r = log_t - mu
    ev = events.astype(bool)

    def nll(log_sigma: float) -> float:
        s = np.exp(log_sigma)
        z = r / s
        return -float(np.sum(_log_pdf(z[ev], dist) - log_sigma) + np.sum(_log_sf(z[~ev], dist)))

    res = optimize.minimize_scalar(nll, bounds=(np.log(0.02), np.log(20.0)), method="bounded")
    return float(np.exp(res.x))


def restricted_mean_residual(
    mu: np.ndarray, sigma: float, t0: np.ndarray, horizon: float, dist: str, points: int = 64
) -> np.ndarray:
    """E[min(T, t0 + H) - t0 | T > t0] per row, by the trapezoid rule on `points` nodes (chunked rows)."""
    out = np.empty(len(mu), dtype="float64")
    grid = np.linspace(0.0, 1.0, points)
    for start in range(0, len(mu), 100_000):
        m, a = mu[start : start + 100_000, None], t0[start : start + 100_000, None]
        u = a + horizon * grid[None, :]
        with np.errstate(divide="ignore"):
            log_s = _log_sf((np.log(np.maximum(u, 1e-12)) - m) / sigma, dist)
        log_s0 = log_s[:, :1]
        s = np.exp(np.minimum(log_s - log_s0, 0.0))  # S(u) / S(t0), stable far in the tail
        out[start : start + 100_000] = np.trapezoid(s, dx=horizon / (points - 1), axis=1)
    return out


@register
class SurvivalModel(Model):
    name = "churn_survival"
    score = None  # no mlScores field: read from the model's predictions
    booster_library: ClassVar[str] = "xgboost"
    defaults: ClassVar[dict[str, Any]] = {
        "duration": "tenure_days",
        "distribution": "normal",
        "distribution_scale": 1.0,
        "horizon": None,
        "event_window": None,
        **XGB_TREE_DEFAULTS,
        "valid_fraction": 0.2,
        "nthread": 1,
        "seed": 42,
    }

    def __init__(self, params: dict[str, Any] | None = None) -> None:
        super().__init__(params)
        if self.params["distribution"] not in DISTRIBUTIONS:
            raise ModelError(
                f"churn_survival: distribution {self.params['distribution']!r} unknown; "
                f"known: {', '.join(DISTRIBUTIONS)}"
            )
        if not 0.0 <= float(self.params["valid_fraction"]) < 1.0:
            raise ModelError("churn_survival: valid_fraction must be in [0, 1)")
        self.encoder_: FrameEncoder | None = None
        self.booster_: Any = None
        self.sigma_: float = float(self.params["distribution_scale"])
        self.horizon_: float | None = None

    def xgb_params(self) -> dict[str, Any]:
        p = self.params
        return {
            "objective": "survival:aft",
            "eval_metric": "aft-nloglik",
            "aft_loss_distribution": str(p["distribution"]),
            "aft_loss_distribution_scale": float(p["distribution_scale"]),
            **xgb_tree_params(p),
        }

    def _durations(self, frame: pd.DataFrame) -> np.ndarray:
        """The duration column as numbers (NaN where missing); a negative duration is refused by name."""
        col = self.params["duration"]
        if col not in frame.columns:
            raise ModelError(f"churn_survival: the frame has no duration column {col!r}")
        t = pd.to_numeric(frame[col], errors="coerce").to_numpy(dtype="float64")
        if (t < 0).any():
            raise ModelError(f"churn_survival: duration {col!r} must be >= 0 (or missing) on every row")
        return t

    def _with_duration(self, frame: pd.DataFrame) -> pd.DataFrame:
        """Rows with a label and a duration: a row without either says nothing about time to churn."""
        frame = frame[frame[LABEL].notna()]
        return frame[~np.isnan(self._durations(frame))]

    def _event_times(self, t: np.ndarray, events: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(lower, upper) bounds of each lifetime. Without `event_window` an event happened at t and a
        non-event is right-censored at t. With window w the label means "churned within w after t" (a
        c360 churn label at a cutoff, t the tenure then): an event lies in (t, t + w], a non-event survived
        t + w."""
        w = float(self.params["event_window"] or 0.0)
        if w > 0:
            return np.where(events == 1, t, t + w), np.where(events == 1, t + w, np.inf)
        return t, np.where(events == 1, t, np.inf)

    def _point_times(self, t: np.ndarray, events: np.ndarray) -> np.ndarray:
        """One time per row for the concordance and the scale: an event window's midpoint, else t."""
        w = float(self.params["event_window"] or 0.0)
        return t + np.where(events == 1, w / 2, w) if w > 0 else t

    def fit(
        self,
        train: pd.DataFrame,
        features: Sequence[str],
        valid: pd.DataFrame | None = None,
        *,
        booster_fit: BoosterFit | None = None,
    ) -> dict[str, float]:
        duration = self.params["duration"]
        features = [f for f in features if f not in (LABEL, duration)]
        if not features:
            raise ModelError("churn_survival: no feature columns")
        check_training_frame(self.name, train, features, classes=False)
        rows_in = len(train)
        train = self._with_duration(train)
        events = binary_labels(self.name, train[LABEL])
        if events.sum() == 0:
            raise ModelError(
                "churn_survival: no churn event in the training set; time to churn is unknowable"
            )
        t = self._durations(train)
        positive = t[t > 0]
        floor = float(positive.min()) / 2 if len(positive) else 1.0
        lower, upper = self._event_times(t, events)
        lower = np.where(upper == lower, np.maximum(lower, floor), lower)  # an exact event time must be > 0
        upper = np.where(upper < np.inf, np.maximum(upper, lower), upper)
        self.encoder_ = FrameEncoder.fit(train, features)
        X = self.encoder_.transform(train)
        fit_idx, val_idx = self._split(events)

        def data(idx: np.ndarray) -> BoosterData:
            labels = {"label_lower_bound": lower[idx], "label_upper_bound": upper[idx]}
            return BoosterData(X.iloc[idx], labels, self.encoder_.categorical)

        self.booster_ = (booster_fit or plain_fit)(
            "xgboost",
            self.xgb_params(),
            data(fit_idx),
            data(val_idx) if len(val_idx) else None,
            int(self.params["n_estimators"]),
            int(self.params["early_stopping_rounds"]) or None,
        )
        scale_idx = val_idx if len(val_idx) else fit_idx
        mu = self._mu(X.iloc[scale_idx])
        log_t = np.log(np.maximum(self._point_times(t, events)[scale_idx], floor))
        self.sigma_ = fit_scale(log_t, mu, events[scale_idx], self.params["distribution"])
        self.horizon_ = float(self.params["horizon"] or self._point_times(t, events).max() or 1.0)
        self.card.features = list(features)
        self.card.params = dict(self.params)
        self.card.extra = {
            "trees": int(self.booster_.num_boosted_rounds()),
            "sigma": self.sigma_,
            "horizon": self.horizon_,
            "duration": duration,
            "categorical": self.encoder_.categorical,
            "rows_without_duration": int(rows_in - len(train)),
        }
        metrics: dict[str, float] = {}
        if valid is not None and len(valid):
            valid = self._with_duration(valid)
            pred = np.exp(self._mu(self.encoder_.transform(valid)))
            ev = binary_labels(self.name, valid[LABEL])
            metrics = {
                "concordance": concordance_index(self._point_times(self._durations(valid), ev), pred, ev),
                "rows": float(len(valid)),
                "events": float(ev.sum()),
            }
        self.card.metrics = metrics
        return metrics

    def _split(self, events: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        frac = float(self.params["valid_fraction"])
        idx = np.arange(len(events))
        if frac == 0.0 or min(events.sum(), len(events) - events.sum()) * frac < 5:
            return idx, idx[:0]
        from sklearn.model_selection import train_test_split

        a, b = train_test_split(idx, test_size=frac, stratify=events, random_state=int(self.params["seed"]))
        return np.sort(a), np.sort(b)

    def _mu(self, X: pd.DataFrame) -> np.ndarray:
        dm = xgb_dmatrix(X, self.encoder_.categorical, int(self.params["nthread"]))
        return self.booster_.predict(dm, output_margin=True).astype("float64")

    def predict(self, frame: pd.DataFrame) -> pd.DataFrame:
        if self.booster_ is None or self.encoder_ is None or self.horizon_ is None:
            raise ModelError("churn_survival: the model is not fitted")
        mu = self._mu(self.encoder_.transform(frame))
        col = self.params["duration"]
        t0 = (
            np.maximum(pd.to_numeric(frame[col], errors="coerce").to_numpy(dtype="float64"), 0.0)
            if col in frame.columns
            else np.zeros(len(frame))
        )
        known = ~np.isnan(t0)  # a row whose duration is missing gets no remaining lifetime, not a made-up one
        remaining = np.full(len(frame), np.nan)
        remaining[known] = restricted_mean_residual(
            mu[known], self.sigma_, t0[known], self.horizon_, self.params["distribution"]
        )
        return pd.DataFrame(
            {"expected_remaining_lifetime": remaining, "median_lifetime": np.exp(mu)}, index=frame.index
        )

    def _save(self, folder: Path) -> None:
        if self.booster_ is None or self.encoder_ is None:
            raise ModelError("churn_survival: the model is not fitted")
        save_booster("xgboost", self.booster_, folder)
        state = {"encoder": self.encoder_.to_dict(), "sigma": self.sigma_, "horizon": self.horizon_}
        (folder / STATE_FILE).write_text(json.dumps(state), encoding="utf-8")

    def _load(self, folder: Path) -> None:
        state = json.loads((folder / STATE_FILE).read_text(encoding="utf-8"))
        self.encoder_ = FrameEncoder.from_dict(state["encoder"])
        self.sigma_ = float(state["sigma"])
        self.horizon_ = float(state["horizon"])
        self.booster_ = load_booster("xgboost", folder)
