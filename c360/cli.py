"""The `c360` command line. Each command imports its stage lazily so `c360 --help` stays instant.

Every error ends in `entrypoint`, the one place that turns it into a line for people and an exit code for
scripts (EXIT_CODES); values from data are printed through `c360.io.terminal`, so markup, emoji codes and
control characters in them are shown as typed, never obeyed.
"""

from __future__ import annotations

import logging
import sys
import traceback
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.logging import RichHandler
from rich.text import Text

from c360.api.cli import add_commands as add_api_commands
from c360.errors import C360Error, ValidationError
from c360.features.cli import features_app
from c360.genai.cli import genai_app
from c360.io.lease import workspace_lease  # light: the lake is imported only once a lease is taken
from c360.io.terminal import SafeConsole, json_text, markup_safe, plain, safe_text
from c360.models.cli import models_app
from c360.models.commands import add_commands
from c360.nba.cli import nba_app

if TYPE_CHECKING:
    from c360.workspace import Workspace

EXIT_CODES = {
    0: "success",
    1: "internal error (run again with -v for the traceback)",
    2: "usage, validation or configuration error: fix the command line or c360.yaml",
    3: "not found: the customer, file or table asked for does not exist",
    4: "a store or the lake is unavailable: check the endpoint the message names",
    5: "ingest or data error: a whole file could not be read, or nothing could be ingested",
    6: "busy: another command holds the workspace lease (the message names it); wait, or pass --wait",
    130: "interrupted (Ctrl-C)",
}
INTERNAL, INTERRUPTED = 1, 130

