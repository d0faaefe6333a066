"""Store and lake outages as one error that says which store, where, and what to check.

Client libraries report an unreachable server in their own words and types (redis-py's ConnectionError,
azure-core's ServiceRequestError, aiohttp's ClientConnectorError, a bare ConnectionRefusedError), often
under a traceback through Feast or fsspec. At c360's boundary with each backend, `store_call` turns those
into one `StoreUnavailableError`: the store's name, its endpoint with every secret removed, and a hint
naming the config key to check. Anything else passes through: a bug is never reported as an outage.

    with store_call("Feast online store (redis)", redact_url(url), redis_hint(url)):
        store.materialize_incremental(...)

`online_store_call(settings)` builds that context for the workspace's Feast online store.
"""

from __future__ import annotations

import re
import socket
import sys
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import TYPE_CHECKING
from urllib.parse import urlsplit, urlunsplit

from c360.errors import StoreUnavailableError

if TYPE_CHECKING:
    from c360.settings import Settings
    from c360.workspace import Workspace

_MAX_DETAIL = 200
LAKE_HINT = "is the storage account up and its key right? check lake.uri and lake.storage_options"
# `scheme://user:password@host` in any text (a library's message may quote the URL it was given).
_URL_USERINFO = re.compile(r"(?P<scheme>[a-z][a-z0-9+.-]*://)(?P<user>[^:/@\s]*):[^@\s/]*@", re.I)
# `AccountKey=...;`, `SharedAccessSignature=...`, `password=...` pairs of connection strings.
_SECRET_PAIR = re.compile(
    r"(?P<key>accountkey|sharedaccesssignature|sharedaccesskey|password|pwd|secret|sig|token)=[^;,&\s]*", re.I
)


# ------------------------------------------------------------------------------------------ redaction


def redact_url(url: str) -> str:
    """The URL without its password or query string (SAS tokens live there), for messages."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return redact_text(url)
    netloc = parts.hostname or ""
    if parts.password is not None:
        netloc = f"{parts.username}:***@{netloc}" if parts.username else f":***@{netloc}"
    elif parts.username:
        netloc = f"{parts.username}@{netloc}"
    if port:
        netloc = f"{netloc}:{port}"
    query = "***" if parts.query else ""
    return urlunsplit((parts.scheme, netloc, parts.path, query, ""))


def redact_text(text: str) -> str:
    """`text` with URL passwords and connection-string secrets replaced by `***`."""
    text = _URL_USERINFO.sub(lambda m: f"{m['scheme']}{m['user']}:***@", text)
    return _SECRET_PAIR.sub(lambda m: f"{m['key']}=***", text)


def connection_string_fields(conn: str) -> dict[str, str]:
    """`Key=Value;...` of an Azure Storage connection string, keys lower-cased."""
    fields: dict[str, str] = {}
    for part in conn.split(";"):
        key, sep, value = part.partition("=")
        if sep and key.strip():
            fields[key.strip().lower()] = value.strip()
    return fields


def azure_blob_endpoint(storage_options: dict[str, str]) -> str:
    """The blob endpoint an adlfs filesystem with these options talks to, without any secret."""
    conn = storage_options.get("connection_string")
    if conn:
        f = connection_string_fields(conn)
        if f.get("blobendpoint"):
            return redact_url(f["blobendpoint"])
        if f.get("usedevelopmentstorage", "").lower() == "true":
            return "http://127.0.0.1:10000/devstoreaccount1"
        account = f.get("accountname", "")
        if account:
            protocol = f.get("defaultendpointsprotocol", "https")
            return f"{protocol}://{account}.blob.{f.get('endpointsuffix', 'core.windows.net')}"
    if storage_options.get("account_url"):
        return redact_url(storage_options["account_url"])
    account = storage_options.get("account_name", "")
    if account:
        host = storage_options.get("account_host") or f"{account}.blob.core.windows.net"
        return f"https://{host}"
    return "the Azure Storage account of AZURE_STORAGE_* variables"


def host_port(endpoint: str, default_port: int) -> tuple[str, int] | None:
    """(host, port) of a URL, or None when it names no host."""
    try:
        parts = urlsplit(endpoint)
        port = parts.port
    except ValueError:
        return None
    if not parts.hostname:
        return None
    if port is None:
        port = 443 if parts.scheme in ("https", "rediss") else default_port
    return parts.hostname, port


def redis_hint(url: str, key: str = "stores.profile.redis_url") -> str:
    where = host_port(url, 6379)
    at = f" at {where[0]}:{where[1]}" if where else ""
    return f"is Redis running{at} and is the password right? check {key}"


# ------------------------------------------------------------------------------------------ detection


def _types(module: str, *names: str) -> tuple[type[BaseException], ...]:
    """Exception types of a client library, only if the library is already loaded (it raised, so it is)."""
    mod = sys.modules.get(module)
    return tuple(t for n in names if isinstance(t := getattr(mod, n, None), type)) if mod else ()


def outage_types() -> tuple[type[BaseException], ...]:
    """The exception types that mean "the server cannot be reached or refused us", across client libraries."""
    return (
        ConnectionError,  # refused, reset, aborted, broken pipe
        TimeoutError,
        socket.gaierror,  # the host name does not resolve
        *_types("redis.exceptions", "ConnectionError", "TimeoutError", "BusyLoadingError"),
        *_types(
            "azure.core.exceptions",
            "ServiceRequestError",
            "ServiceResponseError",
            "ClientAuthenticationError",
        ),
        *_types("aiohttp.client_exceptions", "ClientConnectionError"),
        *_types("urllib3.exceptions", "NewConnectionError", "MaxRetryError"),
        *_types("requests.exceptions", "ConnectionError"),
    )


def _refused_credentials(exc: BaseException) -> bool:
    """An Azure answer 401/403: Azure Storage reports a wrong key as a plain HttpResponseError 403."""
    azure_http = _types("azure.core.exceptions", "HttpResponseError")
    if not azure_http or not isinstance(exc, azure_http):
        return False
    return getattr(exc, "status_code", None) in (401, 403)


def outage_cause(exc: BaseException) -> BaseException | None:
    """The outage `exc` is or was raised from (see `outage_types`), or None when it is not an outage."""
    kinds = outage_types()
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        if isinstance(current, kinds) or _refused_credentials(current):
            return current
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return None


def is_outage(exc: BaseException) -> bool:
    """True when `exc`, or an exception it was raised from, means a server is down or refused us."""
    return outage_cause(exc) is not None


def outage_library(exc: BaseException) -> str:
    """Which client raised the outage: "redis", "azure" (azure-core, aiohttp under adlfs) or "network"."""
    cause = outage_cause(exc) or exc
    module = type(cause).__module__
    if module.startswith("redis"):
        return "redis"
    if module.startswith(("azure", "aiohttp", "adlfs")):
        return "azure"
    return "network"


def brief(exc: BaseException) -> str:
    """The first line of an error, secrets removed and shortened: the client's own words for the failure."""
    text = str(exc).strip()
    if not text:
        return type(exc).__name__
    return redact_text(text.splitlines()[0])[:_MAX_DETAIL]


