"""The model registry: MLflow model versions through Feast's MLflow integration, the `champion` alias,
versioned feature services that survive the pipeline's `feast apply`, and `c360 models`."""

from __future__ import annotations

import json
import shutil
import uuid
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from c360.errors import NotFoundError, StoreUnavailableError, ValidationError
from c360.features.store import apply, open_feature_store
from c360.models.base import MODEL_FORMAT, Model, ModelError, check_training_frame, register
from c360.models.registry import (
    champion,
    list_versions,
    load_champion,
    promote,
    register_model,
    resolve_features,
    rollback,
)
from c360.workspace import Workspace, init_workspace

pytestmark = pytest.mark.feast

FEATURES = ["total_spend", "engagement_score", "open_tickets"]


@register
class TinyChurn(Model):
    """Logistic regression by a few hundred gradient steps in numpy: small, real, deterministic."""

    name = "tiny_churn"
    score = "churnRisk"
    defaults = {"steps": 300, "lr": 0.5}

    def fit(self, train: pd.DataFrame, features: Sequence[str], valid: pd.DataFrame | None = None):
        check_training_frame(self.name, train, features, classes=True)
        self.features = list(features)
        x, y = self._x(train), train["label"].to_numpy(float)
        self.mean, self.std = x.mean(0), x.std(0) + 1e-9
        z = (x - self.mean) / self.std
        self.w = np.zeros(z.shape[1] + 1)
        for _ in range(int(self.params["steps"])):
            p = 1 / (1 + np.exp(-(z @ self.w[1:] + self.w[0])))
            self.w -= float(self.params["lr"]) * np.r_[(p - y).mean(), z.T @ (p - y) / len(y)]
        self.card.features = list(features)
        self.card.feature_service = "churn"
        metrics = {}
        if valid is not None:
            from sklearn.metrics import log_loss, roc_auc_score

            p = self.predict(valid)["churn_risk"].to_numpy()
            metrics = {
                "auc": float(roc_auc_score(valid["label"], p)),
                "log_loss": float(log_loss(valid["label"], p)),
            }
        self.card.metrics = metrics
        return metrics

    def _x(self, frame: pd.DataFrame) -> np.ndarray:
        return frame[self.features].to_numpy(float)

    def predict(self, frame: pd.DataFrame) -> pd.DataFrame:
        z = (self._x(frame) - self.mean) / self.std
        return pd.DataFrame(
            {"churn_risk": 1 / (1 + np.exp(-(z @ self.w[1:] + self.w[0])))}, index=frame.index
        )

    def _save(self, folder: Path) -> None:
        doc = {
            "features": self.features,
            "mean": self.mean.tolist(),
            "std": self.std.tolist(),
            "w": self.w.tolist(),
        }
        (folder / "weights.json").write_text(json.dumps(doc))

    def _load(self, folder: Path) -> None:
        doc = json.loads((folder / "weights.json").read_text())
        self.features = doc["features"]
        self.mean, self.std, self.w = (np.array(doc[k]) for k in ("mean", "std", "w"))


def synthetic(n: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 3))
    logit = -1.5 * x[:, 0] + 1.0 * x[:, 1] + 0.3 * rng.normal(size=n)
    frame = pd.DataFrame(x, columns=FEATURES)
    frame["customer_id"] = [f"c{i}" for i in range(n)]
    frame["label"] = (logit > 0).astype(int)
    return frame


def trained(steps: int = 300, seed: int = 0, name: str = "tiny_churn") -> TinyChurn:
    """A fitted TinyChurn registered under `name` (each test its own name in the shared workspace)."""
    klass = (
        TinyChurn if name == TinyChurn.name else register(type(f"Tiny_{name}", (TinyChurn,), {"name": name}))
    )
    model = klass({"steps": steps})
    model.fit(synthetic(600, seed), FEATURES, valid=synthetic(400, seed + 100))
    return model


@pytest.fixture(scope="module")
def ws(tmp_path_factory) -> Workspace:
    """One applied workspace for the module (`feast apply` and MLflow's migrations cost seconds each)."""
    root = tmp_path_factory.mktemp("registry-ws")
    init_workspace(root)
    ws = Workspace.load(root)
    apply(ws)
    return ws


def with_store(ws: Workspace, uri: str) -> Workspace:
    settings = ws.settings.model_copy(deep=True)
    settings.models.tracking_uri = uri
    return Workspace.from_settings(settings, ws.root)


