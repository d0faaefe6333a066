"""One contract for every profile store backend: SQLite, Redis (this machine), Cosmos DB (the stand-in).

Written once and run against each backend, so the three behave the same for reads, the identifier index, batch
upserts, deletes and aliases, and fail the same way when their store is down.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Callable, Iterator
from datetime import date

import pytest

from c360.errors import AmbiguousIdentifierError, NotFoundError, StoreUnavailableError, ValidationError
from c360.io.ports import free_port
from c360.profile.store import ProfileStore, identifier_key

REDIS_URL = "redis://127.0.0.1:6379/0"


def _sqlite(request: pytest.FixtureRequest, tmp_path) -> Iterator[ProfileStore]:
    from c360.profile.store.sqlite import SqliteProfileStore

    with SqliteProfileStore(tmp_path / "profiles.db") as store:
        yield store


def _redis(request: pytest.FixtureRequest, tmp_path) -> Iterator[ProfileStore]:
    import redis

    from c360.profile.store.redis import RedisProfileStore

    prefix = f"c360-test:{uuid.uuid4().hex}:"
    with RedisProfileStore(REDIS_URL, key_prefix=prefix) as store:
        yield store
    client = redis.Redis.from_url(REDIS_URL)
    keys = list(client.scan_iter(match=f"{prefix}*", count=1000))
    if keys:
        client.delete(*keys)
    client.close()


def _cosmos(request: pytest.FixtureRequest, tmp_path) -> Iterator[ProfileStore]:
    from c360.profile.store.cosmos import CosmosProfileStore

    stand_in = request.getfixturevalue("cosmos_endpoint")
    with CosmosProfileStore(
        stand_in.endpoint,
        stand_in.key,
        database=f"t{uuid.uuid4().hex[:12]}",
        verify_tls=False,
    ) as store:
        yield store


BACKENDS: dict[str, Callable[..., Iterator[ProfileStore]]] = {
    "sqlite": _sqlite,
    "redis": _redis,
    "cosmos": _cosmos,
}


@pytest.fixture(
    params=[
        pytest.param("sqlite", marks=pytest.mark.unit),
        pytest.param("redis"),
        pytest.param("cosmos", marks=pytest.mark.azure),
    ]
)
def store(request: pytest.FixtureRequest, tmp_path) -> Iterator[ProfileStore]:
    yield from BACKENDS[request.param](request, tmp_path)


def profile(cid: str, email: str | None = None, phone: str | None = None, **extra) -> dict:
    doc = {
        "customerId": cid,
        "identities": {
            "email": [email] if email else [],
            "phone": [phone] if phone else [],
            "deviceIds": [f"dev-{cid}"],
            "cookieIds": [],
        },
        "demographics": {
            "firstName": "Ada",
            "lastName": "Lovelace",
            "age": 36,
            "gender": "female",
            "location": {"city": "London", "country": "GB"},
        },
        "transactions": {
            "totalPurchases": 3,
            "totalSpend": 120.5,
            "avgOrderValue": 40.17,
            "lastPurchase": "2026-10-01T10:00:00+00:00",
            "favoriteCategories": ["books"],
        },
        "engagement": {"rfmScore": "545", "engagementScore": 71, "preferredChannel": "email"},
        "mlScores": {"churnRisk": None, "clv": None, "nextProductPropensity": None},
        "consent": {
            "marketing": {"email": {"granted": True, "ts": "2026-09-01T00:00:00+00:00", "source": "crm"}}
        },
    }
    doc.update(extra)
    return doc


# ---------------------------------------------------------------------------------------------- reads


def test_upsert_then_get_returns_the_document(store: ProfileStore):
    doc = profile("C1", email="ada@example.com")
    assert store.upsert_many([doc]) == 1
    assert store.get("C1") == doc


def test_unknown_customer_is_not_found(store: ProfileStore):
    store.upsert(profile("C1"))
    with pytest.raises(NotFoundError) as err:
        store.get("C-missing")
    assert err.value.status_code == 404
    assert "C-missing" in err.value.message


def test_values_come_back_as_json_would_return_them(store: ProfileStore):
    store.upsert(profile("C1", extra={"born": date(1990, 5, 17), "tags": ("a", "b")}))
    got = store.get("C1")
    assert got["extra"] == {"born": "1990-05-17", "tags": ["a", "b"]}


def test_invalid_profiles_are_rejected(store: ProfileStore):
    with pytest.raises(ValidationError):
        store.upsert({"identities": {}})
    with pytest.raises(ValidationError):
        store.upsert({"customerId": "C1", "id": "x"})
    with pytest.raises(ValidationError):
        store.upsert({"customerId": "C1", "blob": object()})
    with pytest.raises(NotFoundError):
        store.get("C1")


# ---------------------------------------------------------------------------------------------- index


def test_lookup_by_every_identifier_kind(store: ProfileStore):
    doc = profile("C1", email="Ada@Example.com", phone="+44 20 7946 0000")
    doc["identities"]["cookieIds"] = ["ck-1"]
    store.upsert(doc)
    assert store.lookup("email", "  ada@example.COM ") == "C1"
    assert store.lookup("phone", "+442079460000") == "C1"
    assert store.lookup("device", "dev-C1") == "C1"
    assert store.lookup("cookie", "ck-1") == "C1"


def test_lookup_of_unknown_identifier_is_not_found_and_names_no_value(store: ProfileStore):
    store.upsert(profile("C1", email="ada@example.com"))
    with pytest.raises(NotFoundError) as err:
        store.lookup("email", "nobody@example.com")
    assert "nobody" not in err.value.message
    with pytest.raises(ValidationError):
        store.lookup("passport", "X1")


def test_index_follows_the_latest_identities(store: ProfileStore):
    store.upsert(profile("C1", email="old@example.com"))
    store.upsert(profile("C1", email="new@example.com"))
    assert store.lookup("email", "new@example.com") == "C1"
    with pytest.raises(NotFoundError):
        store.lookup("email", "old@example.com")


def test_last_writer_holds_a_shared_identifier(store: ProfileStore):
    store.upsert(profile("C1", email="shared@example.com"))
    store.upsert(profile("C2", email="shared@example.com"))
    assert store.lookup("email", "shared@example.com") == "C2"
    # C1 dropping the identifier must not remove the entry C2 now holds.
    store.upsert(profile("C1", email="c1@example.com"))
    assert store.lookup("email", "shared@example.com") == "C2"
    assert store.lookup("email", "c1@example.com") == "C1"


SHARED = "family@example.com"


def test_a_shared_identifier_names_nobody(store: ProfileStore):
    store.upsert_many([profile("C1", email=SHARED), profile("C2", email=SHARED)])
    store.upsert(profile("C3", email="c3@example.com"))
    store.replace_shared_identifiers({identifier_key("email", SHARED)})
    assert store.shared_identifiers() == {identifier_key("email", SHARED)}
    with pytest.raises(AmbiguousIdentifierError) as err:
        store.lookup("email", " Family@Example.com ")  # the normalized key, like every lookup
    assert isinstance(err.value, NotFoundError) and err.value.status_code == 409
    assert "family" not in err.value.message.lower() and "C1" not in err.value.message
    assert store.lookup("device", "dev-C1") == "C1"  # what only one customer holds answers as before
    assert store.lookup("email", "c3@example.com") == "C3"
    with pytest.raises(NotFoundError) as missing:
        store.lookup("email", "nobody@example.com")
    assert not isinstance(missing.value, AmbiguousIdentifierError)


def test_an_upsert_of_one_holder_leaves_the_identifier_ambiguous(store: ProfileStore):
    store.upsert_many([profile("C1", email=SHARED), profile("C2", email=SHARED)])
    store.replace_shared_identifiers({identifier_key("email", SHARED)})
    store.upsert(profile("C1", email=SHARED, note="rebuilt"))  # C1 claims the index entry last
    store.upsert_many([profile("C2", email=SHARED), profile("C4", email=SHARED)])
    with pytest.raises(AmbiguousIdentifierError):
        store.lookup("email", SHARED)
    assert store.shared_identifiers() == {identifier_key("email", SHARED)}


def test_an_identifier_no_longer_shared_answers_its_remaining_holder(store: ProfileStore):
    store.upsert(profile("C2", email=SHARED))
    store.upsert(profile("C1", email=SHARED))  # C1 holds the index entry
    store.replace_shared_identifiers({identifier_key("email", SHARED), identifier_key("device", "dev-C9")})
    store.upsert(profile("C1", email="c1@example.com"))  # C1 drops it, and its entry goes with it
    with pytest.raises(AmbiguousIdentifierError):
        store.lookup("email", SHARED)  # still recorded as shared: no answer until the set is replaced
    # What the profiles stage does: the remaining holder is written again, then the set is replaced.
    store.upsert(profile("C2", email=SHARED))
    store.replace_shared_identifiers({identifier_key("device", "dev-C9")})
    assert store.lookup("email", SHARED) == "C2"
    assert store.shared_identifiers() == {identifier_key("device", "dev-C9")}
    store.replace_shared_identifiers(set())
    assert store.shared_identifiers() == frozenset()


def test_shared_identifiers_are_index_keys_never_values(store: ProfileStore):
    with pytest.raises(ValidationError) as err:
        store.replace_shared_identifiers({SHARED})
    assert SHARED not in err.value.message
    with pytest.raises(ValidationError):
        store.replace_shared_identifiers({f"email:{SHARED}"})
    assert store.shared_identifiers() == frozenset()


def test_batch_upsert(store: ProfileStore):
    docs = [profile(f"C{i:04d}", email=f"u{i}@example.com") for i in range(250)]
    docs.append(profile("C0007", email="again@example.com"))  # the same customer twice: the last one wins
    assert store.upsert_many(docs) == 250
    assert store.get("C0249")["identities"]["email"] == ["u249@example.com"]
    assert store.get("C0007")["identities"]["email"] == ["again@example.com"]
    assert store.lookup("email", "u123@example.com") == "C0123"
    assert store.upsert_many([]) == 0


# ---------------------------------------------------------------------------------------------- delete


def test_delete_removes_the_profile_and_its_index_entries(store: ProfileStore):
    store.upsert_many([profile("C1", email="ada@example.com"), profile("C2", email="bob@example.com")])
    assert store.delete("C1") is True
    with pytest.raises(NotFoundError):
        store.get("C1")
    for kind, value in (("email", "ada@example.com"), ("device", "dev-C1")):
        with pytest.raises(NotFoundError):
            store.lookup(kind, value)
    assert store.delete("C1") is False
    assert store.get("C2")["customerId"] == "C2"
    assert store.lookup("email", "bob@example.com") == "C2"


# ---------------------------------------------------------------------------------------------- aliases


def test_old_ids_keep_answering_after_a_merge(store: ProfileStore):
    store.upsert_many([profile("A", email="a@example.com"), profile("B", email="b@example.com")])
    # Identity merged A into B; the builder writes the merged profile and the alias.
    store.upsert(profile("B", email="b@example.com", phone="+15550001111"))
    assert store.add_aliases({"A": "B"}) == 1
    assert store.get("A")["customerId"] == "B"
    assert store.resolve("A") == "B"
    assert store.resolve("B") == "B"
    assert store.lookup("email", "b@example.com") == "B"
    # A's own index entries went with its profile.
    with pytest.raises(NotFoundError):
        store.lookup("email", "a@example.com")


def test_alias_chains_are_followed_and_cycles_refused(store: ProfileStore):
    store.upsert_many([profile("A"), profile("B"), profile("C")])
    store.add_aliases({"A": "B"})
    store.add_aliases({"B": "C"})
    assert store.get("A")["customerId"] == "C"
    assert store.resolve("A") == "C"
    with pytest.raises(ValidationError):
        store.add_aliases({"C": "A"})
    with pytest.raises(ValidationError):
        store.add_aliases({"C": "C"})


def test_deleting_a_customer_removes_its_aliases(store: ProfileStore):
    store.upsert_many([profile("A"), profile("B", email="b@example.com")])
    store.add_aliases({"A": "B"})
    assert store.delete("A") is True  # deleting through the old id deletes the person
    for cid in ("A", "B"):
        with pytest.raises(NotFoundError):
            store.get(cid)
    with pytest.raises(NotFoundError):
        store.lookup("email", "b@example.com")


def test_a_profile_written_over_an_alias_replaces_it(store: ProfileStore):
    store.upsert_many([profile("A"), profile("B")])
    store.add_aliases({"A": "B"})
    store.upsert(profile("A", email="split@example.com"))  # a split gave the id back
    assert store.get("A")["customerId"] == "A"
    assert store.resolve("A") == "A"
    assert store.lookup("email", "split@example.com") == "A"


# ---------------------------------------------------------------------------------------------- store down


def _down(backend: str, tmp_path, request: pytest.FixtureRequest) -> tuple[Callable[[], ProfileStore], str]:
    if backend == "sqlite":
        from c360.profile.store.sqlite import SqliteProfileStore

        blocker = tmp_path / "not-a-dir"
        blocker.write_text("a file where the store's folder should be")
        path = blocker / "profiles.db"
        return (lambda: SqliteProfileStore(path)), str(path)
    port = free_port()
    if backend == "redis":
        from c360.profile.store.redis import RedisProfileStore

        url = f"redis://:s3cret@127.0.0.1:{port}/0"
        return (lambda: RedisProfileStore(url)), f"127.0.0.1:{port}"
    from c360.profile.store.cosmos import CosmosProfileStore

    endpoint = f"https://127.0.0.1:{port}/"
    return (lambda: CosmosProfileStore(endpoint, "a2V5", verify_tls=False)), endpoint


@pytest.mark.parametrize(
    "backend",
    [
        pytest.param("sqlite", marks=pytest.mark.unit),
        "redis",
        pytest.param("cosmos", marks=pytest.mark.azure),
    ],
)
def test_store_down_names_the_store_and_its_address(backend: str, tmp_path, request: pytest.FixtureRequest):
    open_store, address = _down(backend, tmp_path, request)
    with pytest.raises(StoreUnavailableError) as err:
        open_store()
    assert err.value.status_code == 503
    assert address in err.value.message
    assert backend in err.value.message
    assert "s3cret" not in err.value.message


# ------------------------------------------------------------------------------------------- the route's read


def test_the_json_reads_give_the_document_through_aliases_on_a_loop_too(store: ProfileStore):
    """`get_json` / `get_json_async` (the profile route's body) equal `get`, alias hops and misses included;
    the async read twice on one loop and once on another (a client belongs to the loop that opened it)."""
    store.upsert_many([profile("A"), profile("B", email="b@example.com", extra={"name": "Zoë"})])
    store.add_aliases({"A": "B"})
    expected = store.get("B")
    assert json.loads(store.get_json("B")) == expected and json.loads(store.get_json("A")) == expected
    assert "Zoë" in store.get_json("B")  # kept as text, not escaped

    async def reads() -> list[str]:
        return [await store.get_json_async("A"), await store.get_json_async("B")]

    for _ in range(2):
        assert [json.loads(body) for body in asyncio.run(reads())] == [expected, expected]
    with pytest.raises(NotFoundError):
        store.get_json("C-missing")
    with pytest.raises(NotFoundError):
        asyncio.run(store.get_json_async("C-missing"))
