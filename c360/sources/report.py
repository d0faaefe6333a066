"""The outcome of an ingest run: counts per (source, file set), failed files, and the summary table."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from c360.io.lake import Lake
from c360.sources.tasks import FileResult, FileSetPlan
from c360.sources.watermark import Watermark

log = logging.getLogger(__name__)

SAVE_EVERY_SECONDS = 5.0


@dataclass
class FileSetReport:
    source: str
    file_set: str
    record: str
    files_listed: int = 0
    files_skipped: int = 0
    files_ingested: int = 0
    files_failed: int = 0
    rows_read: int = 0
    rows_accepted: int = 0
    rows_quarantined: int = 0
    fields_nulled: int = 0
    rows_suppressed: int = 0
    """Rows of erased people dropped by the suppression list."""
    rows_collapsed: int = 0
    """Identical copies of a row (same record id and contents in one file) kept once."""
    fields_cleaned: int = 0
    """Values that lost control, bidi-override or invisible characters (counted, never shown)."""
    duplicates_quarantined: int = 0
    """Rows quarantined as `duplicate_id` (part of `rows_quarantined`)."""
    rows_outside: int = 0
    """Rows whose timestamp falls outside the file set's `period` (another export's), not loaded."""
    pattern: str = ""
    """The file set's `path` glob, for the warning when it matches nothing."""


@dataclass
class IngestReport:
    file_sets: list[FileSetReport] = field(default_factory=list)
    failed_files: list[tuple[str, str]] = field(default_factory=list)
    """(path relative to the lake root, message)."""
    seconds: float = 0.0
    engine: str = "ray"
    duplicate_ids: str = "last"
    """The `ingest.duplicate_ids` policy the run applied, named under the summary."""

    @property
    def unmatched(self) -> list[FileSetReport]:
        """File sets whose path matched no file at all (not even one already ingested): a typo, usually."""
        return [f for f in self.file_sets if f.files_listed == 0]

    @property
    def rows_read(self) -> int:
        return sum(f.rows_read for f in self.file_sets)

    @property
    def rows_accepted(self) -> int:
        return sum(f.rows_accepted for f in self.file_sets)

    @property
    def rows_quarantined(self) -> int:
        return sum(f.rows_quarantined for f in self.file_sets)

    @property
    def fields_nulled(self) -> int:
        return sum(f.fields_nulled for f in self.file_sets)

    @property
    def suppressed(self) -> int:
        """Rows of erased people dropped by the suppression list (never loaded, never quarantined)."""
        return sum(f.rows_suppressed for f in self.file_sets)

    @property
    def collapsed(self) -> int:
        """Identical copies of a row kept once."""
        return sum(f.rows_collapsed for f in self.file_sets)

    @property
    def fields_cleaned(self) -> int:
        return sum(f.fields_cleaned for f in self.file_sets)

    @property
    def outside(self) -> int:
        """Rows outside their file set's period, left to the file set that covers them."""
        return sum(f.rows_outside for f in self.file_sets)

    @property
    def files_ingested(self) -> int:
        return sum(f.files_ingested for f in self.file_sets)

    def file_set(self, source: str, file_set: str) -> FileSetReport:
        for f in self.file_sets:
            if (f.source, f.file_set) == (source, file_set):
                return f
        raise KeyError(f"{source}/{file_set} was not part of this run")


class Committer:
    """Folds file results into the report and the watermarks, saving state as results arrive.

    A file enters the watermark only once its result says its outputs are written, so a crash between two
    saves means re-processing a few files (which overwrite their own outputs), never losing one.
    """

    def __init__(self, lake: Lake, plans: list[FileSetPlan], engine: str) -> None:
        self.lake = lake
        self.started = time.perf_counter()
        self.last_save = self.started
        policy = next((t.duplicate_ids for p in plans for t in p.tasks), "last")
        self.report = IngestReport(engine=engine, duplicate_ids=policy)
        self.watermarks: dict[tuple[str, str], Watermark] = {}
        self.reports: dict[tuple[str, str], FileSetReport] = {}
        for plan in plans:
            key = (plan.source, plan.file_set)
            rep = FileSetReport(plan.source, plan.file_set, plan.settings.record, pattern=plan.settings.path)
            rep.files_listed, rep.files_skipped, rep.files_failed = (
                plan.files_listed,
                plan.files_skipped,
                len(plan.failed),
            )
            self.report.file_sets.append(rep)
            self.reports[key] = rep
            if plan.watermark is not None:
                self.watermarks[key] = plan.watermark
            for rel, message in plan.failed:
                log.error("%s", message)
                self.report.failed_files.append((rel, message))

    def add(self, result: FileResult) -> None:
        key = (result.source, result.file_set)
        rep = self.reports[key]
        rep.rows_read += result.rows_read
        if result.error:
            log.error("%s", result.error)
            rep.files_failed += 1
            self.report.failed_files.append((result.rel, result.error))
            return
        rep.files_ingested += 1
        rep.rows_accepted += result.rows_accepted
        rep.rows_quarantined += result.rows_quarantined
        rep.fields_nulled += result.fields_nulled
        rep.rows_suppressed += result.rows_suppressed
        rep.rows_collapsed += result.rows_collapsed
        rep.fields_cleaned += result.fields_cleaned
        rep.duplicates_quarantined += result.duplicates_quarantined
        rep.rows_outside += result.rows_outside
        self.watermarks[key].record(
            result.rel, result.fingerprint, result.outputs, result.rows_read, result.rows_accepted
        )
        log.debug(
            "%s: %d rows, %d quarantined, %.2fs",
            result.rel,
            result.rows_read,
            result.rows_quarantined,
            result.seconds,
        )
        if time.perf_counter() - self.last_save > SAVE_EVERY_SECONDS:
            self.save()

    def save(self) -> None:
        for wm in self.watermarks.values():
            wm.save(self.lake)
        self.last_save = time.perf_counter()

    def finish(self) -> IngestReport:
        self.save()
        self.report.seconds = time.perf_counter() - self.started
        return self.report


