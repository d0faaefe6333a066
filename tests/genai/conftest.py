"""The genai tests' pieces: a loopback chat-completions server per test (`c360.genai.standin`), fixed
profiles and products, and writers built over them."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from c360.genai.backends import backend_from_settings
from c360.genai.standin import StandInServer
from c360.genai.tasks import Product
from c360.genai.writer import ContentWriter
from c360.nba.catalog import load_catalog
from c360.settings import LLMSettings

DECIDED = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
GRANT = {"granted": True, "ts": "2026-01-01T00:00:00+00:00", "source": "test"}


def profile(cid: str = "C-1", personalization: bool = True, email: bool = True, name: str = "Ada") -> dict:
    consent: dict[str, Any] = {"marketing": {"web": GRANT, "push": GRANT}}
    if email:
        consent["marketing"]["email"] = GRANT
    if personalization:
        consent["personalization"] = {"email": GRANT, "web": GRANT, "push": GRANT}
    return {
        "customerId": cid,
        "identities": {"email": ["ada.quill@example.com"], "phone": ["+447700900123"]},
        "demographics": {
            "firstName": name,
            "lastName": "Quill",
            "age": 36,
            "birthDate": "1990-04-02",
            "location": {"city": "Leeds", "street": "1 Long Lane"},
        },
        "transactions": {"favoriteCategories": ["home"]},
        "interactions": {"openTickets": 1},
        "consent": consent,
    }


PRODUCTS = {"P-LAMP": Product("P-LAMP", "Reading lamp", "A warm 40 W lamp.", "home", 30.0, "EUR")}


def make_writer(settings: LLMSettings, profiles: dict[str, dict] | None = None, **kw: Any) -> ContentWriter:
    people = profiles if profiles is not None else {"C-1": profile()}

    def get(cid: str) -> dict:
        from c360.errors import NotFoundError

        if cid not in people:
            raise NotFoundError("no profile for this customer")
        return people[cid]

    return ContentWriter(
        settings, load_catalog(), get, PRODUCTS.get, backend=backend_from_settings(settings), **kw
    )


def http_settings(server: StandInServer, **kw: Any) -> LLMSettings:
    base = {
        "provider": "openai",
        "base_url": server.url,
        "timeout_seconds": 2.0,
        "max_retry_wait_seconds": 2.0,
    }
    return LLMSettings(**{**base, **kw})


@pytest.fixture
def server() -> Iterator[StandInServer]:
    with StandInServer(stall_seconds=5.0) as s:
        yield s


@pytest.fixture
def obedient() -> Iterator[StandInServer]:
    with StandInServer(obedient=True) as s:
        yield s
