"""`c360 keys create | list | revoke` and `c360 serve`; registered on the main CLI by `add_commands(app)`.

Only typer is imported at module level so `c360 --help` stays instant; Ray and Serve load when `serve` runs.
`c360 serve` runs the Serve application the same way `serve run serving.app:build_app` does, by import path
(c360 never imports `serving`, ARCHITECTURE.md), from `--app-dir` (the current folder by default): run it
from the repository root, where `serving` is, or pass the root as `--app-dir`.
"""

from __future__ import annotations

import importlib
import os
import signal
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from c360.io.ports import free_port
from c360.io.terminal import SafeConsole, markup_safe, plain

if TYPE_CHECKING:
    from ray.serve import Application

    from c360.workspace import Workspace

console = SafeConsole(width=None if sys.stdout.isatty() else 160)
READY_TIMEOUT_S = 180.0
"""How long `c360 serve` waits for `/readyz` before printing its URLs anyway."""
WorkspaceOpt = Annotated[Path, typer.Option("--workspace", "-w", help="Workspace folder holding c360.yaml.")]
SERVE_APP = "serving.app:build_app"
"""The application builder `c360 serve` runs, as Serve's CLI names it."""
APP_NAME = "c360"

keys_app = typer.Typer(
    help="API keys of the HTTP API: stored hashed in data/api_keys.json, each with scopes.",
    no_args_is_help=True,
)


def _workspace(path: Path) -> Workspace:
    from c360.workspace import Workspace

    return Workspace.load(path)


@keys_app.command("create")
def keys_create(
    scope: Annotated[
        list[str],
        typer.Option(
            "--scope",
            "-s",
            help="profiles:read, events:write, decide, consent:write or admin:erase (repeatable).",
        ),
    ],
    name: Annotated[str, typer.Option(help="A label for people: who or what uses the key.")] = "",
    rate_limit: Annotated[
        float | None,
        typer.Option(help="Requests a second (default: serving.rate_limit_per_second in c360.yaml)."),
    ] = None,
    workspace: WorkspaceOpt = Path("."),
) -> None:
    """Create a key and print it once: only its salted hash is stored."""
    from c360.api.keys import KeyStore

    store = KeyStore.for_workspace(_workspace(workspace))
    key, plain_key = store.create(scope, name=name, rate_limit=rate_limit)
    console.print(plain(f"created key {key.prefix}… with scopes {', '.join(sorted(key.scopes))}"))
    console.print("store it now; it cannot be shown again:")
    console.print(plain(plain_key), soft_wrap=True)


@keys_app.command("list")
def keys_list(
    workspace: WorkspaceOpt = Path("."),
    all_keys: Annotated[bool, typer.Option("--all", help="Include revoked keys.")] = False,
) -> None:
    """The keys by prefix, with their scopes and dates (the keys themselves are not stored)."""
    from rich.table import Table

    from c360.api.keys import KeyStore

    keys = KeyStore.for_workspace(_workspace(workspace)).list(include_revoked=all_keys)
    if not keys:
        console.print("no API keys; create one with `c360 keys create --scope profiles:read`")
        return
    table = Table("prefix", "name", "scopes", "created", "revoked")
    for key in keys:
        table.add_row(
            markup_safe(key.prefix + "…"),
            markup_safe(key.name),
            ", ".join(sorted(key.scopes)),
            key.created_at,
            key.revoked_at or "",
        )
    console.print(table)


@keys_app.command("revoke")
def keys_revoke(
    key: Annotated[
        str, typer.Argument(help="The key's id or prefix (c360_<id>_), as `c360 keys list` shows.")
    ],
    workspace: WorkspaceOpt = Path("."),
) -> None:
    """Revoke a key; a running server refuses it from its next request on."""
    from c360.api.keys import KeyStore

    revoked = KeyStore.for_workspace(_workspace(workspace)).revoke(key)
    console.print(plain(f"revoked {revoked.prefix}… at {revoked.revoked_at}"))