def test_register_two_versions_promote_and_rollback(ws: Workspace):
    first = register_model(ws, trained(steps=5))
    assert (first.name, first.version, first.uri) == ("tiny_churn", 1, "models:/tiny_churn/1")
    assert first.champion and first.stage == "production"  # the first version becomes champion
    assert first.metrics["auc"] > 0.8
    assert first.versioned_service == "tiny_churn_v1" and first.feature_service == "churn"
    assert sorted(first.features) == [
        "engagement_rfm:engagement_score",
        "support_sentiment:open_tickets",
        "transactions:total_spend",
    ]
    assert Path(ws.lake.path(first.folder)).joinpath("card.json").exists()
    assert first.c360_version and first.params["steps"] == "5"

    second = register_model(ws, trained(steps=400))
    assert second.version == 2 and not second.champion and second.stage == "staging"
    assert second.metrics["log_loss"] < first.metrics["log_loss"]
    assert champion(ws, "tiny_churn").version == 1

    promote(ws, "tiny_churn", 2)
    assert champion(ws, "tiny_churn").version == 2
    stages = {v.version: v.stage for v in list_versions(ws, "tiny_churn")}
    assert stages == {1: "archived", 2: "production"}
    model = load_champion(ws, "tiny_churn")
    holdout = synthetic(200, 7)
    assert np.allclose(
        model.predict(holdout)["churn_risk"], trained(steps=400).predict(holdout)["churn_risk"]
    )

    # Feast resolves the exact features of the version a model URI names
    assert resolve_features(ws, "models:/tiny_churn/champion") == "tiny_churn_v2"
    store = open_feature_store(ws)
    service = store.get_feature_service("tiny_churn_v2")
    assert (
        service.tags["stage"] == "production" and service.tags["mlflow_model_uri"] == "models:/tiny_churn/2"
    )
    assert store.get_feature_service("tiny_churn_v1").tags["stage"] == "archived"

    back = rollback(ws, "tiny_churn")
    assert back.version == 1 and champion(ws, "tiny_churn").version == 1
    with pytest.raises(ValidationError, match="first champion"):
        rollback(ws, "tiny_churn")
    assert champion(ws, "tiny_churn").version == 1


def test_foreign_model_refused_and_champion_unchanged(ws: Workspace, tmp_path: Path):
    n = "tiny_foreign"
    register_model(ws, trained(name=n))
    # a folder written by another c360 model format
    foreign = trained(name=n).save(tmp_path / "foreign")
    card = json.loads((foreign / "card.json").read_text())
    (foreign / "card.json").write_text(
        json.dumps({**card, "format": MODEL_FORMAT + 1, "c360_version": "9.9"})
    )
    with pytest.raises(ModelError, match="format"):
        register_model(ws, trained(name=n), folder=foreign, promote=True)
    # a folder trained on another feature service
    other = trained(name=n).save(tmp_path / "other")
    card = json.loads((other / "card.json").read_text())
    (other / "card.json").write_text(json.dumps({**card, "feature_service": "clv"}))
    with pytest.raises(ModelError, match="feature service"):
        register_model(ws, trained(name=n), folder=other, promote=True)
    # a folder holding another model
    with pytest.raises(ModelError, match="tiny_churn"):
        register_model(ws, trained(name=n), folder=trained().save(tmp_path / "another"), promote=True)
    # a feature service Feast does not know
    unknown = trained(name=n)
    unknown.card.feature_service = "no_such_service"
    with pytest.raises(ModelError, match="no_such_service"):
        register_model(ws, unknown, promote=True)
    assert [v.version for v in list_versions(ws, n)] == [1]
    # a registered version whose folder was replaced by a foreign one cannot become champion
    v2 = register_model(ws, trained(steps=50, name=n))
    shutil.copy(foreign / "card.json", Path(ws.lake.path(v2.folder)) / "card.json")
    with pytest.raises(ModelError, match="format"):
        promote(ws, n, 2)
    assert champion(ws, n).version == 1
    with pytest.raises(NotFoundError):
        promote(ws, n, 9)
    with pytest.raises(NotFoundError):
        list_versions(ws, "nope")
    assert champion(ws, "nope") is None and load_champion(ws, "nope") is None


