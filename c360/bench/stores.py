"""Store benchmark: the profile store and Feast online reads on each backend (SQLite, Redis, Cosmos DB).

Per backend, with synthetic customers (profile documents of about 1 KB in the seed schema, and one row per
customer in each feature table):

- profile store: batch upsert throughput (profiles/s, batches of 500), point-read and lookup latency;
- Feast: materialization throughput (rows/s into the online store), `get_online_features` latency for one
  customer's model features (a feature service), side by side with the raw online-store reads underneath
  (see `raw_reader`), so the difference is Feast's own overhead.

Redis is the server in `stores.profile.redis_url` (keys under a unique prefix and Feast project, removed
after); Cosmos DB is the local stand-in, started for the run. Latencies are sequential single-client calls
after a warm-up; p50 and p99 in milliseconds.
"""

from __future__ import annotations

import random
import shutil
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from rich.console import Console
from rich.table import Table

from c360.features.request import online_rows
from c360.features.store import apply as feast_apply
from c360.features.store import feast_env, open_feature_store
from c360.profile.store import ProfileStore, open_profile_store
from c360.settings import parse_settings
from c360.workspace import Workspace

BACKENDS = ("sqlite", "redis", "cosmos")
UPSERT_BATCH = 500


@dataclass(frozen=True)
class Latency:
    p50_ms: float
    p99_ms: float
    samples: int

    @classmethod
    def of(cls, seconds: Sequence[float]) -> Latency:
        ms = np.asarray(seconds) * 1000.0
        return cls(float(np.percentile(ms, 50)), float(np.percentile(ms, 99)), len(ms))


@dataclass(frozen=True)
class ProfileStoreResult:
    backend: str
    profiles: int
    upsert_seconds: float
    get: Latency
    lookup: Latency

    @property
    def upserts_per_s(self) -> float:
        return self.profiles / self.upsert_seconds if self.upsert_seconds else 0.0


@dataclass(frozen=True)
class FeastResult:
    backend: str
    service: str
    features: int
    rows_materialized: int
    materialize_seconds: float
    feast: Latency
    raw: Latency

    @property
    def rows_per_s(self) -> float:
        return self.rows_materialized / self.materialize_seconds if self.materialize_seconds else 0.0

    @property
    def overhead_p50_ms(self) -> float:
        return self.feast.p50_ms - self.raw.p50_ms


@dataclass
class StoresBenchResult:
    profile: list[ProfileStoreResult]
    feast: list[FeastResult]


# -------------------------------------------------------------------------------------------- synthetic data


def customer_id(i: int) -> str:
    return f"C{i:08d}"


def synthetic_profile(i: int, rng: random.Random) -> dict[str, Any]:
    """A profile document in the seed schema, about 1 KB."""
    spend = round(rng.uniform(0, 3000), 2)
    orders = rng.randint(0, 40)
    return {
        "customerId": customer_id(i),
        "identities": {
            "email": [f"user{i}@example.com"],
            "phone": [f"+1555{i:07d}"],
            "deviceIds": [f"dev-{i:x}-{rng.randint(0, 9999)}"],
            "cookieIds": [],
        },
        "demographics": {
            "firstName": rng.choice(["Ada", "Grace", "Alan", "Linus", "Barbara", "Ken"]),
            "lastName": rng.choice(["Lovelace", "Hopper", "Turing", "Torvalds", "Liskov", "Thompson"]),
            "age": rng.randint(18, 90),
            "gender": rng.choice(["female", "male", "unknown"]),
            "location": {
                "city": rng.choice(["London", "Austin", "Lyon"]),
                "country": rng.choice(["GB", "US", "FR"]),
            },
        },
        "transactions": {
            "totalPurchases": orders,
            "totalSpend": spend,
            "avgOrderValue": round(spend / orders, 2) if orders else 0.0,
            "lastPurchase": (
                datetime(2026, 1, 1, tzinfo=UTC) + timedelta(days=rng.randint(0, 300))
            ).isoformat(),
            "favoriteCategories": rng.sample(["books", "toys", "garden", "music", "sports", "kitchen"], 3),
            "returns": rng.randint(0, 3),
        },
        "engagement": {
            "rfmScore": f"{rng.randint(1, 5)}{rng.randint(1, 5)}{rng.randint(1, 5)}",
            "engagementScore": rng.randint(0, 100),
            "preferredChannel": rng.choice(["email", "sms", "push", "web"]),
            "lastInteraction": datetime(2026, 11, 1, tzinfo=UTC).isoformat(),
        },
        "interactions": {"supportTickets": rng.randint(0, 4), "webVisits": rng.randint(0, 50)},
        "mlScores": {
            "churnRisk": round(rng.random(), 4),
            "clv": round(rng.uniform(0, 5000), 2),
            "nextProductPropensity": round(rng.random(), 4),
        },  # fmt: skip
        "consent": {
            "marketing": {"email": {"granted": True, "ts": "2026-09-01T00:00:00+00:00", "source": "crm"}},
            "personalization": {"web": {"granted": True, "ts": "2026-09-01T00:00:00+00:00", "source": "web"}},
        },
        "signals": {"session": {"pageViews": rng.randint(0, 20)}, "cart": {"items": rng.randint(0, 5)}},
    }


