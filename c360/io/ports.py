"""A free TCP port on a loopback (or given) interface, for the services the scripts, benchmarks and tests
start: bound to port 0 so the kernel picks one, then released for the caller to bind (another process may
take it in between, which on a loopback port of a test machine is rare enough)."""

from __future__ import annotations

import socket


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])
