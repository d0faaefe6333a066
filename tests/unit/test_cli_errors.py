"""Errors for people: the `c360` command as a user runs it (a child process of the installed script).

Each case was a traceback, a crash of the error handler itself, a styled or emoji-rendered message, or a raw
control character on the terminal; each asserts the message a person reads and the exit code a script reads.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from c360.profile.store.sqlite import SqliteProfileStore

C360 = str(Path(sys.executable).with_name("c360"))
MARKUP = "[bold red]x[/x] :100:"
CLOSED = "127.0.0.1:1"  # nothing listens on port 1: connections are refused at once
PASSWORD = "s3cret-pw-4711"


def run(args: list[str], cwd: Path, env: dict[str, str] | None = None, timeout: float = 60):
    """`c360 ARGS` in `cwd` with the given C360_* overrides (and none inherited from the caller)."""
    base = {k: v for k, v in os.environ.items() if not k.startswith(("C360_", "AZURE_STORAGE"))}
    return subprocess.run(
        [C360, *args], cwd=cwd, env={**base, **(env or {})}, capture_output=True, text=True, timeout=timeout
    )


def run_python(code: str, args: list[str], cwd: Path, env: dict[str, str] | None = None, timeout: float = 60):
    """The CLI's entrypoint in a child whose code first breaks something (to fake an unexpected error)."""
    script = textwrap.dedent(code) + f"\nimport sys\nsys.argv = ['c360', *{args!r}]\n"
    script += "from c360.cli import entrypoint\nentrypoint()\n"
    base = {k: v for k, v in os.environ.items() if not k.startswith(("C360_", "AZURE_STORAGE"))}
    return subprocess.run(
        [sys.executable, "-c", script],
        cwd=cwd,
        env={**base, **(env or {})},
        capture_output=True,
        text=True,
        timeout=timeout,
    )


@pytest.fixture
def ws(tmp_path: Path) -> Path:
    (tmp_path / "c360.yaml").write_text(
        "workspace: t\nlake:\n  uri: lake\nstores:\n  profile:\n    sqlite_path: profiles.db\n",
        encoding="utf-8",
    )
    return tmp_path


def one_error_line(stderr: str) -> str:
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1, stderr
    assert lines[0].startswith("error: "), stderr
    return lines[0]


# ------------------------------------------------------------------ markup, config, usage


@pytest.mark.unit
def test_markup_and_emoji_codes_in_a_message_print_literally(ws):
    r = run(["profile", "get", MARKUP], ws)
    assert r.returncode == 3, r.stderr  # not found
    line = one_error_line(r.stderr)
    assert MARKUP in line  # [bold red] not applied, [/x] not a crash, :100: not an emoji
    assert "\U0001f4af" not in r.stderr and "\x1b[" not in r.stderr and "Traceback" not in r.stderr


@pytest.mark.unit
def test_a_config_key_holding_markup_gives_a_clean_message(ws):
    (ws / "c360.yaml").write_text(f'workspace: t\n"{MARKUP}": 1\n', encoding="utf-8")
    r = run(["profile", "get", "C1"], ws)
    assert r.returncode == 2, r.stderr  # configuration
    assert r.stderr.startswith("error: invalid configuration")
    assert f"unknown key '{MARKUP}'" in r.stderr
    assert "Traceback" not in r.stderr and "MarkupError" not in r.stderr


@pytest.mark.unit
def test_usage_errors_stay_typers_and_exit_codes_are_documented(ws):
    r = run([MARKUP], ws)
    assert r.returncode == 2 and "No such command" in r.stderr and "[/x]" in r.stderr
    help_text = run(["--help"], ws).stdout
    assert "Exit codes" in help_text
    for code in ("2 usage", "3 not found", "4 a store or the lake", "5 ingest", "130 interrupted"):
        assert code in " ".join(help_text.split()), code


# ------------------------------------------------------------------ unexpected errors, Ctrl-C

BOOM = """
import c360.workspace
def boom(*args, **kwargs):
    raise RuntimeError("value-of-a-customer: jane@example.com")
c360.workspace.Workspace.load = boom
"""


@pytest.mark.unit
def test_an_unexpected_error_shows_its_type_only_without_verbose(ws):
    r = run_python(BOOM, ["profile", "get", "C1"], ws)
    assert r.returncode == 1
    line = one_error_line(r.stderr)
    assert line == "error: internal error: RuntimeError; run again with -v for the traceback"
    assert "jane@example.com" not in r.stderr + r.stdout


@pytest.mark.unit
def test_verbose_shows_the_traceback(ws):
    r = run_python(BOOM, ["-v", "profile", "get", "C1"], ws)
    assert r.returncode == 1
    assert "Traceback (most recent call last)" in r.stderr and "in boom" in r.stderr
    assert r.stderr.rstrip().splitlines()[-1].startswith("error: internal error: RuntimeError")


@pytest.mark.unit
def test_ctrl_c_is_one_line_and_exit_130(ws):
    interrupt = BOOM.replace(
        'raise RuntimeError("value-of-a-customer: jane@example.com")', "raise KeyboardInterrupt"
    )
    r = run_python(interrupt, ["profile", "get", "C1"], ws)
    assert r.returncode == 130
    assert one_error_line(r.stderr) == "error: interrupted"


# ------------------------------------------------------------------ stores and lake down


