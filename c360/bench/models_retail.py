"""Lifetime value and churn on UCI Online Retail, through the user's path.

The example workspace (examples/online_retail: its `c360.yaml` and `setup.sh`, which links the dataset in
place) is built in a temporary folder with the user's commands (`c360 ingest`, `resolve`, `facts`; see
`c360.bench.retail_data`); the models read what those stages wrote: `facts/transaction_lines`, and the
profile features at a cutoff computed by the feature history's code (`c360.features.history.features_at`,
what `c360 features backfill` writes) from the facts truncated there, with the clv feature service's day
counts (`tenure_days`, `days_since_last_purchase`, `days_since_last_interaction`: whole days before the
cutoff).

Lifetime value: calibrate on the first six months (to 2011-06-01), predict the next six. Per customer with
a purchase in calibration: RMSE of holdout purchases (orders), Spearman of predicted and actual holdout spend
(net of returns), and the share of holdout revenue held by the top 10% predicted customers, side by side:
- naive: orders and spend per day over the calibration window, times the horizon;
- BG/NBD + Gamma-Gamma (`clv_bgnbd`) fitted on the calibration summary;
- the product's clv model (`clv`, `ClvModel` with its defaults; `anchor="purchases"` for orders) on the
  clv feature service's columns (profile features, timestamps as the service's day counts) plus the
  behaviour features of `rfm_features`: P(a purchase in the label window) x the run rate x the horizon.
  Nothing after the calibration cutoff may train it, and no six-month label fits inside six months of
  history, so its classifier learns from three-month labels at two cutoffs inside calibration (three and
  four months before its end), and its probability is stretched to the six-month horizon as a Poisson
  buyer's would be (`label_days`: P6 = 1 - (1 - P3)^2); the run rate is taken over the six-month horizon.
  Chosen on Online Retail II 2009-2010 (the same shop's previous year, same protocol a year earlier);
- the combination: the plain mean of the three predictions (equal weights, nothing fitted);
- naive x (1 - churn risk): the naive rate times the churn model's probability of buying again (below):
  expected spend as P(active) x spend while active. Chosen on Online Retail II 2009-2010, where it beat
  naive on all three, before it was run here.

Churn by 90-day inactivity (no purchase in the 90 days after a cutoff, among customers who bought before
it): trained at the same two cutoffs (their 90 days end before calibration ends), tested at the calibration
cutoff. ROC-AUC side by side: logistic regression and plain LightGBM (default parameters) on the profile
features, and the churn model (`c360.models.churn.ChurnModel`, default parameters) on the profile
features plus the behaviour features and BG/NBD's outputs.

The issue's reference figures (naive RMSE 3.02, Spearman 0.594, top-decile 0.567; churn logistic
regression 0.773, LightGBM 0.772) were measured with a protocol this module cannot see; they are printed
beside the figures measured here, which compare every method on one protocol.
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from c360.bench.retail_data import (
    DAY_COUNTS,
    PREVIOUS_YEAR,
    Facts,
    PreviousYearFacts,
    dataset_path,
    example_workspace,
)

CALIBRATION_END = pd.Timestamp("2011-06-01", tz="UTC")
HORIZON_MONTHS = 6
TRAIN_LABEL_MONTHS = 3
TRAIN_CUTOFFS_MONTHS_BEFORE = (3, 4)
CHURN_DAYS = 90
UNIT = "order"
CLV_METHOD = "clv model"
REFERENCE = {
    ("clv", "naive", "rmse_purchases"): 3.02,
    ("clv", "naive", "spearman"): 0.594,
    ("clv", "naive", "top_decile"): 0.567,
    ("churn", "logistic regression", "auc"): 0.773,
    ("churn", "LightGBM", "auc"): 0.772,
}


@dataclass
class Row:
    part: str
    method: str
    metric: str
    value: float
    reference: float | None = None
    note: str = ""


PROFILE_ID_COLUMNS = ("event_timestamp",)


def _numeric_profile(frame: pd.DataFrame) -> list[str]:
    """Profile feature columns holding information (not constant) and numbers or categories."""
    out = []
    for col in frame.columns:
        if col in PROFILE_ID_COLUMNS:
            continue
        values = frame[col]
        if values.nunique(dropna=True) <= 1:
            continue
        out.append(col)
    return out


def cutoff_rows(facts: Facts, cutoff: pd.Timestamp, label_end: pd.Timestamp) -> pd.DataFrame:
    """Customers with a purchase at or before `cutoff`: profile features, behaviour features, BG/NBD's
    outputs over (cutoff, label_end] from a fit on this cutoff's summary, and the outcomes in that window
    (`y_purchases`, `y_spend`, `y_churn` over CHURN_DAYS)."""
    from c360.models.clv import ClvBgNbd
    from c360.models.rfm_summary import SUMMARY_COLUMNS, holdout_outcomes, rfm_features

    behaviour = rfm_features(facts.lines, cutoff, unit=UNIT)
    profile = facts.profile_features(cutoff).reindex(behaviour.index)
    frame = profile.join(behaviour)
    frame["event_timestamp"] = cutoff
    horizon = (label_end - cutoff) / pd.Timedelta(days=1)
    bg = ClvBgNbd({"horizon_days": horizon})
    bg.fit(behaviour[list(SUMMARY_COLUMNS)])
    out = bg.predict(behaviour[list(SUMMARY_COLUMNS)])
    frame["bg_purchases"] = out["purchases"]
    frame["bg_clv"] = out["clv"]
    frame["p_alive"] = out["p_alive"]
    frame["gg_spend"] = out["spend_per_purchase"]
    outcome = holdout_outcomes(facts.lines, cutoff, label_end, unit=UNIT).reindex(frame.index, fill_value=0.0)
    frame["y_purchases"] = outcome["purchases"]
    frame["y_spend"] = outcome["spend"]
    churn_end = cutoff + pd.Timedelta(days=CHURN_DAYS)
    bought = facts.lines[
        (facts.lines["kind"] == "purchase") & (facts.lines["ts"] > cutoff) & (facts.lines["ts"] <= churn_end)
    ]["customer_id"].unique()
    frame["y_churn"] = (~frame.index.isin(bought)).astype("int64")
    frame.attrs["bgnbd"] = bg.card.extra
    return frame.rename_axis("customer_id").reset_index()


def _clv_row(
    method: str, purchases: np.ndarray, spend: np.ndarray, test: pd.DataFrame, note: str
) -> list[Row]:
    from c360.models.clv import clv_metrics

    m = clv_metrics(test["y_spend"].to_numpy(), spend)
    rmse = float(np.sqrt(np.mean((test["y_purchases"].to_numpy() - purchases) ** 2)))
    values = {"rmse_purchases": rmse, "spearman": m["spearman"], "top_decile": m["top_decile"]}
    return [
        Row("clv", method, metric, value, REFERENCE.get(("clv", method, metric)), note)
        for metric, value in values.items()
    ]


def clv_part(
    train: pd.DataFrame,
    test: pd.DataFrame,
    profile: Sequence[str],
    window_days: float,
    churn_risk: np.ndarray | None = None,
) -> list[Row]:
    from c360.models.clv import ClvModel, naive_rate

    cutoff = test["event_timestamp"].iloc[0]
    horizon = (cutoff + pd.DateOffset(months=HORIZON_MONTHS) - cutoff) / pd.Timedelta(days=1)
    naive_p = naive_rate(test["frequency"] + 1, window_days, horizon)
    naive_s = naive_rate(test["spend"], window_days, horizon)
    rows = _clv_row("naive", naive_p, naive_s, test, f"per day over {window_days:.0f} calibration days")
    bg_p, bg_s = test["bg_purchases"].to_numpy(), test["bg_clv"].to_numpy()
    fitted = test.attrs.get("bgnbd", {})
    bg, gg = fitted.get("bgnbd", {}), fitted.get("gamma_gamma", {})
    note = "fitted on the calibration summary: " + ", ".join(f"{k}={v:.3g}" for k, v in {**bg, **gg}.items())
    rows += _clv_row("BG/NBD+GG", bg_p, bg_s, test, note)
    # the clv feature service's columns: its day counts where the profile has timestamps
    features = list(dict.fromkeys([*(DAY_COUNTS.get(c, c) for c in profile), *BEHAVIOUR]))
    label_days = TRAIN_LABEL_MONTHS * 365.25 / 12  # P(buy) is learnt over these; predicted over `horizon`
    spend_model = ClvModel({"horizon_days": horizon, "label_days": label_days})
    spend_model.fit(train.assign(label=train["y_spend"]), features)
    count_model = ClvModel({"anchor": "purchases", "horizon_days": horizon, "label_days": label_days})
    count_model.fit(train.assign(label=train["y_purchases"]), features)
    clv_s = spend_model.predict(test)["clv"].to_numpy()
    clv_p = count_model.predict(test)["clv"].to_numpy()
    rows += _clv_row(
        CLV_METHOD, clv_p, clv_s, test,
        f"defaults (orders: anchor=purchases); P(buy) from {TRAIN_LABEL_MONTHS}-month labels x run rate x "
        f"{horizon:.0f} days",
    )  # fmt: skip
    rows += _clv_row(
        "mean of the three", (naive_p + bg_p + clv_p) / 3, (naive_s + bg_s + clv_s) / 3, test, "equal weights"
    )
    if churn_risk is not None:
        active = 1.0 - churn_risk
        rows += _clv_row(
            "naive x (1 - churn risk)", naive_p * active, naive_s * active, test,
            "the churn model's probability of buying again in 90 days (chosen on Online Retail II 2009-2010)",
        )  # fmt: skip
    return rows


BEHAVIOUR = [
    "frequency", "recency", "T", "monetary", "spend", "orders_per_day", "spend_per_day", "days_since_last",
    "avg_spend", "mean_gap", "overdue", "orders_30d", "spend_30d", "orders_90d", "spend_90d", "products",
    "lines_per_order", "cancelled_amount",
]  # fmt: skip
BGNBD_OUTPUTS = ["bg_purchases", "bg_clv", "p_alive", "gg_spend"]


def _matrix(frame: pd.DataFrame, columns: Sequence[str]) -> pd.DataFrame:
    """Numbers only, for the logistic regression: categories one-hot, timestamps as days before the cutoff."""
    parts = {}
    for col in columns:
        values = frame[col]
        if isinstance(values.dtype, pd.DatetimeTZDtype):
            parts[col] = (frame["event_timestamp"] - values) / pd.Timedelta(days=1)
        elif values.dtype == object:
            continue
        else:
            parts[col] = pd.to_numeric(values, errors="coerce")
    out = pd.DataFrame(parts, index=frame.index).astype("float64").replace([np.inf, -np.inf], np.nan)
    return out


def churn_part(
    train: pd.DataFrame, test: pd.DataFrame, profile: Sequence[str]
) -> tuple[list[Row], np.ndarray]:
    """The churn rows, and the churn model's risk on the test rows (the CLV combination uses it)."""
    import lightgbm as lgb
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import roc_auc_score
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    y_train, y_test = train["y_churn"].to_numpy(), test["y_churn"].to_numpy()
    rows = []
    x_train, x_test = _matrix(train, profile), _matrix(test, profile)
    lr = make_pipeline(SimpleImputer(), StandardScaler(), LogisticRegression(max_iter=2000))
    lr.fit(x_train, y_train)
    auc = roc_auc_score(y_test, lr.predict_proba(x_test)[:, 1])
    ref = REFERENCE[("churn", "logistic regression", "auc")]
    rows.append(
        Row("churn", "logistic regression", "auc", auc, ref, "profile features (numbers), standardised")
    )
    plain = lgb.LGBMClassifier(n_jobs=1, verbose=-1, random_state=0)
    plain.fit(x_train, y_train)
    auc = roc_auc_score(y_test, plain.predict_proba(x_test)[:, 1])
    rows.append(Row("churn", "LightGBM", "auc", auc, REFERENCE[("churn", "LightGBM", "auc")],
                    "defaults, profile features (numbers)"))  # fmt: skip
    features = [*profile, *BEHAVIOUR, *BGNBD_OUTPUTS]
    try:
        from c360.models.churn import ChurnModel
    except ImportError:  # builder B's model not there: a plain gradient boosting on the same features
        model = lgb.LGBMClassifier(n_jobs=1, verbose=-1, random_state=0, learning_rate=0.03, n_estimators=300)
        model.fit(_matrix(train, features), y_train)
        scores = model.predict_proba(_matrix(test, features))[:, 1]
        name = "LightGBM (stand-in for the churn model)"
    else:
        churn = ChurnModel()
        churn.fit(train.assign(label=y_train), features)
        scores = churn.predict(test).iloc[:, 0].to_numpy()
        name = "churn model"
    rows.append(Row("churn", name, "auc", roc_auc_score(y_test, scores), None,
                    "defaults; profile + behaviour + BG/NBD features"))  # fmt: skip
    return rows, np.asarray(scores, dtype="float64")


