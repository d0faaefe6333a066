"""`python -m c360.bench models`: the models' quality on real data and their cost at a million customers.

Quality: the benchmark modules of each model family, run in turn when present (each has `run(console)`):
churn on IBM Telco and the Ray Train overhead (models_telco, models_overhead), lifetime value and churn on
Online Retail (models_retail), campaign response on Bank Marketing (models_bank), every model on demo data
(models_demo).

Performance, on a synthetic frame of `rows` customers (1,000,000 by default; `-n` scales it down) with the
churn feature service's columns and planted labels (not a workspace: a million-customer demo workspace would
take longer to build than the figures it gives):
- training: each model fits 80% of the rows with its `training/configs/<model>.yaml` parameters, the way
  `train_model` fits (through Ray Train when the config and the model allow), measured on the other 20%;
- scoring: the trained churn, clv and segments models over every row through `c360.models.score.score_frame`
  (Ray Data `map_batches`, the path `c360 score` takes after reading features);
- Ray Tune over a plain loop: the same trial configurations fitted one after another by hand and by
  `tune.Tuner` (FIFO, one trial at a time), sized to take at least `tune_seconds` plain.
Every figure is printed with the one-minute load average beside it: the machine is shared.
"""

from __future__ import annotations

import importlib
import os
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from rich.console import Console
from rich.table import Table

QUALITY = ("models_telco", "models_overhead", "models_retail", "models_bank", "models_demo")
MODELS = ("churn", "churn_survival", "clv", "clv_bgnbd", "propensity", "response", "segments")
TRAIN_LIMIT_S, SCORE_LIMIT_S, TUNE_RATIO = 600.0, 300.0, 1.25
CONFIGS = Path(__file__).resolve().parents[2] / "training" / "configs"
LABELS = {"churn": "churn", "churn_survival": "churn", "clv": "clv", "clv_bgnbd": "clv"}


@dataclass
class PerfRow:
    what: str
    rows: int
    seconds: float
    load: float
    limit: float | None = None
    detail: str = ""

    @property
    def ok(self) -> bool | None:
        return None if self.limit is None else self.seconds <= self.limit


def load() -> float:
    return os.getloadavg()[0]


# ------------------------------------------------------------------------------------------ data


def synthetic_features(rows: int, seed: int = 0) -> pd.DataFrame:
    """`rows` customers with the churn service's feature columns (types as the views declare), the stored
    times BG/NBD reads, an exposure channel, and planted labels: churn from recency and engagement, clv
    from spend rate for those who stay, propensity the complement of churn with noise."""
    rng = np.random.default_rng(seed)
    at = pd.Timestamp("2026-10-01", tz="UTC")
    tenure = rng.integers(30, 1500, rows)
    since = np.minimum(rng.exponential(90, rows).astype(int), tenure)
    purchases = 1 + rng.poisson(np.clip(tenure / 60, 0.2, None))
    aov = np.round(rng.lognormal(3.5, 0.6, rows), 2)
    engagement = np.clip(rng.normal(50, 20, rows), 0, 100).round()
    cats = np.array(["books", "toys", "garden", "kitchen", "sports"])
    f = pd.DataFrame(
        {
            "customer_id": pd.Series(np.arange(rows)).map("cus_{:07d}".format),
            "event_timestamp": at,
            "age": rng.integers(18, 90, rows),
            "gender": rng.choice(["female", "male", "unknown"], rows),
            "country": rng.choice(["GB", "US", "DE", "FR"], rows),
            "total_purchases": purchases,
            "total_spend": np.round(purchases * aov, 2),
            "avg_order_value": aov,
            "orders_last_365d": np.minimum(purchases, rng.poisson(3, rows)),
            "returns": rng.poisson(0.3, rows),
            "return_amount": np.round(rng.exponential(5, rows), 2),
            "favorite_category": rng.choice(cats, rows),
            "r_score": rng.integers(1, 6, rows),
            "f_score": rng.integers(1, 6, rows),
            "m_score": rng.integers(1, 6, rows),
            "rfm_score": rng.choice(["111", "345", "555", "213"], rows),
            "engagement_score": engagement.astype("int64"),
            "interactions_last_90d": rng.poisson(4, rows),
            "web_visits": rng.poisson(6, rows),
            "app_sessions": rng.poisson(3, rows),
            "email_opens": rng.poisson(2, rows),
            "email_clicks": rng.poisson(1, rows),
            "campaign_responses": rng.poisson(0.2, rows),
            "preferred_channel": rng.choice(["email", "web", "app", "sms"], rows),
            "support_tickets": rng.poisson(0.5, rows),
            "open_tickets": rng.poisson(0.1, rows),
            "social_mentions": rng.poisson(0.2, rows),
            "avg_sentiment": np.round(rng.uniform(-1, 1, rows), 3),
            "tenure_days": tenure,
            "days_since_last_purchase": since,
            "days_since_last_interaction": rng.integers(0, 200, rows),
            "channel": rng.choice(["email", "sms", "push"], rows),
        }
    )
    f["first_seen_at"] = at - pd.to_timedelta(tenure, unit="D")
    f["last_purchase_at"] = at - pd.to_timedelta(since, unit="D")
    logit = 0.02 * (since - 90) - 0.03 * (engagement - 50) - 0.2 * np.log1p(purchases)
    churn = rng.random(rows) < 1 / (1 + np.exp(-logit))
    f["churn"] = churn.astype("int64")
    f["clv"] = np.where(churn, 0.0, aov * rng.poisson(np.clip(purchases / tenure * 365, 0.1, 30)))
    f["propensity"] = ((~churn) & (rng.random(rows) < 0.6)).astype("int64")
    return f


