"""What a resolve run reports: counts and timings for people, never a value of an identifier."""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd
from rich.console import Console
from rich.table import Table

from c360.identity.store import IdentityStore


@dataclass
class ResolveReport:
    run_id: str
    mode: str
    """full, incremental, or nothing (no new records and no new corrections)."""
    trained: bool
    records: int
    new_records: int
    changed_records: int
    candidate_pairs: int
    deterministic_links: int
    probabilistic_links: int
    customers: int
    changes: dict[str, int] = field(default_factory=dict)
    refused_identifiers: pd.DataFrame = field(default_factory=pd.DataFrame)
    refused_links: dict[str, int] = field(default_factory=dict)
    oversized_clusters: int = 0
    seconds: dict[str, float] = field(default_factory=dict)
    reclustered: int = 0
    """Records clustered again: all of them in a full run, the touched components in an incremental one."""
    estimated: list[str] = field(default_factory=list)
    """The settings left to the data (`auto`), each with its value and why (`c360.identity.estimate`)."""


def nothing(store: IdentityStore, run_id: str, state: dict) -> ResolveReport:
    clusters = store.read_arrow("clusters", columns=["customer_id"])
    return ResolveReport(
        run_id=run_id,
        mode="nothing",
        trained=False,
        records=int(state.get("records", 0)),
        new_records=0,
        changed_records=0,
        candidate_pairs=0,
        deterministic_links=0,
        probabilistic_links=0,
        customers=clusters.num_rows if clusters is not None else 0,
    )


def print_report(report: ResolveReport, console: Console) -> None:
    """A summary for people: counts and timings, never a value of an identifier."""
    t = Table(title=f"identity resolution ({report.mode}{', model trained' if report.trained else ''})")
    t.add_column("what")
    t.add_column("count", justify="right")
    rows = [
        ("records", report.records),
        ("new records", report.new_records),
        ("changed records", report.changed_records),
        ("candidate pairs scored", report.candidate_pairs),
        ("deterministic links", report.deterministic_links),
        ("probabilistic links", report.probabilistic_links),
        ("customers", report.customers),
        *((f"changes: {k}", v) for k, v in sorted(report.changes.items())),
        *((f"links refused: {k}", v) for k, v in sorted(report.refused_links.items())),
        ("clusters split for size", report.oversized_clusters),
    ]
    for what, count in rows:
        t.add_row(what, f"{count:,}")
    console.print(t)
    if report.records == 0:
        console.print(
            "[yellow]warning[/yellow]: nothing to resolve: the workspace has no standardized identity "
            "records (run `c360 ingest` first, or check that a source maps a file set to `record: identity`)"
        )
    if len(report.refused_identifiers):
        r = report.refused_identifiers.groupby(["field", "reason"]).size().reset_index(name="values")
        console.print(
            "identifiers not used to link: "
            + ", ".join(f"{row.field} {row.reason} x{row.values}" for row in r.itertuples())
            + " (details in identity/state/refused_identifiers.parquet)"
        )
    for line in report.estimated:
        console.print(f"estimated: {line}")
    if report.seconds:
        console.print("seconds: " + ", ".join(f"{k} {v}" for k, v in report.seconds.items()))
