"""The workspace lease with two processes: a holder child (`python -c`) and a second command or lease.

What a person relies on: a second command exits at once (or after --wait) with exit code 6 and a message
naming the holder; `c360 erase` is refused while a run holds the workspace; a SIGKILLed holder frees a local
workspace at once, and on abfs:// its blob lease expires; renewal keeps a lease held past its duration.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

from c360.errors import LeaseHeldError
from c360.io.lake import Lake
from c360.io.lease import Holder, Lease, lake_lease

C360 = str(Path(sys.executable).with_name("c360"))
BUSY = 6


def hold(
    uri: str, command: str, options: dict[str, str] | None = None, duration_s: int = 60
) -> subprocess.Popen:
    """A child that takes the lease, prints `held`, and sleeps until killed."""
    code = textwrap.dedent(f"""
        import time
        from c360.io.lake import Lake
        from c360.io.lease import lake_lease
        with lake_lease(Lake({uri!r}, {options!r}), {command!r}, duration_s={duration_s}):
            print("held", flush=True)
            time.sleep(600)
    """)
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "held", "the holder could not take the lease"
    return proc


def kill(proc: subprocess.Popen) -> None:
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=10)


def c360(args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("C360_", "AZURE_STORAGE"))}
    return subprocess.run([C360, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=120)


@pytest.fixture
def ws(tmp_path: Path) -> Path:
    (tmp_path / "c360.yaml").write_text(
        "workspace: t\nlake:\n  uri: lake\nstores:\n  profile:\n    sqlite_path: profiles.db\n",
        encoding="utf-8",
    )
    return tmp_path


def test_second_command_exits_naming_the_holder_and_erase_is_refused(ws: Path) -> None:
    holder = hold(str(ws / "lake"), "c360 run")
    try:
        for args in (["resolve"], ["profiles"], ["run"], ["erase", "c-1", "--reason", "test"]):
            done = c360([*args, "-w", str(ws)], ws)
            assert done.returncode == BUSY, (args, done.stderr)
            message = " ".join(done.stderr.split())
            assert f"workspace busy: `c360 run` (pid {holder.pid} on host" in message, message
            assert re.search(r"since \d\d:\d\d:\d\d UTC, renewed \d+ s ago\) holds the lease on ", message)
            assert "pass --wait 600" in message
        assert not (ws / "lake" / "_state" / "erasure").exists()  # the erasure never started

        started = time.monotonic()
        done = c360(["resolve", "-w", str(ws), "--wait", "2"], ws)
        assert done.returncode == BUSY and "waited 2 s" in " ".join(done.stderr.split())
        assert time.monotonic() - started >= 2
    finally:
        kill(holder)


def test_a_killed_holder_frees_a_local_lake_at_once(tmp_path: Path) -> None:
    lake = Lake(str(tmp_path / "lake"))
    holder = hold(lake.root, "c360 profiles")
    with pytest.raises(LeaseHeldError, match=r"`c360 profiles` \(pid"), lake_lease(lake, "c360 resolve"):
        pass
    kill(holder)
    started = time.monotonic()
    with lake_lease(lake, "c360 resolve") as lease:
        assert lease.holder.pid == os.getpid()
    assert time.monotonic() - started < 1.0


def test_a_waiting_command_gets_the_lease_when_the_holder_ends(tmp_path: Path) -> None:
    lake = Lake(str(tmp_path / "lake"))
    holder = hold(lake.root, "c360 run")
    threading.Timer(1.0, kill, [holder]).start()
    started = time.monotonic()
    with lake_lease(lake, "c360 erase", wait_s=30) as lease:
        assert lease.holder.command == "c360 erase"
    assert 0.9 <= time.monotonic() - started < 5


def test_reentrant_in_one_process_and_released_after_the_outermost(tmp_path: Path) -> None:
    lake = Lake(str(tmp_path / "lake"))
    with lake_lease(lake, "c360 run") as outer:
        with lake_lease(lake, "c360 run") as inner:  # run -> run_pipeline: must not wait on itself
            assert inner is outer
        code = (
            "from c360.io.lake import Lake\nfrom c360.io.lease import lake_lease\n"
            f"lake_lease(Lake({lake.root!r}), 'x').__enter__()"
        )
        other = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
        assert "LeaseHeldError" in other.stderr  # still held after the inner block
    with lake_lease(lake, "c360 resolve"):
        pass


def test_renewal_refreshes_the_record(tmp_path: Path) -> None:
    lake = Lake(str(tmp_path / "lake"))
    record = tmp_path / "lake" / "_state" / "leases" / "pipeline.json"
    with lake_lease(lake, "c360 run", duration_s=1):  # renewed every third of a second
        first = json.loads(record.read_text())
        time.sleep(1.5)
        later = json.loads(record.read_text())
    assert later["renewed_at"] > first["renewed_at"] and later["started"] == first["started"]
    assert set(first) == {"command", "host", "pid", "started", "renewed_at", "expires_at"}  # no customer data


class FailingBlobLease:
    """A mechanism that expires like a blob lease and whose renewals all fail (a network partition)."""

    where, expires = "abfs://c/_state/leases/pipeline.json", True

    def renew(self) -> None:
        raise ConnectionError("partitioned")

    def write(self, holder: Holder) -> None:
        raise ConnectionError("partitioned")

    def release(self) -> None:
        raise ConnectionError("partitioned")


def test_a_lease_not_renewed_for_its_duration_is_lost_and_says_so() -> None:
    lease = Lease(FailingBlobLease(), Holder.now("c360 run", 1), duration_s=1)  # type: ignore[arg-type]
    time.sleep(1.8)
    lease.release()  # the failed release of a lease already lost is not an error
    assert lease.lost


def test_holder_description() -> None:
    h = Holder(
        command="c360 run",
        host="x",
        pid=1234,
        started="2026-12-06T03:12:01+00:00",
        renewed_at="2026-12-06T03:20:00+00:00",
        expires_at="2026-12-06T03:21:00+00:00",
    )
    from datetime import datetime

    now = datetime.fromisoformat("2026-12-06T03:20:05+00:00")
    assert h.describe(now) == "`c360 run` (pid 1234 on host x, since 03:12:01 UTC, renewed 5 s ago)"
    assert Holder.from_bytes(h.to_bytes()) == h
    assert Holder.from_bytes(b"") is None


@pytest.mark.azure
def test_blob_lease_on_azurite_renews_past_its_duration_and_expires_after_a_kill(azurite_lake) -> None:
    lake = Lake(azurite_lake.uri, azurite_lake.storage_options)
    holder = hold(azurite_lake.uri, "c360 run", azurite_lake.storage_options, duration_s=15)
    held_at = time.monotonic()
    try:
        time.sleep(18)  # past the 15 s duration: only renewal keeps it held
        busy = rf"`c360 run` \(pid {holder.pid} on host"
        with pytest.raises(LeaseHeldError, match=busy), lake_lease(lake, "c360 erase", duration_s=15):
            pass
    finally:
        kill(holder)
    killed_at = time.monotonic()
    with lake_lease(lake, "c360 erase", wait_s=40, duration_s=15) as lease:
        assert lease.holder.command == "c360 erase"
    waited = time.monotonic() - killed_at
    assert 3 < waited < 20, waited  # the crashed holder's lease expired (at most 15 s after its last renewal)
    assert killed_at - held_at > 15
