"""`python -m c360.bench` subcommands of the models: churn, CLV and propensity on public data, Ray overhead,
recommendations and next-best-action."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from c360.bench.cli import app, console


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
        int | None,
        typer.Option(
            help="Monthly windows the (b) hybrid ranker learns from (default 2; 11 with --previous-year); "
            "(a) uses the latest only."
        ),
    ] = None,
    previous_year: Annotated[
        bool,
        typer.Option(
            help="Measure on the two-year example (examples/online_retail_two_years: the shop's 2009-2010 "
            "export beside the 2010-2011 one, mapped by config)."
        ),
    ] = False,
) -> None:
    """Recommendations on Online Retail (train before 2011-09-01, test to 2011-12-09): popularity, repeat,
    content, item-kNN, EASE, ALS, user-kNN, TIFU-kNN and the hybrid; P/R/NDCG/MAP@10, coverage and
    one-customer p99."""
    from c360.bench.recs import run

    run(console=console, workdir=workdir, windows=windows, previous_year=previous_year)


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