def load_builder(import_path: str, app_dir: str | Path = ".") -> Any:
    """The `module:function` an application is built by, imported from `app_dir` as `serve run --app-dir`
    does. `app_dir` also goes on the PYTHONPATH that the Ray this command starts hands to its workers, so
    replicas import the same module."""
    from c360.errors import ConfigError

    folder = str(Path(app_dir).resolve())
    if folder not in sys.path:
        sys.path.insert(0, folder)
    os.environ["PYTHONPATH"] = os.pathsep.join([folder, *filter(None, [os.environ.get("PYTHONPATH")])])
    module_name, _, attr = import_path.partition(":")
    try:
        builder = getattr(importlib.import_module(module_name), attr or "build_app")
    except (ImportError, AttributeError) as exc:
        raise ConfigError(
            f"cannot import the Serve application {import_path!r} from {folder} ({type(exc).__name__}: "
            f"{exc}); run `c360 serve` from the c360 repository root, or pass --app-dir"
        ) from None
    return builder


def serve(
    workspace: WorkspaceOpt = Path("."),
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="HTTP port.")] = 8000,
    app_path: Annotated[
        str, typer.Option("--app", help="The application builder, module:function.")
    ] = SERVE_APP,
    app_dir: Annotated[Path, typer.Option(help="Folder the application is imported from.")] = Path("."),
    models: Annotated[
        str,
        typer.Option(help="deployments (one Serve deployment a model) or ingress (in the API process)."),
    ] = "deployments",
    create_key: Annotated[
        bool, typer.Option("--create-key", help="Create a key with every scope and print it (make demo).")
    ] = False,
) -> None:
    """Serve the HTTP API on Ray Serve in the foreground (Ctrl-C stops it)."""
    ws = _workspace(workspace)
    builder = load_builder(app_path, app_dir)
    joined = bool(ws.settings.ray.address or os.environ.get("RAY_ADDRESS"))  # as ensure_ray decides
    direct = not joined and _direct_ingress(host, port)
    import ray
    from ray import serve as ray_serve

    from c360.runtime import ensure_ray

    ensure_ray(ws.settings.ray, progress=False)
    application: Application = builder({"workspace": str(ws.root), "models": models})
    for signum in (signal.SIGINT, signal.SIGTERM):  # `kill` and a container stop shut down as Ctrl-C does
        signal.signal(signum, _interrupt)
    try:
        if direct:
            # The Gateway replica listens on `port` itself. Serve's direct ingress needs its HTTP proxy
            # configured (without one no replica opens a port), so the proxy gets a free port of its own.
            ray_serve.start(http_options={"host": host, "port": free_port(host)})
        else:
            ray_serve.start(http_options={"host": host, "port": port})
        ray_serve.run(application, name=APP_NAME, route_prefix="/", blocking=False)
        _wait_until_ready(f"http://{'127.0.0.1' if host in ('0.0.0.0', '') else host}:{port}")
        new_key = None
        if create_key:
            from c360.api.keys import SCOPES, KeyStore

            new_key = KeyStore.for_workspace(ws).create(SCOPES, name="c360 serve --create-key")[1]
        _print_urls(ws, host, port, new_key)
        while True:
            time.sleep(1)
    except KeyboardInterrupt:
        console.print("stopping")
    finally:
        if joined:  # a cluster's Serve may run other applications: take down only this one
            ray_serve.delete(APP_NAME)
        # A Ray of our own goes down with everything on it. serve.shutdown() first would wait 30 s: in
        # throughput-optimized mode the replica does not finish draining (measured: 34 s; 8 s without it).
        ray.shutdown()


