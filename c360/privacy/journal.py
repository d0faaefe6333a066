"""The erasure journal: what an erasure still has to do, kept until its audit record is written.

An erasure touches a dozen stores and folders; a process can die between any two of them. The journal,
`_state/privacy/erasures/<erasure_id>.json`, is written before anything is changed and holds the subject (ids,
record keys, identifiers, attributes: everything the steps need, in plain text, because the identity graph
that found them may already have forgotten them) and each step with its state and counts. Every write is
atomic (temp file, then move), so a crash leaves the previous version or the next, never half of one. Once the
audit record is written the journal is deleted: it is the only place outside the stores that holds the
person's values, and it exists only while they are still in the stores anyway.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from c360.io.lake import Lake
from c360.privacy.rewrite import StoreCounts
from c360.privacy.subject import Subject

JOURNAL_DIR = ("_state", "privacy", "erasures")
JOURNAL_VERSION = 1
SUPPRESSION_STEP = "suppression"
PENDING, DONE = "pending", "done"


@dataclass
class Journal:
    erasure_id: str
    started_at: datetime
    subject: Subject
    customer_hashes: list[str]
    """Salted hashes of the customers asked for, in request order (what the audit names them by)."""
    reason: str
    note_hash: str | None
    steps: dict[str, dict[str, Any]] = field(default_factory=dict)
    """step name -> {"state": pending | done, "counts": StoreCounts.to_dict() once done}, in run order."""
    seconds: float = 0.0
    """Time spent by the runs that wrote this journal so far (an interrupted run's share included)."""
    runs: int = 1
    """How many runs worked on this erasure: more than one means it was resumed."""

    @classmethod
    def new(
        cls,
        erasure_id: str,
        started_at: datetime,
        subject: Subject,
        customer_hashes: list[str],
        reason: str,
        note_hash: str | None,
        step_names: list[str],
    ) -> Journal:
        steps = {name: {"state": PENDING} for name in [SUPPRESSION_STEP, *step_names]}
        return cls(erasure_id, started_at, subject, customer_hashes, reason, note_hash, steps)

    def is_done(self, step: str) -> bool:
        return self.steps.get(step, {}).get("state") == DONE

    def mark_done(self, step: str, counts: StoreCounts) -> None:
        self.steps[step] = {"state": DONE, "counts": counts.to_dict()}

    def counts(self, step: str) -> StoreCounts:
        return StoreCounts.from_dict(self.steps.get(step, {}).get("counts") or {})

    def covers(self, customer_id: str) -> bool:
        return customer_id in self.subject.customer_ids

    def to_dict(self) -> dict[str, Any]:
        return {
            "version": JOURNAL_VERSION,
            "erasure_id": self.erasure_id,
            "started_at": self.started_at.isoformat(),
            "subject": self.subject.to_dict(),
            "customer_hashes": self.customer_hashes,
            "reason": self.reason,
            "note_hash": self.note_hash,
            "steps": self.steps,
            "seconds": round(self.seconds, 3),
            "runs": self.runs,
        }

    @classmethod
    def from_dict(cls, doc: dict[str, Any]) -> Journal:
        return cls(
            erasure_id=str(doc["erasure_id"]),
            started_at=datetime.fromisoformat(doc["started_at"]),
            subject=Subject.from_dict(doc["subject"]),
            customer_hashes=[str(h) for h in doc["customer_hashes"]],
            reason=str(doc["reason"]),
            note_hash=doc.get("note_hash"),
            steps=dict(doc.get("steps", {})),
            seconds=float(doc.get("seconds", 0.0)),
            runs=int(doc.get("runs", 1)),
        )


def journal_path(lake: Lake, erasure_id: str) -> str:
    return lake.path(*JOURNAL_DIR, f"{erasure_id}.json")


def save_journal(lake: Lake, journal: Journal) -> None:
    """Write (or rewrite) the journal atomically."""
    data = json.dumps(journal.to_dict(), sort_keys=True).encode("utf-8")
    lake.replace_bytes(journal_path(lake, journal.erasure_id), data)


def delete_journal(lake: Lake, erasure_id: str) -> None:
    lake.rm(journal_path(lake, erasure_id))


def open_journals(lake: Lake) -> list[Journal]:
    """Erasures started and not finished, oldest first (ids start with their start time)."""
    return [
        Journal.from_dict(json.loads(lake.read_text(p))) for p in lake.glob("/".join(JOURNAL_DIR) + "/*.json")
    ]
