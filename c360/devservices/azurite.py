"""Azurite (blob endpoint) as an ADLS Gen2 stand-in for `abfs://` lakes."""

from __future__ import annotations

import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from c360.devservices.node import ensure_node_modules, wait_for_port
from c360.io.ports import free_port

# Azurite's documented development account; not a secret.
ACCOUNT = "devstoreaccount1"
ACCOUNT_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="


@dataclass(frozen=True)
class Azurite:
    port: int

    @property
    def connection_string(self) -> str:
        return (
            f"DefaultEndpointsProtocol=http;AccountName={ACCOUNT};AccountKey={ACCOUNT_KEY};"
            f"BlobEndpoint=http://127.0.0.1:{self.port}/{ACCOUNT};"
        )

    @property
    def storage_options(self) -> dict[str, str]:
        return {"connection_string": self.connection_string}

    def create_container(self, name: str) -> None:
        from azure.storage.blob import BlobServiceClient

        client = BlobServiceClient.from_connection_string(self.connection_string)
        if not client.get_container_client(name).exists():
            client.create_container(name)


@contextmanager
def azurite() -> Iterator[Azurite]:
    """Run azurite-blob on a free loopback port with in-temp-dir storage until the block exits."""
    folder = ensure_node_modules()
    port = free_port()
    with tempfile.TemporaryDirectory(prefix="c360-azurite-") as data:
        proc = subprocess.Popen(
            [
                str(folder / "node_modules" / ".bin" / "azurite-blob"),
                "--blobHost",
                "127.0.0.1",
                "--blobPort",
                str(port),
                "--location",
                data,
                "--disableTelemetry",
                "--skipApiVersionCheck",
                "--silent",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            wait_for_port(port, what="azurite")
            yield Azurite(port=port)
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
