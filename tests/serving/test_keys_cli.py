"""`c360 keys create | list | revoke` through `keys_app`, wherever the main CLI mounts it."""

from __future__ import annotations

import re

import pytest
from typer.testing import CliRunner

from c360.api.cli import keys_app
from c360.api.keys import KeyStore
from c360.errors import NotFoundError, ValidationError

pytestmark = pytest.mark.unit


def test_create_list_revoke(tmp_path):
    (tmp_path / "c360.yaml").write_text("workspace: keys-cli\n", encoding="utf-8")
    ws, runner = str(tmp_path), CliRunner()
    store = KeyStore(tmp_path / "data" / "api_keys.json")

    r = runner.invoke(
        keys_app, ["create", "-w", ws, "--scope", "profiles:read", "-s", "decide", "--name", "web"]
    )
    assert r.exit_code == 0, r.output
    plain_key = re.search(r"^(c360_[0-9a-f]{8}_\S+)$", r.output, re.M).group(1)
    assert store.authenticate(plain_key).allows("decide")

    r = runner.invoke(keys_app, ["list", "-w", ws])
    prefix = plain_key[:14]
    assert r.exit_code == 0 and prefix in r.output and "web" in r.output and plain_key not in r.output

    r = runner.invoke(keys_app, ["revoke", prefix, "-w", ws])
    assert r.exit_code == 0 and "revoked" in r.output
    assert store.authenticate(plain_key) is None
    assert "no API keys" in runner.invoke(keys_app, ["list", "-w", ws]).output
    assert prefix in runner.invoke(keys_app, ["list", "--all", "-w", ws]).output

    assert isinstance(runner.invoke(keys_app, ["revoke", "deadbeef", "-w", ws]).exception, NotFoundError)
    r = runner.invoke(keys_app, ["create", "-w", ws, "--scope", "profiles:write"])
    assert isinstance(r.exception, ValidationError)
