"""Azure Cosmos DB plumbing shared by the profile store and the Feast online store.

Three things both need and the SDK leaves to the caller:

- Throttling. The SDK already retries 429 answers as the service asks (`x-ms-retry-after-ms`, up to
  `sdk_throttle_retries` times). When a 429 still escapes (sustained throttling during a bulk load),
  `call` backs off exponentially with jitter and tries again before giving up with StoreUnavailableError.
- Errors. SDK and transport errors become `StoreUnavailableError` naming the store and its endpoint, or
  `ValidationError` when the service rejected the request itself; keys and document bodies never appear.
- Point reads of documents that may not exist. The service answers 404 (NotFound) for a missing document.
  Only that answer is taken as "not found" directly; any other failure of a point read is confirmed with a
  query filtered on the partition key and id, and only an empty answer from the service means not found.
  (The stand-in answers 500 for a missing document, and a real 500 must not read as a missing customer.)
"""

from __future__ import annotations

import logging
import random
import re
import time
from collections.abc import Callable
from typing import Any, TypeVar

from azure.core.exceptions import AzureError, ServiceRequestError, ServiceResponseError
from azure.cosmos import ContainerProxy, CosmosClient
from azure.cosmos.exceptions import CosmosHttpResponseError, CosmosResourceNotFoundError

from c360.errors import C360Error, StoreUnavailableError, ValidationError

T = TypeVar("T")
SYSTEM_PROPERTIES = ("_rid", "_self", "_etag", "_attachments", "_ts", "_lsn")
THROTTLED = 429
_PROPERTY = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
HINT = "is Cosmos DB reachable there? check the endpoint and key in c360.yaml (stores.profile.cosmos_*)"
"""What to check when the account cannot be reached; callers name their own config keys."""


def quiet_azure_logging() -> None:
    """azure-core logs every HTTP request at INFO (headers included); keep only warnings and errors."""
    logging.getLogger("azure").setLevel(logging.WARNING)


def cosmos_client(
    endpoint: str,
    key: str,
    *,
    verify_tls: bool = True,
    sdk_throttle_retries: int = 9,
    sdk_throttle_max_wait_s: int = 30,
    what: str = "Cosmos DB",
    hint: str = HINT,
) -> CosmosClient:
    """A client for one account; StoreUnavailableError names the endpoint when it cannot be reached."""
    quiet_azure_logging()
    if not key:
        raise StoreUnavailableError(f"{what} at {endpoint}: no account key configured; {hint}")
    if not verify_tls:
        # The operator chose an unverified endpoint (the stand-in's self-signed certificate); urllib3 would
        # otherwise warn on every request.
        import urllib3

        urllib3.disable_warnings(urllib3.exceptions.InsecureRequestWarning)
    try:
        return CosmosClient(
            endpoint,
            credential=key,
            **client_options(verify_tls, sdk_throttle_retries, sdk_throttle_max_wait_s),
        )
    except (CosmosHttpResponseError, AzureError, ValueError) as exc:
        raise unavailable(exc, what=what, address=endpoint, hint=hint) from None


def client_options(
    verify_tls: bool, sdk_throttle_retries: int, sdk_throttle_max_wait_s: int = 30
) -> dict[str, Any]:
    """The SDK client's settings c360 uses, sync and asyncio alike: one region, the SDK's own short retry of
    throttled requests, a 5 s connection timeout."""
    return {
        "connection_verify": verify_tls,
        "enable_endpoint_discovery": False,
        "retry_throttle_total": max(1, sdk_throttle_retries),
        "retry_throttle_backoff_max": sdk_throttle_max_wait_s,
        "connection_timeout": 5,
    }


def unavailable(exc: BaseException, *, what: str, address: str, hint: str = HINT) -> StoreUnavailableError:
    return StoreUnavailableError(f"{what} at {address} is unavailable: {_brief(exc)}; {hint}")


def throttle_delay(
    exc: CosmosHttpResponseError, attempt: int, base_delay_s: float = 0.05, max_delay_s: float = 5.0
) -> float:
    """Seconds to wait before retrying a 429: the server's Retry-After or the exponential backoff, whichever
    is longer, with 20% jitter."""
    backoff = min(max_delay_s, base_delay_s * (2**attempt))
    return max(_retry_after_seconds(exc), backoff) * (1.0 + 0.2 * random.random())


