"""`c360 erase CUSTOMER_ID ...`: the right to be forgotten, across every place c360 keeps data.

Several customers are erased in one pass: each file and store is rewritten once for all of them, so a
queue of requests costs about what one costs (a lake file or SQLite store is rewritten whole either way).

Order matters. The person's hashed identifiers go on the suppression list first, so an ingest running
meanwhile cannot bring them back. Serving stores and derived folders come next, raw and standardized files
after them, and the identity graph last: it is how the person is found, so an erasure interrupted by a store
that is down can simply be run again. The audit record holds counts and a salted hash, never a value.
"""

from __future__ import annotations

import logging
import secrets
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from c360.errors import ValidationError
from c360.identity.store import IdentityStore
from c360.privacy.audit import write_audit
from c360.privacy.identity_graph import erase_from_identity
from c360.privacy.lakefiles import (
    erase_from_derived,
    erase_from_other_tables,
    erase_from_quarantine,
    erase_from_standardized,
)
from c360.privacy.rawfiles import erase_from_raw
from c360.privacy.rewrite import StoreCounts
from c360.privacy.stores import erase_from_feast_online, erase_from_profile_store
from c360.privacy.subject import find_subject
from c360.privacy.suppression import CUSTOMER, add_to_suppression, salted_hash, workspace_salt
from c360.workspace import Workspace

log = logging.getLogger(__name__)


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


def _timed(step: Callable[..., StoreCounts], *args: Any) -> StoreCounts:
    started = time.perf_counter()
    counts = step(*args)
    counts.seconds = time.perf_counter() - started
    return counts


def erase_customer(ws: Workspace, customer_id: str, reason: str = "data subject request") -> ErasureReport:
    """Remove one person from every store; raises NotFoundError for an unknown customer id."""
    return erase_customers(ws, [customer_id], reason)


def erase_customers(
    ws: Workspace, customer_ids: Sequence[str], reason: str = "data subject request"
) -> ErasureReport:
    """Remove several people from every store in one pass. Every id is looked up first: an unknown one
    raises NotFoundError before anything is changed."""
    if not customer_ids:
        raise ValidationError("name at least one customer to erase")
    started = time.perf_counter()
    at = datetime.now(UTC)
    lake = ws.lake
    people = [find_subject(ws, cid) for cid in dict.fromkeys(customer_ids)]
    subject = people[0]
    for other in people[1:]:
        subject.absorb(other)
    erasure_id = new_erasure_id(at)
    suppressed = add_to_suppression(lake, erasure_id, subject.suppression_entries())
    salt = workspace_salt(lake)
    assert salt is not None
    report = ErasureReport(
        erasure_id=erasure_id,
        customer_hashes=[salted_hash(salt, CUSTOMER, p.customer_id) for p in people],
        records=subject.record_count,
        suppressed=suppressed,
    )
    report.stores["profile_store"] = _timed(erase_from_profile_store, ws, subject)
    report.stores["feast_online"] = _timed(erase_from_feast_online, ws, subject)
    report.stores.update(erase_from_derived(lake, subject))  # timed per folder
    report.stores["raw"] = _timed(erase_from_raw, lake, ws.settings, subject)
    report.stores["standardized"] = _timed(erase_from_standardized, lake, subject)
    report.stores["quarantine"] = _timed(erase_from_quarantine, lake, subject)
    report.stores["other_tables"] = _timed(erase_from_other_tables, lake, subject)
    report.stores["identity"] = _timed(erase_from_identity, IdentityStore(lake), subject)
    report.seconds = time.perf_counter() - started
    report.audit_path = write_audit(
        lake,
        erasure_id,
        at,
        "erasure",
        {
            "customer_hash": report.customer_hash,
            "customer_hashes": report.customer_hashes,
            "customers": len(report.customer_hashes),
            "reason": reason,
            "records": report.records,
            "suppressed_identifiers": suppressed,
            "rows_removed": report.rows,
            "files_rewritten": report.files_rewritten,
            "bytes_rewritten": report.bytes_rewritten,
            "bytes_removed": report.bytes_removed,
            "seconds": round(report.seconds, 3),
            "stores": {name: c.to_dict() for name, c in report.stores.items()},
        },
    )
    log.info(
        "erasure %s: %d rows removed, %d files rewritten (%d bytes) in %.2fs",
        erasure_id,
        report.rows,
        report.files_rewritten,
        report.bytes_rewritten,
        report.seconds,
    )
    return report
