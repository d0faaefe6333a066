"""The Azure Cosmos DB stand-in for the test session (registered in conftest.py through `pytest_plugins`)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from c360.devservices.cosmos import CosmosStandIn, cosmos_stand_in
from c360.profile.store.cosmos import CosmosProfileStore


@pytest.fixture(scope="session")
def cosmos_endpoint() -> Iterator[CosmosStandIn]:
    """`@vercel/cosmosdb-server` on a free loopback port (TLS, keep-alive) for the whole session.

    Yields `.endpoint` and `.key`; data lives in memory, so tests use their own database or container names.
    """
    with cosmos_stand_in() as stand_in:
        yield stand_in


@pytest.fixture
def stand_in(cosmos_endpoint: CosmosStandIn) -> Iterator[CosmosStandIn]:
    """The session's stand-in with no fault injected, before the test and after it."""
    cosmos_endpoint.clear_faults()
    yield cosmos_endpoint
    cosmos_endpoint.clear_faults()


def cosmos_profile_store(stand_in: CosmosStandIn, **kwargs: Any) -> CosmosProfileStore:
    """A profile store in a database of its own on the stand-in."""
    return CosmosProfileStore(
        stand_in.endpoint, stand_in.key, database=f"t{uuid.uuid4().hex[:12]}", verify_tls=False, **kwargs
    )