def _direct_ingress(host: str, port: int) -> bool:
    """Set up Serve's throughput-optimized mode with direct ingress on `port`, for a Ray this command starts
    (the variables are read by the Serve controller and replicas when they start; a variable already set
    wins). True when the Gateway will listen on `port` itself.

    Through Serve's HTTP proxy a request crosses two more processes: on 2 cores the proxy alone sustained
    about 250-450 profile reads a second against 2,300 on the replica's own port (`python -m c360.bench
    serve`). So the ingress replica binds the port users were told, and the proxy another."""
    os.environ.setdefault("RAY_SERVE_THROUGHPUT_OPTIMIZED", "1")
    if os.environ.get("RAY_SERVE_ENABLE_DIRECT_INGRESS", "1") != "1":
        return False
    os.environ.setdefault("RAY_SERVE_ENABLE_DIRECT_INGRESS", "1")
    os.environ.setdefault("RAY_SERVE_DIRECT_INGRESS_MIN_HTTP_PORT", str(port))
    os.environ.setdefault("RAY_SERVE_DIRECT_INGRESS_MAX_HTTP_PORT", str(port + 100))
    os.environ.setdefault("RAY_SERVE_DEFAULT_HTTP_HOST", host)
    return os.environ["RAY_SERVE_DIRECT_INGRESS_MIN_HTTP_PORT"] == str(port)


def _wait_until_ready(base: str, timeout_s: float = READY_TIMEOUT_S) -> None:
    """Poll `/readyz` until the stores answer and the models have loaded, so the URLs printed next answer
    at full quality; past `timeout_s` say so and go on (the routes answer their fallbacks meanwhile)."""
    import urllib.error
    import urllib.request

    started = time.monotonic()
    said = False
    while time.monotonic() - started < timeout_s:
        try:
            with urllib.request.urlopen(f"{base}/readyz", timeout=2.0) as answer:
                if answer.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass  # 503 (an HTTPError) while loading, or the port not open yet
        if not said and time.monotonic() - started > 2:
            console.print("waiting for the stores and models to be ready ...")
            said = True
        time.sleep(0.25)
    console.print(f"not ready after {timeout_s:.0f} s ({base}/readyz says why); serving fallbacks meanwhile")


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def _example_customer(ws: Workspace) -> str:
    """A customer id of this workspace for the curl examples, or a placeholder before `c360 run`."""
    try:
        from c360.identity.store import IdentityStore

        ids = IdentityStore(ws.lake).read("clusters")["customer_id"]
        return str(ids.sort_values().iloc[0]) if len(ids) else "<customer_id>"
    except Exception:  # noqa: BLE001 - only an example: any failure gives the placeholder
        return "<customer_id>"


def _print_urls(ws: Workspace, host: str, port: int, new_key: str | None) -> None:
    from c360.api.keys import KeyStore

    base = f"http://{host}:{port}"
    console.print(plain(f"c360 API serving workspace {ws.root}"))
    console.print(plain(f"  health  {base}/healthz   ready {base}/readyz   metrics {base}/metrics"))
    console.print(plain(f"  docs    {base}/docs"))
    if new_key is not None:
        console.print(plain(f"  API key (every scope; shown once, stored hashed): {new_key}"))
        console.print(plain(f"          export C360_API_KEY={new_key}"))
    elif not KeyStore.for_workspace(ws).list(include_revoked=False):
        console.print(plain(f"  no API key yet: c360 keys create -w {ws.root} --scope profiles:read"))
    cid = _example_customer(ws)
    auth = '-H "X-API-Key: $C360_API_KEY"'
    json_type = "-H 'Content-Type: application/json'"
    console.print(plain(f"  try     curl {auth} {base}/v1/profiles/{cid}"))
    console.print(plain(f'          curl {auth} "{base}/v1/profiles?email=<email>"'))
    console.print(plain(f"          curl {auth} {base}/v1/customers/{cid}/recommendations?n=5"))
    personalize = f'{{"customer_id": "{cid}", "context": {{"page": "home", "channel": "web"}}}}'
    console.print(plain(f"          curl {auth} {json_type} -d '{personalize}' {base}/v1/personalize"))
    event = (
        f'{{"batch": [{{"type": "track", "message_id": "demo-1", "user_id": "{cid}", '
        '"event": "Product Added", "properties": {"product_id": "<product_id>", "price": 9.5}}]}'
    )
    console.print(plain(f"          curl {auth} {json_type} -d '{event}' {base}/v1/events"))
    console.print("Ctrl-C stops the service")


def add_commands(app: typer.Typer) -> None:
    """Register `c360 keys ...` and `c360 serve` on the main CLI."""
    app.add_typer(keys_app, name="keys")
    app.command("serve")(serve)