def test_cli(ws: Workspace, capsys):
    from c360.cli import run_cli

    n = "tiny_cli"
    register_model(ws, trained(steps=5, name=n))
    register_model(ws, trained(steps=300, name=n))
    w = ["-w", str(ws.root)]
    assert run_cli(["models", "list", n, *w]) == 0
    out = capsys.readouterr().out
    assert n in out and "production" in out and "staging" in out and f"{n}_v2" in out
    assert run_cli(["models", "list", n, "--json", *w]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [(r["version"], r["champion"]) for r in rows] == [(1, True), (2, False)]
    assert run_cli(["models", "show", n, "2", "--json", *w]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["feature_service"] == "churn" and doc["params"]["steps"] == "300"
    assert (
        doc["metrics"]["auc"] > 0.8 and doc["c360_version"] and "transactions:total_spend" in doc["features"]
    )
    assert run_cli(["models", "promote", n, "2", *w]) == 0
    assert "version 2 is the champion" in capsys.readouterr().out
    assert run_cli(["models", "show", n, *w]) == 0  # the champion
    assert "production (champion)" in capsys.readouterr().out
    assert run_cli(["models", "rollback", n, *w]) == 0
    assert run_cli(["models", "rollback", n, *w]) == 2  # no previous champion
    assert run_cli(["models", "promote", n, "7", *w]) == 3
    assert run_cli(["models", "show", "nope", *w]) == 3
    assert champion(ws, n).version == 1


@pytest.mark.slow
def test_versioned_service_survives_feast_apply(ws: Workspace):
    n = "tiny_apply"
    mv = register_model(ws, trained(name=n))
    assert (Path(__file__).resolve().parents[2] / "feature_repo" / "model_services.py").exists()
    apply(ws)  # the pipeline's own `feast apply`, in a child process: it deletes what the repo lacks
    store = open_feature_store(ws)
    assert {"churn", mv.versioned_service} <= {s.name for s in store.list_feature_services()}
    assert store.get_feature_service(mv.versioned_service).tags["stage"] == "production"
    assert resolve_features(ws, f"models:/{n}/1") == f"{n}_v1"


@pytest.fixture
def postgres_uri() -> Iterator[str]:
    import psycopg

    name = f"c360_mlflow_{uuid.uuid4().hex[:10]}"
    with psycopg.connect("postgresql://postgres@127.0.0.1:5432/test", autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    yield f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"
    with psycopg.connect("postgresql://postgres@127.0.0.1:5432/test", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.mark.slow
def test_postgresql_store(ws: Workspace, postgres_uri: str):
    pg, n = with_store(ws, postgres_uri), "tiny_pg"
    register_model(pg, trained(steps=5, name=n))
    register_model(pg, trained(steps=300, name=n), promote=True)
    assert champion(pg, n).version == 2 and champion(ws, n) is None  # not in the SQLite store
    assert rollback(pg, n).version == 1
    with pytest.raises(StoreUnavailableError, match="MLflow store"):
        list_versions(with_store(ws, "postgresql+psycopg://postgres@127.0.0.1:1/nothing"))


def _open_and_list(root: str, uri: str | None, ready: Any, answers: Any) -> None:
    """Opens the workspace's registry (on the store `uri`, if given) once every other process is ready to,
    lists its versions, and answers them with the warnings the open raised about MLflow (Feast's MLflow
    integration warns, and carries on, when its own open of the store fails)."""
    import warnings

    try:
        ws = Workspace.load(Path(root))
        ws = with_store(ws, uri) if uri else ws
        ready.wait()
        with warnings.catch_warnings(record=True) as seen:
            warnings.simplefilter("always")
            versions = len(list_versions(ws))
        answers.put(("ok", versions, [str(w.message)[:200] for w in seen if "MLflow" in str(w.message)]))
    except Exception as exc:  # noqa: BLE001 - the parent asserts on what each process answered
        answers.put(("failed", f"{type(exc).__name__}: {str(exc)[:200]}", []))


def _open_at_once(roots: Sequence[Path], uri: str | None = None) -> list[tuple[str, Any, list[str]]]:
    """What each of len(roots) spawned processes answered, opening their workspace's registry together."""
    import multiprocessing

    spawn = multiprocessing.get_context("spawn")
    ready, answers = spawn.Barrier(len(roots)), spawn.Queue()
    processes = [spawn.Process(target=_open_and_list, args=(str(r), uri, ready, answers)) for r in roots]
    for p in processes:
        p.start()
    got = [answers.get(timeout=300) for _ in processes]
    for p in processes:
        p.join(timeout=60)
    return got


@pytest.mark.slow
def test_processes_opening_a_new_store_at_once_all_succeed(tmp_path: Path):
    """Serve replicas and Tune trials open a new workspace's registry together: the first open makes the
    schema, and without the open lock 4 such processes failed ("table _alembic_tmp_latest_metrics already
    exists") in 3 trials of 3."""
    init_workspace(tmp_path)
    assert _open_at_once([tmp_path] * 4) == [("ok", 0, [])] * 4


@pytest.mark.slow
def test_hosts_opening_a_new_postgresql_store_at_once_all_succeed(tmp_path: Path, postgres_uri: str):
    """Tune trials on a Ray cluster's workers share one PostgreSQL store but no file lock: 4 processes with
    workspaces of their own (as on 4 hosts) opening a new one together failed in 1 trial of 8 ("duplicate key
    value violates unique constraint"), and Feast's own open warned of that failure in every trial."""
    roots = [tmp_path / f"host{k}" for k in range(4)]
    for root in roots:
        init_workspace(root)
    assert _open_at_once(roots, postgres_uri) == [("ok", 0, [])] * 4
