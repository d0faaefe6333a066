"""Every model on demo data: held-out quality beside a naive baseline, and the drivers the generator planted
recovered.

The user's path on a small seeded demo (default 3,000 customers): demo-data, ingest, resolve, facts, a feature
backfill, `feast apply`, then point-in-time training sets. Each model trains on the earlier cutoffs and is
judged on the last one (response: on the last quarter of exposures by time), so nothing it is judged on
was seen in training. The generator's ground truth (`ground_truth/people`, joined through its identity map
and the resolved id map; a customer takes the person most of their records belong to) holds the planted
traits:

- churn: the latent churn risk per person -> Spearman with the churn model's risk;
- value: the expected next-12-months value -> Spearman with the CLV model's prediction;
- purchase rate (orders a month) -> Spearman with overall propensity;
- category preference: the three preferred categories -> how often the top-scored category of the
  per-category propensity model is among them (customers with a purchase before the cutoff);
- offer affinity per segment (`OFFER_AFFINITY`) -> correlation with the response model's mean score per
  (segment, offer);
- segment (prospect ... vip) -> normalised mutual information with the k-means clusters.

Baselines are what one would do without a model: days since the last purchase (churn), the last year's
spend (value), last year's orders (propensity), a category's popularity or the customer's most-bought
category, an offer's past response rate, spend quintiles (segments). Models of other builders (churn, clv)
are imported when present; a missing one is printed as "not available".
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from rich.console import Console
from rich.table import Table

from c360.workspace import Workspace, init_workspace

READY = "models_demo_ready"
BACKFILL = ("2024-03-01", "2026-10-31", "4w")
CUTOFFS = pd.date_range("2024-06-01", "2026-07-01", freq="3MS", tz="UTC")
CLV_LAST = pd.Timestamp("2025-10-31", tz="UTC")  # a 12-month horizon must end within the data
EXPOSURE_COLUMNS = ("customer_id", "ts", "offer_id", "first_open_ts", "first_click_ts", "conversion_ts")
BEHAVIOUR = [  # what segments cluster on: spend, order value, frequency, recency, engagement
    "total_spend",
    "avg_order_value",
    "orders_last_365d",
    "days_since_last_purchase",
    "engagement_score",
    "web_visits",
    "email_clicks",
]


@dataclass(frozen=True)
class DemoRow:
    model: str
    metric: str
    value: float | None
    baseline: str
    baseline_value: float | None
    note: str = ""

    @property
    def beats(self) -> bool | None:
        if self.value is None or self.baseline_value is None:
            return None
        lower_better = self.metric.startswith(("rmse", "log_loss"))
        return self.value < self.baseline_value if lower_better else self.value > self.baseline_value


# ------------------------------------------------------------------------------------------ workspace


def prepare(root: Path, customers: int, seed: int) -> Workspace:
    """A demo workspace through facts, backfill and feast apply (reused when `root` already holds one)."""
    from c360.demo import generate_demo_data
    from c360.facts.build import build_facts
    from c360.features.backfill import backfill
    from c360.features.store import apply
    from c360.identity.resolve import resolve
    from c360.runtime import ensure_ray
    from c360.sources.ingest import ingest

    if (root / READY).exists():
        return Workspace.load(root)
    init_workspace(root)
    ws = Workspace.load(root)
    generate_demo_data(ws, customers=customers, seed=seed)
    ensure_ray(ws.settings.ray, progress=False)
    ingest(ws, progress=False)
    resolve(ws, progress=False)
    build_facts(ws)
    start, end, every = BACKFILL
    backfill(ws, start, end, every)
    apply(ws)
    (root / READY).write_text(f"{customers} {seed}\n", encoding="utf-8")
    return ws


def truth(ws: Workspace) -> pd.DataFrame:
    """customer_id -> the planted traits of the person most of the customer's records belong to."""
    from c360.identity.store import IdentityStore

    lake = ws.lake
    gt = lake.read_table(lake.path("ground_truth", "identity_map.parquet")).to_pandas()
    people = lake.read_table(lake.path("ground_truth", "people.parquet")).to_pandas()
    ids = IdentityStore(lake).read("id_map")[["source", "source_record_id", "customer_id"]]
    both = ids.merge(gt[["source", "source_record_id", "person_id"]], on=["source", "source_record_id"])
    owner = both.groupby(["customer_id", "person_id"]).size().rename("n").reset_index()
    owner = owner.sort_values(["customer_id", "n"], ascending=[True, False]).drop_duplicates("customer_id")
    return owner.merge(people, on="person_id").set_index("customer_id")


