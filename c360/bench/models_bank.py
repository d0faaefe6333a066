"""Campaign response on UCI Bank Marketing (bank-additional-full, 41,188 calls of a Portuguese bank's term
deposit campaigns): the `response` model with its defaults side by side with a logistic regression, by
stratified k-fold cross-validation.

`duration` (the call's length) is left out: it is known only after the call and all but decides the label
(a 0-second call is always a "no"), so no model deployed before the call could use it. Every other column is
a feature: the client's attributes, the contact channel and timing, the previous campaign's outcome and the
economic indicators of the month. The logistic regression one-hot encodes the categoricals, standardises the
numbers and reads `pdays = 999` ("never contacted") as a flag beside a zero.

Beside it, the same comparison for the `propensity` model on UCI Online Shoppers Purchasing Intention (12,330
web sessions, 15.5% ending in a purchase): the same classifier defaults on a second real data set, so they
are not tuned to one.

The datasets are read in place from the shared datasets folder (env C360_DATASETS, else
/work/shared/datasets).
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from rich.console import Console
from rich.table import Table

from c360.errors import NotFoundError

FILE = "bank_marketing/bank-additional-full.csv.gz"
SHOPPERS = "online_shoppers/online_shoppers_intention.csv.gz"
LEAKS = ("duration",)


def datasets_root() -> Path:
    """The shared datasets folder: $C360_DATASETS, else /work/shared/datasets."""
    return Path(os.environ.get("C360_DATASETS") or "/work/shared/datasets")


def load_bank(path: Path | None = None) -> pd.DataFrame:
    """The calls with `label` (1 = subscribed) and without the leaking columns."""
    path = path or datasets_root() / FILE
    if not path.exists():
        raise NotFoundError(f"{path}: Bank Marketing not found (set C360_DATASETS to the shared datasets)")
    frame = pd.read_csv(path, sep=";")
    frame["label"] = (frame.pop("y") == "yes").astype(int)
    return frame.drop(columns=list(LEAKS))


def load_shoppers(path: Path | None = None) -> pd.DataFrame:
    """The sessions with `label` (1 = ended in a purchase); month, visitor type and weekend as strings."""
    path = path or datasets_root() / SHOPPERS
    if not path.exists():
        raise NotFoundError(f"{path}: Online Shoppers not found (set C360_DATASETS to the shared datasets)")
    frame = pd.read_csv(path)
    frame["label"] = frame.pop("Revenue").astype(int)
    return frame.astype({"Month": str, "VisitorType": str, "Weekend": str})


@dataclass(frozen=True)
class BankRow:
    dataset: str
    model: str
    auc: float
    auc_std: float
    log_loss: float
    lift_top_decile: float
    seconds: float
    folds: int
    rows: int


def _logistic(train: pd.DataFrame, test: pd.DataFrame, features: list[str]) -> np.ndarray:
    from sklearn.compose import ColumnTransformer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    def shaped(f: pd.DataFrame) -> pd.DataFrame:
        out = f[features].copy()
        if "pdays" in out:
            out["pdays_never"] = (out["pdays"] == 999).astype(int)
            out["pdays"] = out["pdays"].where(out["pdays"] != 999, 0)
        return out

    x_train, x_test = shaped(train), shaped(test)
    cats = [c for c in x_train.columns if x_train[c].dtype == object]
    nums = [c for c in x_train.columns if c not in cats]
    pre = ColumnTransformer(
        [("cat", OneHotEncoder(handle_unknown="ignore"), cats), ("num", StandardScaler(), nums)]
    )
    model = make_pipeline(pre, LogisticRegression(max_iter=2000, C=1.0))
    model.fit(x_train, train["label"])
    return model.predict_proba(x_test)[:, 1]


def _ours(name: str, train: pd.DataFrame, test: pd.DataFrame, features: list[str], seed: int) -> np.ndarray:
    from c360.models.base import model_class

    model = model_class(name)({"seed": seed, "n_jobs": 1})
    model.fit(train, features)
    return model.predict(test).iloc[:, 0].to_numpy()


def evaluate(
    frame: pd.DataFrame, folds: int = 5, seed: int = 42, model: str = "response", dataset: str = "bank"
) -> list[BankRow]:
    """Stratified `folds`-fold CV of `model` and the logistic regression on the same folds."""
    from sklearn.model_selection import StratifiedKFold

    from c360.models.propensity import classification_metrics

    features = [c for c in frame.columns if c != "label"]
    splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    runs = {
        f"{model} (LightGBM, calibrated)": lambda tr, te: _ours(model, tr, te, features, seed),
        "logistic regression": lambda tr, te: _logistic(tr, te, features),
    }
    scores: dict[str, list[dict[str, float]]] = {name: [] for name in runs}
    seconds = dict.fromkeys(runs, 0.0)
    for train_idx, test_idx in splitter.split(frame, frame["label"]):
        train, test = frame.iloc[train_idx], frame.iloc[test_idx]
        for name, fit_predict in runs.items():
            started = time.perf_counter()
            p = fit_predict(train, test)
            seconds[name] += time.perf_counter() - started
            scores[name].append(classification_metrics(test["label"].to_numpy(), p))
    rows = []
    for name, per_fold in scores.items():
        auc = np.array([m["auc"] for m in per_fold])
        rows.append(
            BankRow(
                dataset=dataset,
                model=name,
                auc=float(auc.mean()),
                auc_std=float(auc.std()),
                log_loss=float(np.mean([m["log_loss"] for m in per_fold])),
                lift_top_decile=float(np.mean([m["lift_top_decile"] for m in per_fold])),
                seconds=seconds[name],
                folds=folds,
                rows=len(frame),
            )
        )
    return rows


def run(console: Console | None = None, folds: int = 5, seed: int = 42) -> list[BankRow]:
    """Print and return the side-by-side tables; a missing dataset is said, not raised."""
    console = console or Console()
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    rows: list[BankRow] = []
    runs = (
        ("UCI Bank Marketing without duration", "calls", "subscribed", load_bank, "response"),
        ("UCI Online Shoppers", "sessions", "purchased", load_shoppers, "propensity"),
    )
    for title, what, positive, loader, model in runs:
        try:
            frame = loader()
        except NotFoundError as exc:
            console.print(f"{title}: not available ({exc})")
            continue
        got = evaluate(frame, folds=folds, seed=seed, model=model, dataset=title)
        rows.extend(got)
        load = os.getloadavg()[0]
        table = Table(
            title=(
                f"{model.capitalize()}, {title} ({len(frame):,} {what}, {frame['label'].mean():.1%} "
                f"{positive}; stratified {folds}-fold CV; load {load:.1f})"
            )
        )
        for col in ("model", "ROC-AUC", "± sd", "log loss", "top-decile lift", "fit+predict s"):
            table.add_column(col, justify="left" if col == "model" else "right")
        for r in got:
            table.add_row(
                r.model,
                f"{r.auc:.4f}",
                f"{r.auc_std:.4f}",
                f"{r.log_loss:.4f}",
                f"{r.lift_top_decile:.2f}",
                f"{r.seconds:.1f}",
            )
        console.print(table)
    return rows


if __name__ == "__main__":
    run(Console(width=160))