def unavailable(
    store: str, endpoint: str, hint: str, exc: BaseException | None = None
) -> StoreUnavailableError:
    """The one-line StoreUnavailableError for `store` at `endpoint` (already redacted by the caller)."""
    detail = f" ({brief(exc)})" if exc is not None else ""
    return StoreUnavailableError(f"{store} at {endpoint} is unavailable{detail}; {hint}")


@contextmanager
def store_call(store: str, endpoint: str, hint: str) -> Iterator[None]:
    """Run a block against one backend; an outage inside it becomes StoreUnavailableError (see module doc).

    `endpoint` must already be free of secrets (`redact_url`, `azure_blob_endpoint`); the client's message is
    redacted again here because libraries quote the URL they were given.
    """
    try:
        yield
    except StoreUnavailableError:
        raise
    except Exception as exc:
        if not is_outage(exc):
            raise
        raise unavailable(store, redact_text(endpoint), hint, exc) from exc


def online_store_call(settings: Settings) -> AbstractContextManager[None]:
    """`store_call` for the workspace's Feast online store: wrap materialize, reads, push and deletes."""
    profile = settings.stores.profile
    kind = settings.stores.feast.online_store
    name = f"Feast online store ({kind})"
    if kind == "redis":
        return store_call(name, redact_url(profile.redis_url), redis_hint(profile.redis_url))
    if kind == "cosmos":
        hint = "is Cosmos DB reachable there? check stores.profile.cosmos_endpoint and cosmos_key"
        return store_call(name, redact_url(profile.cosmos_endpoint), hint)
    return store_call(name, settings.stores.feast.registry_path, "check stores.feast.registry_path")


def describe_outage(exc: BaseException, ws: Workspace | None) -> StoreUnavailableError:
    """An outage a client library raised past c360's boundaries, named after the store that library serves
    in `ws` (the lake for azure-core/aiohttp under adlfs, the Redis server for redis-py)."""
    library = outage_library(exc)
    if ws is not None and library == "azure" and not ws.lake.is_local:
        return unavailable(f"lake {ws.lake.display_uri}", ws.lake.endpoint, LAKE_HINT, exc)
    if ws is not None and library == "redis":
        url = ws.settings.stores.profile.redis_url
        return unavailable("Redis", redact_url(url), redis_hint(url), exc)
    return unavailable(
        "a store or the lake", "an endpoint of c360.yaml", "check lake and stores in c360.yaml", exc
    )
