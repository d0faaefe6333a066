"""Workspace leases: one writing command at a time per workspace, so runs cannot trample each other.

Ingest, resolve, profiles, materialize, retention and erasure all rewrite the same tables; two of them at
once would interleave writes, and a run that staged a person before an erasure could write them back after
it. So every writing command holds one exclusive lease on the workspace (`pipeline`) for as long as it runs;
`c360 run` takes it once for all its stages, so nothing slips in between.

The lease is a record under `_state/leases/<name>.json` (who holds it: command, host, pid, when; no customer
data) plus a mechanism that frees it when the holder dies:
- a local lake: an OS file lock (`flock`) on `<name>.lock` beside the record. The kernel drops it the moment
  the process dies, so a crashed holder frees the workspace at once.
- an `abfs://` lake: an Azure blob lease on the record blob itself (so the record always belongs to the
  lease's holder), `DURATION_S` long and renewed by a daemon thread every third of that. A crashed holder
  stops renewing and its lease expires within `DURATION_S`.

Leases are re-entrant within a process (`c360 run` -> `run_pipeline` both take it), and only the CLI and
`run_pipeline` take them: library callers (tests, benchmarks calling `resolve(ws)`) are unaffected.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from c360.errors import LeaseHeldError

if TYPE_CHECKING:  # not at run time: `c360 --help` imports this module and must stay instant
    from c360.io.lake import Lake
    from c360.workspace import Workspace

log = logging.getLogger(__name__)

LEASES_DIR = "_state/leases"
PIPELINE = "pipeline"
DURATION_S = 60  # Azure allows 15..60 s; a crashed holder blocks others for at most this long on abfs://
POLL_S = 0.5  # how often a waiting command tries again


@dataclass(frozen=True)
class Holder:
    """Who holds a lease: enough to find the process, nothing about customers."""

    command: str
    host: str
    pid: int
    started: str  # ISO 8601, UTC
    renewed_at: str
    expires_at: str

    @classmethod
    def now(cls, command: str, duration_s: float, started: str | None = None) -> Holder:
        import socket  # here, not at import: `c360 --help` imports this module

        t = datetime.now(UTC)
        return cls(
            command=command,
            host=socket.gethostname(),
            pid=os.getpid(),
            started=started or t.isoformat(timespec="seconds"),
            renewed_at=t.isoformat(timespec="seconds"),
            expires_at=(t + timedelta(seconds=duration_s)).isoformat(timespec="seconds"),
        )

    def renewed(self, duration_s: float) -> Holder:
        return Holder.now(self.command, duration_s, started=self.started)

    def to_bytes(self) -> bytes:
        return json.dumps(asdict(self), sort_keys=True).encode()

    @classmethod
    def from_bytes(cls, data: bytes) -> Holder | None:
        """None for an empty or foreign record (a lease blob created but not yet written)."""
        try:
            raw = json.loads(data or b"{}")
            return cls(**{k: raw[k] for k in cls.__dataclass_fields__})
        except (ValueError, KeyError, TypeError):
            return None

    def describe(self, now: datetime | None = None) -> str:
        """ "`c360 run` (pid 1234 on host x, since 03:12:01 UTC, renewed 5 s ago)"."""
        now = now or datetime.now(UTC)
        started = datetime.fromisoformat(self.started)
        since = started.strftime("%H:%M:%S UTC" if started.date() == now.date() else "%Y-%m-%d %H:%M:%S UTC")
        ago = max(0, round((now - datetime.fromisoformat(self.renewed_at)).total_seconds()))
        return f"`{self.command}` (pid {self.pid} on host {self.host}, since {since}, renewed {ago} s ago)"


class Mechanism(Protocol):
    """What keeps the lease exclusive; the record is written through it so a holder's write cannot race."""

    where: str  # for messages: the record's path
    expires: bool  # whether a holder that stops renewing loses it (a blob lease) or not (a file lock)

    def try_acquire(self, duration_s: int) -> bool: ...
    def renew(self) -> None: ...
    def release(self) -> None: ...
    def write(self, holder: Holder) -> None: ...
    def read(self) -> Holder | None: ...


