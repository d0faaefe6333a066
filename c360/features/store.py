"""Feast for one workspace: the feature_store config rendered from `c360.yaml`, and the repo commands.

`feature_repo/feature_store.yaml` is the embedded default (SQLite online store, file registry) with `${VAR}`
locations. This module renders the same config for whatever `stores.feast` chooses:

- online store: `sqlite` (a file next to the registry), `redis` (the `stores.profile.redis_url` server; Feast
  keys carry the project name, so workspaces sharing a server do not mix), or `cosmos` (our plugin, on the
  `stores.profile.cosmos_*` account, container `feast_<project>`);
- registry: `file` (`registry_path`) or `sql` (`registry_url`, PostgreSQL);
- offline store: Feast's file store over the lake's parquet folders, its point-in-time join done by DuckDB
  (c360.features.offline_store).

Secrets never land in a rendered file: the Cosmos key is written as `${C360_COSMOS_KEY}` and passed to the
Feast CLI through its environment. `plan` and `apply` run the Feast CLI in a child process, because Feast
imports the repo's modules by bare name, changes directory and prints; a child keeps that out of the caller.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import sqlite3
import subprocess
import sys
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import yaml

from c360.errors import C360Error, ConfigError
from c360.workspace import Workspace

ONLINE_DB = "online_store.db"
MODEL_SERVICES = "model_services.json"
COSMOS_KEY_VAR = "C360_COSMOS_KEY"


def feature_repo_path(ws: Workspace) -> Path:
    """The Feast repo: `stores.feast.repo` in the workspace, else the one in the c360 checkout."""
    configured = ws.resolve_path(ws.settings.stores.feast.repo)
    if (configured / "feature_store.yaml").exists():
        return configured
    bundled = Path(__file__).resolve().parents[2] / "feature_repo"
    if (bundled / "feature_store.yaml").exists():
        return bundled
    raise ConfigError(f"no Feast repo at {configured} (stores.feast.repo) and none in the c360 checkout")


def project_name(ws: Workspace) -> str:
    """The Feast project: the workspace name in letters, digits and underscores."""
    name = re.sub(r"[^a-z0-9_]", "_", ws.settings.workspace.lower()).lstrip("_")
    return name or "c360"


def redis_connection_string(url: str) -> str:
    """`redis://[:password@]host:port/db` -> Feast's `host:port,db=N[,password=...][,ssl=true]`."""
    parts = urlsplit(url)
    if parts.scheme not in ("redis", "rediss"):
        raise ConfigError(f"stores.profile.redis_url: expected redis:// or rediss://, got {parts.scheme}://")
    out = f"{parts.hostname or '127.0.0.1'}:{parts.port or 6379}"
    db = parts.path.strip("/") or "0"
    out += f",db={db}"
    if parts.username:
        out += f",username={unquote(parts.username)}"
    if parts.password:
        out += f",password={unquote(parts.password)}"
    if parts.scheme == "rediss":
        out += ",ssl=true"
    return out


def online_store_config(ws: Workspace, *, secrets: bool = True) -> dict[str, Any]:
    feast = ws.settings.stores.feast
    profile = ws.settings.stores.profile
    if feast.online_store == "sqlite":  # Feast's layout; writes never go back in time (see the module)
        from c360.features.sqlite_online_store import STORE_TYPE as SQLITE_TYPE

        return {"type": SQLITE_TYPE, "path": str(ws.resolve_path(feast.registry_path).parent / ONLINE_DB)}
    if feast.online_store == "redis":
        return {"type": "redis", "connection_string": redis_connection_string(profile.redis_url)}
    from c360.features.cosmos_online_store import STORE_TYPE

    return {
        "type": STORE_TYPE,
        "endpoint": profile.cosmos_endpoint,
        "key": profile.cosmos_key.get_secret_value() if secrets else f"${{{COSMOS_KEY_VAR}}}",
        "database": profile.cosmos_database,
        "verify_tls": profile.cosmos_verify_tls,
    }


