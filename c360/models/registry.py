"""The model registry: every trained model is an MLflow model version, logged and registered through Feast's
MLflow integration (`store.mlflow`, feast.mlflow_integration), and a versioned Feast feature service.

- **MLflow** (the tracking and registry store `models.tracking_uri`: by default the SQLite file
  `models.mlflow_db` in the workspace, PostgreSQL when configured) holds one run per trained version in the
  experiment named like the Feast project: params, held-out metrics, the card, the training set's spec, the
  code version, and the logged pyfunc model (c360.models.pyfunc) registered under the model's name. The
  alias `champion` marks the version scoring uses; `promote` moves it, `rollback` moves it back to the
  previous champion (the registered model's tag `c360.champions` keeps the order).
- **Feast**: the version's features (the training set's `view:feature` references) become the feature
  service `<name>_v<version>` (`churn_v3`), tagged with the artifact, metrics, stage (production, staging,
  archived) and MLflow run. The version's tag `feast.feature_service` names it, so
  `store.mlflow.resolve_features("models:/churn/champion")` answers the exact features of that version
  (Feast writes an alias as a path; MLflow itself loads it as `models:/churn@champion`).
  The services are written to `model_services.json` beside the Feast registry, which
  `feature_repo/model_services.py` declares: the pipeline's own `feast apply` keeps them.
- **The lake**: the c360 model folder (`Model.save`) of each version in `models/<name>/<version>/`; MLflow
  keeps its own copy as the logged model's artifact (`models.artifact_root`, by default the lake's
  `models/mlflow/`).

Loading a version (promote, rollback, load_champion) goes through `Model.load` with the feature service the
version was registered with: a folder from another c360 model format or another feature service is a
ModelError and the champion stays where it was.
"""

from __future__ import annotations

import contextlib
import functools
import io
import json
import logging
import math
import os
import shutil
import subprocess
import tempfile
import warnings
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from c360 import __version__
from c360.errors import C360Error, ConfigError, NotFoundError, StoreUnavailableError, ValidationError
from c360.models.base import Model, ModelError

if TYPE_CHECKING:
    from c360.features.training_set import TrainingSet
    from c360.workspace import Workspace

log = logging.getLogger(__name__)
os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
os.environ.setdefault("MLFLOW_LOGGING_LEVEL", "WARNING")  # MLflow sets its loggers itself when imported

CHAMPION = "champion"
STAGES = ("production", "staging", "archived")
HISTORY_TAG = "c360.champions"
MODELS_DIR = "models"
MLFLOW_ARTIFACT_PATH = "model"


@dataclass
class ModelVersion:
    """One registered version, as MLflow and the lake hold it."""

    name: str
    version: int
    uri: str
    """`models:/<name>/<version>` (MLflow)."""
    folder: str | None = None
    """The c360 model folder, relative to the lake root (`models/churn/3`)."""
    run_id: str | None = None
    feature_service: str | None = None
    """The feature service the model was trained on (the card's)."""
    versioned_service: str | None = None
    """The Feast feature service of exactly this version's features (`churn_v3`)."""
    features: list[str] = field(default_factory=list)
    metrics: dict[str, float] = field(default_factory=dict)
    params: dict[str, str] = field(default_factory=dict)
    stage: str = "staging"
    champion: bool = False
    created_at: str | None = None
    c360_version: str | None = None
    git_sha: str | None = None
    training_set: dict[str, Any] | None = None
    label: dict[str, Any] | None = None

    def row(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "version": self.version,
            "stage": self.stage,
            "champion": self.champion,
            "metrics": self.metrics,
            "feature_service": self.versioned_service or self.feature_service,
            "created_at": self.created_at,
        }


# ---------------------------------------------------------------------------------------------- stores


def tracking_uri(ws: Workspace) -> str:
    """The configured MLflow store, else the workspace's SQLite file."""
    configured = ws.settings.models.tracking_uri
    if configured:
        return configured
    path = ws.resolve_path(ws.settings.models.mlflow_db)
    path.parent.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{path}"


