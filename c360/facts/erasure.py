"""The facts stage's part of an erasure: `facts/` (the customer-keyed tables and the id-map snapshot in
`facts/_state/`), and `training_sets/`, which the feature stage writes from facts, keyed by customer_id.

Rows are removed by key (`erase_from_folder`: the person's customer ids, record keys and device ids in
key columns), so the step is idempotent. The next facts run leaves the person out as well: erased people
are suppressed before keying, and the partitions whose files this step rewrote are recomputed.
"""

from __future__ import annotations

from c360.privacy.lakefiles import erase_from_folder
from c360.privacy.subject import FunctionStep

FACTS_STEP = FunctionStep("facts", lambda ws, subject: erase_from_folder(ws.lake, "facts", subject))
TRAINING_SETS_STEP = FunctionStep(
    "training_sets", lambda ws, subject: erase_from_folder(ws.lake, "training_sets", subject)
)
