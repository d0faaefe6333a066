"""Cosmos DB behaviour c360 relies on, checked against the stand-in with faults injected over real HTTP.

The stand-in answers like the service for the cases that matter here: throttling is a 429 with
`x-ms-retry-after-ms`; a failing server is a 5xx. c360 must retry the first and never mistake the second for a
missing customer.
"""

from __future__ import annotations

import time

import pytest

from c360.devservices.cosmos import CosmosStandIn
from c360.errors import NotFoundError, StoreUnavailableError
from tests.fixtures_cosmos import cosmos_profile_store

pytestmark = pytest.mark.azure


def test_the_stand_in_keeps_connections_alive(stand_in: CosmosStandIn):
    """COMPONENTS.md: without keep-alive every point read pays a TLS handshake (~29 ms instead of ~1.5 ms)."""
    with cosmos_profile_store(stand_in) as store:
        store.upsert({"customerId": "C1"})
        store.get("C1")
        samples = []
        for _ in range(50):
            t0 = time.perf_counter()
            store.get("C1")
            samples.append(time.perf_counter() - t0)
    samples.sort()
    assert samples[len(samples) // 2] < 0.010


def test_throttled_reads_are_retried_by_the_sdk(stand_in: CosmosStandIn):
    with cosmos_profile_store(stand_in) as store:
        store.upsert({"customerId": "C1", "engagement": {"engagementScore": 70}})
        stand_in.inject_faults(3, status=429, retry_after_ms=20)
        assert store.get("C1")["engagement"]["engagementScore"] == 70
        assert stand_in.faults_served() == 3


def test_throttling_that_outlasts_the_sdk_is_retried_with_backoff(stand_in: CosmosStandIn):
    # The SDK retries once (two 429s), then the third 429 reaches c360's own backoff, which tries again.
    with cosmos_profile_store(stand_in, sdk_throttle_retries=1, throttle_retries=3) as store:
        store.upsert({"customerId": "C1"})
        stand_in.inject_faults(3, status=429, retry_after_ms=5)
        t0 = time.perf_counter()
        assert store.get("C1")["customerId"] == "C1"
        elapsed = time.perf_counter() - t0
        assert stand_in.faults_served() == 3
    assert elapsed >= 0.05  # c360's first backoff step is 50 ms; the SDK alone would have waited 10 ms


def test_sustained_throttling_ends_in_store_unavailable(stand_in: CosmosStandIn):
    with cosmos_profile_store(stand_in, sdk_throttle_retries=1, throttle_retries=2) as store:
        store.upsert({"customerId": "C1"})
        stand_in.inject_faults(1000, status=429, retry_after_ms=1)
        with pytest.raises(StoreUnavailableError) as err:
            store.get("C1")
        assert "429" in err.value.message
        assert stand_in.endpoint.rstrip("/") in err.value.message


def test_a_server_error_is_not_a_missing_customer(stand_in: CosmosStandIn):
    with cosmos_profile_store(stand_in) as store:
        store.upsert({"customerId": "C1"})
        stand_in.inject_faults(1000, status=500)
        with pytest.raises(StoreUnavailableError):
            store.get("C1")
        with pytest.raises(StoreUnavailableError):
            store.get("C-missing")
        stand_in.clear_faults()
        with pytest.raises(NotFoundError):
            store.get("C-missing")
        assert store.get("C1")["customerId"] == "C1"


def test_a_transient_read_failure_recovers_the_document(stand_in: CosmosStandIn):
    """A point read failing once is confirmed by a query, which finds the document."""
    with cosmos_profile_store(stand_in) as store:
        store.upsert({"customerId": "C1"})
        stand_in.inject_faults(1, status=503)
        assert store.get("C1")["customerId"] == "C1"
        assert stand_in.faults_served() == 1
