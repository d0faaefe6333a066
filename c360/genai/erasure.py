"""The content writer's part of an erasure: the person's cached content (`llm.cache_path`).

`GENAI_STEP` removes every cached text of every id the subject answers to. The cache is one SQLite file
shared by the workspace's processes, so what a running server cached goes too. The generation log holds no
customer id and no text, and the budget and pacing ledger (`llm.ledger_path`) holds counts and clocks
only: neither needs erasing.
"""

from __future__ import annotations

from c360.privacy.rewrite import StoreCounts
from c360.privacy.subject import FunctionStep, Subject
from c360.workspace import Workspace


def erase_genai_cache(ws: Workspace, subject: Subject) -> StoreCounts:
    path = ws.resolve_path(ws.settings.llm.cache_path)
    if not path.exists():
        return StoreCounts()
    from c360.genai.cache import ContentCache

    cache = ContentCache(path, ws.settings.llm.cache_ttl_seconds)
    try:
        removed = cache.erase(subject.customer_ids | {subject.customer_id})
    finally:
        cache.close()
    return StoreCounts(keys=removed)


GENAI_STEP = FunctionStep("genai_cache", erase_genai_cache)