def artifact_root(ws: Workspace) -> str:
    configured = ws.settings.models.artifact_root
    if configured and "://" in configured:
        return configured
    if configured:
        return ws.resolve_path(configured).as_uri()
    if ws.lake.is_local:
        return Path(ws.lake.path(MODELS_DIR, "mlflow")).as_uri()
    return ws.resolve_path("data/mlartifacts").as_uri()


class _Registry:
    """A workspace's Feast store with its MLflow integration on, and the MLflow client it holds."""

    def __init__(self, ws: Workspace) -> None:
        from feast import FeatureStore, RepoConfig

        from c360.features.store import (
            ensure_own_registry,
            feature_repo_path,
            render_feature_store_config,
        )

        self.ws = ws
        self.uri = tracking_uri(ws)
        ensure_own_registry(ws)
        repo = feature_repo_path(ws)
        config = RepoConfig(
            repo_path=repo,
            **render_feature_store_config(ws),
            mlflow={"enabled": True, "tracking_uri": self.uri, "auto_log": False},
        )
        ws.resolve_path(ws.settings.stores.feast.registry_path).parent.mkdir(parents=True, exist_ok=True)
        self.store = FeatureStore(repo_path=str(repo), config=config)
        # MLflow 3.18's SQL store on SQLAlchemy 2.1 warns at every open; nothing for a c360 user to act on
        warnings.filterwarnings("ignore", message=r"The ``noload`` loader strategy is deprecated")
        import mlflow

        # Before Feast makes its MlflowClient: a client without a registry URI takes the module's global
        # one (another workspace's, in a process that opened two), and Feast's register_model uses it too.
        mlflow.set_tracking_uri(self.uri)
        mlflow.set_registry_uri(self.uri)
        fm = self.store.mlflow
        if fm is None:  # Feast turns any failure into a warning and None: make the client again to see it
            from feast.mlflow_integration.client import FeastMlflowClient

            fm = FeastMlflowClient(self.store)
        self.fm = fm
        self.mlflow = fm.mlflow
        self.client = fm.client
        self.project = self.store.config.project

    # -- MLflow helpers

    def experiment_id(self) -> str:
        from mlflow.exceptions import MlflowException

        exp = self.client.get_experiment_by_name(self.project)
        if exp is not None:
            return exp.experiment_id
        try:
            return self.client.create_experiment(self.project, artifact_location=artifact_root(self.ws))
        except MlflowException:  # created meanwhile by another process
            exp = self.client.get_experiment_by_name(self.project)
            if exp is None:
                raise
            return exp.experiment_id

    def version(self, name: str, version: int | str) -> Any:
        from mlflow.exceptions import MlflowException

        try:
            return self.client.get_model_version(name, str(version))
        except MlflowException:
            known = self.names()
            if name not in known:
                raise NotFoundError(
                    f"no registered model {name!r}; registered: {', '.join(known) or 'none'}"
                ) from None
            raise NotFoundError(f"model {name!r} has no version {version}") from None

    def require(self, name: str) -> None:
        known = self.names()
        if name not in known:
            raise NotFoundError(f"no registered model {name!r}; registered: {', '.join(known) or 'none'}")

    def champion_version(self, name: str) -> Any | None:
        from mlflow.exceptions import MlflowException

        try:
            return self.client.get_model_version_by_alias(name, CHAMPION)
        except MlflowException:
            return None

    def names(self) -> list[str]:
        return sorted(m.name for m in self.client.search_registered_models())

    def history(self, name: str) -> list[int]:
        tags = self.client.get_registered_model(name).tags or {}
        return [int(v) for v in json.loads(tags.get(HISTORY_TAG, "[]"))]

    def set_history(self, name: str, history: list[int]) -> None:
        self.client.set_registered_model_tag(name, HISTORY_TAG, json.dumps(history[-200:]))

    def describe(self, mv: Any, champion: int | None = None) -> ModelVersion:
        tags = dict(mv.tags or {})
        run = None
        if mv.run_id:
            try:
                run = self.client.get_run(mv.run_id)
            except Exception:  # noqa: BLE001 - a run deleted by hand leaves the version readable
                run = None
        data = run.data if run is not None else None
        version = int(mv.version)
        return ModelVersion(
            name=mv.name,
            version=version,
            uri=f"models:/{mv.name}/{version}",
            folder=tags.get("c360.folder"),
            run_id=mv.run_id,
            feature_service=tags.get("c360.feature_service"),
            versioned_service=tags.get("feast.feature_service"),
            features=[r for r in (data.tags.get("feast.feature_refs", "") if data else "").split(",") if r],
            metrics=dict(data.metrics) if data else {},
            params=dict(data.params) if data else {},
            stage=tags.get("c360.stage", "staging"),
            champion=champion == version,
            created_at=_iso(mv.creation_timestamp),
            c360_version=tags.get("c360.version"),
            git_sha=tags.get("c360.git_sha") or None,
            training_set=_loads(tags.get("c360.training_set")),
            label=_loads(tags.get("c360.label")),
        )

    # -- loading and checking a version

    def load(self, mv: Any) -> Model:
        """The version's c360 model, refused by name when its folder is not one this c360 reads or was
        trained on another feature service than the version was registered with."""
        tags = dict(mv.tags or {})
        expected = tags.get("c360.feature_service") or None
        folder = self.local_folder(mv)
        model = Model.load(folder, feature_service=expected)
        if model.name != mv.name:
            raise ModelError(f"{mv.name} v{mv.version}: the folder holds a {model.name!r} model")
        if expected is not None and model.card.feature_service != expected:
            raise ModelError(
                f"{mv.name} v{mv.version}: trained on feature service {model.card.feature_service!r}, "
                f"registered with {expected!r}"
            )
        return model

    def local_folder(self, mv: Any) -> Path:
        """The version's model folder on this machine: the lake's copy, else MLflow's logged artifact."""
        rel = (mv.tags or {}).get("c360.folder")
        lake = self.ws.lake
        if rel and lake.is_local and Path(lake.path(rel)).exists():
            return Path(lake.path(rel))
        if rel and not lake.is_local and lake.exists(rel):
            target = Path(tempfile.mkdtemp(prefix="c360-model-"))
            with lake.guard():
                lake.fs.get(lake.path(rel) + "/", str(target), recursive=True)
            return target
        from mlflow.artifacts import download_artifacts

        local = Path(download_artifacts(artifact_uri=f"models:/{mv.name}/{mv.version}"))
        candidates = [p.parent for p in local.rglob("card.json")]
        if not candidates:
            raise NotFoundError(f"{mv.name} v{mv.version}: no c360 model folder in the lake or in MLflow")
        return candidates[0]

    def check_features(self, mv: Any) -> None:
        """Feast's check: the version's feature service exists and serves the features it was trained on."""
        if not (mv.tags or {}).get("feast.feature_service"):
            return
        from feast.mlflow_integration import FeastMlflowModelResolutionError

        try:
            self.fm.resolve_features(f"models:/{mv.name}/{mv.version}")
        except FeastMlflowModelResolutionError as exc:
            raise ModelError(f"{mv.name} v{mv.version}: {exc}") from None

    # -- Feast feature services of versions

    def service_refs(self, service: str, names: list[str]) -> list[str]:
        """`view:feature` references of a registered service, only `names` when given."""
        try:
            fs = self.store.get_feature_service(service)
        except Exception:  # noqa: BLE001 - Feast raises its own FeatureServiceNotFoundException
            known = ", ".join(sorted(s.name for s in self.store.list_feature_services())) or "none"
            raise ModelError(
                f"feature service {service!r} is not in the Feast registry (registered: {known})"
            ) from None
        refs = [f"{p.name_to_use()}:{f.name}" for p in fs.feature_view_projections for f in p.features]
        wanted = set(names)
        chosen = [r for r in refs if r.split(":", 1)[1] in wanted] if wanted else refs
        return chosen or refs

    @contextlib.contextmanager
    def services_file(self) -> Any:
        """model_services.json's services (name -> spec) to change; written back atomically, under a lock."""
        import fcntl

        from c360.features.store import model_services_path

        path = model_services_path(self.ws)
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(f"{path}.lock", "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes
            doc = json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}
            services = doc.setdefault("services", {})
            yield services
            tmp = path.with_name(path.name + f".{os.getpid()}.tmp")
            tmp.write_text(json.dumps(doc, indent=1, sort_keys=True) + "\n", encoding="utf-8")
            os.replace(tmp, path)

    def apply_services(self, specs: dict[str, dict[str, Any]]) -> None:
        """Write the versions' services to model_services.json (what the repo declares) and apply them."""
        from feast import FeatureService

        with self.services_file() as services:
            services.update(specs)
        views: dict[str, Any] = {}
        for view in self.store.list_feature_views() + self.store.list_stream_feature_views():
            views[view.name] = view
        for view in self.store.list_on_demand_feature_views():
            views[view.name] = view
        objects = []
        for name, spec in specs.items():
            by_view: dict[str, list[str]] = {}
            for ref in spec["features"]:
                view, _, feature = ref.partition(":")
                by_view.setdefault(view, []).append(feature)
            missing = sorted(v for v in by_view if v not in views)
            if missing:
                raise ModelError(
                    f"feature service {name}: view(s) {', '.join(missing)} not in the Feast registry"
                )
            objects.append(
                FeatureService(
                    name=name,
                    features=[views[v][fs] for v, fs in by_view.items()],
                    description=spec.get("description", ""),
                    tags={k: str(v) for k, v in spec.get("tags", {}).items()},
                )
            )
        if objects:
            self.store.apply(objects)

    def set_stage(self, name: str, version: int, stage: str) -> None:
        mv = self.client.get_model_version(name, str(version))
        self.client.set_model_version_tag(name, str(version), "c360.stage", stage)
        service = (mv.tags or {}).get("feast.feature_service")
        if not service:
            return
        with self.services_file() as services:
            spec = services.get(service)
            if spec is not None:
                spec.setdefault("tags", {})["stage"] = stage
        if spec is not None:
            self.apply_services({service: spec})