app = typer.Typer(
    name="c360",
    help="c360: a Customer 360 personalization engine on Ray.",
    epilog="Exit codes: " + "; ".join(f"{code} {meaning}" for code, meaning in EXIT_CODES.items()) + ".",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
# Piped output (CI logs, `| tee`) gets a width that fits the summary tables instead of 80 columns.
console = SafeConsole(width=None if sys.stdout.isatty() else 160)
err_console = SafeConsole(stderr=True)
_verbose = False
_loaded: list[Workspace] = []  # the workspace a command opened, so an outage found late can name its endpoint

WorkspaceOpt = Annotated[Path, typer.Option("--workspace", "-w", help="Workspace folder holding c360.yaml.")]
WaitOpt = Annotated[float, typer.Option(help="Seconds to wait while another command holds the workspace.")]


@app.callback()
def main(verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Debug logging.")] = False) -> None:
    """c360: a Customer 360 personalization engine on Ray."""
    global _verbose
    _verbose = verbose
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(message)s",
        handlers=[RichHandler(console=err_console, show_path=False, rich_tracebacks=False)],
    )
    for noisy in ("azure", "urllib3", "filelock", "fsspec", "ray", "feast", "mlflow", "alembic"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def _workspace(path: Path) -> Workspace:
    from c360.workspace import Workspace

    ws = Workspace.load(path)
    _loaded[:] = [ws]
    return ws


@app.command()
def init(
    directory: Annotated[Path, typer.Argument(help="Folder to create the workspace in.")] = Path("."),
    force: Annotated[bool, typer.Option(help="Overwrite an existing c360.yaml.")] = False,
) -> None:
    """Create a workspace: c360.yaml with the embedded defaults."""
    from c360.workspace import init_workspace

    target = init_workspace(directory, force=force)
    console.print(
        f"created [bold]{markup_safe(target)}[/bold]; next: `c360 demo-data` or declare your sources in it"
    )


@app.command("demo-data")
def demo_data(
    customers: Annotated[int, typer.Option(help="How many people to simulate.")] = 5000,
    seed: Annotated[int, typer.Option(help="Random seed; the same seed gives the same files.")] = 42,
    workspace: WorkspaceOpt = Path("."),
) -> None:
    """Generate realistic raw files for all eight source kinds, plus a ground-truth folder."""
    from c360.demo import generate_demo_data

    ws = _workspace(workspace)
    summary = generate_demo_data(ws, customers=customers, seed=seed, console=console)
    console.print(summary)


@app.command()
def ingest(
    workspace: WorkspaceOpt = Path("."),
    source: Annotated[list[str] | None, typer.Option(help="Only these sources (repeatable).")] = None,
    strict: Annotated[
        bool, typer.Option(help="A file set whose path matches no file is an error, not a warning.")
    ] = False,
    allow_partial: Annotated[
        bool, typer.Option(help="Exit 0 when some files failed but others were ingested.")
    ] = False,
    wait: WaitOpt = 0.0,
) -> None:
    """Load new raw files into standardized/, quarantining bad rows with the reason.

    Exits 5 when any file could not be ingested (the others are kept; `--allow-partial` accepts that) and,
    with `--strict`, when a file set's path matches no file."""
    from c360.sources.ingest import ingest as run_ingest
    from c360.sources.ingest import print_summary

    with workspace_lease(_workspace(workspace), "c360 ingest", wait) as ws:
        report = run_ingest(ws, sources=source, progress=True)
    print_summary(report, console)
    if report.failed_files and (report.rows_accepted == 0 or not allow_partial):
        err_console.print(
            f"error: {len(report.failed_files)} file(s) not ingested (listed above); the rest were kept"
            + ("" if report.rows_accepted == 0 else "; --allow-partial accepts a partial load")
        )
        raise typer.Exit(5)  # EXIT_CODES: a whole file could not be read
    if strict and report.unmatched:
        err_console.print(f"error: {len(report.unmatched)} file set(s) match no file (--strict)")
        raise typer.Exit(5)


@app.command()
def resolve(
    workspace: WorkspaceOpt = Path("."),
    full: Annotated[bool, typer.Option(help="Re-score every record, not only new ones.")] = False,
    retrain: Annotated[bool, typer.Option(help="Re-estimate the matching model (m/u by EM) first.")] = False,
    wait: WaitOpt = 0.0,
) -> None:
    """Resolve identities: standardized/identity -> identity/ (links, clusters, ids, golden records)."""
    from c360.identity.resolve import print_report
    from c360.identity.resolve import resolve as run_resolve
    from c360.pipeline import finish_open_erasures

    with workspace_lease(_workspace(workspace), "c360 resolve", wait) as ws:
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
    console.print(
        f"correction {c.correction_id}: link {markup_safe(a)} {markup_safe(b)}; "
        "run `c360 resolve` to apply it"
    )


@identity_app.command("unlink")
def identity_unlink(
    a: Annotated[str, typer.Argument(help="Customer id or record key source:source_record_id.")],
    b: Annotated[str, typer.Argument(help="Customer id or record key source:source_record_id.")],
    workspace: WorkspaceOpt = Path("."),
) -> None:
    """Do-not-link: A and B are different people; the next `c360 resolve` keeps them apart."""
    from c360.identity.corrections import add_correction

    c = add_correction(_workspace(workspace), "unlink", a, b)
    console.print(
        f"correction {c.correction_id}: unlink {markup_safe(a)} {markup_safe(b)}; "
        "run `c360 resolve` to apply it"
    )


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
            "retention, benchmark, test, fault-injection or other."
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
    wait: WaitOpt = 0.0,
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
    # exclusive: a run holding the workspace finishes first, and none starts until the erasure is done
    with workspace_lease(_workspace(workspace), "c360 erase", wait) as ws:
        reports = erase_or_resume(ws, ids, reason=reason, note=note, resume_all=resume)
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
def retention(workspace: WorkspaceOpt = Path("."), wait: WaitOpt = 0.0) -> None:
    """Drop rows older than privacy.retention_days from standardized/ and events/."""
    from c360.privacy.retention import run_retention

    with workspace_lease(_workspace(workspace), "c360 retention", wait) as ws:
        report = run_retention(ws)
    console.print(f"retention: {report.rows} row(s) past their limit removed")


@app.command()
def profiles(
    workspace: WorkspaceOpt = Path("."),
    full: Annotated[
        bool, typer.Option(help="Rebuild every customer, not only those whose inputs changed.")
    ] = False,
    wait: WaitOpt = 0.0,
) -> None:
    """Build unified profiles: profiles/ in the lake, features/<view>/ for Feast, the profile store."""
    from c360.pipeline import finish_open_erasures
    from c360.profile.build import build_profiles, print_report

    with workspace_lease(_workspace(workspace), "c360 profiles", wait) as ws:
        finish_open_erasures(ws, console)  # an open erasure finishes before profiles can rebuild the person
        print_report(build_profiles(ws, full=full, progress=True), console)


@app.command()
def facts(
    workspace: WorkspaceOpt = Path("."),
    full: Annotated[
        bool, typer.Option(help="Recompute every partition, not only those whose inputs changed.")
    ] = False,
    wait: WaitOpt = 0.0,
) -> None:
    """Build the customer-keyed fact tables under facts/ (lines, interactions, exposures, products)."""
    from c360.facts.build import build_facts, print_report
    from c360.pipeline import finish_open_erasures

    with workspace_lease(_workspace(workspace), "c360 facts", wait) as ws:
        finish_open_erasures(ws, console)  # an open erasure finishes before facts can rebuild the person
        print_report(build_facts(ws, full=full, progress=True), console)


profile_app = typer.Typer(help="Read unified profiles from the profile store.", no_args_is_help=True)
app.add_typer(profile_app, name="profile")


@profile_app.command("get")
def profile_get(
    customer_id: Annotated[str, typer.Argument(help="A customer id (a merged-away id answers too).")],
    workspace: WorkspaceOpt = Path("."),
) -> None:
    """Print one customer's profile document as JSON."""
    from c360.profile.store import open_profile_store

    with open_profile_store(_workspace(workspace)) as store:
        # Escaped JSON: a NUL or a bidi override in a value prints as \u0000 / \u202e, never raw.
        console.print(json_text(store.get(customer_id)), soft_wrap=True)


@profile_app.command("find")
def profile_find(
    kind: Annotated[str, typer.Argument(help="email, phone, device or cookie.")],
    value: Annotated[str, typer.Argument(help="The identifier (phones in E.164).")],
    workspace: WorkspaceOpt = Path("."),
) -> None:
    """The customer id behind an identifier."""
    from c360.profile.store import open_profile_store

    with open_profile_store(_workspace(workspace)) as store:
        console.print(plain(store.lookup(kind, value)))


@app.command()
def run(
    workspace: WorkspaceOpt = Path("."),
    stage: Annotated[list[str] | None, typer.Option(help="Only these stages (repeatable).")] = None,
    wait: WaitOpt = 0.0,
) -> None:
    """Run every pipeline stage in order (ingest, then the stages that build on it)."""
    from c360.pipeline import print_next_steps, run_pipeline

    with workspace_lease(_workspace(workspace), "c360 run", wait) as ws:  # once for all stages
        run_pipeline(ws, console, only=stage)
    if not stage:
        print_next_steps(ws, console)


add_commands(app)  # c360 train | tune | score (c360/models/commands.py)
app.add_typer(features_app, name="features")  # c360 features plan | apply | materialize | backfill | ...
app.add_typer(models_app, name="models")  # c360 models list | show | promote | rollback (c360/models/cli.py)
app.add_typer(nba_app, name="nba")  # c360 nba simulate | evaluate (c360/nba/cli.py)
app.add_typer(genai_app, name="genai")  # c360 genai write | evaluate (c360/genai/cli.py)
add_api_commands(app)  # c360 keys create | list | revoke, c360 serve (c360/api/cli.py)


def _report(message: str, code: int) -> int:
    """One line (or the lines of a multi-line config error) on stderr, printed literally; returns `code`."""
    line = Text.assemble(("error: ", "red"), safe_text(message, allow_newlines=True))
    err_console.print(line, soft_wrap=True)
    return code


def _traceback(exc: BaseException) -> None:
    if _verbose:
        text = safe_text("".join(traceback.format_exception(exc)), allow_newlines=True)
        err_console.print(Text(text), soft_wrap=True)


def _interrupted(exc: BaseException) -> bool:
    """True when a SystemExit came from Ctrl-C (typer turns KeyboardInterrupt into Exit(130))."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, KeyboardInterrupt):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def run_cli(args: list[str] | None = None) -> int:
    """Run the CLI and return its exit code (EXIT_CODES); the only place errors become messages.

    Typer keeps handling its own usage errors (exit 2, with the usage line) and `typer.Exit`. Errors c360
    raises on purpose print their message; an outage a client library raised past a store's boundary still
    prints as one; anything else is a bug, printed by type only: its text may hold a customer's value.
    """
    from c360.io.outages import describe_outage, is_outage

    try:
        app(args=args, prog_name="c360")
    except SystemExit as exc:
        if exc.code == INTERRUPTED and _interrupted(exc):
            return _report("interrupted", INTERRUPTED)
        if exc.code is None or isinstance(exc.code, int):
            return exc.code or 0
        return _report(str(exc.code), INTERNAL)
    except KeyboardInterrupt:
        return _report("interrupted", INTERRUPTED)
    except C360Error as exc:
        _traceback(exc)
        return _report(exc.message, exc.exit_code)
    except Exception as exc:  # noqa: BLE001 - the last line of defence: no traceback for people
        _traceback(exc)
        if is_outage(exc):
            outage = describe_outage(exc, _loaded[0] if _loaded else None)
            return _report(outage.message, outage.exit_code)
        return _report(f"internal error: {type(exc).__name__}; run again with -v for the traceback", INTERNAL)
    return 0


def entrypoint() -> None:
    """The `c360` console script."""
    sys.exit(run_cli())
