"""The Feast repo in feature_repo/: `feast plan` and `feast apply` work, and every model's service serves.

Small parquet files stand in for the lake's features/ tables (nothing comes from the network). The in-folder
feature_store.yaml is exercised as shipped (env vars only); the rendered configs are exercised for each online
store (SQLite, Redis, Cosmos DB stand-in) and for the SQL registry on PostgreSQL.
"""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd
import pytest

from c360.features.request import online_rows
from c360.features.store import apply, delete_online_entities, feast_env, open_feature_store, plan
from c360.schemas import CONSENT_CHANNELS, CONSENT_PURPOSES
from c360.settings import parse_settings
from c360.workspace import Workspace

pytestmark = [
    pytest.mark.feast,
    pytest.mark.filterwarnings("ignore:Stream feature views are experimental"),
    pytest.mark.filterwarnings("ignore:On demand feature view is an experimental feature"),
]

REPO = Path(__file__).resolve().parents[2] / "feature_repo"
NOW = datetime.now(UTC).replace(microsecond=0)
SERVICES = ("churn", "clv", "recommendations", "next_best_action")

# Two customers per table; C1's values are what the assertions read back.
TABLES: dict[str, dict[str, list]] = {
    "profile": {
        "age": [36, 52],
        "gender": ["female", "male"],
        "country": ["GB", "US"],
        "first_seen_at": [NOW - timedelta(days=400, hours=3), NOW - timedelta(days=20)],
    },
    "transactions": {
        "total_purchases": [3, 1],
        "total_spend": [120.5, 10.0],
        "avg_order_value": [40.17, 10.0],
        "orders_last_365d": [3, 1],
        "returns": [0, 1],
        "return_amount": [0.0, 4.0],
        "last_purchase_at": [NOW - timedelta(days=5, hours=1), pd.NaT],
        "favorite_category": ["books", "toys"],
    },
    "engagement_rfm": {
        "r_score": [5, 1],
        "f_score": [4, 1],
        "m_score": [4, 1],
        "rfm_score": ["544", "111"],
        "engagement_score": [71, 8],
        "interactions_last_90d": [9, 0],
        "web_visits": [4, 0],
        "app_sessions": [2, 0],
        "email_opens": [2, 0],
        "email_clicks": [1, 0],
        "campaign_responses": [0, 0],
        "last_interaction_at": [NOW - timedelta(days=1), NOW - timedelta(days=120)],
        "preferred_channel": ["email", "web"],
    },
    "support_sentiment": {
        "support_tickets": [2, 0],
        "open_tickets": [1, 0],
        "social_mentions": [0, 1],
        "avg_sentiment": [-0.25, 0.4],
    },
    "ml_scores": {
        "churn_risk": [0.12, 0.81],
        "clv": [640.0, 12.5],
        "next_product_propensity": [0.33, 0.05],
        "segment": ["loyal", "at_risk"],
    },
    "consent": {f"{p}_{c}": [1, 0] for p in CONSENT_PURPOSES for c in CONSENT_CHANNELS},
    "product_stats": {
        "category": ["books", "toys"],
        "price_band": ["budget", "premium"],
        "price_rc": [7.5, 120.0],
        "purchases_7d": [3, 0],
        "purchases_30d": [11, 1],
        "purchases_90d": [40, 2],
        "buyers_30d": [9, 1],
    },
    "realtime_signals": {
        "session_page_views": [6, 0],
        "cart_items": [2, 0],
        "cart_value": [35.5, 0.0],
        "last_viewed_product_id": ["P-7", None],
        "last_event_time": [NOW - timedelta(hours=1)] * 2,
    },
}


def write_feature_tables(features_dir: Path) -> None:
    for view, columns in TABLES.items():
        folder = features_dir / view
        folder.mkdir(parents=True, exist_ok=True)
        ts = [NOW - timedelta(hours=2)] * 2
        key = {"product_stats": ("product_id", ["P1", "P2"])}.get(view, ("customer_id", ["C1", "C2"]))
        frame = pd.DataFrame({key[0]: key[1], "event_timestamp": ts, **columns})
        frame.to_parquet(folder / "part-00000.parquet", index=False)