def registry_config(ws: Workspace) -> dict[str, Any]:
    feast = ws.settings.stores.feast
    if feast.registry == "sql":
        return {
            "registry_type": "sql",
            "path": feast.registry_url,
            "cache_ttl_seconds": 60,
            "sqlalchemy_config_kwargs": {"pool_pre_ping": True},
        }
    return {
        "registry_type": "file",
        "path": str(ws.resolve_path(feast.registry_path)),
        "cache_ttl_seconds": 60,
    }


def offline_store_config() -> dict[str, Any]:
    """Feast's file offline store with point-in-time joins by DuckDB ASOF joins (c360.features.offline_store):
    the same rows as Feast's Dask join, in seconds instead of tens of minutes for a backfilled history."""
    from c360.features.offline_store import STORE_TYPE as OFFLINE_TYPE

    return {"type": OFFLINE_TYPE}


def render_feature_store_config(ws: Workspace, *, secrets: bool = True) -> dict[str, Any]:
    """The feature_store config for this workspace (with `secrets=False`, placeholders instead of keys)."""
    return {
        "project": project_name(ws),
        "provider": "local",
        "registry": registry_config(ws),
        "online_store": online_store_config(ws, secrets=secrets),
        "offline_store": offline_store_config(),
        "entity_key_serialization_version": 3,
    }


def features_uri(ws: Workspace) -> str:
    """The lake's `features/` folder as Feast file sources name it."""
    lake = ws.lake
    return lake.full_uri(lake.path("features"))


def feast_env(ws: Workspace) -> dict[str, str]:
    """Variables `feature_store.yaml` and `data_sources.py` read, plus what Feast needs to reach the lake."""
    feast = ws.settings.stores.feast
    env = {
        "C360_FEAST_PROJECT": project_name(ws),
        "C360_FEAST_REGISTRY": str(ws.resolve_path(feast.registry_path)),
        "C360_FEAST_ONLINE_PATH": str(ws.resolve_path(feast.registry_path).parent / ONLINE_DB),
        "C360_FEATURES_URI": features_uri(ws),
        "C360_MODEL_SERVICES": str(model_services_path(ws)),
    }
    conn = ws.settings.lake.storage_options.get("connection_string")
    if conn:
        env["AZURE_STORAGE_CONNECTION_STRING"] = conn
    key = ws.settings.stores.profile.cosmos_key.get_secret_value()
    if key:
        env[COSMOS_KEY_VAR] = key
    return env


def model_services_path(ws: Workspace) -> Path:
    """The registered model versions' feature services (`churn_v3`, ...) that `feature_repo/model_services.py`
    declares, so `feast apply` keeps them (c360.models.registry writes it)."""
    return ws.resolve_path(ws.settings.stores.feast.registry_path).parent / MODEL_SERVICES


def repo_config(ws: Workspace) -> Any:
    """A Feast RepoConfig for this workspace (imports Feast)."""
    from feast import RepoConfig

    repo = feature_repo_path(ws)
    return RepoConfig(repo_path=repo, **render_feature_store_config(ws))


def open_feature_store(ws: Workspace) -> Any:
    """A FeatureStore on this workspace's registry and online store (for reads, materialize, push).

    A registry copied from another location is re-applied first (once): its FileSources would otherwise
    read the original's lake (training sets, materialize).
    """
    from feast import FeatureStore

    ensure_own_registry(ws)
    config = repo_config(ws)
    ws.resolve_path(ws.settings.stores.feast.registry_path).parent.mkdir(parents=True, exist_ok=True)
    return FeatureStore(repo_path=str(config.repo_path), config=config)


def _feast_executable() -> list[str]:
    beside = Path(sys.executable).with_name("feast")
    if beside.exists():
        return [str(beside)]
    found = shutil.which("feast")
    if found:
        return [found]
    raise ConfigError("the `feast` command is not installed in this environment")


