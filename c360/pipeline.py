"""`c360 run`: every batch stage, in data-flow order (ARCHITECTURE.md).

A stage is a function `(workspace, console) -> None` that is incremental on its own: running the pipeline
twice processes nothing the second time. Before any stage runs, an erasure left open by a killed process is
finished (`finish_open_erasures`): otherwise resolve and profiles would rebuild the person from the tables
the erasure had not reached yet. The whole run holds the workspace lease, so no erasure starts midway.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from rich.console import Console

from c360.io.terminal import markup_safe
from c360.workspace import Workspace


@dataclass(frozen=True)
class Stage:
    name: str
    purpose: str
    run: Callable[[Workspace, Console], object]


def _ingest(ws: Workspace, console: Console) -> object:
    from c360.sources.ingest import ingest, print_summary

    report = ingest(ws, progress=True)
    print_summary(report, console)
    return report


def _resolve(ws: Workspace, console: Console) -> object:
    from c360.identity.resolve import print_report, resolve

    report = resolve(ws, progress=True)
    print_report(report, console)
    return report


def _facts(ws: Workspace, console: Console) -> object:
    from c360.facts.build import build_facts, print_report

    report = build_facts(ws, progress=True)
    print_report(report, console)
    return report


def _profiles(ws: Workspace, console: Console) -> object:
    from c360.profile.build import build_profiles, print_report

    report = build_profiles(ws, progress=True)
    print_report(report, console)
    return report


def _features(ws: Workspace, console: Console) -> object:
    from c360.features.materialize import materialize
    from c360.features.store import apply_if_changed

    apply_if_changed(ws)  # registers the repo and creates online tables when it is new or has changed
    report = materialize(ws)
    console.print(
        f"materialized {report.rows:,} row(s) of {len(report.views)} view(s) into the "
        f"{ws.settings.stores.feast.online_store} online store in {report.seconds:.1f}s"
    )
    return report


def _score(ws: Workspace, console: Console) -> object:
    from c360.models.score import any_champion, print_report, score_all

    if not any_champion(ws):  # nothing trained yet: the profiles' scores stay null
        console.print("score: no model has a champion yet (`c360 train <model>`); skipped")
        return None
    report = score_all(ws)
    print_report(report, console)
    return report


def _retention(ws: Workspace, console: Console) -> object:
    from c360.privacy.retention import run_retention

    report = run_retention(ws)
    console.print(f"retention: {report.rows} row(s) past their limit removed")
    return report


STAGES: list[Stage] = [
    Stage("ingest", "raw/ -> standardized/ with quarantine", _ingest),
    Stage("resolve", "standardized/identity -> identity/: customer ids, golden records", _resolve),
    Stage("facts", "standardized + identity -> facts/: lines, interactions, exposures, products", _facts),
    Stage("profiles", "golden + facts -> profiles/, features/, the profile store", _profiles),
    Stage("features", "feast apply, then features/ -> the online store (incremental)", _features),
    Stage("score", "champion models -> profiles' mlScores, features/ml_scores, the online store", _score),
    Stage("retention", "drop rows older than privacy.retention_days (data minimization)", _retention),
]


def finish_open_erasures(ws: Workspace, console: Console) -> list[object]:
    """Resume every interrupted erasure, one line each; what `c360 run`, `resolve` and `profiles` do first."""
    from c360.privacy.journal import open_journals

    if not open_journals(ws.lake):  # the common case stays one listing of an (absent) folder
        return []
    from c360.erasure_plan import resume_open_erasures

    reports = resume_open_erasures(ws)
    for r in reports:
        console.print(
            f"finished interrupted erasure {r.erasure_id} before running: {r.rows} row(s) removed; "
            f"audit: {r.audit_path}"
        )
    return list(reports)


def import_feast_before_threads() -> None:
    """Import Feast before Ray and the stages' pools start their threads.

    Feast's import runs typeguard's `@typechecked`, which `ast.parse`s a module's source once per method
    (seconds of parsing). CPython 3.11 keeps the AST constructor's recursion depth in state that all threads
    share, so a parse on another thread at that moment fails one of them with "SystemError: AST constructor
    recursion depth mismatch" (python/cpython#106905). It did, once in a few test runs on two busy cores, in
    `c360 run`'s features stage, which imported Feast after the Ray stages had started their threads."""
    import feast  # noqa: F401


def run_pipeline(ws: Workspace, console: Console, only: list[str] | None = None, wait_s: float = 0.0) -> None:
    """Every stage under one workspace lease (`c360.io.lease`), taken once, so no other command (an erasure,
    say) runs between two stages; re-entrant, so `c360 run`, which already holds it, does not wait on itself.
    """
    from c360.io.lease import workspace_lease

    if not only or {"features", "score"} & set(only):
        import_feast_before_threads()
    with workspace_lease(ws, "c360 run", wait_s):
        finish_open_erasures(ws, console)
        for stage in STAGES:
            if only and stage.name not in only:
                continue
            console.rule(f"[bold]{stage.name}[/bold]: {stage.purpose}")
            stage.run(ws, console)


def print_next_steps(ws: Workspace, console: Console) -> None:
    """Where the results are and commands to look at them, with a real customer id from this run."""
    from c360.identity.store import IdentityStore

    clusters = IdentityStore(ws.lake).read_arrow("clusters", columns=["customer_id", "n_records"])
    console.rule("[bold]done[/bold]")
    console.print(f"workspace  {markup_safe(ws.root)}\nlake       {markup_safe(ws.lake.display_uri)}")
    if clusters is None or clusters.num_rows == 0:
        return
    df = clusters.to_pandas().sort_values(["n_records", "customer_id"], ascending=[False, True])
    # a well-linked customer, not the most extreme one
    example = str(df.iloc[min(len(df) - 1, len(df) // 10)]["customer_id"])
    w = "" if ws.root == Path.cwd() else f" -w {markup_safe(ws.root)}"
    console.print(
        "try:\n"
        f"  c360 profile get {example}{w}        # the unified profile document\n"
        f"  c360 identity explain {example}{w}   # the records behind it and why they were linked\n"
        f"  c360 erase {example}{w}              # the right to be forgotten"
    )