def test_redis_profile_store_down_names_it_without_the_password(ws):
    env = {
        "C360_STORES__PROFILE__BACKEND": "redis",
        "C360_STORES__PROFILE__REDIS_URL": f"redis://:{PASSWORD}@{CLOSED}/0",
    }
    r = run(["profile", "get", "C1"], ws, env)
    assert r.returncode == 4, r.stderr
    line = one_error_line(r.stderr)
    assert "profile store (redis)" in line and CLOSED in line and "stores.profile.redis_url" in line
    assert PASSWORD not in r.stderr + r.stdout


def test_redis_refusing_the_password_names_it_without_the_password(ws):
    env = {
        "C360_STORES__PROFILE__BACKEND": "redis",
        "C360_STORES__PROFILE__REDIS_URL": f"redis://:{PASSWORD}@127.0.0.1:6379/0",
    }
    r = run(["profile", "get", "C1"], ws, env)
    assert r.returncode == 4, r.stderr
    line = one_error_line(r.stderr)
    assert "127.0.0.1:6379" in line and "password" in line and "stores.profile.redis_url" in line
    assert PASSWORD not in r.stderr + r.stdout


@pytest.mark.unit
def test_cosmos_endpoint_down_names_it_without_the_key(ws):
    key = "c2VjcmV0LWNvc21vcy1rZXktNDcxMQ=="
    env = {
        "C360_STORES__PROFILE__BACKEND": "cosmos",
        "C360_STORES__PROFILE__COSMOS_ENDPOINT": f"https://{CLOSED}/",
        "C360_STORES__PROFILE__COSMOS_KEY": key,
        "C360_STORES__PROFILE__COSMOS_VERIFY_TLS": "false",
    }
    r = run(["profile", "get", "C1"], ws, env)
    assert r.returncode == 4, r.stderr
    line = one_error_line(r.stderr)
    assert "profile store (cosmos)" in line and CLOSED in line and "cosmos_endpoint" in line
    assert key not in r.stderr + r.stdout


@pytest.mark.unit
def test_abfs_lake_endpoint_down_names_it_without_the_key_and_fails_fast(ws):
    account_key = "c2VjcmV0LWFjY291bnQta2V5LTQ3MTE="
    conn = (
        f"DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey={account_key};"
        f"BlobEndpoint=http://{CLOSED}/devstoreaccount1;"
    )
    env = {
        "C360_LAKE__URI": "abfs://lake/c360",
        "C360_LAKE__STORAGE_OPTIONS": json.dumps({"connection_string": conn}),
    }
    assert run(["init", ".", "--force"], ws).returncode == 0  # the default config declares sources to list
    r = run(["ingest"], ws, env, timeout=30)  # the SDK alone retries for about 90 s
    assert r.returncode == 4, r.stderr
    line = one_error_line(r.stderr)
    assert "lake abfs://lake/c360" in line and f"http://{CLOSED}/devstoreaccount1" in line
    assert "lake.storage_options" in line
    assert account_key not in r.stderr + r.stdout


RAW_REDIS_ERROR = """
import redis.exceptions
import c360.profile.store
def raw(*args, **kwargs):
    # What Feast's Redis online store raises from inside materialize or get_online_features.
    raise redis.exceptions.AuthenticationError("invalid username-password pair or user is disabled.")
c360.profile.store.open_profile_store = raw
"""


@pytest.mark.unit
def test_a_raw_redis_error_from_a_library_still_names_the_server(ws):
    env = {"C360_STORES__PROFILE__REDIS_URL": f"redis://:{PASSWORD}@{CLOSED}/0"}
    r = run_python(RAW_REDIS_ERROR, ["profile", "get", "C1"], ws, env)
    assert r.returncode == 4, r.stderr
    line = one_error_line(r.stderr)
    assert f"Redis at redis://:***@{CLOSED}/0 is unavailable (invalid username-password pair" in line
    assert "stores.profile.redis_url" in line and PASSWORD not in r.stderr


# ------------------------------------------------------------------ control characters on output


@pytest.mark.unit
def test_profile_get_escapes_nul_and_bidi_override(ws):
    doc = {"customerId": "C1", "name": "Eve\x00\u202egnp.exe", "city": "Zürich", "identities": {}}
    with SqliteProfileStore(ws / "profiles.db") as store:
        store.upsert(doc)
    r = run(["profile", "get", "C1"], ws)
    assert r.returncode == 0, r.stderr
    assert "\x00" not in r.stdout and "\u202e" not in r.stdout
    assert "\\u0000" in r.stdout and "\\u202e" in r.stdout and "Zürich" in r.stdout
    assert json.loads(r.stdout)["name"] == doc["name"]  # still valid JSON, same value


@pytest.mark.azure
def test_abfs_lake_refusing_the_key_names_its_endpoint(ws, azurite_service):
    from c360.devservices.azurite import ACCOUNT_KEY

    wrong_key = "d3Jvbmcta2V5LXdyb25nLWtleS00NzEx"
    azurite_service.create_container("lake")
    conn = azurite_service.connection_string.replace(ACCOUNT_KEY, wrong_key)
    env = {
        "C360_LAKE__URI": "abfs://lake/c360",
        "C360_LAKE__STORAGE_OPTIONS": json.dumps({"connection_string": conn}),
    }
    assert run(["init", ".", "--force"], ws).returncode == 0
    r = run(["ingest"], ws, env)
    assert r.returncode == 4, r.stderr
    line = one_error_line(r.stderr)
    assert f"http://127.0.0.1:{azurite_service.port}/devstoreaccount1" in line and "authenticate" in line
    assert wrong_key not in r.stderr + r.stdout and "Traceback" not in r.stderr