def run(
    console: object | None = None,
    workdir: Path | None = None,
    keep: bool = False,
    previous_year: bool = False,
) -> list[Row]:
    """Build the workspace, measure, print the table; the rows come back for `python -m c360.bench models`.
    `previous_year`: also the same measures on Online Retail II 2009-2010 (calibration to 2010-06-01)."""
    from rich.console import Console

    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    out = console if isinstance(console, Console) else Console()
    started = time.perf_counter()
    import ray

    ray_before = ray.is_initialized()
    try:
        with example_workspace(workdir, keep, "c360-retail-") as folder:
            built = time.perf_counter() - started
            rows = measure(Facts(folder))
    finally:
        if not ray_before and ray.is_initialized():
            ray.shutdown()
    load = os.getloadavg()
    print_rows(out, rows)
    if previous_year:
        dev_end = pd.Timestamp("2010-06-01", tz="UTC")
        dev = measure(PreviousYearFacts(dataset_path().with_name(PREVIOUS_YEAR)), dev_end)
        out.print("Online Retail II 2009-2010 (read with pandas, not through a workspace):")
        print_rows(out, dev, dev_end, references=False)
    out.print(
        f"workspace built in {built:.0f} s (ingest, resolve, facts); "
        f"total {time.perf_counter() - started:.0f} s; "
        f"load average {load[0]:.1f} {load[1]:.1f} {load[2]:.1f} on {os.cpu_count()} cores"
    )
    return rows