def _set(ws: Workspace, label: str, cutoffs: Any, features: str | None = None) -> pd.DataFrame:
    from c360.features.training_set import build_training_set

    return build_training_set(ws, label, list(cutoffs), features=features).table().to_pandas()


def _features(frame: pd.DataFrame) -> list[str]:
    from c360.models.base import feature_columns

    return feature_columns(frame)


def _split(frame: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    last = frame["event_timestamp"].max()
    return frame[frame["event_timestamp"] < last], frame[frame["event_timestamp"] == last]


def _auc(y: Any, s: Any) -> float | None:
    from sklearn.metrics import roc_auc_score

    y, s = np.asarray(y, dtype=int), np.nan_to_num(np.asarray(s, dtype=float), nan=-1e12)
    return float(roc_auc_score(y, s)) if len(np.unique(y)) == 2 else None


def _spearman(a: Any, b: Any) -> float | None:
    from scipy.stats import spearmanr

    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    ok = ~(np.isnan(a) | np.isnan(b))
    return float(spearmanr(a[ok], b[ok]).statistic) if ok.sum() > 2 and np.std(a[ok]) > 0 else None


def _model(name: str, **params: Any) -> Any:
    from c360.models.base import model_class

    return model_class(name)({k: v for k, v in params.items() if k in model_class(name).defaults})


def _planted(people: pd.DataFrame, ids: pd.Series, column: str) -> np.ndarray:
    return people[column].reindex(ids.to_numpy()).to_numpy(dtype=float)


# ------------------------------------------------------------------------------------------ models


def churn_rows(ws: Workspace, people: pd.DataFrame) -> list[DemoRow]:
    data = _set(ws, "churn", CUTOFFS)
    train, held = _split(data)
    model = _model("churn", nthread=1, n_jobs=1)
    model.fit(train, _features(data))
    risk = model.predict(held).iloc[:, 0].to_numpy()
    recency = held["days_since_last_purchase"].to_numpy(dtype=float)
    planted = _planted(people, held["customer_id"], "churn_risk")
    return [
        DemoRow(
            "churn",
            "auc",
            _auc(held["label"], risk),
            "days since last purchase",
            _auc(held["label"], recency),
        ),
        DemoRow(
            "churn",
            "spearman vs planted risk",
            _spearman(risk, planted),
            "days since last purchase",
            _spearman(recency, planted),
        ),
    ]


def _value_metrics(y: np.ndarray, f: np.ndarray) -> dict[str, float | None]:
    k = max(1, int(np.ceil(0.1 * len(y))))
    top = np.argsort(-f, kind="stable")[:k]
    total = y.clip(min=0).sum()
    return {
        "rmse": float(np.sqrt(np.mean((y - f) ** 2))),
        "spearman": _spearman(y, f),
        "top-decile share": float(y[top].clip(min=0).sum() / total) if total > 0 else None,
    }


def clv_rows(ws: Workspace, people: pd.DataFrame) -> list[DemoRow]:
    data = _set(ws, "clv", [c for c in CUTOFFS if c <= CLV_LAST])
    train, held = _split(data)
    model = _model("clv", n_jobs=1)
    model.fit(train, _features(data))
    pred = model.predict(held).iloc[:, 0].to_numpy(dtype=float)
    months = ws.settings.features.labels["clv"].months or 12
    aov = held["avg_order_value"].fillna(0).to_numpy(dtype=float)
    naive = held["orders_last_365d"].fillna(0).to_numpy(dtype=float) * aov * months / 12
    y = held["label"].to_numpy(dtype=float)
    mine, base = _value_metrics(y, pred), _value_metrics(y, naive)
    planted = _planted(people, held["customer_id"], "expected_12m_value")
    rows = [DemoRow("clv", m, mine[m], "last year's spend rate", base[m]) for m in mine]
    rows.append(
        DemoRow(
            "clv",
            "spearman vs planted value",
            _spearman(pred, planted),
            "last year's spend rate",
            _spearman(naive, planted),
        )
    )
    return rows


def propensity_rows(ws: Workspace, people: pd.DataFrame) -> list[DemoRow]:
    from c360.features.training_inputs import read_fact
    from c360.models.propensity import CATEGORY_FEATURES, Propensity, category_rows, top_categories

    data = _set(ws, "propensity", CUTOFFS, features="clv")
    features = _features(data)
    train, held = _split(data)
    model = Propensity({"n_jobs": 1})
    model.fit(train, features)
    p = model.predict(held)["propensity"].to_numpy()
    orders = held["orders_last_365d"].fillna(0).to_numpy(dtype=float)
    rate = _planted(people, held["customer_id"], "orders_per_month")
    rows = [
        DemoRow(
            "propensity", "auc", _auc(held["label"], p), "last year's orders", _auc(held["label"], orders)
        ),
        DemoRow(
            "propensity",
            "spearman vs planted rate",
            _spearman(p, rate),
            "last year's orders",
            _spearman(orders, rate),
        ),
    ]

    days = ws.settings.features.labels["propensity"].days
    lines = read_fact(ws.lake, "transaction_lines", ["customer_id", "ts", "kind", "category", "amount_rc"])
    lines = lines.astype({"customer_id": object, "kind": object, "category": object})
    long = category_rows(data, lines, days=days)
    ctrain, cheld = _split(long)
    per_cat = Propensity({"n_jobs": 1})
    per_cat.fit(ctrain, [*features, *CATEGORY_FEATURES])
    cp = per_cat.predict(cheld)["propensity"].to_numpy()
    popularity = cheld["category"].map(ctrain.groupby("category")["label"].mean()).to_numpy(dtype=float)
    rows.append(
        DemoRow(
            "propensity/category",
            "auc",
            _auc(cheld["label"], cp),
            "category popularity",
            _auc(cheld["label"], popularity),
        )
    )
    rows.append(
        DemoRow(
            "propensity/category",
            "auc",
            _auc(cheld["label"], cp),
            "past lines in the category",
            _auc(cheld["label"], cheld["category_purchases"]),
        )
    )
    buyers = cheld.groupby("customer_id")["category_purchases"].sum()
    buyers = set(buyers[buyers > 0].index)
    top = top_categories(per_cat, cheld[cheld["customer_id"].isin(buyers)], n=1).set_index("customer_id")
    prefs = people["preferred_categories"].reindex(top.index)
    hit = np.mean([c in set(p) for c, p in zip(top["category"], prefs, strict=True) if p is not None])
    fav = held.set_index("customer_id")["favorite_category"].reindex(top.index)
    fav_hit = np.mean([c in set(p) for c, p in zip(fav, prefs, strict=True) if p is not None])
    rows.append(
        DemoRow(
            "propensity/category",
            "top category in planted top 3",
            float(hit),
            "customer's most-bought category",
            float(fav_hit),
            f"{len(top):,} buyers",
        )
    )
    popular = ctrain.groupby("category")["label"].mean().idxmax()
    pop_hit = np.mean([popular in set(p) for p in prefs if p is not None])
    rows.append(
        DemoRow(
            "propensity/category",
            "top category in planted top 3",
            float(hit),
            f"most popular ({popular})",
            float(pop_hit),
        )
    )
    return rows


def response_rows(ws: Workspace, people: pd.DataFrame) -> list[DemoRow]:
    from c360.demo.world import OFFER_AFFINITY, OFFERS, SEGMENTS
    from c360.features.training_inputs import read_fact
    from c360.models.response import Response, exposure_context, exposure_history

    data = exposure_context(ws, _set(ws, "response", CUTOFFS[-1:], features="clv"))
    data = exposure_history(read_fact(ws.lake, "exposures", list(EXPOSURE_COLUMNS)), data)
    features = [
        c for c in _features(data) if c not in ("channel", "campaign_id", "offer_id", "variant", "type")
    ]
    cut = data["event_timestamp"].quantile(0.75)
    train, held = data[data["event_timestamp"] <= cut], data[data["event_timestamp"] > cut]
    model = Response({"n_jobs": 1})
    model.fit(train, features)
    p = model.predict(held)["response"].to_numpy()
    offer_rate = held["offer_id"].map(train.groupby("offer_id")["label"].mean()).to_numpy(dtype=float)
    rows = [
        DemoRow(
            "response",
            "auc",
            _auc(held["label"], p),
            "offer's past response rate",
            _auc(held["label"], offer_rate),
            f"{int(held['label'].sum())} conversions held out",
        )
    ]
    # planted: an offer's affinity per segment; the model's mean score per (segment, offer) on every exposure
    scored = data.assign(p=model.predict(data)["response"].to_numpy())
    scored["segment"] = people["segment"].reindex(scored["customer_id"].to_numpy()).to_numpy()
    scored["offer"] = scored["offer_id"]
    cells = scored.groupby(["segment", "offer"]).agg(p=("p", "mean"), rate=("label", "mean"), n=("p", "size"))
    cells = cells[cells["n"] >= 20].reset_index()
    seg_i = {s: i for i, s in enumerate(SEGMENTS)}
    off_i = {o: i for i, o in enumerate(OFFERS)}
    known = cells["segment"].isin(seg_i) & cells["offer"].isin(off_i)
    cells = cells[known]
    affinity = [
        OFFER_AFFINITY[seg_i[s], off_i[o]] for s, o in zip(cells["segment"], cells["offer"], strict=True)
    ]
    offer_only = cells["offer"].map(scored.loc[train.index].groupby("offer")["label"].mean())
    ceiling = _spearman(cells["rate"], affinity)  # the observed rates themselves, for scale
    rows.append(
        DemoRow(
            "response",
            "spearman vs planted affinity",
            _spearman(cells["p"], affinity),
            "offer's past response rate",
            _spearman(offer_only, affinity),
            f"{len(cells)} segment x offer cells; observed rates {_fmt(ceiling)}",
        )
    )
    return rows


def segments_rows(ws: Workspace, people: pd.DataFrame) -> list[DemoRow]:
    from sklearn.metrics import normalized_mutual_info_score

    from c360.models.segments import Segments

    data = _set(ws, "churn", CUTOFFS[-2:], features="clv")
    train, held = _split(data)
    model = Segments({"cluster_features": BEHAVIOUR})
    metrics = model.fit(train, _features(data), valid=held)
    out = model.predict(held)
    planted = people["segment"].reindex(held["customer_id"].to_numpy()).fillna("unknown").to_numpy()
    spend = pd.qcut(held["total_spend"].fillna(0).rank(method="first"), 5, labels=False).to_numpy()
    rows = [
        DemoRow(
            "segments",
            "nmi clusters vs planted segment",
            normalized_mutual_info_score(planted, out["cluster"]),
            "spend quintiles",
            normalized_mutual_info_score(planted, spend),
            f"k={int(metrics['k'])}, silhouette {metrics['silhouette']:.2f}",
        ),
    ]
    best = out["segment"].isin(["Champions", "Loyal"]).to_numpy()
    valued = np.isin(planted, ["vip", "loyal"])
    rows.append(
        DemoRow(
            "segments",
            "share loyal/vip in Champions+Loyal",
            float(valued[best].mean()) if best.any() else None,
            "share loyal/vip overall",
            float(valued.mean()),
        )
    )
    return rows


MODELS: dict[str, Callable[[Workspace, pd.DataFrame], list[DemoRow]]] = {
    "churn": churn_rows,
    "clv": clv_rows,
    "propensity": propensity_rows,
    "response": response_rows,
    "segments": segments_rows,
}


# ------------------------------------------------------------------------------------------ run


def evaluate(ws: Workspace, console: Console) -> list[DemoRow]:
    from c360.errors import NotFoundError

    people = truth(ws)
    rows: list[DemoRow] = []
    for name, fn in MODELS.items():
        started = time.perf_counter()
        try:
            got = fn(ws, people)
        except (ModuleNotFoundError, NotFoundError) as exc:
            console.print(f"{name}: not available ({exc})")
            rows.append(DemoRow(name, "not available", None, "", None, str(exc)))
            continue
        seconds = time.perf_counter() - started
        rows.extend(
            DemoRow(
                r.model,
                r.metric,
                r.value,
                r.baseline,
                r.baseline_value,
                f"{r.note}; {seconds:.0f}s".lstrip("; "),
            )
            for r in got
        )
    return rows


def _fmt(v: float | None) -> str:
    return "-" if v is None or (isinstance(v, float) and np.isnan(v)) else f"{v:.3f}"


def run(
    console: Console | None = None,
    customers: int = 3_000,
    seed: int = 42,
    workdir: Path | None = None,
) -> list[DemoRow]:
    """Prepare (or reuse, under `workdir`) a demo workspace, evaluate every model, print the table."""
    import ray

    console = console or Console()
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    temp = None if workdir else Path(tempfile.mkdtemp(prefix="c360-models-demo-"))
    root = (workdir or temp) / f"demo-{customers}-{seed}"  # type: ignore[operator]
    started = time.perf_counter()
    try:
        ws = prepare(root, customers, seed)
        ray.shutdown()
        prepared = time.perf_counter() - started
        rows = evaluate(ws, console)
    finally:
        ray.shutdown()
        if temp is not None:
            shutil.rmtree(temp, ignore_errors=True)
    load = os.getloadavg()[0]
    table = Table(
        title=(
            f"Models on demo data ({customers:,} customers, seed {seed}; held out: the last cutoff; "
            f"workspace {prepared:.0f}s, load {load:.1f})"
        )
    )
    for col in ("model", "metric", "model value", "baseline", "baseline value", "beats", "note"):
        table.add_column(col, justify="right" if "value" in col else "left")
    for r in rows:
        beats = {True: "yes", False: "NO", None: "-"}[r.beats]
        table.add_row(r.model, r.metric, _fmt(r.value), r.baseline, _fmt(r.baseline_value), beats, r.note)
    console.print(table)
    return rows


if __name__ == "__main__":
    run(Console(width=200))
