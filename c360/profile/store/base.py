"""The profile store interface every backend implements, and the rules they share.

A profile is a JSON document in the seed schema (ARCHITECTURE.md, "The profile") keyed by `customerId`.
Besides point reads by id the store keeps:

- an identifier index: (kind, value) -> customer_id for email, phone, device and cookie, built from the
  profile's `identities`. Index keys are SHA-256 digests of the normalized value, so no backend holds an
  email address or phone number in a key (keys show up in monitoring, slow logs and diagnostics);
- shared identifiers: the index keys several profiles hold (a family's tablet, a couple's email). Such an
  identifier names nobody, so `lookup` answers AmbiguousIdentifierError for it, whatever profile last
  claimed its index entry. The profiles stage computes the set from all profiles and replaces it after every
  store update (`replace_shared_identifiers`); a profile write never changes it, so an ordinary upsert of
  one holder does not make the identifier answer that holder again. The set holds index keys (digests),
  never values, and no customer id: erasing a customer leaves it as is, and the next profiles run, which
  sees the customer gone, recomputes it (until then a key the erased customer shared stays ambiguous, which
  names nobody);
- aliases: old customer_id -> new customer_id after identity merges, so old ids keep answering. An id is
  either a profile or an alias, never both: writing one replaces the other.

What goes in comes back out as JSON would return it (dates as ISO strings, tuples as lists).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from abc import ABC, abstractmethod
from collections.abc import Collection, Iterable, Mapping, Sequence
from datetime import date, datetime
from decimal import Decimal
from types import TracebackType
from typing import Any, ClassVar, Literal, NamedTuple, get_args

from c360.errors import (
    AmbiguousIdentifierError,
    C360Error,
    NotFoundError,
    StoreUnavailableError,
    ValidationError,
)

IdentifierKind = Literal["email", "phone", "device", "cookie"]
IDENTIFIER_KINDS: tuple[str, ...] = get_args(IdentifierKind)
IDENTIFIER_FIELDS: dict[str, str] = {
    "email": "email",
    "phone": "phone",
    "device": "deviceIds",
    "cookie": "cookieIds",
}
"""Identifier kind -> the list under `identities` in the profile document that holds it."""

RESERVED_KEYS = frozenset({"id", "docType"})
MAX_ALIAS_HOPS = 8


def normalize_identifier(kind: str, value: str) -> str:
    """The form identifiers are indexed and looked up in: emails case-folded, everything trimmed.

    Phone numbers are expected in E.164 as the identity stage writes them; only spaces are removed here.
    """
    if kind not in IDENTIFIER_FIELDS:
        raise ValidationError(f"unknown identifier kind {kind!r}; known: {', '.join(IDENTIFIER_KINDS)}")
    if not isinstance(value, str) or not value.strip():
        raise ValidationError(f"a {kind} identifier must be a non-empty string")
    value = value.strip()
    if kind == "email":
        return value.casefold()
    if kind == "phone":
        return "".join(value.split())
    return value


def identifier_key(kind: str, value: str) -> str:
    """The index key of one identifier: `kind:` + SHA-256 of the normalized value (hex)."""
    digest = hashlib.sha256(f"{kind}\x1f{normalize_identifier(kind, value)}".encode()).hexdigest()
    return f"{kind}:{digest}"


def profile_identifier_keys(profile: Mapping[str, Any]) -> set[str]:
    """Every index key the profile's identities produce."""
    identities = profile.get("identities") or {}
    if not isinstance(identities, Mapping):
        raise ValidationError("profile identities must be an object")
    keys: set[str] = set()
    for kind, field in IDENTIFIER_FIELDS.items():
        values = identities.get(field) or []
        if isinstance(values, str):
            values = [values]
        if not isinstance(values, list | tuple):
            raise ValidationError(f"identities.{field} must be a list of strings")
        for value in values:
            if value is None or (isinstance(value, str) and not value.strip()):
                continue
            keys.add(identifier_key(kind, value))
    return keys


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, set | frozenset):
        return sorted(value)
    if hasattr(value, "item"):  # numpy scalars
        return value.item()
    if hasattr(value, "tolist"):  # numpy arrays
        return value.tolist()
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def customer_id_of(profile: Mapping[str, Any]) -> str:
    cid = profile.get("customerId") if isinstance(profile, Mapping) else None
    if not isinstance(cid, str) or not cid.strip():
        raise ValidationError("every profile needs a non-empty string customerId")
    return cid


def encode_profile(profile: Mapping[str, Any]) -> str:
    """Validate a profile and serialize it to compact JSON."""
    customer_id_of(profile)
    bad = [k for k in profile if k in RESERVED_KEYS or str(k).startswith("_")]
    if bad:
        raise ValidationError(f"profile keys {', '.join(sorted(map(str, bad)))} are reserved by the store")
    try:
        return json.dumps(profile, default=_json_default, separators=(",", ":"), ensure_ascii=False)
    except (TypeError, ValueError) as exc:
        raise ValidationError(f"profile is not JSON-serializable: {exc}") from None


class EncodedProfile(NamedTuple):
    """A profile ready for any backend: its id, its compact JSON text and its identifier index keys."""

    customer_id: str
    doc: str
    keys: frozenset[str]


def encode_for_store(profile: Mapping[str, Any]) -> EncodedProfile:
    """Validate and encode one profile (the JSON and the index keys are computed once, here)."""
    return EncodedProfile(
        customer_id_of(profile), encode_profile(profile), frozenset(profile_identifier_keys(profile))
    )


def dedupe_by_customer(profiles: Iterable[Mapping[str, Any]]) -> dict[str, Mapping[str, Any]]:
    """Last profile wins when a batch names one customer twice."""
    out: dict[str, Mapping[str, Any]] = {}
    for p in profiles:
        out[customer_id_of(p)] = p
    return out


