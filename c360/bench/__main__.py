"""`python -m c360.bench`: one subcommand per benchmark, plus `all`.

To add a benchmark: write `c360/bench/<name>.py` with a `run(...)`, add a subcommand below that calls it, and
register its default run in `DEFAULT_RUNS` so `all` (and `make bench`) include it.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

app = typer.Typer(
    name="c360-bench",
    help="c360 benchmarks; figures are printed as tables.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
console = Console(width=None if sys.stdout.isatty() else 160)


def _demo_data_defaults() -> None:
    from c360.bench.demo_data import run

    run(out=console)


def _ingest_defaults() -> None:
    from c360.bench.ingest import run

    run(console=console)


def _stores_defaults() -> None:
    from c360.bench.stores import run

    run(console=console)


def _identity_defaults() -> None:
    from c360.bench.identity import run

    run(out=console)


def _erase_defaults() -> None:
    from c360.bench.erase import run

    run(console=console)


def _profiles_defaults() -> None:
    from c360.bench.profiles import run

    run(console=console)


def _events_defaults() -> None:
    from c360.bench.events import run

    run(console=console)


def _sentiment_defaults() -> None:
    from c360.bench.sentiment import run

    run(console=console)


DEFAULT_RUNS: dict[str, Callable[[], object]] = {
    "demo-data": _demo_data_defaults,
    "ingest": _ingest_defaults,
    "stores": _stores_defaults,
    "identity": _identity_defaults,
    "erase": _erase_defaults,
    "sentiment": _sentiment_defaults,
    "events": _events_defaults,
}


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


@app.command("serve")
def serve(
    backend: Annotated[
        list[str] | None, typer.Option(help="sqlite, redis or cosmos (repeatable; default: all three).")
    ] = None,
    profiles: Annotated[int, typer.Option(help="Profiles in the store.")] = 10_000,
    rate: Annotated[float, typer.Option(help="Open-loop requests per second.")] = 500.0,
    seconds: Annotated[float, typer.Option(help="Seconds per measurement.")] = 10.0,
    concurrency: Annotated[int, typer.Option(help="Connections of the saturation run.")] = 16,
    workdir: Annotated[Path | None, typer.Option(help="Keep the benchmark workspaces here.")] = None,
) -> None:
    """GET /v1/profiles/{id} on Ray Serve beside bare FastAPI + uvicorn: p50/p99 at a rate, saturation rps."""
    from c360.bench.serving import BACKENDS, run

    chosen = tuple(backend) if backend else BACKENDS
    run(chosen, profiles, rate, seconds, concurrency, workdir, console)


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


@app.command("models-retail")
def models_retail(
    workdir: Annotated[
        Path | None,
        typer.Option(help="Build (or reuse) the example workspace here instead of a temp folder."),
    ] = None,
    keep: Annotated[bool, typer.Option(help="Keep the temporary workspace.")] = False,
) -> None:
    """Online Retail through the example workspace: CLV (BG/NBD+GG, LightGBM, naive) and 90-day churn AUC."""
    from c360.bench.models_retail import run

    run(console=console, workdir=workdir, keep=keep)


@app.command("models-bank")
def models_bank(
    folds: Annotated[int, typer.Option(help="Stratified folds.")] = 5,
    seed: Annotated[int, typer.Option(help="Seed of the splits and the model.")] = 42,
) -> None:
    """Bank Marketing (no duration) response and Online Shoppers propensity vs logistic regression, CV AUC."""
    from c360.bench.models_bank import run

    run(console=console, folds=folds, seed=seed)


@app.command("models-demo")
def models_demo(
    customers: Annotated[int, typer.Option("--customers", "-n", help="Demo customers.")] = 3_000,
    seed: Annotated[int, typer.Option(help="Random seed of the demo data.")] = 42,
    workdir: Annotated[Path | None, typer.Option(help="Build (or reuse) the demo workspace here.")] = None,
) -> None:
    """Every model on demo data vs a naive baseline on held-out cutoffs, and the planted drivers recovered."""
    from c360.bench.models_demo import run

    run(console=console, customers=customers, seed=seed, workdir=workdir)


@app.command("models-telco")
def models_telco(
    folds: Annotated[int, typer.Option(help="Folds per repeat.")] = 5,
    repeats: Annotated[int, typer.Option(help="Repeats of the stratified k-fold split.")] = 3,
    seed: Annotated[int, typer.Option(help="Seed of the splits.")] = 0,
) -> None:
    """IBM Telco churn: CV AUC and log loss of churn vs logistic regression and LightGBM; survival C-index."""
    from c360.bench.models_telco import run

    run(console=console, folds=folds, repeats=repeats, seed=seed)


@app.command("models-overhead")
def models_overhead(
    seconds: Annotated[float, typer.Option(help="Wall time of the plain job to size the data for.")] = 60.0,
    ingest: Annotated[
        list[str] | None, typer.Option(help="objects or dataset (repeatable; default: both).")
    ] = None,
) -> None:
    """Ray Train wrapper (XGBoostTrainer) vs plain xgboost.train on the same data: wall time and ratio."""
    from c360.bench.models_overhead import run

    run(console=console, seconds=seconds, ingests=tuple(ingest) if ingest else ("objects", "dataset"))


@app.command("models")
def models(
    rows: Annotated[int, typer.Option("--rows", "-n", help="Synthetic customers timed.")] = 1_000_000,
    model: Annotated[
        list[str] | None, typer.Option(help="Time only these models (repeatable; default: all seven).")
    ] = None,
    quality: Annotated[bool, typer.Option(help="Run the quality benchmarks of every model family.")] = True,
    tune: Annotated[bool, typer.Option(help="Time Ray Tune against a plain loop of the same trials.")] = True,
    tune_seconds: Annotated[float, typer.Option(help="Plain wall time the tune check is sized to.")] = 60.0,
    end_to_end: Annotated[
        int, typer.Option(help="Also time `c360 score` end to end on a workspace of this many customers.")
    ] = 0,
) -> None:
    """Models: quality on real data (telco, retail, bank, demo), training and scoring a million customers."""
    from c360.bench.models import MODELS, run

    run(
        console,
        rows=rows,
        models=tuple(model) if model else MODELS,
        with_quality=quality,
        with_tune=tune,
        tune_seconds=tune_seconds,
        end_to_end=end_to_end,
    )


@app.command("recs")
def recs(
    workdir: Annotated[
        Path | None,
        typer.Option(help="Build (or reuse) the Online Retail example workspace here, not in a temp folder."),
    ] = None,
    windows: Annotated[
        int,
        typer.Option(help="Validation windows the (b) hybrid ranker learns from; (a) uses the latest only."),
    ] = 2,
) -> None:
    """Recommendations on Online Retail (train before 2011-09-01, test to 2011-12-09): popularity, repeat,
    content, item-kNN, EASE, ALS and the hybrid; P/R/NDCG/MAP@10, coverage and one-customer p99."""
    from c360.bench.recs import run

    run(console=console, workdir=workdir, windows=windows)


@app.command("recs-als-overhead")
def recs_als_overhead(
    workdir: Annotated[
        Path | None,
        typer.Option(help="Build (or reuse) the Online Retail example workspace here, not in a temp folder."),
    ] = None,
    synthetic: Annotated[
        bool, typer.Option(help="A seeded synthetic matrix instead of Online Retail.")
    ] = False,
    threads: Annotated[int, typer.Option(help="implicit's threads (and the Ray task's CPUs).")] = 1,
    repeats: Annotated[int, typer.Option(help="Timed fits of each path.")] = 3,
) -> None:
    """ALS by bare implicit and through a Ray task on the same matrix, side by side (goal: Ray <= 1.1x)."""
    from c360.bench.recs_als import run

    run(console=console, workdir=workdir, synthetic=synthetic, threads=threads, repeats=repeats)


@app.command("nba")
def nba(
    seeds: Annotated[list[int] | None, typer.Option("--seed", help="Simulator seeds (repeatable).")] = None,
    decisions: Annotated[int, typer.Option(help="Decisions the bandit learns from per seed.")] = 50_000,
) -> None:
    """Next-best-action on the simulator: the VW bandit vs random and the best fixed action, off-policy
    estimates against the true value, decision p99 and rewards learned per second."""
    from c360.bench.nba import run

    run(console=console, seeds=tuple(seeds) if seeds else (0, 1, 2), decisions=decisions)


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


@app.command("all")
def run_all() -> None:
    """Every registered benchmark with its default sizes."""
    for name, runner in DEFAULT_RUNS.items():
        console.rule(name)
        runner()


if __name__ == "__main__":
    app()
