"""The lake: one root URI, local or `abfs://`, behind one small interface.

Every stage reads and writes through a `Lake`, so the same code runs over `./data/lake` on a laptop and over
ADLS Gen2 in production. Paths handed to pyarrow, Ray Data and fsspec are filesystem-native (no protocol):
`Lake.path("raw", "crm")` is `/abs/ws/data/lake/raw/crm` locally and `container/prefix/raw/crm` on ADLS.
"""

from __future__ import annotations

import os
import posixpath
import socket
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from functools import cached_property
from pathlib import Path
from typing import IO, Any

import fsspec
import pyarrow as pa
import pyarrow.fs as pafs
import pyarrow.parquet as pq

from c360.errors import ConfigError, StoreUnavailableError
from c360.io.outages import LAKE_HINT, azure_blob_endpoint, brief, host_port, store_call, unavailable

AZURE_PROTOCOLS = ("abfs", "abfss", "az")
PROBE_TIMEOUT_S = 5.0
_PROXY_VARS = ("HTTPS_PROXY", "HTTP_PROXY", "ALL_PROXY", "https_proxy", "http_proxy", "all_proxy")


def inside_root(root: str, path: str) -> bool:
    """Whether a filesystem-native path (or glob) stays below `root` once `..` segments are resolved.

    Ingest reads and erasure rewrites whatever a glob finds, so a pattern must never reach past the root.
    """
    norm = posixpath.normpath(path)
    return norm == root or norm.startswith(root.rstrip("/") + "/")