def _column(dtype: str, n: int, rng: np.random.Generator, now: datetime) -> Any:
    if dtype == "Int64":
        return rng.integers(0, 100, n)
    if dtype == "Float64":
        return rng.random(n) * 100
    if dtype == "String":
        return rng.choice(["a", "b", "c", "d"], n)
    if dtype == "UnixTimestamp":
        return pd.to_datetime([now - timedelta(minutes=int(m)) for m in rng.integers(0, 600, n)], utc=True)
    raise ValueError(f"no synthetic generator for feature type {dtype}")


def write_feature_tables(fs: Any, features_dir: Path, n: int, seed: int = 42) -> int:
    """One parquet file per registered feature view, one row per customer; returns rows written."""
    rng = np.random.default_rng(seed)
    now = datetime.now(UTC)
    ids = [customer_id(i) for i in range(n)]
    rows = 0
    for view in [*fs.list_feature_views(), *fs.list_stream_feature_views()]:
        frame = pd.DataFrame({"customer_id": ids, "event_timestamp": pd.Timestamp(now - timedelta(hours=1))})
        for field in view.schema:
            if field.name != "customer_id":
                frame[field.name] = _column(str(field.dtype), n, rng, now)
        folder = features_dir / view.name
        folder.mkdir(parents=True, exist_ok=True)
        frame.to_parquet(folder / "part-00000.parquet", index=False)
        rows += n
    return rows


# -------------------------------------------------------------------------------------------- measurements


def _timed(fn: Callable[[], Any], n: int, warmup: int = 50) -> Latency:
    for _ in range(min(warmup, n)):
        fn()
    samples = []
    for _ in range(n):
        t0 = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - t0)
    return Latency.of(samples)


def _timed_pair(
    a: Callable[[str], Any], b: Callable[[str], Any], ids: Sequence[str], n: int, warmup: int = 50
) -> tuple[Latency, Latency]:
    """Time two readers on the same ids, alternating which goes first, so machine load hits both alike."""
    for cid in ids[:warmup]:
        a(cid)
        b(cid)
    sa: list[float] = []
    sb: list[float] = []
    for i in range(n):
        cid = ids[i % len(ids)]
        order = ((a, sa), (b, sb)) if i % 2 == 0 else ((b, sb), (a, sa))
        for fn, samples in order:
            t0 = time.perf_counter()
            fn(cid)
            samples.append(time.perf_counter() - t0)
    return Latency.of(sa), Latency.of(sb)


def bench_profile_store(
    store: ProfileStore, customers: int, reads: int, seed: int = 42
) -> ProfileStoreResult:
    rng = random.Random(seed)
    docs = [synthetic_profile(i, rng) for i in range(customers)]
    t0 = time.perf_counter()
    for start in range(0, customers, UPSERT_BATCH):
        store.upsert_many(docs[start : start + UPSERT_BATCH])
    upsert_seconds = time.perf_counter() - t0
    picks = iter([rng.randrange(customers) for _ in range(reads + 100)])
    get = _timed(lambda: store.get(customer_id(next(picks))), reads)
    emails = iter([rng.randrange(customers) for _ in range(reads + 100)])
    lookup = _timed(lambda: store.lookup("email", f"user{next(emails)}@example.com"), reads)
    return ProfileStoreResult(store.backend, customers, upsert_seconds, get, lookup)