class ProfileStore(ABC):
    """One customer profile per id, an identifier index and aliases; chosen by `stores.profile.backend`."""

    backend: ClassVar[str]

    @property
    @abstractmethod
    def address(self) -> str:
        """Where the store lives, for error messages (never includes secrets)."""

    @abstractmethod
    def get(self, customer_id: str) -> dict[str, Any]:
        """The profile of a customer (following aliases). Raises NotFoundError for an unknown id."""

    def get_json(self, customer_id: str) -> str:
        """`get` as compact JSON text: the body of the profile route. Backends holding the document as text
        return it as stored, with no parse and re-serialization of a ~2 KB document per request."""
        return json.dumps(
            self.get(customer_id), default=_json_default, separators=(",", ":"), ensure_ascii=False
        )

    async def get_json_async(self, customer_id: str) -> str:
        """`get_json` for a caller on an event loop, which a network round trip must not hold: in a worker
        thread unless the backend has an asynchronous client (Redis, Cosmos DB) or answers faster than the
        hop to a thread and back (embedded SQLite)."""
        return await asyncio.to_thread(self.get_json, customer_id)

    @abstractmethod
    def lookup(self, kind: str, value: str) -> str:
        """The customer_id holding an identifier (email, phone, device, cookie). Raises NotFoundError, or its
        subclass AmbiguousIdentifierError when the identifier is one of the shared ones (in the same round
        trip as the index entry where the backend allows it)."""

    @abstractmethod
    def shared_identifiers(self) -> frozenset[str]:
        """The index keys recorded as held by several profiles."""

    @abstractmethod
    def replace_shared_identifiers(self, keys: Collection[str]) -> None:
        """Make `keys` (index keys, as `identifier_key` gives them) the whole set of shared identifiers:
        keys not in it answer their index entry again. The caller re-points a key leaving the set to its
        one remaining holder first (`upsert_encoded` of that holder), so it never answers a former one."""

    def upsert_many(self, profiles: Sequence[Mapping[str, Any]]) -> int:
        """Insert or replace profiles in one batch; the index follows their identities. Returns the count."""
        return self.upsert_encoded([encode_for_store(p) for p in dedupe_by_customer(profiles).values()])

    def upsert_encoded(self, profiles: Sequence[EncodedProfile]) -> int:
        """`upsert_many` for profiles already encoded (by `encode_for_store`, or by the profiles stage,
        which renders documents in bulk); the last one wins when a batch names a customer twice."""
        batch = list({p.customer_id: p for p in profiles}.values())
        return self._write_batch(batch) if batch else 0

    @abstractmethod
    def _write_batch(self, batch: list[EncodedProfile]) -> int:
        """Write distinct, encoded profiles (each replaces the customer's profile, index entries, alias)."""

    @abstractmethod
    def delete(self, customer_id: str) -> bool:
        """Remove a profile, its index entries and every alias pointing to it. False when there was none."""

    @abstractmethod
    def add_aliases(self, aliases: Mapping[str, str]) -> int:
        """Record old_id -> new_id; an old id's own profile is removed. Returns how many were written."""

    @abstractmethod
    def resolve(self, customer_id: str) -> str:
        """The id an id answers as now: itself, or the end of its alias chain."""

    @abstractmethod
    def close(self) -> None:
        """Release connections; the store is unusable afterwards."""

    # ------------------------------------------------------------------ conveniences

    def upsert(self, profile: Mapping[str, Any]) -> None:
        self.upsert_many([profile])

    def __enter__(self) -> ProfileStore:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.address})"

    # ------------------------------------------------------------------ shared error wording

    def _unavailable(self, exc: BaseException) -> StoreUnavailableError:
        detail = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        return StoreUnavailableError(
            f"profile store ({self.backend}) at {self.address} is unavailable: {detail}"
        )

    def _not_found(self, customer_id: str) -> NotFoundError:
        return NotFoundError(f"no profile for customer {customer_id!r}")

    @staticmethod
    def _identifier_not_found(kind: str) -> NotFoundError:
        # The value is PII: the message names the kind only.
        return NotFoundError(f"no customer with that {kind}")

    @staticmethod
    def _identifier_shared(kind: str) -> AmbiguousIdentifierError:
        return AmbiguousIdentifierError(
            f"several customers hold that {kind}; look the profile up by customer id"
        )

    @staticmethod
    def _check_shared_keys(keys: Collection[str]) -> frozenset[str]:
        """Index keys only (`<kind>:<sha256>`): the set must never hold an identifier's value."""
        checked = frozenset(keys)
        for key in checked:
            kind, _, digest = key.partition(":") if isinstance(key, str) else ("", "", "")
            if kind not in IDENTIFIER_FIELDS or len(digest) != 64 or digest.strip("0123456789abcdef"):
                raise ValidationError("shared identifiers are index keys: <kind>:<sha256 hex>")
        return checked

    @staticmethod
    def _check_aliases(aliases: Mapping[str, str]) -> dict[str, str]:
        out: dict[str, str] = {}
        for old, new in aliases.items():
            if not isinstance(old, str) or not isinstance(new, str) or not old or not new:
                raise ValidationError("aliases map non-empty customer ids to non-empty customer ids")
            if old == new:
                raise ValidationError(f"customer {old!r} cannot be an alias of itself")
            out[old] = new
        return out

    @staticmethod
    def _alias_cycle(customer_id: str) -> C360Error:
        return C360Error(
            f"alias chain from customer {customer_id!r} does not end within {MAX_ALIAS_HOPS} hops"
        )
