"""The `python -m c360.bench` application: the Typer app, its console, the default runs of `all`.

To add a benchmark: write `c360/bench/<name>.py` with a `run(...)`, add a subcommand that calls it to the
`commands_*` module of its part (pipeline, models, serving), and register its default run in `DEFAULT_RUNS`
so `all` (and `make bench`) include it.
"""

from __future__ import annotations

import sys
from collections.abc import Callable

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


@app.command("all")
def run_all() -> None:
    """Every registered benchmark with its default sizes."""
    for name, runner in DEFAULT_RUNS.items():
        console.rule(name)
        runner()
