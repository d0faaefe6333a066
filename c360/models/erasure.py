"""The models stage's part of an erasure: `segments/` (the per-customer segment history), keyed by
customer_id. Rows are removed by key, so the step is idempotent. Model artifacts under `models/` hold no
customer rows."""

from __future__ import annotations

from c360.privacy.lakefiles import erase_from_folder
from c360.privacy.subject import FunctionStep

SEGMENTS_STEP = FunctionStep("segments", lambda ws, subject: erase_from_folder(ws.lake, "segments", subject))
