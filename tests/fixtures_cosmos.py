"""The Azure Cosmos DB stand-in for the test session (registered in conftest.py through `pytest_plugins`)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from c360.devservices.cosmos import CosmosStandIn, cosmos_stand_in


@pytest.fixture(scope="session")
def cosmos_endpoint() -> Iterator[CosmosStandIn]:
    """`@vercel/cosmosdb-server` on a free loopback port (TLS, keep-alive) for the whole session.

    Yields `.endpoint` and `.key`; data lives in memory, so tests use their own database or container names.
    """
    with cosmos_stand_in() as stand_in:
        yield stand_in