class Lake:
    """A lake rooted at `uri`; `storage_options` go to fsspec (adlfs for `abfs://`)."""

    def __init__(self, uri: str, storage_options: dict[str, Any] | None = None, base_dir: Path | None = None):
        self.storage_options = dict(storage_options or {})
        protocol, _, rest = uri.partition("://")
        if rest and protocol in AZURE_PROTOCOLS:
            self.protocol = "abfs"
            self.root = rest.strip("/")
        elif rest and protocol != "file":
            raise StoreUnavailableError(
                f"lake uri {uri!r}: unsupported scheme {protocol!r} (use a path or abfs://)"
            )
        else:
            local = Path(rest if rest else uri).expanduser()
            if not local.is_absolute():
                local = (base_dir or Path.cwd()) / local
            self.protocol = "file"
            self.root = str(local.resolve())
        self.uri = uri if self.protocol == "abfs" else self.root

    def __repr__(self) -> str:
        return f"Lake({self.display_uri})"

    @property
    def display_uri(self) -> str:
        return f"abfs://{self.root}" if self.protocol == "abfs" else self.root

    @property
    def is_local(self) -> bool:
        return self.protocol == "file"

    @property
    def endpoint(self) -> str:
        """Where the lake lives, for messages: the blob endpoint without keys or SAS tokens, or the folder."""
        if self.protocol != "abfs":
            return self.root
        options = dict(self.storage_options)
        if not options.get("connection_string") and os.environ.get("AZURE_STORAGE_CONNECTION_STRING"):
            options["connection_string"] = os.environ["AZURE_STORAGE_CONNECTION_STRING"]
        if not options.get("account_name") and os.environ.get("AZURE_STORAGE_ACCOUNT_NAME"):
            options["account_name"] = os.environ["AZURE_STORAGE_ACCOUNT_NAME"]
        return azure_blob_endpoint(options)

    def guard(self) -> AbstractContextManager[None]:
        """A block against the lake: an outage in it (refused, down, a bad key) becomes one
        StoreUnavailableError naming the lake and its endpoint. Code using `lake.fs` can wrap calls in it."""
        return store_call(f"lake {self.display_uri}", self.endpoint, LAKE_HINT)

    def _probe(self) -> None:
        """Fail in seconds, not minutes, when the blob endpoint refuses connections or does not resolve.

        The Azure SDK retries a refused connection with backoff for about 90 s before it gives up. One TCP
        connect names the outage at once; it is skipped behind a proxy, where a direct connect proves nothing.
        """
        where = host_port(self.endpoint, 443)
        if where is None or any(os.environ.get(v) for v in _PROXY_VARS):
            return
        try:
            socket.create_connection(where, timeout=PROBE_TIMEOUT_S).close()
        except OSError as exc:
            raise unavailable(f"lake {self.display_uri}", self.endpoint, LAKE_HINT, exc) from exc

    @cached_property
    def fs(self) -> fsspec.AbstractFileSystem:
        """The fsspec filesystem (adlfs' AzureBlobFileSystem for `abfs://`)."""
        if self.protocol == "abfs":
            self._probe()
            with self.guard():
                return fsspec.filesystem("abfs", **self.storage_options)
        return fsspec.filesystem("file", auto_mkdir=True)

    @cached_property
    def arrow_fs(self) -> pafs.FileSystem:
        """A pyarrow filesystem for pyarrow and Ray Data (`filesystem=`)."""
        if self.protocol == "abfs":
            return pafs.PyFileSystem(pafs.FSSpecHandler(self.fs))
        return pafs.LocalFileSystem()

    # ------------------------------------------------------------------ paths

    def path(self, *parts: str) -> str:
        """The filesystem-native path of `parts` below the root."""
        clean = [p.strip("/") for p in parts if p and p.strip("/")]
        return posixpath.join(self.root, *clean) if clean else self.root

    def relative(self, path: str) -> str:
        """`path` relative to the root, for messages and lineage columns."""
        path = path.removeprefix(f"{self.protocol}://")
        if inside_root(self.root, path):
            return posixpath.relpath(path, self.root)
        if path.startswith("/") or ".." in path.split("/"):
            raise ConfigError(f"lake {self.display_uri}: {path!r} is outside the lake root")
        return path  # already relative to the root

    def full_uri(self, path: str) -> str:
        return f"abfs://{path}" if self.protocol == "abfs" else path

    # ------------------------------------------------------------------ operations

    def glob(self, pattern: str) -> list[str]:
        """Files matching a glob below the root, sorted (deterministic order for incremental loads)."""
        if not inside_root(self.root, self.path(pattern)):
            raise ConfigError(f"lake {self.display_uri}: {pattern!r} reaches outside the lake root")
        try:
            with self.guard():
                found = self.fs.glob(self.path(pattern), detail=True)
        except FileNotFoundError:
            return []
        except StoreUnavailableError:
            raise
        except Exception as exc:  # noqa: BLE001 - adlfs raises many kinds; name the store instead
            raise StoreUnavailableError(
                f"lake {self.display_uri}: cannot list {pattern!r}: {brief(exc)}; {LAKE_HINT}"
            ) from exc
        # fsspec types a local symlink "other": one to a file counts (a dataset linked in, read in place)
        files = [
            p
            for p, info in found.items()
            if info.get("type") == "file" or (info.get("islink") and self.fs.isfile(p))
        ]
        return sorted(p.removeprefix("abfs://") for p in files)

    def exists(self, *parts: str) -> bool:
        with self.guard():
            return self.fs.exists(self.path(*parts))

    def info(self, path: str) -> dict[str, Any]:
        with self.guard():
            return self.fs.info(path)

    def makedirs(self, *parts: str) -> str:
        target = self.path(*parts)
        if self.is_local:
            Path(target).mkdir(parents=True, exist_ok=True)
        return target

    @contextmanager
    def open(self, path: str, mode: str = "rb", **kwargs: Any) -> Iterator[IO[Any]]:
        if self.is_local and "w" in mode:
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        with self.guard():
            handle = self.fs.open(path, mode, **kwargs)
        with handle as fh:
            yield fh

    def read_bytes(self, path: str) -> bytes:
        with self.guard(), self.open(path, "rb") as fh:
            return fh.read()

    def write_bytes(self, path: str, data: bytes) -> None:
        with self.guard(), self.open(path, "wb") as fh:
            fh.write(data)

    def read_text(self, path: str, encoding: str = "utf-8") -> str:
        return self.read_bytes(path).decode(encoding)

    def write_text(self, path: str, text: str, encoding: str = "utf-8") -> None:
        self.write_bytes(path, text.encode(encoding))

    def rm(self, path: str, recursive: bool = False) -> None:
        with self.guard():
            if self.fs.exists(path):
                self.fs.rm(path, recursive=recursive)

    def write_table(self, table: pa.Table, path: str, **kwargs: Any) -> None:
        """Write one parquet file."""
        if self.is_local:
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        with self.guard():
            pq.write_table(table, path, filesystem=self.arrow_fs, **kwargs)

    def replace_bytes(self, path: str, data: bytes) -> None:
        """Write beside `path`, then move over it: a reader, or a kill, sees the old file or the new, never
        half of one (a rename on a local lake; on Azure the blob is written whole either way). What every
        state file, journal, audit record and erasure rewrite goes through."""
        tmp = _beside(path)
        self.write_bytes(tmp, data)
        with self.guard():
            self.fs.mv(tmp, path)

    def replace_text(self, path: str, text: str, encoding: str = "utf-8") -> None:
        self.replace_bytes(path, text.encode(encoding))

    def replace_table(self, table: pa.Table, path: str, **kwargs: Any) -> None:
        """`write_table`, replacing `path` as `replace_bytes` does."""
        tmp = _beside(path)
        self.write_table(table, tmp, **kwargs)
        with self.guard():
            self.fs.mv(tmp, path)

    def read_table(self, path: str, **kwargs: Any) -> pa.Table:
        """Read a parquet file or a (hive-partitioned) folder of them."""
        with self.guard():
            return pq.read_table(path, filesystem=self.arrow_fs, **kwargs)


def _beside(path: str) -> str:
    """A hidden temporary name next to `path` (no glob of `*.parquet`, `*.json` or `*.csv` matches it)."""
    return posixpath.join(posixpath.dirname(path), f".{posixpath.basename(path)}.tmp")