FEATURES = [
    "age", "gender", "country", "total_purchases", "total_spend", "avg_order_value", "orders_last_365d",
    "returns", "return_amount", "favorite_category", "r_score", "f_score", "m_score", "rfm_score",
    "engagement_score", "interactions_last_90d", "web_visits", "app_sessions", "email_opens", "email_clicks",
    "campaign_responses", "preferred_channel", "support_tickets", "open_tickets", "social_mentions",
    "avg_sentiment", "tenure_days", "days_since_last_purchase", "days_since_last_interaction",
]  # fmt: skip


def labelled(frame: pd.DataFrame, model: str) -> pd.DataFrame:
    return frame.assign(label=frame[LABELS.get(model, "propensity")])


# ------------------------------------------------------------------------------------------ training


def _config(name: str) -> Any:
    from c360.models.train_config import load_config

    path = CONFIGS / f"{name}.yaml"
    return load_config(path if path.exists() else None, name)


def train_rows(
    frame: pd.DataFrame, names: tuple[str, ...], console: Console
) -> tuple[list[PerfRow], dict[str, Any]]:
    from c360.models.base import model_class
    from c360.models.train import fit_model

    n = len(frame)
    cut = int(n * 0.8)
    rows, trained = [], {}
    for name in names:
        try:
            cfg = _config(name)
            model = model_class(name)(cfg.params)
        except Exception as exc:  # noqa: BLE001 - a model not in this c360 is said, not fatal
            console.print(f"{name}: skipped ({type(exc).__name__}: {exc})")
            continue
        data = labelled(frame, name)
        extra = ["channel"] if name == "response" else []
        before = load()
        t0 = time.perf_counter()
        try:
            metrics, on_ray = fit_model(
                model, data.iloc[:cut], FEATURES + extra, data.iloc[cut:], use_ray=cfg.ray
            )
        except Exception as exc:  # noqa: BLE001
            console.print(f"{name}: failed ({type(exc).__name__}: {exc})")
            continue
        seconds = time.perf_counter() - t0
        shown = ", ".join(f"{k} {v:.3g}" for k, v in sorted(metrics.items())[:4])
        how = "Ray Train" if on_ray else "in-process"
        rows.append(PerfRow(f"train {name} ({how})", cut, seconds, max(before, load()), TRAIN_LIMIT_S, shown))
        console.print(f"  {rows[-1].what}: {seconds:.1f}s on {cut:,} rows, load {rows[-1].load:.1f}; {shown}")
        trained[name] = model
    return rows, trained


# ------------------------------------------------------------------------------------------ scoring


def score_rows(frame: pd.DataFrame, trained: dict[str, Any]) -> list[PerfRow]:
    import pyarrow as pa

    from c360.models.score import PREFERENCE, score_frame

    models = {}
    for score, names in PREFERENCE.items():
        for name in names:
            if name in trained:
                models[score] = trained[name]
                break
    if not models:
        return []
    table = pa.Table.from_pandas(frame.drop(columns=["churn", "clv", "propensity"]), preserve_index=False)
    before = load()
    t0 = time.perf_counter()
    scores = score_frame(table, models)
    seconds = time.perf_counter() - t0
    filled = ", ".join(f"{s} by {m.name}" for s, m in models.items())
    detail = f"{filled}; {scores.num_rows:,} rows out, {scores.num_rows / seconds:,.0f} rows/s"
    took = max(before, load())
    return [PerfRow("score (Ray Data map_batches)", len(frame), seconds, took, SCORE_LIMIT_S, detail)]


