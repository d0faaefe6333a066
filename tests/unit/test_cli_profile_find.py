"""`c360 profile find` as a user runs it (a child process of the installed script): an identifier several
customers hold names none of them, so the command prints why and exits 3 (not found), naming no customer."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from c360.profile.store import identifier_key
from c360.profile.store.sqlite import SqliteProfileStore

pytestmark = pytest.mark.unit
C360 = str(Path(sys.executable).with_name("c360"))
TABLET = "tablet-home"


def find(kind: str, value: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("C360_")}
    return subprocess.run(
        [C360, "profile", "find", kind, value], cwd=cwd, env=env, capture_output=True, text=True, timeout=60
    )


def test_an_identifier_several_customers_hold_exits_3_naming_nobody(tmp_path: Path):
    (tmp_path / "c360.yaml").write_text(
        "workspace: t\nlake:\n  uri: lake\nstores:\n  profile:\n    sqlite_path: profiles.db\n",
        encoding="utf-8",
    )
    with SqliteProfileStore(tmp_path / "profiles.db") as store:
        store.upsert_many(
            [
                {"customerId": "C1", "identities": {"deviceIds": [TABLET], "cookieIds": ["ck-1"]}},
                {"customerId": "C2", "identities": {"deviceIds": [TABLET]}},
            ]
        )
        store.replace_shared_identifiers({identifier_key("device", TABLET)})
    shared = find("device", TABLET, tmp_path)
    assert shared.returncode == 3, shared.stderr
    assert shared.stdout == ""
    assert "several customers hold that device" in shared.stderr and "customer id" in shared.stderr
    assert "Traceback" not in shared.stderr
    for named in ("C1", "C2", TABLET):
        assert named not in shared.stderr
    own = find("cookie", "ck-1", tmp_path)
    assert own.returncode == 0 and own.stdout.strip() == "C1"