@cache
def _git_sha() -> str:
    """The commit of the c360 checkout (with `+dirty` when tracked files changed), or '' outside git."""
    root = Path(__file__).resolve().parents[2]
    if not (root / ".git").exists():
        return ""
    try:
        sha = subprocess.run(
            ["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=10
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            timeout=10,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return ""
    return f"{sha}+dirty" if sha and dirty else sha


@contextlib.contextmanager
def _quiet(logger: str) -> Any:
    target = logging.getLogger(logger)
    level = target.level
    target.setLevel(logging.ERROR)
    try:
        yield
    finally:
        target.setLevel(level)


def _iso(ms: int | None) -> str | None:
    if not ms:
        return None
    from datetime import UTC, datetime

    return datetime.fromtimestamp(ms / 1000, UTC).isoformat(timespec="seconds")


_OPEN: dict[tuple[str, str, str], _Registry] = {}
"""Registries opened by this process, by workspace, MLflow store and Feast config: opening one costs a
FeatureStore and MLflow's store (seconds), and scoring asks for several champions in a row."""


def _open(ws: Workspace) -> _Registry:
    from c360.features.store import render_feature_store_config

    key = (
        str(ws.root),
        tracking_uri(ws),
        json.dumps(render_feature_store_config(ws, secrets=False), default=str),
    )
    reg = _OPEN.get(key)
    if reg is not None:
        reg.mlflow.set_tracking_uri(reg.uri)  # another workspace's registry may have moved the globals
        reg.mlflow.set_registry_uri(reg.uri)
        reg.ws = ws
        return reg
    _probe(ws)
    try:
        with _opening(ws):
            reg = _OPEN[key] = _Registry(ws)
        return reg
    except ImportError as exc:
        raise ConfigError(f"the model registry needs mlflow-skinny: {exc}") from None
    except Exception as exc:
        if type(exc).__module__.startswith(("sqlalchemy", "psycopg", "mlflow")):
            raise StoreUnavailableError(
                f"MLflow store {_safe_uri(tracking_uri(ws))} cannot be opened: {type(exc).__name__}: {exc}"
            ) from None
        raise


@contextlib.contextmanager
def _opening(ws: Workspace) -> Any:
    """One process of this host at a time opens the store. The first open of a new store makes its schema
    (MLflow's Alembic migrations), and two processes doing it at once (Serve replicas, Tune trials, a CLI
    beside them) failed with "table _alembic_tmp_latest_metrics already exists": 4 processes opening a fresh
    workspace's SQLite store together failed in 3 trials of 3. Later opens find the schema current and hold
    the lock for as long as the open takes."""
    import fcntl

    # a database server's store: the file lock covers this workspace's processes, `_server_lock` the rest
    uri = tracking_uri(ws)
    path = Path(
        uri.removeprefix("sqlite:///") if uri.startswith("sqlite:///") else ws.resolve_path("data/mlflow")
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(f"{path}.open.lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes
        with _server_lock(uri):
            yield


OPEN_LOCK_KEY = 0x633336306D6C66  # "c360mlf": the advisory lock every c360 process takes to open the store


@contextlib.contextmanager
def _server_lock(uri: str) -> Any:
    """A PostgreSQL store is shared by processes on several hosts (Tune trials on a Ray cluster's workers),
    which no file lock reaches: they take a PostgreSQL advisory lock on the store's database for the open.
    4 processes with their own workspaces opening a new PostgreSQL store at once failed in 1 trial of 8
    ("duplicate key value violates unique constraint", MLflow's `alembic_version` table made twice). Other
    stores: nothing more to take."""
    if not uri.startswith("postgresql"):
        yield
        return
    from sqlalchemy import create_engine, text
    from sqlalchemy.pool import NullPool

    engine = create_engine(uri, poolclass=NullPool)
    try:
        # a session-level lock: released by the unlock, or with the connection
        with engine.connect() as conn:
            conn.execute(text("SELECT pg_advisory_lock(:key)"), {"key": OPEN_LOCK_KEY})
            conn.commit()
            try:
                yield
            finally:
                conn.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": OPEN_LOCK_KEY})
                conn.commit()
    finally:
        engine.dispose()


def _probe(ws: Workspace) -> None:
    """Fail in seconds when a database server does not answer: MLflow retries making its engine for about
    100 s (ten attempts, doubling sleeps) before it gives up."""
    import socket

    uri = tracking_uri(ws)
    if uri.startswith(("sqlite:", "file:")) or "://" not in uri:
        return
    from sqlalchemy.engine import make_url

    try:
        url = make_url(uri)
    except Exception:  # noqa: BLE001 - not a database URL (an MLflow server, say): MLflow says what is wrong
        return
    ports = {"postgresql": 5432, "mysql": 3306, "mssql": 1433}
    port = url.port or ports.get(url.get_backend_name())
    if not url.host or port is None:
        return
    try:
        socket.create_connection((url.host, port), timeout=5).close()
    except OSError as exc:
        from c360.io.outages import unavailable

        raise unavailable(
            "MLflow store", _safe_uri(uri), "check models.tracking_uri in c360.yaml", exc
        ) from None


def _safe_uri(uri: str) -> str:
    """The store URI without a password."""
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(uri)
    if parts.password:
        netloc = parts.netloc.replace(f":{parts.password}@", ":***@")
        return urlunsplit(parts._replace(netloc=netloc))
    return uri


def _guarded(fn: Any) -> Any:
    """An MLflow store that cannot be reached (PostgreSQL down, an SQLite file on a dead disk) becomes one
    StoreUnavailableError naming it (exit 4, HTTP 503), not a driver's traceback."""

    @functools.wraps(fn)
    def wrapper(ws: Workspace, *args: Any, **kwargs: Any) -> Any:
        try:
            return fn(ws, *args, **kwargs)
        except C360Error:
            raise
        except Exception as exc:
            from sqlalchemy.exc import InterfaceError, OperationalError

            if isinstance(exc, (OperationalError, InterfaceError)):
                from c360.io.outages import unavailable

                raise unavailable(
                    "MLflow store", _safe_uri(tracking_uri(ws)), "check models.tracking_uri in c360.yaml", exc
                ) from None
            raise

    return wrapper


# ---------------------------------------------------------------------------------------------- API


@_guarded
def register_model(
    ws: Workspace,
    model: Model,
    *,
    training_set: TrainingSet | None = None,
    folder: str | Path | None = None,
    promote: bool | None = None,
    description: str = "",
) -> ModelVersion:
    """Register a trained model as the next MLflow version of its name and its Feast feature service.

    `folder`: a folder `model` was already saved to (it is checked with `Model.load` and copied); without it
    the model is saved here. The version's own folder is the lake's `models/<name>/<version>/`.
    `promote`: make it the champion (None: only when the name has no champion yet).
    """
    reg = _open(ws)
    name = model.name
    card = model.card
    if training_set is not None:
        card.feature_service = card.feature_service or training_set.feature_service
        if not card.training_set:
            card.training_set = _training_set_doc(ws, training_set)
        if not card.label and card.training_set and card.training_set.get("label"):
            card.label = card.training_set["label"]
    service = card.feature_service
    with tempfile.TemporaryDirectory(prefix="c360-register-") as tmp:
        source = Path(tmp) / "model"
        if folder is not None:
            checked = type(model).load(folder, feature_service=service)
            if checked.name != name:
                raise ModelError(f"{folder}: holds a {checked.name!r} model, not {name!r}")
            shutil.copytree(folder, source)
        else:
            model.save(source)
        refs: list[str] = []
        if service:
            refs = list(training_set.features) if training_set is not None else []
            refs = refs or reg.service_refs(service, list(card.features))
        exp_id = reg.experiment_id()
        tags = {
            "c360.model": name,
            "c360.version": __version__,
            "c360.git_sha": _git_sha(),
            "c360.format": str(card.format),
        }
        if service:
            tags["feast.feature_service"] = service
            tags["feast.feature_refs"] = ",".join(refs)
        if card.training_set:
            tags["c360.training_set_id"] = str(card.training_set.get("set_id", ""))
        with reg.fm.start_run(run_name=f"{name}", tags=tags, experiment_id=exp_id) as run:
            run_id = run.info.run_id
            mlflow = reg.mlflow
            params = {k: _param(v) for k, v in card.params.items()}
            if params:
                mlflow.log_params(params)
            metrics = {k: float(v) for k, v in card.metrics.items() if _finite(v)}
            if metrics:
                mlflow.log_metrics(metrics)
            mlflow.log_text(card.to_json(), "card.json")
            if card.training_set:
                mlflow.log_dict(card.training_set, "training_set.json")
            if card.label:
                mlflow.log_dict(card.label, "label.json")
            # Feast 0.67's log_model passes (model, artifact_path) positionally to the flavor's log_model,
            # whose first two positionals for pyfunc are (artifact_path, loader_module): both None here, and
            # the model is named and given by keyword (a model from code: c360/models/pyfunc.py).
            with _quiet("mlflow.pyfunc"):  # no signature: the c360 model checks its own input columns
                reg.fm.log_model(
                    None,
                    None,
                    flavor="pyfunc",
                    name=MLFLOW_ARTIFACT_PATH,
                    python_model=str(Path(__file__).with_name("pyfunc.py")),
                    artifacts={"model": str(source)},
                    pip_requirements=[f"c360=={__version__}", "mlflow-skinny==3.18.0"],
                )
            logged = mlflow.last_logged_model()
        with contextlib.redirect_stderr(io.StringIO()):  # MLflow prints "Created version ..." there
            registered = reg.fm.register_model(f"models:/{logged.model_id}", name)
        version = int(registered.version)
        try:
            rel = f"{MODELS_DIR}/{name}/{version}"
            _copy_to_lake(ws, source, rel)
            vtags = {
                "c360.folder": rel,
                "c360.stage": "staging",
                "c360.version": __version__,
                "c360.git_sha": _git_sha(),
                "c360.feature_service": service or "",
            }
            if card.training_set:
                vtags["c360.training_set"] = _tag_json(card.training_set, drop=("features",))
            if card.label:
                vtags["c360.label"] = _tag_json(card.label)
            versioned = f"{name}_v{version}" if service else None
            if versioned:
                vtags["feast.feature_service"] = versioned
            for key, value in vtags.items():
                reg.client.set_model_version_tag(name, str(version), key, value)
            if description:
                reg.client.update_model_version(name, str(version), description=description)
            if versioned:
                reg.apply_services(
                    {
                        versioned: {
                            "features": refs,
                            "description": f"{name} version {version}: the features it was trained on.",
                            "tags": {
                                "model": name,
                                "model_version": str(version),
                                "base_service": service,
                                "artifact_uri": ws.lake.full_uri(ws.lake.path(rel)),
                                "mlflow_model_uri": f"models:/{name}/{version}",
                                "mlflow_run_id": run_id,
                                "metrics": json.dumps(metrics, sort_keys=True),
                                "training_set": str((card.training_set or {}).get("set_id", "")),
                                "stage": "staging",
                            },
                        }
                    }
                )
        except BaseException:
            reg.client.delete_model_version(name, str(version))  # no half-registered version stays
            raise
    if promote is None:
        promote = reg.champion_version(name) is None
    if promote:
        _promote(reg, name, version)
    return reg.describe(reg.client.get_model_version(name, str(version)), _champion_number(reg, name))


@_guarded
def champion(ws: Workspace, name: str) -> ModelVersion | None:
    """The champion version of `name`, or None when it has none (or is not registered)."""
    reg = _open(ws)
    mv = reg.champion_version(name)
    return None if mv is None else reg.describe(mv, int(mv.version))


@_guarded
def load_champion(ws: Workspace, name: str) -> Model | None:
    """The champion's c360 model (None when there is none); a foreign folder is a ModelError."""
    reg = _open(ws)
    mv = reg.champion_version(name)
    return None if mv is None else reg.load(mv)


@_guarded
def load_version(ws: Workspace, name: str, version: int) -> Model:
    reg = _open(ws)
    return reg.load(reg.version(name, version))


@_guarded
def promote(ws: Workspace, name: str, version: int) -> ModelVersion:
    """Make `version` the champion, after checking it loads and Feast serves its features."""
    reg = _open(ws)
    _promote(reg, name, int(version))
    return reg.describe(reg.client.get_model_version(name, str(version)), int(version))


@_guarded
def rollback(ws: Workspace, name: str) -> ModelVersion:
    """Give the champion alias back to the previous champion (checked like a promotion)."""
    reg = _open(ws)
    current = _champion_number(reg, name)
    if current is None:
        reg.require(name)
        raise ValidationError(f"model {name!r} has no champion to roll back")
    history = [v for v in reg.history(name) if v != current]
    if not history:
        raise ValidationError(
            f"model {name!r}: version {current} is the first champion; nothing to roll back to"
        )
    target = history[-1]
    mv = reg.version(name, target)
    reg.load(mv)
    reg.check_features(mv)
    reg.client.set_registered_model_alias(name, CHAMPION, str(target))
    reg.set_history(name, history)  # the rolled-back version leaves the history
    reg.set_stage(name, current, "archived")
    reg.set_stage(name, target, "production")
    return reg.describe(reg.client.get_model_version(name, str(target)), target)


@_guarded
def list_versions(ws: Workspace, name: str | None = None) -> list[ModelVersion]:
    """Every registered version (of `name`), by name then version."""
    reg = _open(ws)
    if name:
        reg.require(name)
    names = [name] if name else reg.names()
    out = []
    for n in names:
        champ = _champion_number(reg, n)
        versions = reg.client.search_model_versions(f"name = '{n}'")
        out.extend(reg.describe(mv, champ) for mv in versions)
    return sorted(out, key=lambda v: (v.name, v.version))


@_guarded
def show(ws: Workspace, name: str, version: int | None = None) -> ModelVersion:
    """One version (the champion when `version` is None)."""
    reg = _open(ws)
    champ = _champion_number(reg, name)
    if version is None:
        if champ is None:
            reg.require(name)
            raise NotFoundError(f"model {name!r} has no champion; give a version")
        version = champ
    return reg.describe(reg.version(name, version), champ)


@_guarded
def resolve_features(ws: Workspace, model_uri: str) -> str:
    """Feast's answer for a model URI (`models:/churn/champion`): the feature service to read."""
    from feast.mlflow_integration import FeastMlflowModelResolutionError

    reg = _open(ws)
    try:
        return reg.fm.resolve_features(model_uri)
    except FeastMlflowModelResolutionError as exc:
        raise NotFoundError(str(exc)) from None


# ---------------------------------------------------------------------------------------------- helpers


def _promote(reg: _Registry, name: str, version: int) -> None:
    mv = reg.version(name, version)
    reg.load(mv)  # a foreign folder raises here, before anything moves
    reg.check_features(mv)
    current = _champion_number(reg, name)
    if current == version:
        return
    reg.client.set_registered_model_alias(name, CHAMPION, str(version))
    history = [v for v in reg.history(name) if v != version]
    if current is not None and (not history or history[-1] != current):
        history.append(current)
    reg.set_history(name, [*history, version])
    if current is not None:
        reg.set_stage(name, current, "archived")
    reg.set_stage(name, version, "production")


def _champion_number(reg: _Registry, name: str) -> int | None:
    mv = reg.champion_version(name)
    return None if mv is None else int(mv.version)


def _copy_to_lake(ws: Workspace, source: Path, rel: str) -> None:
    lake = ws.lake
    target = lake.path(rel)
    if lake.is_local:
        if Path(target).exists():
            shutil.rmtree(target)  # a version number MLflow reissued (its store was reset): ours is newer
        shutil.copytree(source, target)
        return
    with lake.guard():
        for path in sorted(p for p in source.rglob("*") if p.is_file()):
            lake.write_bytes(f"{target}/{path.relative_to(source).as_posix()}", path.read_bytes())


def _training_set_doc(ws: Workspace, ts: TrainingSet) -> dict[str, Any]:
    lake = ws.lake
    doc: dict[str, Any] = {
        "set_id": ts.set_id,
        "label": None,
        "path": lake.relative(ts.path),
        "spec_path": lake.relative(ts.spec_path),
        "rows": ts.rows,
        "positives": ts.positives,
        "feature_service": ts.feature_service,
    }
    try:
        spec = json.loads((ts.lake or lake).read_text(ts.spec_path))
    except Exception:  # noqa: BLE001 - the identity above is enough to find the set again
        return doc
    doc["label"] = spec.get("label")
    doc["cutoffs"] = spec.get("cutoffs")
    doc["facts_fingerprint"] = (spec.get("facts") or {}).get("fingerprint")
    doc["feature_files"] = spec.get("feature_files")
    return doc


TAG_LIMIT = 5000
"""Characters kept in a model version tag value (well inside MLflow's limits for tags)."""


def _tag_json(doc: dict[str, Any], drop: tuple[str, ...] = ()) -> str:
    """`doc` as JSON for a tag: without `drop` (the full document is an artifact of the run), and with only
    its scalar entries when it is still too long; always valid JSON."""
    doc = {k: v for k, v in doc.items() if k not in drop}
    text = json.dumps(doc, sort_keys=True, default=str)
    if len(text) > TAG_LIMIT:
        doc = {k: v for k, v in doc.items() if isinstance(v, (str, int, float, bool)) or v is None}
        text = json.dumps(doc, sort_keys=True, default=str)
    return text if len(text) <= TAG_LIMIT else json.dumps({"truncated": True})


def _loads(text: str | None) -> dict[str, Any] | None:
    if not text:
        return None
    try:
        return json.loads(text)
    except ValueError:
        return None


def _param(value: Any) -> str:
    text = json.dumps(value, default=str) if not isinstance(value, str) else value
    return text[:6000]


def _finite(value: Any) -> bool:
    try:
        return math.isfinite(float(value))
    except (TypeError, ValueError):
        return False
