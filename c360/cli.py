"""The `c360` command line. Each command imports its stage lazily so `c360 --help` stays instant."""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.logging import RichHandler

from c360.errors import C360Error, ValidationError

app = typer.Typer(
    name="c360",
    help="c360: a Customer 360 personalization engine on Ray.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
# Piped output (CI logs, `| tee`) gets a width that fits the summary tables instead of 80 columns.
console = Console(width=None if sys.stdout.isatty() else 160)
err_console = Console(stderr=True)

WorkspaceOpt = Annotated[Path, typer.Option("--workspace", "-w", help="Workspace folder holding c360.yaml.")]


@app.callback()
def main(verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Debug logging.")] = False) -> None:
    """c360: a Customer 360 personalization engine on Ray."""
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(message)s",
        handlers=[RichHandler(console=err_console, show_path=False, rich_tracebacks=False)],
    )
    for noisy in ("azure", "urllib3", "filelock", "fsspec", "ray", "feast"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def _workspace(path: Path):
    from c360.workspace import Workspace

    return Workspace.load(path)


@app.command()
def init(
    directory: Annotated[Path, typer.Argument(help="Folder to create the workspace in.")] = Path("."),
    force: Annotated[bool, typer.Option(help="Overwrite an existing c360.yaml.")] = False,
) -> None:
    """Create a workspace: c360.yaml with the embedded defaults."""
    from c360.workspace import init_workspace

    target = init_workspace(directory, force=force)
    console.print(f"created [bold]{target}[/bold]; next: `c360 demo-data` or declare your sources in it")


@app.command("demo-data")
def demo_data(
    customers: Annotated[int, typer.Option(help="How many people to simulate.")] = 5000,
    seed: Annotated[int, typer.Option(help="Random seed; the same seed gives the same files.")] = 42,
    workspace: WorkspaceOpt = Path("."),
) -> None:
    """Generate realistic raw files for all eight source kinds, plus a ground-truth folder."""
    from c360.sources.demo import generate_demo_data

    ws = _workspace(workspace)
    summary = generate_demo_data(ws, customers=customers, seed=seed, console=console)
    console.print(summary)


@app.command()
def ingest(
    workspace: WorkspaceOpt = Path("."),
    source: Annotated[list[str] | None, typer.Option(help="Only these sources (repeatable).")] = None,
) -> None:
    """Load new raw files into standardized/, quarantining bad rows with the reason."""
    from c360.sources.ingest import ingest as run_ingest
    from c360.sources.ingest import print_summary

    ws = _workspace(workspace)
    report = run_ingest(ws, sources=source, progress=True)
    print_summary(report, console)
    if report.rows_accepted == 0 and report.failed_files:
        raise typer.Exit(1)


@app.command()
def resolve(
    workspace: WorkspaceOpt = Path("."),
    full: Annotated[bool, typer.Option(help="Re-score every record, not only new ones.")] = False,
    retrain: Annotated[bool, typer.Option(help="Re-estimate the matching model (m/u by EM) first.")] = False,
) -> None:
    """Resolve identities: standardized/identity -> identity/ (links, clusters, ids, golden records)."""
    from c360.identity.resolve import print_report
    from c360.identity.resolve import resolve as run_resolve
    from c360.pipeline import finish_open_erasures

    ws = _workspace(workspace)
    finish_open_erasures(ws, console)  # an open erasure finishes before the graph can rebuild the person
    report = run_resolve(ws, full=full, progress=True, retrain=retrain)
    print_report(report, console)


identity_app = typer.Typer(help="Inspect and correct the identity graph.", no_args_is_help=True)
app.add_typer(identity_app, name="identity")


@identity_app.command("explain")
def identity_explain(
    customer_id: Annotated[str, typer.Argument(help="A customer id (current or merged away).")],
    workspace: WorkspaceOpt = Path("."),
) -> None:
    """The records of a customer and, for each link, the rule or the field-by-field match weights."""
    from c360.identity.explain import explain, print_explanation

    print_explanation(explain(_workspace(workspace), customer_id), console)


@identity_app.command("link")
def identity_link(
    a: Annotated[str, typer.Argument(help="Customer id or record key source:source_record_id.")],
    b: Annotated[str, typer.Argument(help="Customer id or record key source:source_record_id.")],
    workspace: WorkspaceOpt = Path("."),
) -> None:
    """Must-link: A and B are the same person; the next `c360 resolve` merges them."""
    from c360.identity.corrections import add_correction

    c = add_correction(_workspace(workspace), "link", a, b)
    console.print(f"correction {c.correction_id}: link {a} {b}; run `c360 resolve` to apply it")


@identity_app.command("unlink")
def identity_unlink(
    a: Annotated[str, typer.Argument(help="Customer id or record key source:source_record_id.")],
    b: Annotated[str, typer.Argument(help="Customer id or record key source:source_record_id.")],
    workspace: WorkspaceOpt = Path("."),
) -> None:
    """Do-not-link: A and B are different people; the next `c360 resolve` keeps them apart."""
    from c360.identity.corrections import add_correction

    c = add_correction(_workspace(workspace), "unlink", a, b)
    console.print(f"correction {c.correction_id}: unlink {a} {b}; run `c360 resolve` to apply it")


@app.command()
def erase(
    customer_ids: Annotated[
        list[str] | None,
        typer.Argument(help="The customers to forget (current or merged-away ids), erased in one pass."),
    ] = None,
    from_file: Annotated[
        Path | None,
        typer.Option("--from-file", help="Also erase the ids listed in this file, one a line."),
    ] = None,
    reason: Annotated[
        str,
        typer.Option(
            help="Reason code for the audit log: data-subject-request, account-closed, legal-order, "
            "retention, benchmark, test or other."
        ),
    ] = "data-subject-request",
    note: Annotated[
        str | None,
        typer.Option(help="Free text (a ticket number, say); only its salted hash is kept in the audit."),
    ] = None,
    resume: Annotated[
        bool, typer.Option("--resume", help="Finish every erasure an interrupted run left open.")
    ] = False,
    workspace: WorkspaceOpt = Path("."),
) -> None:
    """Right to be forgotten: remove customers from every file and store, suppress their identifiers."""
    from c360.erasure_plan import erase_or_resume

    ids = list(customer_ids or [])
    if from_file is not None:
        try:
            lines = from_file.read_text(encoding="utf-8").splitlines()
        except OSError as exc:
            raise ValidationError(f"{from_file}: cannot read the customer list: {exc.strerror}") from None
        ids += [line.strip() for line in lines if line.strip() and not line.lstrip().startswith("#")]
    if not ids and not resume:
        raise ValidationError(
            "name the customers to erase: c360 erase ID [ID ...] or --from-file PATH (or --resume)"
        )
    reports = erase_or_resume(_workspace(workspace), ids, reason=reason, note=note, resume_all=resume)
    if not reports:
        console.print("no interrupted erasure to finish")
    for r in reports:
        console.print(
            f"erasure {r.erasure_id}{' (resumed)' if r.resumed else ''}: "
            f"{len(r.customer_hashes)} customer(s), "
            f"{r.records} source record(s), {r.rows} row(s) removed, "
            f"{r.files_rewritten} file(s) rewritten ({r.bytes_rewritten:,} bytes) in {r.seconds:.2f}s; "
            f"audit: {r.audit_path}"
        )


@app.command()
def retention(workspace: WorkspaceOpt = Path(".")) -> None:
    """Drop rows older than privacy.retention_days from standardized/ and events/."""
    from c360.privacy.retention import run_retention

    report = run_retention(_workspace(workspace))
    console.print(f"retention: {report.rows} row(s) past their limit removed")


@app.command()
def profiles(
    workspace: WorkspaceOpt = Path("."),
    full: Annotated[
        bool, typer.Option(help="Rebuild every customer, not only those whose inputs changed.")
    ] = False,
) -> None:
    """Build unified profiles: profiles/ in the lake, features/<view>/ for Feast, the profile store."""
    from c360.pipeline import finish_open_erasures
    from c360.profile.build import build_profiles, print_report

    ws = _workspace(workspace)
    finish_open_erasures(ws, console)  # an open erasure finishes before profiles can rebuild the person
    print_report(build_profiles(ws, full=full, progress=True), console)


features_app = typer.Typer(help="The Feast feature store of the workspace.", no_args_is_help=True)
app.add_typer(features_app, name="features")


@features_app.command("plan")
def features_plan(workspace: WorkspaceOpt = Path(".")) -> None:
    """`feast plan` with the workspace's rendered config."""
    from c360.features.store import plan

    console.print(plan(_workspace(workspace)))


@features_app.command("apply")
def features_apply(workspace: WorkspaceOpt = Path(".")) -> None:
    """`feast apply`: register entities, views and services; create the online tables."""
    from c360.features.store import apply

    console.print(apply(_workspace(workspace)))


@features_app.command("materialize")
def features_materialize(workspace: WorkspaceOpt = Path(".")) -> None:
    """Load feature values written since the last run into the configured online store."""
    from c360.features.materialize import materialize

    r = materialize(_workspace(workspace))
    console.print(
        f"materialized {r.rows:,} row(s) of {len(r.views)} view(s) up to {r.end} in {r.seconds:.1f}s"
    )


profile_app = typer.Typer(help="Read unified profiles from the profile store.", no_args_is_help=True)
app.add_typer(profile_app, name="profile")


@profile_app.command("get")
def profile_get(
    customer_id: Annotated[str, typer.Argument(help="A customer id (a merged-away id answers too).")],
    workspace: WorkspaceOpt = Path("."),
) -> None:
    """Print one customer's profile document as JSON."""
    import json

    from c360.profile.store import open_profile_store

    with open_profile_store(_workspace(workspace)) as store:
        console.print_json(json.dumps(store.get(customer_id), default=str))


@profile_app.command("find")
def profile_find(
    kind: Annotated[str, typer.Argument(help="email, phone, device or cookie.")],
    value: Annotated[str, typer.Argument(help="The identifier (phones in E.164).")],
    workspace: WorkspaceOpt = Path("."),
) -> None:
    """The customer id behind an identifier."""
    from c360.profile.store import open_profile_store

    with open_profile_store(_workspace(workspace)) as store:
        console.print(store.lookup(kind, value))


@app.command()
def run(
    workspace: WorkspaceOpt = Path("."),
    stage: Annotated[list[str] | None, typer.Option(help="Only these stages (repeatable).")] = None,
) -> None:
    """Run every pipeline stage in order (ingest, then the stages that build on it)."""
    from c360.pipeline import print_next_steps, run_pipeline

    ws = _workspace(workspace)
    run_pipeline(ws, console, only=stage)
    if not stage:
        print_next_steps(ws, console)


def entrypoint() -> None:
    try:
        app()
    except C360Error as exc:
        err_console.print(f"[red]error:[/red] {exc.message}")
        sys.exit(2)
