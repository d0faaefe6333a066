"""The recommendations' part of an erasure: the customer side of the model (`recs/customers/`, their purchase
history) and every cached list (`recommendations/`), both keyed by customer_id and removed by key, so the
step is idempotent. Registered `recs` versions hold item-side state only (c360.recs.model): nothing there
names a customer, so no model is refitted."""

from __future__ import annotations

from c360.privacy.lakefiles import erase_from_folder
from c360.privacy.rewrite import StoreCounts
from c360.privacy.subject import FunctionStep, Subject
from c360.recs.store import HISTORY, LISTS
from c360.workspace import Workspace


def erase_recs(ws: Workspace, subject: Subject) -> StoreCounts:
    counts = erase_from_folder(ws.lake, HISTORY, subject)
    counts.add(erase_from_folder(ws.lake, LISTS, subject))
    return counts


RECS_STEP = FunctionStep("recs", erase_recs)
