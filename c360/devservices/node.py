"""Node.js plumbing shared by the stand-ins: the pinned npm packages and free loopback ports."""

from __future__ import annotations

import fcntl
import os
import shutil
import socket
import subprocess
import time
from pathlib import Path

from c360.errors import StoreUnavailableError


def devservices_dir() -> Path:
    """`devservices/` at the repository root (c360 is installed in editable mode from the checkout)."""
    override = os.environ.get("C360_DEVSERVICES_DIR")
    return Path(override) if override else Path(__file__).resolve().parents[2] / "devservices"


def ensure_node_modules() -> Path:
    """Install the pinned npm packages once (`npm ci` from package-lock.json); return the folder."""
    folder = devservices_dir()
    if not (folder / "package.json").exists():
        raise StoreUnavailableError(f"{folder}/package.json not found: run from a c360 checkout")
    if shutil.which("node") is None or shutil.which("npm") is None:
        raise StoreUnavailableError("node and npm are needed for the Azure stand-ins; install Node.js 20")
    marker = folder / "node_modules" / ".package-lock.json"
    lock = folder / "package-lock.json"
    # Two processes (the test suite's workers) starting stand-ins at once: `npm ci` deletes node_modules
    # first, so the second would run a half-installed package. One installs; the other waits, finds it done.
    with open(folder / ".npm-install.lock", "w") as guard:
        fcntl.flock(guard, fcntl.LOCK_EX)
        if not marker.exists() or marker.stat().st_mtime < lock.stat().st_mtime:
            subprocess.run(
                ["npm", "ci", "--prefer-offline", "--no-audit", "--no-fund", "--loglevel=error"],  # cache 1st
                cwd=folder,
                check=True,
                stdout=subprocess.DEVNULL,
            )
    return folder


def wait_for_port(port: int, timeout: float = 30.0, what: str = "service") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            s.settimeout(0.5)
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise StoreUnavailableError(f"{what} did not start on 127.0.0.1:{port} within {timeout:.0f}s")
