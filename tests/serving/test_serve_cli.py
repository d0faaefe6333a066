"""`c360 serve` as users run it: its own Ray, the Gateway answering on the port it was given (direct ingress,
no proxy), the URLs and a new key printed, Ctrl-C stopping everything it started."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest
import requests

from c360.io.ports import free_port
from tests.serving.api_data import api_workspace

pytestmark = [pytest.mark.serving, pytest.mark.slow]


def test_c360_serve_answers_on_its_port_and_stops_on_ctrl_c(tmp_path):
    data = api_workspace(tmp_path / "ws")
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RAY_SERVE_", "RAY_ADDRESS"))}
    cmd = [sys.executable, "-c", "from c360.cli import entrypoint; entrypoint()", "serve", "-w",
           str(data.ws.root), "--port", str(port), "--create-key", "--models", "ingress"]  # fmt: skip
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True)  # fmt: skip
    lines: list[str] = []
    try:
        deadline = time.monotonic() + 180
        while not any("Ctrl-C stops" in line for line in lines):
            assert time.monotonic() < deadline and proc.poll() is None, "".join(lines[-30:])
            lines.append(proc.stdout.readline())
        printed = "".join(lines)
        assert f"http://127.0.0.1:{port}/docs" in printed
        exported = next(line for line in lines if "export C360_API_KEY=" in line)
        key = exported.split("=", 1)[1].strip()
        base = f"http://127.0.0.1:{port}"
        assert requests.get(f"{base}/readyz", timeout=10).json() == {"status": "ready"}
        r = requests.get(f"{base}/v1/profiles/C-ADA", headers={"X-API-Key": key}, timeout=10)
        assert r.status_code == 200 and r.json()["customerId"] == "C-ADA"
        assert requests.get(f"{base}/v1/profiles/C-ADA", timeout=10).status_code == 401
    finally:
        os.killpg(proc.pid, signal.SIGINT)
        try:
            proc.wait(timeout=90)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            raise
    with pytest.raises(requests.ConnectionError):
        requests.get(f"http://127.0.0.1:{port}/healthz", timeout=5)
