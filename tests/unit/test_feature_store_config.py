"""The feature_store config rendered from c360.yaml for each online store and registry choice."""

from __future__ import annotations

import pytest
from feast import RepoConfig

from c360.features.cosmos_online_store import STORE_TYPE, CosmosOnlineStoreConfig
from c360.features.sqlite_online_store import STORE_TYPE as SQLITE_TYPE
from c360.features.sqlite_online_store import C360SqliteOnlineStoreConfig
from c360.features.store import (
    feast_env,
    feature_repo_path,
    project_name,
    redis_connection_string,
    render_feature_store_config,
)
from c360.settings import parse_settings
from c360.workspace import Workspace

pytestmark = pytest.mark.unit


def _ws(tmp_path, text: str = "", env: dict[str, str] | None = None) -> Workspace:
    return Workspace.from_settings(parse_settings(text, env=env or {}), root=tmp_path)


def test_defaults_are_sqlite_and_a_file_registry_in_the_workspace(tmp_path):
    ws = _ws(tmp_path, "workspace: My Shop-EU\n")
    cfg = render_feature_store_config(ws)
    assert cfg["project"] == "my_shop_eu"
    assert cfg["registry"] == {
        "registry_type": "file",
        "path": str(tmp_path / "data" / "registry.db"),
        "cache_ttl_seconds": 60,
    }
    # Feast's SQLite layout under c360's type, whose writes never go back in time
    assert cfg["online_store"] == {
        "type": SQLITE_TYPE,
        "path": str(tmp_path / "data" / "online_store.db"),
    }
    parsed = RepoConfig(**cfg)
    assert isinstance(parsed.online_store, C360SqliteOnlineStoreConfig)
    assert parsed.registry.path.endswith("registry.db")


def test_redis_online_store_and_sql_registry(tmp_path):
    ws = _ws(
        tmp_path,
        "stores:\n  profile:\n    redis_url: redis://:pw@10.0.0.5:6380/3\n"
        "  feast:\n    online_store: redis\n    registry: sql\n"
        "    registry_url: postgresql+psycopg://postgres@127.0.0.1:5432/feast\n",
    )
    cfg = render_feature_store_config(ws)
    assert cfg["online_store"] == {"type": "redis", "connection_string": "10.0.0.5:6380,db=3,password=pw"}
    assert cfg["registry"]["registry_type"] == "sql"
    assert cfg["registry"]["path"] == "postgresql+psycopg://postgres@127.0.0.1:5432/feast"
    parsed = RepoConfig(**cfg)
    assert parsed.online_store.connection_string.startswith("10.0.0.5:6380")
    assert type(parsed.registry).__name__ == "SqlRegistryConfig"


def test_redis_urls_become_feast_connection_strings():
    assert redis_connection_string("redis://127.0.0.1:6379/0") == "127.0.0.1:6379,db=0"
    assert redis_connection_string("rediss://u:p%40ss@h:1/2") == "h:1,db=2,username=u,password=p@ss,ssl=true"
    assert redis_connection_string("redis://h") == "h:6379,db=0"


def test_cosmos_online_store_keeps_the_key_out_of_rendered_files(tmp_path):
    text = (
        "stores:\n  profile:\n    cosmos_endpoint: https://acct.documents.azure.com:443/\n"
        "    cosmos_key: ${COSMOS_KEY}\n    cosmos_database: prod\n  feast:\n    online_store: cosmos\n"
    )
    ws = _ws(tmp_path, text, env={"COSMOS_KEY": "c2VjcmV0"})
    public = render_feature_store_config(ws, secrets=False)
    assert public["online_store"] == {
        "type": STORE_TYPE,
        "endpoint": "https://acct.documents.azure.com:443/",
        "key": "${C360_COSMOS_KEY}",
        "database": "prod",
        "verify_tls": True,
    }
    assert feast_env(ws)["C360_COSMOS_KEY"] == "c2VjcmV0"
    parsed = RepoConfig(**render_feature_store_config(ws)).online_store
    assert isinstance(parsed, CosmosOnlineStoreConfig)
    assert parsed.key.get_secret_value() == "c2VjcmV0"


def test_environment_for_the_repo(tmp_path):
    ws = _ws(tmp_path, "workspace: demo\nlake:\n  uri: lake\n")
    env = feast_env(ws)
    assert env["C360_FEAST_PROJECT"] == project_name(ws) == "demo"
    assert env["C360_FEATURES_URI"] == str(tmp_path / "lake" / "features")
    assert "C360_COSMOS_KEY" not in env
    assert (feature_repo_path(ws) / "feature_store.yaml").exists()
