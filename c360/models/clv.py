"""Customer lifetime value: the `clv` model (the product's default), BG/NBD + Gamma-Gamma (`clv_bgnbd`), the
naive rate baseline both are measured against, and value tiers.

- `clv` (`ClvModel`): expected spend over the label's horizon = P(the customer buys in it) x their run rate
  (spend per day over the observation window, the naive baseline's rate) x `horizon_days`. The probability
  is a LightGBM classifier of "label > 0" (shallow trees, slow rate, early stopping on a held-back part of
  the training rows: `XGB_TREE_DEFAULTS` as LightGBM's `lgb_tree_params`) on the feature columns plus
  scale-free features derived from the clv feature service's day counts and totals (`RUN_RATE_FEATURES`).
  Nothing here is a level learned from the training labels: a level fitted at the training cutoffs, which have
  less history than the scored one, does not travel (on Online Retail II 2009-2010, where this was chosen,
  it cost more than it gained). `anchor="none"`: a plain LightGBM Poisson regression of the label instead,
  for frames without the run-rate columns. When the labels cover a shorter window than the horizon
  (`label_days`), the probability is stretched to the horizon as a Poisson buyer's: 1 - (1 - P)^(H / L).
- `clv_bgnbd` (`ClvBgNbd`): BG/NBD + Gamma-Gamma (the maths in `c360.models.bgnbd`), fitted on the
  per-customer summary (`rfm_summary`, or the clv feature service's day counts, `summary_from_features`).
  Outputs: expected purchases and spend over `horizon_days`, the probability of being alive, the expected
  spend per purchase.
- `naive_rate`: spend (or purchases) per day over the calibration window times the horizon.
- `value_tiers`: top 5%, next 15%, rest by predicted value; `predict` of both models adds `value_tier`.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pandas as pd
from scipy import stats

from c360.models.base import LABEL, Model, ModelError, check_training_frame, register
from c360.models.bgnbd import (
    BgNbdParams,
    GammaGammaParams,
    bgnbd_expected,
    bgnbd_p_alive,
    fit_bgnbd,
    fit_gamma_gamma,
    gamma_gamma_expected,
)
from c360.models.boosting import (
    XGB_TREE_DEFAULTS,
    BoosterData,
    BoosterFit,
    FrameEncoder,
    lgb_tree_params,
    load_booster,
    plain_fit,
    save_booster,
)
from c360.models.rfm_summary import DAY, SUMMARY_COLUMNS, summary_of

TIERS = ("top5", "next15", "rest")
TIER_SHARES = (0.05, 0.15)


# ------------------------------------------------------------------------------------------- shared helpers


def value_tiers(values: pd.Series | np.ndarray) -> pd.Series:
    """top5 / next15 / rest by value, highest first: the first ceil(5%) of customers, the next ceil(20%) less
    them, the rest (ties broken by position, so the shares hold exactly). NaN values are `rest`."""
    series = pd.Series(values) if not isinstance(values, pd.Series) else values
    n = len(series)
    arr = series.to_numpy(dtype="float64")
    order = np.argsort(-np.nan_to_num(arr, nan=-np.inf), kind="stable")
    rank = np.empty(n, dtype="int64")
    rank[order] = np.arange(n)
    top = math.ceil(TIER_SHARES[0] * n)
    next_ = math.ceil((TIER_SHARES[0] + TIER_SHARES[1]) * n)
    tiers = np.where(rank < top, TIERS[0], np.where(rank < next_, TIERS[1], TIERS[2]))
    tiers = np.where(np.isnan(arr), TIERS[2], tiers)
    return pd.Series(tiers, index=series.index, name="value_tier", dtype=object)


def naive_rate(
    spend: np.ndarray | pd.Series, window_days: float | np.ndarray, horizon_days: float | np.ndarray
) -> np.ndarray:
    """The naive baseline: what a customer spent (or bought) per day over the calibration window, times the
    horizon (numbers or one per customer)."""
    window = np.asarray(window_days, dtype="float64")
    return np.asarray(spend, dtype="float64") / window * np.asarray(horizon_days, dtype="float64")


def clv_metrics(actual: np.ndarray, predicted: np.ndarray, top: float = 0.10) -> dict[str, float]:
    """rmse, spearman, and top_decile: the share of the actual total held by the `top` predicted customers."""
    y = np.asarray(actual, dtype="float64")
    f = np.asarray(predicted, dtype="float64")
    out = {"rmse": float(np.sqrt(np.mean((y - f) ** 2)))}
    out["spearman"] = (
        float(stats.spearmanr(y, f).statistic) if np.std(f) > 0 and np.std(y) > 0 else float("nan")
    )
    k = max(1, math.ceil(top * len(y)))
    chosen = np.argsort(-f, kind="stable")[:k]
    total = y.clip(min=0).sum()
    out["top_decile"] = float(y[chosen].clip(min=0).sum() / total) if total > 0 else float("nan")
    return out


# ------------------------------------------------------------------------------------------- models


@register
class ClvBgNbd(Model):
    """BG/NBD + Gamma-Gamma. Rows carry the summary columns (`rfm_summary`), the profile timestamps
    `summary_from_profile` reads, or the clv feature service's day counts `summary_from_features` reads
    (what `c360 train clv_bgnbd` gives it: there T is the tenure from the customer's first fact, the earliest
    of identity first observation, first line and first interaction, not from their first purchase); the
    label (net spend over the horizon), when present, only scores `valid`, on the rows with a known age."""

    name = "clv_bgnbd"
    score = "clv"
    defaults: ClassVar[dict[str, Any]] = {"horizon_days": 365.0, "penalizer": 0.0}

    def __init__(self, params: dict[str, Any] | None = None) -> None:
        super().__init__(params)
        self.bgnbd: BgNbdParams | None = None
        self.gamma_gamma: GammaGammaParams | None = None

    def fit(
        self, train: pd.DataFrame, features: Sequence[str] = (), valid: pd.DataFrame | None = None
    ) -> dict[str, float]:
        if train is None or len(train) == 0:
            raise ModelError(f"{self.name}: the training set is empty")
        s = summary_of(train)
        s = s[s["T"].notna()]
        if s.empty:
            raise ModelError(
                f"{self.name}: no training row has a known age (T, first_seen_at or tenure_days)"
            )
        pen = float(self.params["penalizer"])
        self.bgnbd, ll = fit_bgnbd(s["frequency"].to_numpy(), s["recency"].to_numpy(), s["T"].to_numpy(), pen)
        self.gamma_gamma, gg_ll = fit_gamma_gamma(s["frequency"].to_numpy(), s["monetary"].to_numpy(), pen)
        self.card.features = list(SUMMARY_COLUMNS)
        self.card.extra.update(
            {
                "bgnbd": asdict(self.bgnbd),
                "gamma_gamma": asdict(self.gamma_gamma),
                "log_likelihood": ll,
                "gamma_gamma_log_likelihood": gg_ll,
                "rows": len(s),
            }
        )
        metrics: dict[str, float] = {}
        if valid is not None and len(valid) and LABEL in valid.columns:
            predicted = self.predict(valid)["clv"].to_numpy()
            known = np.isfinite(predicted)  # rows without a known age get no value
            if known.any():
                actual = pd.to_numeric(valid[LABEL], errors="coerce").fillna(0.0).to_numpy(dtype="float64")
                metrics = clv_metrics(actual[known], predicted[known])
        self.card.metrics = metrics
        return metrics

    def predict(self, frame: pd.DataFrame, horizon_days: float | None = None) -> pd.DataFrame:
        if self.bgnbd is None or self.gamma_gamma is None:
            raise ModelError(f"{self.name}: not fitted")
        horizon = float(horizon_days if horizon_days is not None else self.params["horizon_days"])
        s = summary_of(frame)
        x, tx, t, m = (s[c].to_numpy() for c in SUMMARY_COLUMNS)
        purchases = bgnbd_expected(self.bgnbd, horizon, x, tx, t)
        per_purchase = gamma_gamma_expected(self.gamma_gamma, x, m)
        clv = purchases * per_purchase
        out = pd.DataFrame(
            {
                "clv": clv,
                "purchases": purchases,
                "p_alive": bgnbd_p_alive(self.bgnbd, x, tx, t),
                "spend_per_purchase": per_purchase,
            },
            index=frame.index,
        )
        out["value_tier"] = value_tiers(out["clv"])
        return out

    def _save(self, folder: Path) -> None:
        if self.bgnbd is None or self.gamma_gamma is None:
            raise ModelError(f"{self.name}: not fitted; nothing to save")
        doc = {"bgnbd": asdict(self.bgnbd), "gamma_gamma": asdict(self.gamma_gamma)}
        (folder / "params.json").write_text(json.dumps(doc, indent=1), encoding="utf-8")

    def _load(self, folder: Path) -> None:
        doc = json.loads((folder / "params.json").read_text(encoding="utf-8"))
        self.bgnbd = BgNbdParams(**doc["bgnbd"])
        self.gamma_gamma = GammaGammaParams(**doc["gamma_gamma"])


# ------------------------------------------------------------------------------------------- the clv model

ANCHORS = ("spend", "purchases", "none")
RUN_RATE_FEATURES = (
    "rr_run_rate", "rr_spend_per_tenure_day", "rr_purchases_per_tenure_day", "rr_spend_per_purchase",
    "rr_since_over_tenure", "rr_overdue", "rr_tenure_share", "rr_window_days",
)  # fmt: skip
RECENT_DAYS = 365.0
"""The run rate's span at most: the year `orders_last_365d` counts."""
"""What `ClvModel` derives from the day counts and totals, beside the feature columns it is given: the run
rate the prediction scales, per-day rates over the customer's own tenure, spend per purchase, days since
the last purchase against the tenure and against the mean gap between purchases, the tenure's share of the
observation window, and that window."""