def score_workspace_rows(frame: pd.DataFrame, trained: dict[str, Any], console: Console) -> list[PerfRow]:
    """`score_all` end to end on a throwaway workspace holding `frame`'s customers: the feature views'
    rows, golden ids, a profile document each (SQLite store), the trained models registered as champions.
    Times each step of `c360 score`: features through Feast, map_batches, the lake, the profile store and
    the online store (Feast materialize into SQLite)."""
    import random
    import tempfile

    import pyarrow as pa

    from c360.bench.stores import synthetic_profile
    from c360.features.store import apply
    from c360.identity.store import IdentityStore
    from c360.models import registry
    from c360.models.score import PREFERENCE, score_all
    from c360.profile.feature_tables import VIEW_SCHEMAS
    from c360.profile.store import open_profile_store
    from c360.workspace import Workspace, init_workspace

    n = len(frame)
    root = Path(tempfile.mkdtemp(prefix="c360-bench-score-"))
    init_workspace(root)
    ws = Workspace.load(root)
    apply(ws)
    t0 = time.perf_counter()
    rows = frame.assign(event_timestamp=pd.Timestamp.now(tz="UTC").floor("s") - pd.Timedelta(hours=1))
    rows["last_interaction_at"] = rows["event_timestamp"] - pd.to_timedelta(
        rows["days_since_last_interaction"], "D"
    )
    for view, schema in VIEW_SCHEMAS.items():
        if view == "consent":
            continue
        table = pa.Table.from_pandas(rows[schema.names], schema=schema, preserve_index=False)
        ws.lake.write_table(table, ws.lake.path("features", view, "part-bench.parquet"))
    IdentityStore(ws.lake).write(
        "golden", pa.table({"customer_id": rows["customer_id"].to_numpy(dtype=object)})
    )
    rng = random.Random(0)
    with open_profile_store(ws) as store:
        for i in range(0, n, 5000):
            docs = [synthetic_profile(0, rng) for _ in rows["customer_id"].iloc[i : i + 5000]]
            for doc, cid in zip(docs, rows["customer_id"].iloc[i : i + 5000], strict=True):
                doc["customerId"] = cid
                doc.pop("identities", None)
            store.upsert_many(docs)
    console.print(
        f"  score workspace: {n:,} customers' features, golden ids and profiles "
        f"in {time.perf_counter() - t0:.0f}s"
    )
    service_refs = {}
    from c360.features.store import open_feature_store

    fs = open_feature_store(ws)
    for name in {m for names in PREFERENCE.values() for m in names} & set(trained):
        model = trained[name]
        service = fs.get_feature_service("churn")
        refs = [f"{p.name_to_use()}:{f.name}" for p in service.feature_view_projections for f in p.features]
        service_refs[name] = [r for r in refs if r.split(":", 1)[1] in FEATURES]
        model.card.feature_service = "churn"
        model.card.training_set = {"set_id": "bench", "features": service_refs[name]}
        registry.register_model(ws, model, promote=True)
    before = load()
    t0 = time.perf_counter()
    try:
        report = score_all(ws)
    finally:
        seconds = time.perf_counter() - t0
        shutil.rmtree(root, ignore_errors=True)  # a million customers' stores: about 2 GB
    steps = ", ".join(f"{k} {v:.0f}s" for k, v in report.seconds.items())
    detail = f"{steps}; {report.profiles:,} profiles, {report.online_rows:,} online rows"
    console.print(f"  c360 score end to end: {seconds:.0f}s ({detail}), load {load():.1f}")
    return [
        PerfRow(
            "c360 score end to end (SQLite stores)", n, seconds, max(before, load()), SCORE_LIMIT_S, detail
        )
    ]


# ------------------------------------------------------------------------------------------ tune


def _tune_fit(config: dict[str, Any], train: pd.DataFrame, valid: pd.DataFrame) -> dict[str, float]:
    from c360.models.base import model_class

    model = model_class("churn")({"nthread": 1, "early_stopping_rounds": 0, **config})
    return model.fit(train, FEATURES, valid)