def print_rows(
    out: object, rows: list[Row], calibration_end: pd.Timestamp = CALIBRATION_END, references: bool = True
) -> None:
    """Two tables: CLV (one line per method, the three metrics side by side) and churn AUC; `references`:
    the issue's figures beside (measured on the 2010-2011 file)."""
    if not references:
        rows = [Row(r.part, r.method, r.metric, r.value, None, r.note) for r in rows]
    from rich.table import Table

    clv = Table(
        title=f"Online Retail CLV: calibrate to {calibration_end.date()}, predict {HORIZON_MONTHS} months "
        "(customers with a purchase in calibration; issue's figures in brackets)"
    )
    for col in ("method", "RMSE purchases", "Spearman spend", "top-10% share", "settings"):
        clv.add_column(col, justify="left" if col in ("method", "settings") else "right")
    for method in dict.fromkeys(r.method for r in rows if r.part == "clv"):
        cells = {r.metric: r for r in rows if r.part == "clv" and r.method == method}
        shown = []
        for metric in ("rmse_purchases", "spearman", "top_decile"):
            r = cells[metric]
            shown.append(f"{r.value:.3f}" + ("" if r.reference is None else f" ({r.reference:.3f})"))
        clv.add_row(method, *shown, cells["spearman"].note)
    churn = Table(title=f"Online Retail churn ({CHURN_DAYS} days without a purchase after the cutoff)")
    for col in ("method", "ROC-AUC", "issue's figure", "settings"):
        churn.add_column(col, justify="left" if col in ("method", "settings") else "right")
    for r in rows:
        if r.part == "churn":
            churn.add_row(
                r.method, f"{r.value:.3f}", "" if r.reference is None else f"{r.reference:.3f}", r.note
            )
    out.print(clv)  # type: ignore[attr-defined]
    out.print(churn)  # type: ignore[attr-defined]