def _count(n: int, style: str | None = None) -> str:
    return f"[{style}]{n:,}[/{style}]" if n and style else f"{n:,}"


def print_summary(report: IngestReport, console: Console) -> None:
    """A table per file set, the failed files with their messages, and the totals.

    Every row read is in one of accepted, quarantined, suppressed (rows of erased people, dropped),
    duplicates (identical copies kept once) or outside period (a column shown only when a file set has a
    `period`), so the row columns add up.
    """
    periods = any(f.rows_outside for f in report.file_sets)
    table = Table(title=f"ingest ({report.engine}): {report.seconds:.1f}s", title_justify="left")
    for col in ("source", "file set", "record"):
        table.add_column(col, no_wrap=True)
    for col in ("new files", "skipped", "failed", "rows read", "accepted", "quarantined", "suppressed",
                "duplicates", *(("outside period",) if periods else ()), "fields nulled",
                "fields cleaned"):  # fmt: skip
        table.add_column(col, justify="right")
    for f in report.file_sets:
        new = f.files_listed - f.files_skipped
        table.add_row(
            f.source,
            escape(f.file_set),  # a YAML key, so it may hold [markup]
            f.record,
            f"{f.files_ingested}/{new}",
            str(f.files_skipped),
            _count(f.files_failed, "red"),
            _count(f.rows_read),
            _count(f.rows_accepted),
            _count(f.rows_quarantined, "yellow"),
            _count(f.rows_suppressed),
            _count(f.rows_collapsed),
            *((_count(f.rows_outside),) if periods else ()),
            _count(f.fields_nulled),
            _count(f.fields_cleaned),
        )
    table.add_section()
    table.add_row(
        "total", "", "",
        str(report.files_ingested), "", str(len(report.failed_files)),
        _count(report.rows_read), _count(report.rows_accepted), _count(report.rows_quarantined),
        _count(report.suppressed), _count(report.collapsed),
        *((_count(report.outside),) if periods else ()), _count(report.fields_nulled),
        _count(report.fields_cleaned),
    )  # fmt: skip
    console.print(table)
    for f in report.unmatched:
        console.print(
            f"[yellow]warning[/yellow]: {escape(f.source)}.{escape(f.file_set)}: path "
            f"{escape(f.pattern)} matches no file in the lake"
        )
    if report.failed_files:
        failed = Table(title="files not ingested", title_justify="left", show_lines=False)
        failed.add_column("file")
        failed.add_column("problem", overflow="fold")
        for rel, message in report.failed_files:
            failed.add_row(escape(rel), escape(message.removeprefix(f"{rel}: ")))
        console.print(failed)
    if report.rows_quarantined or report.fields_nulled:
        console.print(
            "quarantined rows and nulled fields are in [bold]quarantine/[/bold] with the reason and row."
        )
    if report.suppressed:
        console.print("suppressed: rows of erased people (on the suppression list), dropped and not kept.")
    if report.collapsed or any(f.duplicates_quarantined for f in report.file_sets):
        console.print(
            "duplicates: identical copies of a record in one file, kept once. Versions that differ follow "
            f"ingest.duplicate_ids={report.duplicate_ids}: "
            f"{sum(f.duplicates_quarantined for f in report.file_sets):,} quarantined as duplicate_id."
        )
    if periods:
        console.print(
            "outside period: rows whose time falls outside their file set's period, left to the export that "
            "covers it (neither loaded nor quarantined)."
        )
    if report.fields_cleaned:
        console.print(
            "fields cleaned: values whose control, bidi-override or invisible characters were removed."
        )
    if report.seconds and report.rows_read:
        console.print(f"{report.rows_read / report.seconds:,.0f} source rows/s")