class FileLockMechanism:
    """`flock` on `<name>.lock`; the record `<name>.json` is replaced atomically: a reader never sees half."""

    def __init__(self, lake: Lake, name: str) -> None:
        self.lock_path = Path(lake.path(LEASES_DIR, f"{name}.lock"))
        self.record_path = Path(lake.path(LEASES_DIR, f"{name}.json"))
        self.where = str(self.record_path)
        self.expires = False
        self._fd: int | None = None

    def try_acquire(self, duration_s: int) -> bool:
        import fcntl

        self.lock_path.parent.mkdir(parents=True, exist_ok=True)
        # os.open makes the fd close-on-exec, so Ray's worker processes do not inherit (and keep) the lock.
        fd = os.open(self.lock_path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return False
        self._fd = fd
        return True

    def renew(self) -> None:
        """Nothing to renew: the kernel holds the lock until release or death; the record shows liveness."""

    def release(self) -> None:
        if self._fd is not None:
            import fcntl

            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None

    def write(self, holder: Holder) -> None:
        tmp = self.record_path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_bytes(holder.to_bytes())
        os.replace(tmp, self.record_path)

    def read(self) -> Holder | None:
        try:
            return Holder.from_bytes(self.record_path.read_bytes())
        except FileNotFoundError:
            return None


class BlobLeaseMechanism:
    """An Azure blob lease on the record blob, through adlfs' own (async) service client and credentials."""

    def __init__(self, lake: Lake, name: str) -> None:
        from fsspec.asyn import sync

        self._lake = lake
        fs: Any = lake.fs
        container, _, blob = lake.path(LEASES_DIR, f"{name}.json").partition("/")
        self.where = f"abfs://{container}/{blob}"
        self.expires = True
        self._blob = fs.service_client.get_blob_client(container, blob)
        self._run: Callable[..., Any] = lambda fn, *a, **kw: sync(fs.loop, fn, *a, **kw)
        self._lease: Any = None

    def try_acquire(self, duration_s: int) -> bool:
        from azure.core.exceptions import ResourceExistsError, ResourceNotFoundError
        from azure.storage.blob.aio import BlobLeaseClient

        lease = BlobLeaseClient(self._blob)
        with self._lake.guard():
            try:
                self._run(lease.acquire, lease_duration=duration_s)
            except ResourceNotFoundError:  # first lease on this lake: create the (empty) record blob
                with contextlib.suppress(ResourceExistsError):  # another process created it first
                    self._run(self._blob.upload_blob, b"", overwrite=False)
                return self.try_acquire(duration_s)
            except ResourceExistsError:  # 409 LeaseAlreadyPresent
                return False
        self._lease = lease
        return True

    def renew(self) -> None:
        with self._lake.guard():
            self._run(self._lease.renew)

    def release(self) -> None:
        if self._lease is not None:
            with self._lake.guard():
                self._run(self._lease.release)
            self._lease = None

    def write(self, holder: Holder) -> None:
        with self._lake.guard():
            self._run(self._blob.upload_blob, holder.to_bytes(), overwrite=True, lease=self._lease)

    def read(self) -> Holder | None:
        from azure.core.exceptions import ResourceNotFoundError

        try:
            with self._lake.guard():
                stream = self._run(self._blob.download_blob)
                return Holder.from_bytes(self._run(stream.readall))
        except ResourceNotFoundError:
            return None


def mechanism_for(lake: Lake, name: str) -> Mechanism:
    return FileLockMechanism(lake, name) if lake.is_local else BlobLeaseMechanism(lake, name)


class Lease:
    """A held lease: renews itself on a daemon thread until `release()`; `lost` says whether renewal failed
    for longer than the lease lasts (another command may then have taken it)."""

    def __init__(self, mechanism: Mechanism, holder: Holder, duration_s: int) -> None:
        self.mechanism = mechanism
        self.holder = holder
        self.duration_s = duration_s
        self.lost = False
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._renew_loop, name="c360-lease-renewal", daemon=True)
        self._thread.start()

    def _renew_loop(self) -> None:
        interval = self.duration_s / 3
        renewed = time.monotonic()
        while not self._stop.wait(interval):
            try:
                self.mechanism.renew()
                renewed = time.monotonic()
                self.holder = self.holder.renewed(self.duration_s)
                self.mechanism.write(self.holder)  # renewed_at tells a waiter the holder is alive
            except Exception as exc:  # noqa: BLE001 - a blip must not end the run: retry until it would expire
                if self.mechanism.expires and time.monotonic() - renewed >= self.duration_s:
                    self.lost = True
                    log.error(
                        "workspace lease %s lost: not renewed for %d s", self.mechanism.where, self.duration_s
                    )
                    return
                log.warning(
                    "workspace lease %s: renewal failed (%s); retrying",
                    self.mechanism.where,
                    type(exc).__name__,
                )

    def release(self) -> None:
        self._stop.set()
        self._thread.join()
        try:
            self.mechanism.release()
        except Exception:
            if not self.lost:  # a lost lease is gone already; anything else is worth reporting
                raise


