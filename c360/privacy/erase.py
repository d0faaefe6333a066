"""`c360 erase CUSTOMER_ID ...`: the right to be forgotten, as a journaled job that always finishes.

Several customers are erased in one pass: each file and store is rewritten once for all of them, so a
queue of requests costs about what one costs (a lake file or SQLite store is rewritten whole either way).

The job: every id is looked up first (an unknown one stops the request before anything changes); the
journal is written (`privacy.journal`: the subject and every step, pending); the person's hashed identifiers
go on the suppression list, so an ingest running meanwhile cannot bring them back; then each step of the
plan runs and is marked done in the journal. Once all are done the audit record is written (counts, a reason
code and salted hashes, never a value) and the journal deleted. A process killed anywhere in between leaves
an open journal, and the next `c360 erase` naming one of its ids, `c360 erase --resume`, `c360 run`,
`resolve` or `profiles` finishes the job from the journal, without the identity graph that found the person.

Which steps there are is not known here: each stage implements `ErasureStep` for what it owns, and
`c360.erasure_plan` orders them. Each boundary calls `c360.faults.checkpoint("erase", ...)`, so a test can
kill the job at every one of them.
"""

from __future__ import annotations

import logging
import secrets
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from c360.errors import ValidationError
from c360.faults import checkpoint
from c360.privacy.audit import write_audit
from c360.privacy.journal import SUPPRESSION_STEP, Journal, delete_journal, open_journals, save_journal
from c360.privacy.rewrite import StoreCounts
from c360.privacy.subject import ErasurePlan, Subject
from c360.privacy.suppression import CUSTOMER, add_to_suppression, salted_hash, workspace_salt
from c360.workspace import Workspace

log = logging.getLogger(__name__)

REASON_CODES = (
    "data-subject-request",
    "account-closed",
    "legal-order",
    "retention",
    "benchmark",
    "test",
    "fault-injection",
    "other",
)
"""Why an erasure was made. A code, not free text: free text ends up holding names and ticket contents."""
DEFAULT_REASON = "data-subject-request"
NOTE_KIND = "note"
STAGE = "erase"


@dataclass
class ErasureReport:
    erasure_id: str
    customer_hashes: list[str]
    """Salted hashes of the customers asked for, in request order (the audit names no id)."""
    records: int
    """Source records the person had across all sources."""
    suppressed: int
    """Hashed identifiers added to the suppression list."""
    stores: dict[str, StoreCounts] = field(default_factory=dict)
    seconds: float = 0.0
    audit_path: str = ""
    resumed: bool = False
    """Finished from the journal of an earlier, interrupted run (its journal counts more than one run)."""

    @property
    def customer_hash(self) -> str:
        return self.customer_hashes[0]

    @property
    def rows(self) -> int:
        return sum(c.rows for c in self.stores.values())

    @property
    def files_rewritten(self) -> int:
        return sum(c.files_rewritten + c.files_deleted for c in self.stores.values())

    @property
    def files_scanned(self) -> int:
        return sum(c.files_scanned for c in self.stores.values())

    @property
    def bytes_rewritten(self) -> int:
        return sum(c.bytes_rewritten for c in self.stores.values())

    @property
    def bytes_removed(self) -> int:
        return sum(c.bytes_removed for c in self.stores.values())


def new_erasure_id(at: datetime) -> str:
    return f"era_{at.strftime('%Y%m%dT%H%M%S')}_{secrets.token_hex(4)}"


def check_reason(reason: str) -> str:
    """The reason code, or a ValidationError listing the codes (the text given is not echoed: it may be
    the very PII the code replaces)."""
    if reason not in REASON_CODES:
        raise ValidationError(f"unknown erasure reason; use one of: {', '.join(REASON_CODES)}")
    return reason


def _run_journal(ws: Workspace, plan: ErasurePlan, journal: Journal) -> ErasureReport:
    """Run every step the journal does not mark done, then audit and close it."""
    lake = ws.lake
    started = time.perf_counter()
    spent = journal.seconds

    def save() -> None:
        journal.seconds = spent + time.perf_counter() - started
        save_journal(lake, journal)

    subject = journal.subject
    if not journal.is_done(SUPPRESSION_STEP):
        n = add_to_suppression(lake, journal.erasure_id, subject.suppression_entries())
        journal.mark_done(SUPPRESSION_STEP, StoreCounts(keys=n))
        save()
        checkpoint(STAGE, SUPPRESSION_STEP)
    for step in plan.steps:
        if journal.is_done(step.name):
            continue
        t0 = time.perf_counter()
        counts = step.run(ws, subject)
        counts.seconds = time.perf_counter() - t0
        journal.mark_done(step.name, counts)
        save()
        checkpoint(STAGE, step.name)
    journal.seconds = spent + time.perf_counter() - started
    report = ErasureReport(
        erasure_id=journal.erasure_id,
        customer_hashes=journal.customer_hashes,
        records=subject.record_count,
        suppressed=journal.counts(SUPPRESSION_STEP).keys,
        stores={s.name: journal.counts(s.name) for s in plan.steps},
        seconds=journal.seconds,
        resumed=journal.runs > 1,
    )
    report.audit_path = _audit(ws, journal, report)
    checkpoint(STAGE, "audit")
    delete_journal(lake, journal.erasure_id)
    log.info(
        "erasure %s%s: %d rows removed, %d files rewritten (%d bytes) in %.2fs",
        journal.erasure_id,
        " (resumed)" if report.resumed else "",
        report.rows,
        report.files_rewritten,
        report.bytes_rewritten,
        report.seconds,
    )
    return report


