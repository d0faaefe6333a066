"""The store benchmark's pieces that need no services: percentiles, synthetic profiles, the SQLite run."""

from __future__ import annotations

import json
import random

import pytest

from c360.bench.stores import Latency, bench_profile_store, synthetic_profile
from c360.profile.store.sqlite import SqliteProfileStore

pytestmark = pytest.mark.unit


def test_latency_percentiles_in_milliseconds():
    lat = Latency.of([i / 1000 for i in range(1, 101)])  # 1..100 ms
    assert lat.samples == 100
    assert lat.p50_ms == pytest.approx(50.5)
    assert lat.p99_ms == pytest.approx(99.01)


def test_synthetic_profiles_are_about_a_kilobyte_in_the_seed_schema():
    doc = synthetic_profile(7, random.Random(1))
    assert 700 <= len(json.dumps(doc)) <= 1500
    assert {
        "customerId",
        "identities",
        "demographics",
        "transactions",
        "engagement",
        "mlScores",
        "consent",
    } <= set(doc)
    assert doc == synthetic_profile(7, random.Random(1))  # seeded


def test_profile_store_bench_on_sqlite(tmp_path):
    with SqliteProfileStore(tmp_path / "p.db") as store:
        result = bench_profile_store(store, customers=300, reads=100)
        assert store.lookup("email", "user299@example.com") == "C00000299"
    assert result.backend == "sqlite"
    assert result.profiles == 300
    assert result.upserts_per_s > 0
    assert 0 < result.get.p50_ms <= result.get.p99_ms
    assert result.lookup.samples == 100