def raw_reader(fs: Any, projections: list[tuple[Any, list[str]]]) -> Callable[[str], list[Any]]:
    """The store's own reads for one customer's features, decoded to ValueProtos, without Feast around them.

    SQLite and Cosmos DB: `online_read` per feature view (a query / a point read each), as Feast calls them.
    Redis: one pipelined HMGET over every view, which is Feast's own batched Redis path.
    """
    from feast.infra.online_stores.helpers import _redis_key
    from feast.infra.online_stores.redis import RedisOnlineStore
    from feast.protos.feast.types.EntityKey_pb2 import EntityKey
    from feast.protos.feast.types.Value_pb2 import Value

    online = fs._get_provider().online_store
    config = fs.config

    def key_of(cid: str) -> Any:
        return EntityKey(join_keys=["customer_id"], entity_values=[Value(string_val=cid)])

    if isinstance(online, RedisOnlineStore):
        fields = [
            (view.name, *online._generate_hset_keys_for_features(view, list(names)))
            for view, names in projections
        ]
        client = online._get_client(config.online_store)

        def read_redis(cid: str) -> list[Any]:
            rkey = _redis_key(config.project, key_of(cid), config.entity_key_serialization_version)
            with client.pipeline(transaction=False) as pipe:
                for _, _, hset_keys in fields:
                    pipe.hmget(rkey, hset_keys)
                replies = pipe.execute()
            return [
                online._convert_redis_values_to_protobuf([values], fv, list(req))
                for (fv, req, _), values in zip(fields, replies, strict=True)
            ]

        return read_redis

    def read_per_view(cid: str) -> list[Any]:
        key = key_of(cid)
        # online_read may extend the feature list it is given (Redis does), so each call gets a copy.
        return [online.online_read(config, view, [key], list(names)) for view, names in projections]

    return read_per_view


def bench_feast(ws: Workspace, customers: int, reads: int, service: str, seed: int = 42) -> FeastResult:
    feast_apply(ws)
    fs = open_feature_store(ws)
    try:
        rows = write_feature_tables(fs, Path(feast_env(ws)["C360_FEATURES_URI"]), customers, seed)
        t0 = time.perf_counter()
        fs.materialize(datetime.now(UTC) - timedelta(days=2), datetime.now(UTC))
        materialize_seconds = time.perf_counter() - t0

        svc = fs.get_feature_service(service)
        views = {v.name: v for v in [*fs.list_feature_views(), *fs.list_stream_feature_views()]}
        # stored views only: an on-demand view (elapsed_days) is computed from them at read time
        stored = [p for p in svc.feature_view_projections if p.name in views]
        projections = [(views[p.name], [f.name for f in p.features]) for p in stored]
        rng = random.Random(seed)
        ids = [customer_id(rng.randrange(customers)) for _ in range(reads + 100)]

        raw_read = raw_reader(fs, projections)
        feast, raw = _timed_pair(
            lambda cid: fs.get_online_features(features=svc, entity_rows=online_rows([{"customer_id": cid}])),
            raw_read,
            ids,
            reads,
        )
        first = online_rows([{"customer_id": ids[0]}])
        sample = fs.get_online_features(features=svc, entity_rows=first).to_dict()
        if any(v == [None] for k, v in sample.items() if k != "customer_id"):
            raise RuntimeError(
                f"feature service {service} returned missing values on {ws.settings.workspace}"
            )
        n_features = sum(len(names) for _, names in projections)
        backend = ws.settings.stores.feast.online_store
        return FeastResult(backend, service, n_features, rows, materialize_seconds, feast, raw)
    finally:
        fs.teardown()


# -------------------------------------------------------------------------------------------- orchestration