def _audit(ws: Workspace, journal: Journal, report: ErasureReport) -> str:
    body: dict[str, object] = {
        "customer_hash": report.customer_hash,
        "customer_hashes": report.customer_hashes,
        "customers": len(report.customer_hashes),
        "reason": journal.reason,
        "records": report.records,
        "suppressed_identifiers": report.suppressed,
        "rows_removed": report.rows,
        "files_rewritten": report.files_rewritten,
        "bytes_rewritten": report.bytes_rewritten,
        "bytes_removed": report.bytes_removed,
        "seconds": round(report.seconds, 3),
        "runs": journal.runs,
        "stores": {name: c.to_dict() for name, c in report.stores.items()},
    }
    if journal.note_hash is not None:
        body["note_hash"] = journal.note_hash
    return write_audit(ws.lake, journal.erasure_id, journal.started_at, "erasure", body)


def resume_erasure(ws: Workspace, plan: ErasurePlan, journal: Journal) -> ErasureReport:
    """Finish an interrupted erasure from its journal."""
    journal.runs += 1
    log.info("erasure %s: resuming from its journal", journal.erasure_id)
    return _run_journal(ws, plan, journal)


def resume_open_erasures(ws: Workspace, plan: ErasurePlan) -> list[ErasureReport]:
    """Finish every erasure left open, oldest first (what a run does before it may rebuild anyone)."""
    return [resume_erasure(ws, plan, j) for j in open_journals(ws.lake)]


def erase_or_resume(
    ws: Workspace,
    plan: ErasurePlan,
    customer_ids: Sequence[str],
    reason: str = DEFAULT_REASON,
    note: str | None = None,
    resume_all: bool = False,
) -> list[ErasureReport]:
    """Finish the open erasures covering any of `customer_ids` (all open ones with `resume_all`), then
    erase the ids they did not cover in one new pass. Every new id is looked up before anything changes:
    an unknown one raises NotFoundError. Returns the resumed reports, then the new one."""
    check_reason(reason)
    started = time.perf_counter()
    ids = list(dict.fromkeys(customer_ids))
    journals = open_journals(ws.lake)
    chosen = journals if resume_all else [j for j in journals if any(j.covers(c) for c in ids)]
    rest = [c for c in ids if not any(j.covers(c) for j in chosen)]
    people = [plan.find_subject(ws, cid) for cid in rest]  # NotFoundError before any change
    lookup = time.perf_counter() - started
    reports = [resume_erasure(ws, plan, j) for j in chosen]
    if people:
        reports.append(_start(ws, plan, people, reason, note, lookup))
    return reports


def _start(
    ws: Workspace, plan: ErasurePlan, people: list[Subject], reason: str, note: str | None, lookup: float
) -> ErasureReport:
    """A new erasure: the journal first, then the job. `lookup` (seconds spent finding the people) counts
    toward the erasure's time, as it always has."""
    started = time.perf_counter()
    at = datetime.now(UTC)
    subject = Subject(customer_id=people[0].customer_id)
    for person in people:
        subject.absorb(person)
    salt = workspace_salt(ws.lake, create=True)
    if salt is None:
        raise RuntimeError("the workspace salt could not be created")
    journal = Journal.new(
        erasure_id=new_erasure_id(at),
        started_at=at,
        subject=subject,
        customer_hashes=[salted_hash(salt, CUSTOMER, p.customer_id) for p in people],
        reason=reason,
        note_hash=None if note is None else salted_hash(salt, NOTE_KIND, note),
        step_names=[s.name for s in plan.steps],
    )
    journal.seconds = lookup + time.perf_counter() - started
    save_journal(ws.lake, journal)
    checkpoint(STAGE, "journal")
    return _run_journal(ws, plan, journal)


def erase_customers(
    ws: Workspace,
    plan: ErasurePlan,
    customer_ids: Sequence[str],
    reason: str = DEFAULT_REASON,
    note: str | None = None,
) -> ErasureReport:
    """Remove several people from every store in one pass (or finish the open erasure that covers them)."""
    if not customer_ids:
        raise ValidationError("name at least one customer to erase")
    return erase_or_resume(ws, plan, customer_ids, reason, note)[-1]
