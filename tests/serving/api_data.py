"""A small workspace for the API tests: three profiles (two sharing a device), one merged-away id, keys with
different scopes."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from c360.api.keys import KeyStore
from c360.profile.store import identifier_key, open_profile_store
from c360.workspace import Workspace

FAMILY_TABLET = "tablet-home"
"""A device Bob and Eve share: recorded as shared, as the profiles stage would, so it names neither."""
PROFILES = [
    {
        "customerId": "C-ADA",
        "identities": {"email": ["ada@example.com"], "phone": ["+15550001"], "deviceIds": ["dev-1"]},
        "traits": {"firstName": "Ada"},
    },
    {
        "customerId": "C-BOB",
        "identities": {"email": ["bob@example.com"], "cookieIds": ["ck-9"], "deviceIds": [FAMILY_TABLET]},
    },
    {"customerId": "C-EVE", "identities": {"deviceIds": [FAMILY_TABLET]}},
]
MERGED_AWAY = {"C-ADA-OLD": "C-ADA"}


@dataclass(frozen=True)
class ApiWorkspace:
    ws: Workspace
    read_key: str
    events_key: str
    revoked_key: str


def api_workspace(root: Path) -> ApiWorkspace:
    """A workspace folder with c360.yaml, a SQLite profile store holding PROFILES, and three keys."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "c360.yaml").write_text("workspace: api-test\n", encoding="utf-8")
    ws = Workspace.load(root)
    with open_profile_store(ws) as store:
        store.upsert_many(PROFILES)
        store.add_aliases(MERGED_AWAY)
        store.replace_shared_identifiers({identifier_key("device", FAMILY_TABLET)})
    keys = KeyStore.for_workspace(ws)
    _, read_key = keys.create(["profiles:read"], name="reader")
    _, events_key = keys.create(["events:write"], name="writer")
    revoked, revoked_key = keys.create(["profiles:read"], name="gone")
    keys.revoke(revoked.key_id)
    return ApiWorkspace(ws, read_key, events_key, revoked_key)
