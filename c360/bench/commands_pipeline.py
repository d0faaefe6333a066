"""`python -m c360.bench` subcommands of the data pipeline: demo data, ingest, stores, identity, erasure,
profiles, sentiment, faults and facts."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from c360.bench.cli import app, console


@app.command("demo-data")
def demo_data(
    customers: Annotated[
        list[int] | None, typer.Option("--customers", "-n", help="Size to time (repeatable).")
    ] = None,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 42,
    chunk_size: Annotated[int, typer.Option(help="Customers per chunk (one part file per chunk).")] = 50_000,
    workers: Annotated[int | None, typer.Option(help="Worker processes (default: up to 2).")] = None,
    workdir: Annotated[Path | None, typer.Option(help="Keep the generated workspaces here.")] = None,
) -> None:
    """Demo-data generation: raw rows per second and peak memory (incl. worker processes) per size."""
    from c360.bench.demo_data import run

    sizes = tuple(customers) if customers else (100_000, 1_000_000)
    run(sizes=sizes, out=console, seed=seed, workdir=workdir, chunk_size=chunk_size, workers=workers)


@app.command("ingest")
def ingest(
    customers: Annotated[
        list[int] | None, typer.Option("--customers", "-n", help="Size to time (repeatable).")
    ] = None,
    seed: Annotated[int, typer.Option(help="Random seed of the demo data.")] = 42,
    workdir: Annotated[Path | None, typer.Option(help="Keep the generated workspaces here.")] = None,
) -> None:
    """Ingest throughput: source rows/s of the Ray Data pipeline and of a single-process baseline (ratio)."""
    from c360.bench.ingest import run

    sizes = tuple(customers) if customers else (100_000, 1_000_000)
    run(customers_list=sizes, seed=seed, workdir=workdir, console=console)


@app.command("stores")
def stores(
    customers: Annotated[
        int, typer.Option("--customers", "-n", help="Profiles and feature rows to load.")
    ] = 2_000,
    reads: Annotated[int, typer.Option(help="Timed reads per measurement.")] = 1_000,
    backend: Annotated[
        list[str] | None, typer.Option(help="sqlite, redis or cosmos (repeatable; default: all three).")
    ] = None,
    service: Annotated[str, typer.Option(help="Feature service read per customer.")] = "churn",
    workdir: Annotated[Path | None, typer.Option(help="Keep the benchmark workspaces here.")] = None,
) -> None:
    """Profile store and Feast online store per backend: write rates, read p50/p99, Feast overhead."""
    from c360.bench.stores import BACKENDS, run

    run(
        customers=customers,
        reads=reads,
        backends=tuple(backend) if backend else BACKENDS,
        service=service,
        workdir=workdir,
        console=console,
    )


@app.command("identity")
def identity(
    customers: Annotated[
        int, typer.Option(help="People in the quality run (generator ground truth).")
    ] = 100_000,
    scale_customers: Annotated[
        int, typer.Option(help="People in the scale run (~3.3 identity records each).")
    ] = 300_000,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 42,
    febrl: Annotated[bool, typer.Option(help="FEBRL3/FEBRL4 quality.")] = True,
    demo: Annotated[bool, typer.Option(help="Quality on the generator's ground truth.")] = True,
    scale: Annotated[bool, typer.Option(help="Full and incremental time, peak memory, identify p99.")] = True,
    splink: Annotated[bool, typer.Option(help="Splink side by side in the quality runs.")] = True,
    splink_at_scale: Annotated[bool, typer.Option(help="Splink also on the scale run.")] = False,
    workdir: Annotated[Path | None, typer.Option(help="Keep the workspaces here.")] = None,
    sweep: Annotated[
        bool,
        typer.Option(
            help="Precision-recall of both tools over match thresholds, each at the shared and at its oracle "
            "threshold (c360 resolves in full once per threshold)."
        ),
    ] = True,
    threshold: Annotated[
        list[float] | None,
        typer.Option("--threshold", help="A threshold of the sweep (repeatable; default 0.05 to 0.999)."),
    ] = None,
    demo_threshold: Annotated[
        list[float] | None,
        typer.Option(
            "--demo-threshold", help="A threshold of the demo's sweep (repeatable; default: --threshold)."
        ),
    ] = None,
) -> None:
    """Identity resolution: quality vs ground truth and a fair Splink, precision-recall, time, memory, p99."""
    from c360.bench.identity import THRESHOLDS, run

    run(
        out=console,
        customers=customers,
        scale_customers=scale_customers,
        seed=seed,
        febrl=febrl,
        demo=demo,
        do_scale=scale,
        splink=splink,
        splink_at_scale=splink_at_scale,
        workdir=workdir,
        sweep=sweep,
        thresholds=threshold or THRESHOLDS,
        demo_thresholds=demo_threshold,
    )


@app.command("erase")
def erase(
    customers: Annotated[
        list[int] | None, typer.Option("--customers", "-n", help="Lake size in customers (repeatable).")
    ] = None,
    seed: Annotated[int, typer.Option(help="Random seed of the demo data and of the customer picked.")] = 42,
    workdir: Annotated[
        Path | None, typer.Option(help="Keep (and reuse) the prepared workspaces here.")
    ] = None,
    workspace: Annotated[
        Path | None, typer.Option(help="Erase from this existing workspace instead (it is modified).")
    ] = None,
    batch: Annotated[int, typer.Option(help="Customers erased together in one pass.", min=1)] = 1,
) -> None:
    """Erasure of customers in an N-customer lake: seconds, files scanned and rewritten, bytes."""
    from c360.bench.erase import run

    sizes = tuple(customers) if customers else (20_000,)
    run(customers_list=sizes, seed=seed, workdir=workdir, console=console, workspace=workspace, batch=batch)


@app.command("profiles")
def profiles(
    customers: Annotated[
        list[int] | None, typer.Option("--customers", "-n", help="Size to time (repeatable).")
    ] = None,
    seed: Annotated[int, typer.Option(help="Random seed of the demo data.")] = 42,
    online: Annotated[
        list[str] | None,
        typer.Option(
            help="sqlite, redis or cosmos (repeatable; default: all three; none: skip materializing)."
        ),
    ] = None,
    workdir: Annotated[Path | None, typer.Option(help="Keep the benchmark workspaces here.")] = None,
    workspace: Annotated[
        Path | None,
        typer.Option(help="Time this resolved workspace instead of generating one (profiles rebuilt cold)."),
    ] = None,
) -> None:
    """Profiles stage time for N customers, and Feast materialization rows/s per online store."""
    from c360.bench.profiles import ONLINE_STORES, run

    run(
        sizes=tuple(customers) if customers else (20_000,),
        seed=seed,
        online=tuple(o for o in online if o != "none") if online else ONLINE_STORES,
        workdir=workdir,
        console=console,
        workspace=workspace,
    )


@app.command("sentiment")
def sentiment(
    customers: Annotated[
        int, typer.Option("--customers", "-n", help="Demo customers (~0.75 texts each).")
    ] = 20_000,
    seed: Annotated[int, typer.Option(help="Random seed of the demo data.")] = 42,
    workdir: Annotated[Path | None, typer.Option(help="Keep the generated workspace here.")] = None,
    workspace: Annotated[
        Path | None, typer.Option(help="Score this demo workspace's raw texts instead of generating one.")
    ] = None,
) -> None:
    """Sentiment scorer vs the demo's planted labels: accuracy, macro-F1, confusion per kind; texts/s."""
    from c360.bench.sentiment import run

    run(customers=customers, seed=seed, workdir=workdir, workspace=workspace, console=console)