def tune_rows(frame: pd.DataFrame, tune_seconds: float, console: Console) -> list[PerfRow]:
    """The same trials by a plain loop and by Ray Tune (FIFO, one at a time), sized to >= tune_seconds."""
    from ray import tune

    data = labelled(frame, "churn")
    cut = int(len(data) * 0.8)
    train, valid = data.iloc[:cut], data.iloc[cut:]
    _tune_fit({"n_estimators": 1, "max_depth": 5}, train, valid)  # warm-up: first-call costs
    probes = {}
    for probe in (1, 121):  # a fit's fixed cost (encoding, calibration) and its cost per round
        t0 = time.perf_counter()
        _tune_fit({"n_estimators": probe, "max_depth": 5}, train, valid)
        probes[probe] = time.perf_counter() - t0
    per_round = (probes[121] - probes[1]) / 120
    if per_round <= 0:
        raise RuntimeError(
            f"tune sizing failed: 121 rounds took {probes[121]:.2f} s, 1 round {probes[1]:.2f} s"
        )
    fixed = probes[1]
    rounds = int(np.clip((tune_seconds / 4 - fixed) / per_round, 20, 20_000))
    console.print(
        f"  tune sizing: {per_round * 1000:.1f} ms per round + {fixed:.1f} s fixed: {rounds} rounds"
    )
    depths = [3, 4, 5, 6]
    configs = [{"n_estimators": rounds, "max_depth": d} for d in depths]
    before = load()
    t0 = time.perf_counter()
    plain = [_tune_fit(c, train, valid)["auc"] for c in configs]
    plain_s = time.perf_counter() - t0

    def trial(config: dict[str, Any], train: pd.DataFrame, valid: pd.DataFrame) -> None:
        os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
        tune.report({"auc": _tune_fit(config, train, valid)["auc"]})

    tuner = tune.Tuner(
        tune.with_resources(tune.with_parameters(trial, train=train, valid=valid), {"cpu": 1}),
        param_space={"n_estimators": rounds, "max_depth": tune.grid_search(depths)},
        tune_config=tune.TuneConfig(metric="auc", mode="max", max_concurrent_trials=1, reuse_actors=True),
        run_config=tune.RunConfig(storage_path=f"/tmp/c360-bench-tune-{os.getpid()}", verbose=0),
    )
    t0 = time.perf_counter()
    grid = tuner.fit()
    tune_s = time.perf_counter() - t0
    tuned = sorted(r.metrics["auc"] for r in grid)
    same = np.allclose(sorted(plain), tuned)
    detail = f"{len(configs)} trials x {rounds} rounds; ratio {tune_s / plain_s:.2f}x; same AUCs {same}"
    console.print(f"  tune: plain {plain_s:.1f}s, Ray Tune {tune_s:.1f}s ({detail}), load {load():.1f}")
    return [
        PerfRow("tune: plain loop", len(train), plain_s, before),
        PerfRow(
            "tune: Ray Tune (FIFO, one at a time)", len(train), tune_s, load(), TUNE_RATIO * plain_s, detail
        ),
    ]


# ------------------------------------------------------------------------------------------ run


def quality(console: Console, only: tuple[str, ...] = QUALITY) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name in only:
        try:
            module = importlib.import_module(f"c360.bench.{name}")
        except ModuleNotFoundError:
            console.print(f"{name}: not in this c360; skipped")
            continue
        console.rule(f"[bold]{name}[/bold]")
        before = load()
        t0 = time.perf_counter()
        try:
            out[name] = module.run(console)
        except Exception as exc:  # noqa: BLE001 - one family's failure does not hide the others' figures
            console.print(f"{name}: failed: {type(exc).__name__}: {exc}")
        console.print(f"{name}: {time.perf_counter() - t0:.0f}s, load {before:.1f} -> {load():.1f}")
    return out


def run(
    console: Console | None = None,
    *,
    rows: int = 1_000_000,
    models: tuple[str, ...] = MODELS,
    with_quality: bool = True,
    with_tune: bool = True,
    tune_seconds: float = 60.0,
    end_to_end: int = 0,
    seed: int = 0,
) -> list[PerfRow]:
    from c360.runtime import ensure_ray
    from c360.settings import RayRuntimeSettings

    console = console or Console()
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    if with_quality:
        quality(console)
    console.rule(f"[bold]performance[/bold]: {rows:,} synthetic customers")
    ensure_ray(RayRuntimeSettings(), progress=False)
    t0 = time.perf_counter()
    frame = synthetic_features(rows, seed)
    console.print(f"  synthetic feature frame: {rows:,} rows in {time.perf_counter() - t0:.1f}s")
    perf, trained = train_rows(frame, models, console)
    perf += score_rows(frame, trained)
    if with_tune:
        perf += tune_rows(frame.iloc[: min(rows, 200_000)], tune_seconds, console)
    if end_to_end:
        perf += score_workspace_rows(frame.iloc[:end_to_end], trained, console)
    print_table(perf, console)
    return perf


def print_table(rows: list[PerfRow], console: Console) -> None:
    table = Table(title="models: performance (synthetic features; load = 1-minute load average, 2 cores)")
    for col in ("what", "rows", "seconds", "limit", "ok", "load", "detail"):
        table.add_column(col, justify="right" if col in ("rows", "seconds", "limit", "load") else "left")
    fmt: dict[str, Callable[[PerfRow], str]] = {
        "what": lambda r: r.what,
        "rows": lambda r: f"{r.rows:,}",
        "seconds": lambda r: f"{r.seconds:.1f}",
        "limit": lambda r: "" if r.limit is None else f"{r.limit:.0f}",
        "ok": lambda r: "" if r.ok is None else ("yes" if r.ok else "NO"),
        "load": lambda r: f"{r.load:.1f}",
        "detail": lambda r: r.detail,
    }
    for r in rows:
        table.add_row(*(fmt[c](r) for c in fmt))
    console.print(table)