_held: dict[tuple[str, str], tuple[Lease, int]] = {}
_held_lock = threading.Lock()


def busy_message(mechanism: Mechanism, lake: Lake, wait_s: float) -> str:
    holder = mechanism.read()
    who = holder.describe() if holder else "another command (its record is not written yet)"
    advice = f"waited {wait_s:g} s; try again later" if wait_s else "wait, or pass --wait 600"
    return f"workspace busy: {who} holds the lease on {lake.display_uri}; {advice}"


def acquire(
    lake: Lake, command: str, name: str = PIPELINE, wait_s: float = 0.0, duration_s: int = DURATION_S
) -> Lease:
    """Take the lease, trying every POLL_S for up to `wait_s`; LeaseHeldError naming the holder otherwise."""
    mechanism = mechanism_for(lake, name)
    deadline = time.monotonic() + wait_s
    announced = False
    while not mechanism.try_acquire(duration_s):
        if time.monotonic() >= deadline:
            raise LeaseHeldError(busy_message(mechanism, lake, wait_s))
        if not announced:
            holder = mechanism.read()
            log.info(
                "waiting up to %g s for %s to finish", wait_s, holder.describe() if holder else "the holder"
            )
            announced = True
        time.sleep(POLL_S)
    holder = Holder.now(command, duration_s)
    try:
        mechanism.write(holder)
    except BaseException:
        mechanism.release()
        raise
    return Lease(mechanism, holder, duration_s)


@contextmanager
def lake_lease(
    lake: Lake, command: str, name: str = PIPELINE, wait_s: float = 0.0, duration_s: int = DURATION_S
) -> Iterator[Lease]:
    """Hold the lease for the block; a nested block in the same process reuses the outer one."""
    key = (lake.display_uri, name)
    with _held_lock:
        if key in _held:
            lease, depth = _held[key]
            _held[key] = (lease, depth + 1)
            outer = False
        else:
            outer = True
    if outer:
        lease = acquire(lake, command, name, wait_s, duration_s)
        with _held_lock:
            _held[key] = (lease, 1)
    try:
        yield lease
    finally:
        with _held_lock:
            lease, depth = _held[key]
            if depth > 1:
                _held[key] = (lease, depth - 1)
            else:
                del _held[key]
        if depth == 1:
            lease.release()
    if depth == 1 and lease.lost:
        raise LeaseHeldError(
            f"the workspace lease on {lake.display_uri} was lost during `{command}` (not renewed for "
            f"{lease.duration_s} s): another command may have written meanwhile; run `{command}` again"
        )


@contextmanager
def workspace_lease(ws: Workspace, command: str, wait_s: float = 0.0) -> Iterator[Workspace]:
    """`with workspace_lease(ws, "c360 resolve", wait) as ws:` holds the workspace's `pipeline` lease for the
    block (see the module doc); the CLI's writing commands and `run_pipeline` take it, library calls do not.
    """
    with lake_lease(ws.lake, command, PIPELINE, wait_s):
        yield ws
