"""The Azure Cosmos DB stand-in (`@vercel/cosmosdb-server`) on a free loopback port, over TLS with keep-alive.

Started from `devservices/cosmos-server.js` rather than the package's CLI: the CLI closes the connection
after every response, so each SDK call pays a TLS handshake (COMPONENTS.md). The stand-in keeps data in
memory, so every start is empty. Its gaps against the real service are listed in COMPONENTS.md; code under
test must not rely on them.
"""

from __future__ import annotations

import json
import select
import ssl
import subprocess
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from c360.devservices.node import ensure_node_modules
from c360.errors import StoreUnavailableError

# The key the Cosmos DB emulator documents publicly; the stand-in accepts any base64 key. Not a secret.
EMULATOR_KEY = "C2y6yDjf5/R+ob0N8A7Cgv30VRDJIWEHLM+4QDU5DE2nQ9nDuVTqobD4b8mGGyPMbIZnqyMsEcaGQy67XIw/Jw=="
SCRIPT = "cosmos-server.js"


def _unverified_tls() -> ssl.SSLContext:
    """The stand-in serves a self-signed certificate for localhost."""
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


@dataclass(frozen=True)
class CosmosStandIn:
    """A running stand-in: where it listens and the key clients send."""

    port: int
    key: str = EMULATOR_KEY

    @property
    def endpoint(self) -> str:
        return f"https://127.0.0.1:{self.port}/"

    def client_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for `azure.cosmos.CosmosClient` that this stand-in needs."""
        return {"connection_verify": False, "enable_endpoint_discovery": False}

    def _control(self, body: dict[str, Any] | None) -> dict[str, int]:
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(
            f"{self.endpoint}_c360/faults",
            data=data,
            method="GET" if body is None else "POST",
            headers={"content-type": "application/json"},
        )
        with urllib.request.urlopen(req, context=_unverified_tls(), timeout=5) as resp:
            return json.loads(resp.read())

    def inject_faults(
        self, count: int, status: int = 429, retry_after_ms: int = 10, match: str = "/docs"
    ) -> None:
        """Make the next `count` requests whose path contains `match` fail with `status` (429: throttled)."""
        self._control({"status": status, "count": count, "retryAfterMs": retry_after_ms, "match": match})

    def faults_served(self) -> int:
        return self._control(None)["served"]

    def clear_faults(self) -> None:
        self._control({"count": 0})


def _read_ready_line(proc: subprocess.Popen[bytes], log: Path, timeout: float) -> int:
    assert proc.stdout is not None
    deadline = time.monotonic() + timeout
    buf = b""
    while time.monotonic() < deadline:
        ready, _, _ = select.select([proc.stdout], [], [], 0.1)
        if ready:
            chunk = proc.stdout.read1(4096)  # type: ignore[attr-defined]
            if not chunk:
                break
            buf += chunk
            if b"\n" in buf:
                return int(json.loads(buf.split(b"\n", 1)[0])["port"])
        elif proc.poll() is not None:
            break
    tail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
    raise StoreUnavailableError(f"the Cosmos DB stand-in did not start within {timeout:.0f}s: {tail.strip()}")


def _wait_until_answering(stand_in: CosmosStandIn, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    last: Exception | None = None
    while time.monotonic() < deadline:
        try:
            stand_in.faults_served()
            return
        except OSError as exc:
            last = exc
            time.sleep(0.05)
    raise StoreUnavailableError(f"the Cosmos DB stand-in at {stand_in.endpoint} does not answer: {last}")


@contextmanager
def cosmos_stand_in(timeout: float = 30.0) -> Iterator[CosmosStandIn]:
    """Run the stand-in until the block exits, yielding endpoint and key; installs npm packages if needed."""
    folder = ensure_node_modules()
    with tempfile.TemporaryDirectory(prefix="c360-cosmos-") as tmp:
        log = Path(tmp) / "cosmos-server.log"
        with log.open("wb") as log_fh:
            proc = subprocess.Popen(
                ["node", str(folder / SCRIPT), "0"],
                cwd=folder,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=log_fh,
            )
        try:
            port = _read_ready_line(proc, log, timeout)
            stand_in = CosmosStandIn(port=port)
            _wait_until_answering(stand_in, timeout)
            yield stand_in
        finally:
            if proc.stdin is not None:
                proc.stdin.close()
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            if proc.stdout is not None:
                proc.stdout.close()
