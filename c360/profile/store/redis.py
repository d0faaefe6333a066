"""The profile store on Redis: one JSON string per profile, index and alias keys, pipelined round trips.

Keys (all under `key_prefix`):

    profile:<customer_id>      the profile document (JSON)
    idx:<kind>:<sha256>        identifier index entry -> customer_id
    idx-of:<customer_id>       set of the index keys a profile wrote (to drop stale ones on the next write)
    alias:<old_id>             -> the id it answers as now (always the final id: chains are kept one hop long)
    aliased-by:<customer_id>   set of old ids pointing here (so deleting a customer removes its aliases)
    shared-idx                 set of the index keys several profiles hold (`<kind>:<sha256>`, no value);
                               a lookup reads it in the same pipeline as the index entry, and it is
                               replaced whole (built under shared-idx:next, then renamed in one MULTI)

An index entry is removed only if it still points to the customer being changed (a compare-and-delete script),
so two profiles that briefly claim the same identifier never erase each other's entry.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Collection, Mapping
from typing import Any

import redis
import redis.asyncio as redis_async

from c360.errors import StoreUnavailableError, ValidationError
from c360.io.outages import redact_url, redis_hint, unavailable
from c360.profile.store.base import (
    MAX_ALIAS_HOPS,
    EncodedProfile,
    ProfileStore,
    identifier_key,
)

_COMPARE_AND_DELETE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
"""


