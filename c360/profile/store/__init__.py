"""The online profile store: one interface, three backends chosen by `stores.profile.backend`.

`open_profile_store(ws)` is how the rest of c360 gets one; backends import their client library lazily, so
the embedded SQLite default never loads redis or azure-cosmos.
"""

from __future__ import annotations

from c360.profile.store.base import (
    IDENTIFIER_FIELDS,
    IDENTIFIER_KINDS,
    ProfileStore,
    identifier_key,
    normalize_identifier,
)
from c360.settings import ProfileStoreSettings
from c360.workspace import Workspace

__all__ = [
    "IDENTIFIER_FIELDS",
    "IDENTIFIER_KINDS",
    "ProfileStore",
    "identifier_key",
    "normalize_identifier",
    "open_profile_store",
    "profile_store_from_settings",
]


def profile_store_from_settings(settings: ProfileStoreSettings, ws: Workspace | None = None) -> ProfileStore:
    """A store for one `stores.profile` section; relative SQLite paths resolve against the workspace."""
    if settings.backend == "sqlite":
        from c360.profile.store.sqlite import SqliteProfileStore

        path = ws.resolve_path(settings.sqlite_path) if ws is not None else settings.sqlite_path
        return SqliteProfileStore(path)
    if settings.backend == "redis":
        from c360.profile.store.redis import RedisProfileStore

        prefix = f"c360:{ws.settings.workspace}:" if ws is not None else "c360:"
        return RedisProfileStore(settings.redis_url, key_prefix=prefix)
    from c360.profile.store.cosmos import CosmosProfileStore

    return CosmosProfileStore(
        settings.cosmos_endpoint,
        settings.cosmos_key.get_secret_value(),
        database=settings.cosmos_database,
        container=settings.cosmos_container,
        verify_tls=settings.cosmos_verify_tls,
    )


def open_profile_store(ws: Workspace) -> ProfileStore:
    """The workspace's profile store, connected (StoreUnavailableError names the store when it is down)."""
    return profile_store_from_settings(ws.settings.stores.profile, ws)
