"""The next-best-action stage's part of an erasure: the decision log (`decisions/`).

`NBA_STEP` runs `erase_from_log` for every customer id the subject answers to (the id asked for, the current
one and every id merged into it): the person's decisions leave the parts that held them, and their rewards
become anonymous tombstones that keep their sequence numbers. That matters: a generic line filter would drop
the reward lines, leave gaps in the sequence, and a bandit restored from a checkpoint would then relearn some
rewards twice. The step is named `decisions`, the store it empties, and is idempotent (a re-run finds no id).

What it cannot reach: lines still buffered in a running server's memory (at most one batch, see
`c360.nba.decisions`) are written after the erasure; the next erasure run, or `c360 erase --resume`, removes
them. The bandit's checkpoints (`models/nba/`) hold no customer rows: VW keeps hashed feature weights of the
context (segment, age band, engagement, device, ...) and the metadata counts rewards; no customer id is ever
a feature. A test reads a checkpoint's bytes for the erased ids.
"""

from __future__ import annotations

from c360.nba.decisions import erase_from_log
from c360.privacy.lakefiles import erase_from_folder
from c360.privacy.rewrite import StoreCounts
from c360.privacy.subject import FunctionStep, Subject
from c360.workspace import Workspace

DECISIONS_FOLDER = "decisions"


def erase_decisions(ws: Workspace, subject: Subject) -> StoreCounts:
    ids = subject.customer_ids | {subject.customer_id}
    counts = erase_from_log(ws.lake, DECISIONS_FOLDER, ids).counts
    # Then every other file under decisions/ (one another tool wrote, an older layout), by the generic
    # filter: the log's own parts name nobody erased any more, so it finds nothing there to drop.
    counts.add(erase_from_folder(ws.lake, DECISIONS_FOLDER, subject))
    return counts


NBA_STEP = FunctionStep("decisions", erase_decisions)