@app.command("faults")
def faults(
    customers: Annotated[int, typer.Option("--customers", "-n", help="Demo customers per workspace.")] = 300,
    seed: Annotated[int, typer.Option(help="Random seed of the demo data and of the person erased.")] = 7,
    stage: Annotated[
        list[str] | None, typer.Option(help="erase, resolve or profiles (repeatable; default: all three).")
    ] = None,
    sample: Annotated[
        bool, typer.Option(help="Only the first, a middle and the last boundary of each stage.")
    ] = False,
    shared_ray: Annotated[
        bool, typer.Option(help="Stages join one Ray cluster started here (else each starts its own).")
    ] = True,
    workdir: Annotated[
        Path | None, typer.Option(help="Keep the workspaces and logs here (failed scenarios stay).")
    ] = None,
) -> None:
    """Kill erase, resolve and profiles at every step boundary, re-run, compare with an uninterrupted run."""
    from c360.bench.faults import STAGES, run

    _, rows = run(
        customers=customers,
        seed=seed,
        stages=tuple(stage) if stage else STAGES,
        sample=sample,
        workdir=workdir,
        console=console,
        share_ray=shared_ray,
    )
    if not all(r.ok for r in rows):
        raise typer.Exit(1)


@app.command("facts")
def facts(
    customers: Annotated[
        list[int] | None, typer.Option("--customers", "-n", help="Size to time (repeatable).")
    ] = None,
    seed: Annotated[int, typer.Option(help="Random seed of the synthetic lake.")] = 42,
    workdir: Annotated[Path | None, typer.Option(help="Write the benchmark workspaces here.")] = None,
    keep: Annotated[bool, typer.Option(help="Keep the workspace after the run.")] = False,
    training_set: Annotated[bool, typer.Option(help="Time the point-in-time training set too.")] = True,
    backfill: Annotated[bool, typer.Option(help="Time the feature-history backfill too.")] = True,
    max_rss_gib: Annotated[
        float, typer.Option(help="Stop the run when its process tree holds more (0: no limit).")
    ] = 12.0,
) -> None:
    """Facts, 12-cutoff backfill, +1% incremental, training set and peak memory against the issue's targets.

    Not in `all`: 1,000,000 customers (the target size) takes tens of minutes; the default is 20,000."""
    from c360.bench.facts import run

    sizes = tuple(customers) if customers else (20_000,)
    run(
        customers_list=sizes,
        seed=seed,
        workdir=workdir,
        console=console,
        keep=keep,
        training_set=training_set,
        max_rss_gib=max_rss_gib or None,
        backfill=backfill,
    )
