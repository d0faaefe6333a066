"""API keys: stored hashed, scoped, revocable, compared in constant time."""

from __future__ import annotations

import hmac
import json
import stat

import pytest

from c360.api import keys as keys_module
from c360.api.keys import KEYS_FILE, SCOPES, KeyStore, check_scopes
from c360.errors import NotFoundError, ValidationError

pytestmark = pytest.mark.unit


@pytest.fixture
def store(tmp_path) -> KeyStore:
    return KeyStore(tmp_path / KEYS_FILE)


def test_the_file_holds_a_salted_digest_never_the_key(store):
    key, plain = store.create(["profiles:read", "decide"], name="web")
    text = store.path.read_text(encoding="utf-8")
    secret = plain.split("_", 2)[2]
    assert plain not in text and secret not in text
    data = json.loads(text)
    (record,) = data["keys"]
    assert record["hash"] == key.digest and len(record["hash"]) == 64
    assert record["scopes"] == ["decide", "profiles:read"] and record["name"] == "web"
    assert stat.S_IMODE(store.path.stat().st_mode) == 0o600
    # Two stores (two workspaces) hash the same key differently: the salt is per file.
    other = KeyStore(store.path.with_name("other.json"))
    other.create(["decide"])
    assert json.loads(other.path.read_text())["salt"] != data["salt"]


def test_authenticate_returns_the_key_with_its_scopes(store):
    key, plain = store.create(["profiles:read"])
    found = store.authenticate(plain)
    assert found is not None and found.key_id == key.key_id
    assert found.allows("profiles:read") and not found.allows("admin:erase")
    assert plain.startswith(key.prefix)
    # A fresh store on the same file (another replica) knows the key too.
    assert KeyStore(store.path).authenticate(plain) == key


@pytest.mark.parametrize(
    "presented",
    [None, "", "nonsense", "c360_zzzzzzzz_secret", "c360_0123abcd", "Bearer c360_0123abcd_x"],
)
def test_unknown_and_malformed_keys_are_refused(store, presented):
    store.create(["profiles:read"])
    assert store.authenticate(presented) is None


def test_a_right_id_with_a_wrong_secret_is_refused(store):
    key, plain = store.create(["profiles:read"])
    assert store.authenticate(plain[:-1] + ("A" if plain[-1] != "A" else "B")) is None
    assert store.authenticate(key.prefix + "guess") is None


def test_the_comparison_is_constant_time_for_known_and_unknown_ids(store, monkeypatch):
    _, plain = store.create(["profiles:read"])
    calls = []
    compare = hmac.compare_digest

    def spy(a, b):
        calls.append((len(a), len(b)))
        return compare(a, b)

    monkeypatch.setattr(keys_module.hmac, "compare_digest", spy)
    assert store.authenticate(plain) is not None
    assert store.authenticate("c360_0000ffff_whatever") is None  # unknown id: compared against a dummy
    assert calls == [(64, 64), (64, 64)]


def test_revoke_by_id_or_prefix_takes_effect_in_a_running_store(store):
    key, plain = store.create(["profiles:read"])
    other, other_plain = store.create(["events:write"])
    server = KeyStore(store.path)  # what a running API holds
    assert server.authenticate(plain) is not None
    revoked = KeyStore(store.path).revoke(key.prefix)
    assert revoked.revoked_at is not None and not revoked.active
    assert server.authenticate(plain) is None  # the server rereads the changed file
    assert server.authenticate(other_plain) is not None
    assert store.revoke(key.key_id).revoked_at == revoked.revoked_at  # twice: the first date stays
    assert [k.key_id for k in store.list(include_revoked=False)] == [other.key_id]
    assert {k.key_id for k in store.list()} == {key.key_id, other.key_id}
    with pytest.raises(NotFoundError):
        store.revoke("deadbeef")


def test_scopes_are_checked():
    assert check_scopes([" decide ", "admin:erase"]) == {"decide", "admin:erase"}
    assert set(SCOPES) == {"profiles:read", "events:write", "decide", "consent:write", "admin:erase"}
    with pytest.raises(ValidationError, match="unknown scope profiles:write"):
        check_scopes(["profiles:write"])
    with pytest.raises(ValidationError, match="at least one scope"):
        check_scopes([])


def test_no_file_means_no_key_works(store):
    assert store.list() == []
    assert store.authenticate("c360_0123abcd_x") is None
    assert not store.path.exists()