class RedisProfileStore(ProfileStore):
    """Profiles on a Redis server; `key_prefix` separates workspaces (and tests) sharing one database."""

    backend = "redis"

    def __init__(self, url: str, key_prefix: str = "c360:", batch_size: int = 500) -> None:
        self.url = url
        self.prefix = key_prefix
        self.batch_size = batch_size
        try:
            self._client = redis.Redis.from_url(
                url, decode_responses=True, socket_connect_timeout=2.0, socket_timeout=5.0
            )
            self._client.ping()
        except (redis.RedisError, ValueError) as exc:
            raise self._unavailable(exc) from None
        self._cad = self._client.register_script(_COMPARE_AND_DELETE)
        self._aclient: redis_async.Redis | None = None
        self._aloop: asyncio.AbstractEventLoop | None = None

    @property
    def address(self) -> str:
        return redact_url(self.url)

    def _unavailable(self, exc: BaseException) -> StoreUnavailableError:
        """Down, refusing the password or timing out: name the server and the key to check, never the URL's
        password (redis-py's own message does not quote it)."""
        return unavailable(f"profile store ({self.backend})", self.address, redis_hint(self.url), exc)

    # ------------------------------------------------------------------ keys

    def _profile(self, cid: str) -> str:
        return f"{self.prefix}profile:{cid}"

    def _alias(self, cid: str) -> str:
        return f"{self.prefix}alias:{cid}"

    def _aliased_by(self, cid: str) -> str:
        return f"{self.prefix}aliased-by:{cid}"

    def _idx(self, key: str) -> str:
        return f"{self.prefix}idx:{key}"

    def _idx_of(self, cid: str) -> str:
        return f"{self.prefix}idx-of:{cid}"

    @property
    def _shared(self) -> str:
        return f"{self.prefix}shared-idx"

    # ------------------------------------------------------------------ reads

    def _resolve(self, customer_id: str) -> str:
        current = customer_id
        for _ in range(MAX_ALIAS_HOPS):
            target = self._client.get(self._alias(current))
            if target is None:
                return current
            current = target
        raise self._alias_cycle(customer_id)

    def resolve(self, customer_id: str) -> str:
        try:
            return self._resolve(customer_id)
        except redis.RedisError as exc:
            raise self._unavailable(exc) from None

    def get(self, customer_id: str) -> dict[str, Any]:
        return json.loads(self.get_json(customer_id))

    def get_json(self, customer_id: str) -> str:
        try:
            with self._client.pipeline(transaction=False) as pipe:
                doc, alias = pipe.get(self._profile(customer_id)).get(self._alias(customer_id)).execute()
            hops = 0
            while doc is None and alias is not None:
                hops = self._hop(customer_id, hops)
                with self._client.pipeline(transaction=False) as pipe:
                    doc, alias = pipe.get(self._profile(alias)).get(self._alias(alias)).execute()
        except redis.RedisError as exc:
            raise self._unavailable(exc) from None
        if doc is None:
            raise self._not_found(customer_id)
        return str(doc)

    async def get_json_async(self, customer_id: str) -> str:
        """The same reads through redis-py's asyncio client, on the caller's loop: no worker thread."""
        client = self._async_client()
        try:
            async with client.pipeline(transaction=False) as pipe:
                doc, alias = (
                    await pipe.get(self._profile(customer_id)).get(self._alias(customer_id)).execute()
                )
            hops = 0
            while doc is None and alias is not None:
                hops = self._hop(customer_id, hops)
                async with client.pipeline(transaction=False) as pipe:
                    doc, alias = await pipe.get(self._profile(alias)).get(self._alias(alias)).execute()
        except redis.RedisError as exc:
            raise self._unavailable(exc) from None
        if doc is None:
            raise self._not_found(customer_id)
        return str(doc)

    def _hop(self, customer_id: str, hops: int) -> int:
        if hops >= MAX_ALIAS_HOPS:
            raise self._alias_cycle(customer_id)
        return hops + 1

    def _async_client(self) -> redis_async.Redis:
        """One asyncio client per event loop (its connections belong to the loop that opened them)."""
        loop = asyncio.get_running_loop()
        if self._aclient is None or self._aloop is not loop:
            self._aclient = redis_async.Redis.from_url(
                self.url, decode_responses=True, socket_connect_timeout=2.0, socket_timeout=5.0
            )
            self._aloop = loop
        return self._aclient

    def lookup(self, kind: str, value: str) -> str:
        key = identifier_key(kind, value)
        try:
            with self._client.pipeline(transaction=False) as pipe:
                cid, shared = pipe.get(self._idx(key)).sismember(self._shared, key).execute()
            if shared:
                raise self._identifier_shared(kind)
            if cid is None:
                raise self._identifier_not_found(kind)
            return self._resolve(cid)
        except redis.RedisError as exc:
            raise self._unavailable(exc) from None

    def shared_identifiers(self) -> frozenset[str]:
        try:
            return frozenset(self._client.smembers(self._shared))
        except redis.RedisError as exc:
            raise self._unavailable(exc) from None

    def replace_shared_identifiers(self, keys: Collection[str]) -> None:
        """The new set is built under a key of its own and renamed over the old one in one MULTI, so a
        lookup sees the old set or the new one, never a part of it."""
        checked = sorted(self._check_shared_keys(keys))
        building = f"{self._shared}:next"
        try:
            with self._client.pipeline(transaction=True) as pipe:
                pipe.delete(building)
                for start in range(0, len(checked), self.batch_size):
                    pipe.sadd(building, *checked[start : start + self.batch_size])
                if checked:
                    pipe.rename(building, self._shared)
                else:
                    pipe.delete(self._shared)
                pipe.execute()
        except redis.RedisError as exc:
            raise self._unavailable(exc) from None

    # ------------------------------------------------------------------ writes

    def _write_batch(self, batch: list[EncodedProfile]) -> int:
        try:
            for start in range(0, len(batch), self.batch_size):
                self._upsert_chunk(batch[start : start + self.batch_size])
        except redis.RedisError as exc:
            raise self._unavailable(exc) from None
        return len(batch)

    def _upsert_chunk(self, chunk: list[EncodedProfile]) -> None:
        with self._client.pipeline(transaction=False) as pipe:
            for cid, _, _ in chunk:
                pipe.smembers(self._idx_of(cid))
                pipe.get(self._alias(cid))
            before = pipe.execute()
        with self._client.pipeline(transaction=True) as pipe:
            for i, (cid, doc, keys) in enumerate(chunk):
                old_keys, old_alias = before[2 * i], before[2 * i + 1]
                pipe.set(self._profile(cid), doc)
                if old_alias is not None:
                    pipe.delete(self._alias(cid))
                    pipe.srem(self._aliased_by(old_alias), cid)
                for stale in set(old_keys) - {self._idx(k) for k in keys}:
                    self._cad(keys=[stale], args=[cid], client=pipe)
                pipe.delete(self._idx_of(cid))
                if keys:
                    idx_keys = [self._idx(k) for k in keys]
                    pipe.mset({k: cid for k in idx_keys})
                    pipe.sadd(self._idx_of(cid), *idx_keys)
            pipe.execute()

    def _drop_profile(self, pipe: redis.client.Pipeline, cid: str, idx_keys: set[str]) -> None:
        pipe.delete(self._profile(cid))
        for k in idx_keys:
            self._cad(keys=[k], args=[cid], client=pipe)
        pipe.delete(self._idx_of(cid))

    def delete(self, customer_id: str) -> bool:
        try:
            target = self._resolve(customer_id)
            with self._client.pipeline(transaction=False) as pipe:
                pipe.exists(self._profile(target))
                pipe.smembers(self._idx_of(target))
                pipe.smembers(self._aliased_by(target))
                existed, idx_keys, aliased = pipe.execute()
            with self._client.pipeline(transaction=True) as pipe:
                self._drop_profile(pipe, target, set(idx_keys))
                for old in set(aliased) | ({customer_id} - {target}):
                    pipe.delete(self._alias(old))
                pipe.delete(self._aliased_by(target))
                pipe.execute()
        except redis.RedisError as exc:
            raise self._unavailable(exc) from None
        return bool(existed)

    def add_aliases(self, aliases: Mapping[str, str]) -> int:
        checked = self._check_aliases(aliases)
        try:
            for old, new in checked.items():
                target = self._resolve(new)
                if target == old:
                    raise ValidationError(f"aliasing {old!r} to {new!r} would make a cycle")
                with self._client.pipeline(transaction=False) as pipe:
                    pipe.smembers(self._idx_of(old))
                    pipe.smembers(self._aliased_by(old))
                    pipe.get(self._alias(old))
                    idx_keys, pointing, previous = pipe.execute()
                with self._client.pipeline(transaction=True) as pipe:
                    self._drop_profile(pipe, old, set(idx_keys))
                    if previous is not None:
                        pipe.srem(self._aliased_by(previous), old)
                    for cid in {old, *pointing}:
                        pipe.set(self._alias(cid), target)
                        pipe.sadd(self._aliased_by(target), cid)
                    pipe.delete(self._aliased_by(old))
                    pipe.execute()
        except redis.RedisError as exc:
            raise self._unavailable(exc) from None
        return len(checked)

    def close(self) -> None:
        self._client.close()
        aclient, loop, self._aclient = self._aclient, self._aloop, None
        if aclient is None or loop is None or loop.is_closed():
            return
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:
            loop.create_task(aclient.aclose())
        elif loop.is_running():
            asyncio.run_coroutine_threadsafe(aclient.aclose(), loop)