def _feast(args: list[str], env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    feast = Path(sys.executable).with_name("feast")
    return subprocess.run(
        [str(feast), "-c", str(REPO), *args], env=env, cwd=cwd, capture_output=True, text=True, timeout=300
    )


def test_the_shipped_feature_store_yaml_plans_and_applies(tmp_path: Path):
    write_feature_tables(tmp_path / "lake" / "features")
    env = {
        **os.environ,
        "PYTHONWARNINGS": "ignore",
        "C360_FEAST_PROJECT": "c360_repo_test",
        "C360_FEAST_REGISTRY": str(tmp_path / "registry.db"),
        "C360_FEAST_ONLINE_PATH": str(tmp_path / "online.db"),
        "C360_FEATURES_URI": str(tmp_path / "lake" / "features"),
    }
    planned = _feast(["plan"], env, tmp_path)
    assert planned.returncode == 0, planned.stderr
    for name in (
        "customer", "product", "profile", "transactions", "engagement_rfm", "support_sentiment", "ml_scores",
        "product_stats",
    ):  # fmt: skip
        assert f" {name}\n" in planned.stdout
    assert "Created on demand feature view elapsed_days" in planned.stdout
    assert "Created stream feature view realtime_signals" in planned.stdout
    for service in SERVICES:
        assert f"Created feature service {service}" in planned.stdout
    online = tmp_path / "online.db"
    assert not online.exists() or online.stat().st_size == 0  # plan creates no online tables

    applied = _feast(["apply"], env, tmp_path)
    assert applied.returncode == 0, applied.stderr
    assert (tmp_path / "registry.db").exists()
    again = _feast(["plan"], env, tmp_path)
    assert again.returncode == 0, again.stderr
    # applied: no registry object left to create (Feast lists the online tables of a store type other than
    # its own 'sqlite' as to be created on every plan; c360's SQLite store is such a type)
    created = [line for line in again.stdout.splitlines() if line.startswith("Created")]
    assert [line for line in created if not line.startswith("Created sqlite table")] == []


@pytest.fixture
def postgres_url() -> Iterator[str]:
    import psycopg

    name = f"c360_feast_{uuid.uuid4().hex[:10]}"
    with psycopg.connect("postgresql://postgres@127.0.0.1:5432/postgres", autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    yield f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"
    with psycopg.connect("postgresql://postgres@127.0.0.1:5432/postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _workspace(tmp_path: Path, online: str, registry: str, request: pytest.FixtureRequest) -> Workspace:
    lines = [
        f"workspace: c360_{online}_{uuid.uuid4().hex[:8]}",
        "stores:",
        "  feast:",
        f"    online_store: {online}",
    ]
    if registry == "sql":
        lines += ["    registry: sql", f"    registry_url: {request.getfixturevalue('postgres_url')}"]
    if online == "cosmos":
        stand_in = request.getfixturevalue("cosmos_endpoint")
        lines += [
            "  profile:",
            f"    cosmos_endpoint: {stand_in.endpoint}",
            f"    cosmos_key: {stand_in.key}",
            f"    cosmos_database: feast{uuid.uuid4().hex[:8]}",
            "    cosmos_verify_tls: false",
        ]
    return Workspace.from_settings(parse_settings("\n".join(lines) + "\n", env={}), root=tmp_path)


@pytest.mark.parametrize(
    ("online", "registry"),
    [
        pytest.param("sqlite", "file", id="sqlite-file"),
        pytest.param("redis", "sql", id="redis-postgres"),
        pytest.param("cosmos", "file", id="cosmos-file", marks=pytest.mark.azure),
    ],
)
def test_every_model_service_serves_from_each_online_store(
    online: str, registry: str, tmp_path: Path, request: pytest.FixtureRequest
):
    ws = _workspace(tmp_path, online, registry, request)
    write_feature_tables(Path(feast_env(ws)["C360_FEATURES_URI"]))
    if online == "sqlite":  # plan once through the rendered config; the shipped-yaml test covers the rest
        assert "Created feature service churn" in plan(ws)
    apply(ws)

    fs = open_feature_store(ws)
    try:
        assert sorted(s.name for s in fs.list_feature_services()) == sorted(SERVICES)
        fs.materialize(NOW - timedelta(days=1), NOW)
        # Day counts are computed at read time from the stored timestamps and the request's as_of.
        rows = online_rows([{"customer_id": "C1"}, {"customer_id": "C-unknown"}], as_of=NOW)
        churn = fs.get_online_features(features=fs.get_feature_service("churn"), entity_rows=rows).to_dict()
        assert churn["total_spend"] == [120.5, None]
        assert churn["rfm_score"] == ["544", None]
        assert churn["cart_value"] == [35.5, None]
        assert churn["tenure_days"] == [400, None]
        assert churn["days_since_last_purchase"] == [5, None]
        assert churn["days_since_last_interaction"] == [1, None]
        assert "last_purchase_at" not in churn  # a stored time is an input of the day counts, not a feature
        later = online_rows([{"customer_id": "C1"}, {"customer_id": "C2"}], as_of=NOW + timedelta(days=30))
        aged = fs.get_online_features(features=fs.get_feature_service("clv"), entity_rows=later).to_dict()
        assert aged["days_since_last_purchase"] == [35, None]  # C2 never bought
        assert aged["days_since_last_interaction"] == [31, 150]
        items = fs.get_online_features(
            features=["product_stats:price_band", "product_stats:purchases_30d"],
            entity_rows=[{"product_id": "P1"}, {"product_id": "P-unknown"}],
        ).to_dict()
        assert items["price_band"] == ["budget", None] and items["purchases_30d"] == [11, None]
        nba = fs.get_online_features(
            features=fs.get_feature_service("next_best_action"), entity_rows=rows
        ).to_dict()
        assert nba["days_since_last_purchase"] == [5, None]
        assert nba["churn_risk"] == [0.12, None]
        assert set(nba) == {
            "customer_id", "rfm_score", "engagement_score", "preferred_channel",
            "days_since_last_interaction", "total_spend", "days_since_last_purchase", "open_tickets",
            "avg_sentiment", "churn_risk", "clv", "session_page_views", "cart_items", "cart_value",
        }  # fmt: skip

        # Erasing a customer from the online store leaves the others.
        assert delete_online_entities(fs, ["C1"]) > 0
        both = [{"customer_id": "C1"}, {"customer_id": "C2"}]
        after = fs.get_online_features(
            features=fs.get_feature_service("clv"), entity_rows=online_rows(both, as_of=NOW)
        ).to_dict()
        assert after["total_spend"] == [None, 10.0]
        assert after["age"] == [None, 52]
    finally:
        fs.teardown()