def _brief(exc: BaseException) -> str:
    """The first line of an SDK error (the rest repeats it with request details)."""
    if isinstance(exc, CosmosHttpResponseError):
        text = f"HTTP {exc.status_code}: {exc.message or ''}"
    else:
        text = str(exc)
    return text.strip().splitlines()[0][:300] if text.strip() else type(exc).__name__


def _retry_after_seconds(exc: CosmosHttpResponseError) -> float:
    headers = getattr(exc, "headers", None) or {}
    raw = headers.get("x-ms-retry-after-ms") if hasattr(headers, "get") else None
    try:
        return float(raw) / 1000.0 if raw is not None else 0.0
    except (TypeError, ValueError):
        return 0.0


def call(
    op: Callable[[], T],
    *,
    what: str,
    address: str,
    throttle_retries: int = 5,
    base_delay_s: float = 0.05,
    max_delay_s: float = 5.0,
    hint: str = HINT,
) -> T:
    """Run one SDK operation; back off on sustained 429s and translate failures into c360 errors."""
    attempt = 0
    while True:
        try:
            return op()
        except CosmosHttpResponseError as exc:
            if exc.status_code == THROTTLED and attempt < throttle_retries:
                time.sleep(throttle_delay(exc, attempt, base_delay_s, max_delay_s))
                attempt += 1
                continue
            raise translate(exc, what=what, address=address, attempts=attempt + 1, hint=hint) from None
        except (ServiceRequestError, ServiceResponseError, AzureError) as exc:
            raise unavailable(exc, what=what, address=address, hint=hint) from None


def translate(
    exc: CosmosHttpResponseError, *, what: str, address: str, attempts: int = 1, hint: str = HINT
) -> C360Error:
    status = exc.status_code
    if status == THROTTLED:
        return StoreUnavailableError(
            f"{what} at {address} is throttling requests (HTTP 429) after {attempts} attempts; "
            "raise the provisioned throughput or lower the write concurrency"
        )
    if status in (400, 413):
        return ValidationError(f"{what} at {address} rejected the request: {_brief(exc)}")
    if status in (401, 403):
        return StoreUnavailableError(f"{what} at {address} refused the credentials: {_brief(exc)}; {hint}")
    return StoreUnavailableError(f"{what} at {address} failed: {_brief(exc)}; {hint}")


def read_or_none(
    container: ContainerProxy,
    item_id: str,
    partition_key: str,
    partition_key_path: str,
    *,
    what: str,
    address: str,
    throttle_retries: int = 5,
    hint: str = HINT,
) -> dict[str, Any] | None:
    """Point read; None only when the service says the document does not exist (see the module docstring)."""

    def read() -> dict[str, Any] | None:
        try:
            return container.read_item(item=item_id, partition_key=partition_key)
        except CosmosResourceNotFoundError:
            return None
        except CosmosHttpResponseError as exc:
            if exc.status_code == THROTTLED or exc.status_code in (401, 403):
                raise
            return _confirm_by_query(container, item_id, partition_key, partition_key_path, exc)

    return call(read, what=what, address=address, throttle_retries=throttle_retries, hint=hint)


def _confirm_by_query(
    container: ContainerProxy,
    item_id: str,
    partition_key: str,
    partition_key_path: str,
    read_error: CosmosHttpResponseError,
) -> dict[str, Any] | None:
    field = partition_key_path.lstrip("/")
    if not _PROPERTY.fullmatch(field):
        raise ValueError(f"partition key path {partition_key_path!r} must be one top-level property")
    query = f"SELECT * FROM c WHERE c.id = @id AND c.{field} = @pk"
    params: list[dict[str, Any]] = [
        {"name": "@id", "value": item_id},
        {"name": "@pk", "value": partition_key},
    ]
    try:
        # Filtering on the partition key path lets the service route this to one partition.
        found = list(container.query_items(query, parameters=params, enable_cross_partition_query=True))
    except CosmosHttpResponseError as exc:
        if exc.status_code == THROTTLED:
            raise
        raise read_error from None
    return found[0] if found else None


def strip_system_properties(doc: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in doc.items() if k not in SYSTEM_PROPERTIES}