def _row_times(frame: pd.DataFrame) -> pd.Series:
    """Each row's time: `event_timestamp` (the cutoff or the feature read), else now (as in scoring)."""
    if "event_timestamp" in frame.columns:
        return pd.to_datetime(frame["event_timestamp"], utc=True)
    return pd.Series(pd.Timestamp.now(tz="UTC"), index=frame.index)


def run_rate_inputs(frame: pd.DataFrame, name: str = "clv") -> pd.DataFrame:
    """purchases, spend, tenure and since (days since the last purchase) per row, from the clv feature
    service's `total_purchases`, `total_spend` (else `avg_order_value` x purchases), `tenure_days` and
    `days_since_last_purchase` (optional). Spend is net of returns, floored at 0."""
    spend_col = "total_spend" if "total_spend" in frame.columns else "avg_order_value"
    missing = [c for c in ("total_purchases", spend_col, "tenure_days") if c not in frame.columns]
    if missing:
        raise ModelError(
            f"{name}: the run-rate anchor needs total_purchases, total_spend (or avg_order_value) and "
            f"tenure_days (the clv feature service's columns); missing: {', '.join(missing)}; "
            "anchor='none' fits a plain regression instead"
        )

    def number(column: str) -> pd.Series:
        if column not in frame.columns:
            return pd.Series(np.nan, index=frame.index, dtype="float64")
        return pd.to_numeric(frame[column], errors="coerce").astype("float64")

    purchases = number("total_purchases").fillna(0.0).clip(lower=0)
    spend = number(spend_col).fillna(0.0)
    if spend_col == "avg_order_value":
        spend = spend * purchases
    return pd.DataFrame(
        {
            "purchases": purchases,
            "spend": spend.clip(lower=0),
            "tenure": number("tenure_days").clip(lower=0),
            "since": number("days_since_last_purchase").clip(lower=0),
        },
        index=frame.index,
    )


