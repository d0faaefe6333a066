"""`python -m c360.bench` subcommands of the online side: profile reads through Serve, personalization,
events and content."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from c360.bench.cli import app, console


@app.command("serve")
def serve(
    backend: Annotated[
        list[str] | None, typer.Option(help="sqlite, redis or cosmos (repeatable; default: all three).")
    ] = None,
    profiles: Annotated[int, typer.Option(help="Profiles in the store.")] = 10_000,
    rate: Annotated[float, typer.Option(help="Open-loop requests per second.")] = 500.0,
    seconds: Annotated[
        float,
        typer.Option(
            help="Seconds per measurement. At 500/s, 30 s give the p99 150 requests to stand on: one stall "
            "of the shared 2 cores does not decide it, as it can in 10 s."
        ),
    ] = 30.0,
    concurrency: Annotated[int, typer.Option(help="Connections of the saturation run.")] = 16,
    workdir: Annotated[Path | None, typer.Option(help="Keep the benchmark workspaces here.")] = None,
    proxy: Annotated[
        bool,
        typer.Option(
            help="Also measure c360 through Serve's HTTP proxy (it saturates below 500/s on 2 cores, so the "
            "open loop queues for minutes)."
        ),
    ] = False,
) -> None:
    """GET /v1/profiles/{id} on Ray Serve beside bare FastAPI + uvicorn: p50/p99 at a rate, saturation rps."""
    from c360.bench.serving import BACKENDS, run

    chosen = tuple(backend) if backend else BACKENDS
    run(chosen, profiles, rate, seconds, concurrency, workdir, console, proxy=proxy)


@app.command("personalize")
def personalize(
    workspace: Annotated[
        Path | None, typer.Option(help="Demo workspace to use (built there when it holds none).")
    ] = None,
    customers: Annotated[int, typer.Option(help="Demo customers when the workspace is built.")] = 2000,
    rate: Annotated[float, typer.Option(help="Open-loop requests per second.")] = 100.0,
    seconds: Annotated[float, typer.Option(help="Seconds per measurement.")] = 20.0,
    server: Annotated[
        list[str] | None, typer.Option(help="in-process, serve or serve-ingress (repeatable; default: all).")
    ] = None,
) -> None:
    """POST /v1/personalize with every model in place: p50/p99 at a rate, fallbacks, load."""
    from c360.bench.personalize import run

    run(
        workspace,
        customers,
        rate=rate,
        seconds=seconds,
        servers=tuple(server or ("in-process", "serve", "serve-ingress")),
        console=console,
    )


@app.command("events")
def events(
    customers: Annotated[int, typer.Option(help="Customers in the profile store.")] = 1000,
    concurrency: Annotated[int, typer.Option(help="Connections of the saturation run.")] = 4,
    seconds: Annotated[float, typer.Option(help="Seconds per phase.")] = 15.0,
    rate: Annotated[float, typer.Option(help="Batches of 100 a second beside the freshness probes.")] = 50.0,
    probes: Annotated[int, typer.Option(help="Freshness probes (at most one per request answered).")] = 200,
    backend: Annotated[str, typer.Option(help="sqlite or redis (profile, event state and Feast online).")] = (
        "sqlite"
    ),
    workdir: Annotated[Path | None, typer.Option(help="Keep the benchmark workspace here.")] = None,
) -> None:
    """POST /v1/events in batches of 100: events/s at saturation, and push-to-online latency under load."""
    from c360.bench.events import run

    run(customers, concurrency, seconds, rate, probes, backend, workdir, console)


@app.command("genai")
def genai(
    repeats: Annotated[int, typer.Option(help="Timed calls for the offline and cache-hit figures.")] = 2000,
    ttft_requests: Annotated[int, typer.Option(help="Streamed replies timed, raw SDK and writer.")] = 200,
    burst: Annotated[int, typer.Option(help="Emails in the burst against the rate-limited stand-in.")] = 1000,
) -> None:
    """GenAI content writer: offline p99, time-to-first-token overhead over the raw SDK, cache-hit p99, and a
    burst of emails within the budget and the stand-in backend's rate limit."""
    from c360.bench.genai import run

    run(console=console, repeats=repeats, ttft_requests=ttft_requests, burst=burst)
