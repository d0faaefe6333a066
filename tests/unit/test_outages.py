"""Outages at c360's boundary with each backend: one StoreUnavailableError naming the store, the endpoint
without secrets and what to check; anything that is not an outage passes through unchanged."""

from __future__ import annotations

import time

import pytest
import redis

from c360.errors import StoreUnavailableError
from c360.io.lake import Lake
from c360.io.outages import (
    azure_blob_endpoint,
    is_outage,
    redact_text,
    redact_url,
    redis_hint,
    store_call,
)

PASSWORD = "pw-4711-secret"
ACCOUNT_KEY = "c2VjcmV0LWFjY291bnQta2V5LTQ3MTE="
CLOSED_PORT = 1


@pytest.mark.unit
@pytest.mark.parametrize(
    ("url", "shown"),
    [
        (f"redis://:{PASSWORD}@127.0.0.1:6379/0", "redis://:***@127.0.0.1:6379/0"),
        (f"rediss://app:{PASSWORD}@cache.example.net:6380/1", "rediss://app:***@cache.example.net:6380/1"),
        (
            f"https://acct.blob.core.windows.net/?sv=2024&sig={PASSWORD}",
            "https://acct.blob.core.windows.net/?***",
        ),
        ("redis://127.0.0.1:6379/0", "redis://127.0.0.1:6379/0"),
    ],
)
def test_redact_url_removes_passwords_and_sas_tokens(url, shown):
    assert redact_url(url) == shown


@pytest.mark.unit
def test_redact_text_removes_secrets_a_library_quoted():
    text = (
        f"failed for redis://user:{PASSWORD}@h:1/0 with AccountKey={ACCOUNT_KEY};"
        f"SharedAccessSignature=sv=1&sig={PASSWORD}"
    )
    out = redact_text(text)
    assert PASSWORD not in out and ACCOUNT_KEY not in out
    assert "redis://user:***@h:1/0" in out and "AccountKey=***" in out


@pytest.mark.unit
@pytest.mark.parametrize(
    ("options", "endpoint"),
    [
        (
            {
                "connection_string": f"AccountName=a;AccountKey={ACCOUNT_KEY};BlobEndpoint=http://127.0.0.1:9/a;"
            },
            "http://127.0.0.1:9/a",
        ),
        (
            {
                "connection_string": "DefaultEndpointsProtocol=https;AccountName=acct;"
                f"AccountKey={ACCOUNT_KEY}"
            },
            "https://acct.blob.core.windows.net",
        ),
        ({"account_name": "acct", "account_key": ACCOUNT_KEY}, "https://acct.blob.core.windows.net"),
        (
            {"account_url": f"https://acct.blob.core.windows.net/?sig={PASSWORD}"},
            "https://acct.blob.core.windows.net/?***",
        ),
    ],
)
def test_azure_blob_endpoint_never_holds_a_key(options, endpoint):
    assert azure_blob_endpoint(options) == endpoint


def test_store_call_names_a_redis_server_that_is_down():
    url = f"redis://:{PASSWORD}@127.0.0.1:{CLOSED_PORT}/0"
    client = redis.Redis.from_url(url, socket_connect_timeout=2)
    context = store_call("Feast online store (redis)", redact_url(url), redis_hint(url))
    with pytest.raises(StoreUnavailableError) as caught, context:
        client.ping()
    message = caught.value.message
    assert message.startswith(
        f"Feast online store (redis) at redis://:***@127.0.0.1:{CLOSED_PORT}/0 is unavailable"
    )
    assert f"is Redis running at 127.0.0.1:{CLOSED_PORT}" in message and "stores.profile.redis_url" in message
    assert PASSWORD not in message and "\n" not in message


def test_store_call_names_a_redis_server_refusing_the_password():
    url = f"redis://:{PASSWORD}@127.0.0.1:6379/0"
    client = redis.Redis.from_url(url, socket_connect_timeout=2)
    context = store_call("Feast online store (redis)", redact_url(url), redis_hint(url))
    with pytest.raises(StoreUnavailableError) as caught, context:
        client.ping()
    assert "127.0.0.1:6379" in caught.value.message and PASSWORD not in caught.value.message


@pytest.mark.unit
def test_store_call_lets_bugs_through():
    with pytest.raises(KeyError), store_call("lake", "/tmp", "check lake.uri"):
        {}["missing"]
    assert not is_outage(ValueError("x")) and not is_outage(FileNotFoundError("x"))
    try:
        try:
            raise ConnectionRefusedError(111, "Connection refused")
        except OSError as exc:
            raise RuntimeError("wrapped by a library") from exc
    except RuntimeError as wrapped:
        assert is_outage(wrapped)  # the cause counts: Feast and fsspec re-raise client errors


@pytest.mark.unit
def test_an_abfs_lake_whose_endpoint_is_down_fails_fast_with_its_endpoint():
    conn = (
        f"DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey={ACCOUNT_KEY};"
        f"BlobEndpoint=http://127.0.0.1:{CLOSED_PORT}/devstoreaccount1;"
    )
    lake = Lake("abfs://lake/c360", {"connection_string": conn})
    started = time.monotonic()
    for operation in (lambda: lake.glob("raw/*.csv"), lambda: lake.exists("raw"), lambda: lake.fs):
        with pytest.raises(StoreUnavailableError) as caught:
            operation()
        message = caught.value.message
        assert (
            f"http://127.0.0.1:{CLOSED_PORT}/devstoreaccount1" in message
            and "lake.storage_options" in message
        )
        assert ACCOUNT_KEY not in message
    assert time.monotonic() - started < 20  # the SDK's own retries take about 90 s


@pytest.mark.azure
def test_an_abfs_lake_refusing_the_key_names_its_endpoint(azurite_service):
    from c360.devservices.azurite import ACCOUNT_KEY as GOOD_KEY

    azurite_service.create_container("lake")
    conn = azurite_service.connection_string.replace(GOOD_KEY, ACCOUNT_KEY)
    lake = Lake("abfs://lake/c360", {"connection_string": conn})
    with pytest.raises(StoreUnavailableError) as caught:
        lake.exists("raw")
    message = caught.value.message
    assert f"127.0.0.1:{azurite_service.port}" in message and ACCOUNT_KEY not in message