@contextmanager
def _backend_settings(backend: str) -> Iterator[str]:
    """The `stores` section for one backend (starting the Cosmos DB stand-in when needed)."""
    if backend != "cosmos":
        yield f"stores:\n  profile:\n    backend: {backend}\n  feast:\n    online_store: {backend}\n"
        return
    from c360.devservices.cosmos import cosmos_stand_in

    with cosmos_stand_in() as stand_in:
        yield (
            "stores:\n  profile:\n    backend: cosmos\n"
            f"    cosmos_endpoint: {stand_in.endpoint}\n    cosmos_key: {stand_in.key}\n"
            f"    cosmos_database: bench{uuid.uuid4().hex[:8]}\n    cosmos_verify_tls: false\n"
            "  feast:\n    online_store: cosmos\n"
        )


def _drop_redis_profiles(store: ProfileStore) -> None:
    from c360.profile.store.redis import RedisProfileStore

    if isinstance(store, RedisProfileStore):
        client = store._client
        keys = list(client.scan_iter(match=f"{store.prefix}*", count=1000))
        for start in range(0, len(keys), 1000):
            client.delete(*keys[start : start + 1000])


def results_tables(result: StoresBenchResult) -> list[Table]:
    """Two tables that fit 80 columns (latencies in ms)."""
    profile = Table(title="profile store: batch upsert, point read and lookup (ms)", title_justify="left")
    for col in ("backend", "profiles", "upserts/s", "get p50", "get p99", "lookup p50", "lookup p99"):
        profile.add_column(col, justify="right")
    for r in result.profile:
        profile.add_row(
            r.backend, f"{r.profiles:,}", f"{r.upserts_per_s:,.0f}", f"{r.get.p50_ms:.2f}",
            f"{r.get.p99_ms:.2f}", f"{r.lookup.p50_ms:.2f}", f"{r.lookup.p99_ms:.2f}",
        )  # fmt: skip
    head = f"{result.feast[0].service!r}, {result.feast[0].features} features" if result.feast else ""
    feast = Table(
        title=f"Feast: materialize rows/s; online read of 1 customer ({head}) vs raw reads (ms)",
        title_justify="left",
    )
    for col in ("backend", "rows/s", "feast p50", "feast p99", "raw p50", "raw p99", "overhead"):
        feast.add_column(col, justify="right")
    for r in result.feast:
        feast.add_row(
            r.backend, f"{r.rows_per_s:,.0f}", f"{r.feast.p50_ms:.2f}", f"{r.feast.p99_ms:.2f}",
            f"{r.raw.p50_ms:.2f}", f"{r.raw.p99_ms:.2f}", f"{r.overhead_p50_ms:.2f}",
        )  # fmt: skip
    return [profile, feast]


def run(
    customers: int = 2_000,
    reads: int = 1_000,
    backends: Sequence[str] = BACKENDS,
    service: str = "churn",
    workdir: Path | None = None,
    console: Console | None = None,
) -> StoresBenchResult:
    """Benchmark each backend's profile store and Feast online store; print and return the figures."""
    console = console or Console()
    unknown = set(backends) - set(BACKENDS)
    if unknown:
        raise ValueError(f"unknown backends {sorted(unknown)}; choose from {', '.join(BACKENDS)}")
    base = Path(workdir) if workdir else Path(tempfile.mkdtemp(prefix="c360-bench-stores-"))
    result = StoresBenchResult(profile=[], feast=[])
    for backend in backends:
        with _backend_settings(backend) as stores:
            name = f"bench-{backend}-{uuid.uuid4().hex[:8]}"
            settings = parse_settings(f"workspace: {name}\n{stores}", env={})
            ws = Workspace.from_settings(settings, root=base / name)
            console.print(f"[bold]{backend}[/bold]: {customers:,} profiles")
            store = open_profile_store(ws)
            try:
                result.profile.append(bench_profile_store(store, customers, reads))
            finally:
                _drop_redis_profiles(store)
                store.close()
            console.print(f"[bold]{backend}[/bold]: Feast service {service!r}")
            result.feast.append(bench_feast(ws, customers, reads, service))
    for table in results_tables(result):
        console.print(table)
    if workdir is None:
        shutil.rmtree(base, ignore_errors=True)
    return result