@register
class ClvModel(Model):
    """Expected spend (or purchases, `anchor="purchases"`) over `horizon_days` = P(a purchase in the label's
    horizon) x the run rate x `horizon_days` (module docstring). The run rate is the total over the
    observation window, which runs from the oldest customer's first fact among the training rows (`origin`,
    saved with the model) to the row's `event_timestamp`: the naive baseline's rate, so the model is the
    naive rate times a learned probability of buying again. Training rows need the label (net spend over the
    training set's horizon; > 0 is the classifier's positive) and the clv feature service's
    `total_purchases`, `total_spend`, `tenure_days` (`days_since_last_purchase` when there). The classifier
    is a LightGBM booster trained through `c360.models.boosting.train_booster`, so Ray Train can take it
    over (`booster_fit`, `c360.models.ray_fit`). `anchor="none"`: a LightGBM Poisson regression of the
    label on the feature columns (a negative label fitted as 0); `horizon_days` is then unused."""

    name = "clv"
    score = "clv"
    booster_library: ClassVar[str] = "lightgbm"
    defaults: ClassVar[dict[str, Any]] = {
        **XGB_TREE_DEFAULTS,
        "anchor": "spend",
        "horizon_days": 365.0,
        "label_days": None,
        "validation_fraction": 0.2,
        "nthread": 1,
        "seed": 0,
    }

    def __init__(self, params: dict[str, Any] | None = None) -> None:
        super().__init__(params)
        if self.params["anchor"] not in ANCHORS:
            raise ModelError(f"clv: anchor {self.params['anchor']!r} unknown; known: {', '.join(ANCHORS)}")
        if not 0.0 <= float(self.params["validation_fraction"]) < 1.0:
            raise ModelError("clv: validation_fraction must be in [0, 1)")
        self.encoder_: FrameEncoder | None = None
        self.booster_: Any = None
        self.origin_: pd.Timestamp | None = None

    @property
    def anchored(self) -> bool:
        return self.params["anchor"] != "none"

    def lgb_params(self) -> dict[str, Any]:
        if self.anchored:
            return {"objective": "binary", "metric": "binary_logloss", **lgb_tree_params(self.params)}
        return {"objective": "poisson", "metric": "poisson", **lgb_tree_params(self.params)}

    def _window(self, frame: pd.DataFrame, inputs: pd.DataFrame) -> pd.Series:
        """Days from `origin` to each row's time, at least the row's tenure and one day."""
        days = (_row_times(frame) - self.origin_) / DAY
        return np.maximum(days.astype("float64"), inputs["tenure"].fillna(0.0)).clip(lower=1.0)

    def _run_rate(self, frame: pd.DataFrame) -> tuple[pd.Series, pd.DataFrame]:
        """The run rate per row (per day) and the derived features (`RUN_RATE_FEATURES`).

        The rate is over the last `RECENT_DAYS` of the window when the frame has `orders_last_365d`: the
        orders of that year at the customer's mean order value, over min(window, a year). A window of a year
        or less gives the whole window's rate; a longer one follows what the customer does now, not what they
        did years ago (on the demo data, whose customers drift, the whole-window rate lost to last year's)."""
        r = run_rate_inputs(frame, self.name)
        window = self._window(frame, r)
        total, span = r["spend"] if self.params["anchor"] == "spend" else r["purchases"], window
        if "orders_last_365d" in frame.columns:
            recent = pd.to_numeric(frame["orders_last_365d"], errors="coerce").fillna(0.0).clip(lower=0)
            share = (recent / r["purchases"]).where(r["purchases"] > 0, 0.0).clip(upper=1.0)
            total, span = total * share, np.minimum(window, RECENT_DAYS)
        tenure = r["tenure"].clip(lower=1.0)
        repeats = r["purchases"] - 1
        gap = ((r["tenure"] - r["since"]).clip(lower=0) / repeats).where(repeats > 0)
        derived = pd.DataFrame(
            {
                "rr_run_rate": total / span,
                "rr_spend_per_tenure_day": r["spend"] / tenure,
                "rr_purchases_per_tenure_day": r["purchases"] / tenure,
                "rr_spend_per_purchase": (r["spend"] / r["purchases"]).where(r["purchases"] > 0),
                "rr_since_over_tenure": r["since"] / tenure,
                "rr_overdue": r["since"] / gap.where(gap > 0),
                "rr_tenure_share": r["tenure"] / window,
                "rr_window_days": window,
            },
            index=frame.index,
        )
        return total / span, derived.astype("float64")

    def _matrix(self, frame: pd.DataFrame) -> pd.DataFrame:
        if self.encoder_ is None:
            raise ModelError(f"{self.name}: not fitted")
        X = self.encoder_.transform(frame)
        if self.anchored:
            X = pd.concat([X, self._run_rate(frame)[1]], axis=1)
        return X

    def fit(
        self,
        train: pd.DataFrame,
        features: Sequence[str],
        valid: pd.DataFrame | None = None,
        *,
        booster_fit: BoosterFit | None = None,
    ) -> dict[str, float]:
        features = [f for f in features if f != LABEL and f not in RUN_RATE_FEATURES]
        check_training_frame(self.name, train, features, classes=False)
        if not features:
            raise ModelError(f"{self.name}: no feature columns")
        y = pd.to_numeric(train[LABEL], errors="coerce").fillna(0.0).to_numpy(dtype="float64")
        self.encoder_ = FrameEncoder.fit(train, features)
        if self.anchored:
            r = run_rate_inputs(train, self.name)
            starts = _row_times(train) - pd.to_timedelta(r["tenure"], unit="D")
            if starts.notna().sum() == 0:
                raise ModelError(f"{self.name}: no training row has a known tenure_days")
            self.origin_ = starts.min()
            target = (y > 0).astype("float64")
        else:
            target = y.clip(min=0)
        X = self._matrix(train)
        fit_idx, val_idx = self._split(len(y))
        categorical = self.encoder_.categorical
        fit_data = BoosterData(X.iloc[fit_idx], {"label": target[fit_idx]}, categorical)
        val_data = (
            BoosterData(X.iloc[val_idx], {"label": target[val_idx]}, categorical) if len(val_idx) else None
        )
        self.booster_ = (booster_fit or plain_fit)(
            "lightgbm",
            self.lgb_params(),
            fit_data,
            val_data,
            int(self.params["n_estimators"]),
            int(self.params["early_stopping_rounds"]) or None,
        )
        self.card.features = list(features)
        self.card.params = dict(self.params)
        self.card.extra = {
            "trees": int(self.booster_.best_iteration or self.booster_.current_iteration()),
            "categorical": categorical,
            "anchor": self.params["anchor"],
            "origin": None if self.origin_ is None else self.origin_.isoformat(),
            "train_rows": int(len(fit_idx)),
            "validation_rows": int(len(val_idx)),
        }
        metrics: dict[str, float] = {}
        if valid is not None and len(valid) and LABEL in valid.columns:
            actual = pd.to_numeric(valid[LABEL], errors="coerce").fillna(0.0).to_numpy(dtype="float64")
            metrics = clv_metrics(actual, self.predict(valid)["clv"].to_numpy())
        self.card.metrics = metrics
        return metrics

    def _split(self, n: int) -> tuple[np.ndarray, np.ndarray]:
        """Fitting / early-stopping row positions (seeded); no early-stopping part for tiny sets."""
        frac = float(self.params["validation_fraction"])
        idx = np.arange(n)
        if frac == 0.0 or n * frac < 20:
            return idx, idx[:0]
        held = np.random.default_rng(int(self.params["seed"])).random(n) < frac
        return idx[~held], idx[held]

    def predict(self, frame: pd.DataFrame) -> pd.DataFrame:
        if self.booster_ is None or self.encoder_ is None:
            raise ModelError(f"{self.name}: not fitted")
        X = self._matrix(frame)
        margin = np.asarray(
            self.booster_.predict(X, raw_score=True, num_threads=int(self.params["nthread"])), dtype="float64"
        )
        if self.anchored:
            rate = self._run_rate(frame)[0].to_numpy(dtype="float64")
            p_buy = self._over_horizon(1.0 / (1.0 + np.exp(-margin)))
            out = pd.DataFrame(
                {"clv": p_buy * rate * float(self.params["horizon_days"]), "p_buy": p_buy}, index=frame.index
            )
        else:
            out = pd.DataFrame({"clv": np.exp(margin)}, index=frame.index)
        out["value_tier"] = value_tiers(out["clv"])
        return out

    def _over_horizon(self, p_label: np.ndarray) -> np.ndarray:
        """P(a purchase within `horizon_days`) from the classifier's P within the training label's window
        (`label_days`; None: the horizon itself). A customer buying as a Poisson process does not buy in a
        window H long with probability (1 - P_L) ** (H / L)."""
        label_days = self.params.get("label_days")
        if not label_days:
            return p_label
        ratio = float(self.params["horizon_days"]) / float(label_days)
        return 1.0 - np.power(1.0 - np.clip(p_label, 0.0, 1.0), ratio)

    def _save(self, folder: Path) -> None:
        if self.booster_ is None or self.encoder_ is None:
            raise ModelError(f"{self.name}: not fitted; nothing to save")
        save_booster("lightgbm", self.booster_, folder)
        doc = {
            "encoder": self.encoder_.to_dict(),
            "origin": None if self.origin_ is None else self.origin_.isoformat(),
        }
        (folder / "columns.json").write_text(json.dumps(doc, indent=1), encoding="utf-8")

    def _load(self, folder: Path) -> None:
        doc = json.loads((folder / "columns.json").read_text(encoding="utf-8"))
        self.encoder_ = FrameEncoder.from_dict(doc["encoder"])
        self.origin_ = None if doc.get("origin") is None else pd.Timestamp(doc["origin"])
        self.booster_ = load_booster("lightgbm", folder)