def measure(facts: Facts, calibration_end: pd.Timestamp = CALIBRATION_END) -> list[Row]:
    """The CLV and churn rows from a built workspace's facts."""
    start = facts.lines["ts"].min().floor("D")
    window_days = (calibration_end - start) / pd.Timedelta(days=1)
    test = cutoff_rows(facts, calibration_end, calibration_end + pd.DateOffset(months=HORIZON_MONTHS))
    train = pd.concat(
        [
            cutoff_rows(facts, c, c + pd.DateOffset(months=TRAIN_LABEL_MONTHS))
            for c in (calibration_end - pd.DateOffset(months=k) for k in TRAIN_CUTOFFS_MONTHS_BEFORE)
        ],
        ignore_index=True,
    )
    profile = _numeric_profile(pd.concat([train, test], ignore_index=True)[_profile_columns(facts)])
    churn_rows, risk = churn_part(train, test, profile)
    return clv_part(train, test, profile, window_days, risk) + churn_rows


def _profile_columns(facts: Facts) -> list[str]:
    from c360.profile.feature_tables import FEATURE_COLUMNS

    names = [c for view in ("profile", "transactions", "engagement_rfm", "support_sentiment")
             for c in FEATURE_COLUMNS[view]]  # fmt: skip
    return list(dict.fromkeys(names))


if __name__ == "__main__":  # python -m c360.bench.models_retail [--previous-year]
    import sys

    run(previous_year="--previous-year" in sys.argv[1:])