def run_feast(ws: Workspace, *args: str, timeout: float = 600.0) -> str:
    """Run a Feast CLI command on the workspace's repo with its rendered config; returns stdout."""
    repo = feature_repo_path(ws)
    ws.resolve_path(ws.settings.stores.feast.registry_path).parent.mkdir(parents=True, exist_ok=True)
    rendered = render_feature_store_config(ws, secrets=False)
    env = {**os.environ, **feast_env(ws), "PYTHONWARNINGS": "ignore"}
    with tempfile.TemporaryDirectory(prefix="c360-feast-") as tmp:
        config_file = Path(tmp) / "feature_store.yaml"
        config_file.write_text(yaml.safe_dump(rendered, sort_keys=False), encoding="utf-8")
        proc = subprocess.run(
            [*_feast_executable(), "-c", str(repo), "-f", str(config_file), *args],
            env=env,
            cwd=repo,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
    if proc.returncode != 0:
        tail = "\n".join((proc.stderr or proc.stdout).strip().splitlines()[-15:])
        raise C360Error(f"feast {' '.join(args)} failed in {repo}:\n{tail}")
    return proc.stdout


def plan(ws: Workspace) -> str:
    """`feast plan`: what `apply` would change in the registry and the online store."""
    return run_feast(ws, "plan")


def apply(ws: Workspace) -> str:
    """`feast apply`: register the repo's objects and create their online tables or containers."""
    adopt_registry(ws)
    out = run_feast(ws, "apply")
    _apply_stamp(ws).write_text(_repo_digest(ws), encoding="utf-8")
    return out


def apply_if_changed(ws: Workspace) -> bool:
    """`apply` unless the repo and the rendered config are what the last apply registered; True if it ran.

    `feast apply` costs a child process and seconds; the pipeline calls this on every run, so an unchanged
    repo is not registered again.
    """
    stamp = _apply_stamp(ws)
    registry_missing = (
        ws.settings.stores.feast.registry == "file"
        and not ws.resolve_path(ws.settings.stores.feast.registry_path).exists()
    )
    if (
        not registry_missing
        and stamp.exists()
        and stamp.read_text(encoding="utf-8") == _repo_digest(ws)
        and not foreign_locations(ws)
    ):
        return False
    apply(ws)
    return True


def _apply_stamp(ws: Workspace) -> Path:
    return ws.resolve_path(ws.settings.stores.feast.registry_path).parent / "feast_apply.sha256"


def _repo_digest(ws: Workspace) -> str:
    """SHA-256 of the repo's definitions and the rendered config (without secrets)."""
    repo = feature_repo_path(ws)
    digest = hashlib.sha256(yaml.safe_dump(render_feature_store_config(ws, secrets=False)).encode())
    for path in sorted(p for p in repo.rglob("*") if p.suffix in (".py", ".yaml") and p.is_file()):
        digest.update(str(path.relative_to(repo)).encode())
        digest.update(path.read_bytes())
    services = model_services_path(ws)
    if services.exists():
        digest.update(services.read_bytes())
    return digest.hexdigest()


# -------------------------------------------------------------------------------- relocation


def _online_path(ws: Workspace) -> str:
    return str(ws.resolve_path(ws.settings.stores.feast.registry_path).parent / ONLINE_DB)


def _file_registry(ws: Workspace) -> Path | None:
    """The registry file, when the registry is a file that exists (a SQL registry holds no local path)."""
    feast = ws.settings.stores.feast
    if feast.registry != "file":
        return None
    path = ws.resolve_path(feast.registry_path)
    return path if path.exists() else None


def _file_options(message: Any) -> Iterable[Any]:
    """Every `file_options` (a FileSource's location) inside a registry proto, wherever it is nested."""
    for descriptor, value in message.ListFields():
        if descriptor.message_type is None:
            continue
        if hasattr(value, "ListFields"):
            items = [value]
        elif hasattr(value, "values"):  # a map
            items = list(value.values())
        else:  # a repeated field
            items = list(value)
        for item in items:
            if not hasattr(item, "ListFields"):  # a map of scalars
                continue
            if descriptor.name == "file_options":
                yield item
            else:
                yield from _file_options(item)


def foreign_locations(ws: Workspace) -> list[str]:
    """What in the file registry points outside this workspace: `online` and/or `sources`.

    Feast 0.67 keeps absolute locations in its registry: each SQLite online table's file (an infra object)
    and each FileSource's folder. In a copied or moved workspace they still name the original's files, and
    a `feast apply` there would drop the original's online tables (infra objects whose path changed are torn
    down where the registry says they are).
    """
    path = _file_registry(ws)
    if path is None:
        return []
    from feast.protos.feast.core.Registry_pb2 import Registry

    proto = Registry()
    proto.ParseFromString(path.read_bytes())
    found = []
    own_db = _online_path(ws)
    if any(o.HasField("sqlite_table") and o.sqlite_table.path != own_db for o in proto.infra.infra_objects):
        found.append("online")
    own_uri = features_uri(ws).rstrip("/") + "/"
    if any(not f.uri.startswith(own_uri) for f in _file_options(proto) if f.uri):
        found.append("sources")
    return found


def adopt_registry(ws: Workspace) -> bool:
    """Point a registry copied from another location at this workspace's own online file; True if it did.

    Rewritten in the copy's registry file before `feast apply`, so the apply sees its online tables where
    they are (in the copied `online_store.db`) and never opens, creates or drops anything at the original's
    path; the apply itself then points the FileSources at this workspace's lake.
    """
    path = _file_registry(ws)
    if path is None or "online" not in foreign_locations(ws):
        return False
    from feast.protos.feast.core.Registry_pb2 import Registry

    proto = Registry()
    proto.ParseFromString(path.read_bytes())
    own_db = _online_path(ws)
    for obj in proto.infra.infra_objects:
        if obj.HasField("sqlite_table"):
            obj.sqlite_table.path = own_db
    tmp = path.with_name(path.name + ".adopt")
    tmp.write_bytes(proto.SerializeToString())
    os.replace(tmp, path)
    return True


def ensure_own_registry(ws: Workspace) -> bool:
    """Re-apply when the registry names another location's files (a copied or moved workspace)."""
    if not foreign_locations(ws):
        return False
    apply(ws)
    return True


# -------------------------------------------------------------------------------- entity deletion (erase)


def delete_online_entities(store: Any, customer_ids: Iterable[str]) -> int:
    """Remove customers from the online store of `store` (a FeatureStore), whichever backend it is.

    Feast 0.67 has no per-entity delete, so this speaks each backend's layout: SQLite rows per feature view
    table, one Redis hash per entity and project, our Cosmos documents. Returns rows/keys/documents removed.
    """
    from feast.infra.key_encoding_utils import serialize_entity_key
    from feast.infra.online_stores.helpers import _redis_key, compute_table_id
    from feast.infra.online_stores.redis import RedisOnlineStore
    from feast.infra.online_stores.sqlite import SqliteOnlineStore
    from feast.protos.feast.types.EntityKey_pb2 import EntityKey
    from feast.protos.feast.types.Value_pb2 import Value

    from c360.features.cosmos_online_store import CosmosOnlineStore

    keys = [EntityKey(join_keys=["customer_id"], entity_values=[Value(string_val=c)]) for c in customer_ids]
    if not keys:
        return 0
    config = store.config
    online = store._get_provider().online_store
    version = config.entity_key_serialization_version
    if isinstance(online, CosmosOnlineStore):
        return online.delete_entity_keys(config, keys)
    if isinstance(online, RedisOnlineStore):
        client = online._get_client(config.online_store)
        return int(client.delete(*[_redis_key(config.project, k, version) for k in keys]))
    if isinstance(online, SqliteOnlineStore):
        conn = online._get_conn(config)
        blobs = [serialize_entity_key(k, entity_key_serialization_version=version) for k in keys]
        versioning = config.registry.enable_online_feature_view_versioning
        views = [*store.list_feature_views(), *store.list_stream_feature_views()]
        removed = 0
        with conn:
            for view in views:
                table = compute_table_id(config.project, view, versioning)
                marks = ",".join("?" * len(blobs))
                try:
                    cur = conn.execute(f'DELETE FROM "{table}" WHERE entity_key IN ({marks})', blobs)
                except sqlite3.OperationalError as exc:
                    if "no such table" in str(exc):  # a view never applied online has no table
                        continue
                    raise
                removed += cur.rowcount
        return removed
    raise C360Error(f"deleting entities is not supported for online store {type(online).__name__}")
