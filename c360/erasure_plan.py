"""The erasure plan: every stage's erasure step, in the order an erasure runs them.

This is the composition root for erasure. `c360.privacy` orchestrates (journal, suppression, audit) through
the `ErasureStep` interface it defines and imports no stage; each stage implements its step next to what it
writes (`c360/<stage>/erasure.py`); only this module knows them all. Callers (the CLI, `c360 run`, the
benchmark) go through the functions here.

The order: serving stores first (what answers requests about the person now), then derived folders, the
delivered and standardized data, quarantine, other tables, and the identity graph last. The journal makes the
order a matter of taste rather than of safety: whatever step a run dies in, the next run finishes the rest.
"""

from __future__ import annotations

from collections.abc import Sequence

from c360.events.erasure import EVENTS_STEP
from c360.facts.erasure import FACTS_STEP, TRAINING_SETS_STEP
from c360.features.erasure import FEAST_ONLINE_STEP
from c360.genai.erasure import GENAI_STEP
from c360.identity.erasure import IDENTITY_STEP, find_subject
from c360.models.erasure import SEGMENTS_STEP
from c360.nba.erasure import NBA_STEP
from c360.privacy import erase as orchestrator
from c360.privacy.erase import DEFAULT_REASON, ErasureReport
from c360.privacy.lakefiles import OTHER_TABLES_STEP
from c360.privacy.subject import ErasurePlan
from c360.profile.erasure import FEATURES_STEP, PROFILE_STORE_STEP, PROFILES_STEP
from c360.recs.erasure import RECS_STEP
from c360.sources.erasure import QUARANTINE_STEP, RAW_STEP, STANDARDIZED_STEP
from c360.workspace import Workspace


def erasure_plan() -> ErasurePlan:
    return ErasurePlan(
        find_subject=find_subject,
        steps=(
            PROFILE_STORE_STEP,
            FEAST_ONLINE_STEP,
            GENAI_STEP,
            PROFILES_STEP,
            FEATURES_STEP,
            FACTS_STEP,
            TRAINING_SETS_STEP,
            SEGMENTS_STEP,
            RECS_STEP,
            EVENTS_STEP,
            NBA_STEP,
            RAW_STEP,
            STANDARDIZED_STEP,
            QUARANTINE_STEP,
            OTHER_TABLES_STEP,
            IDENTITY_STEP,
        ),
    )


def erase_customers(
    ws: Workspace, customer_ids: Sequence[str], reason: str = DEFAULT_REASON, note: str | None = None
) -> ErasureReport:
    """Remove several people from every store in one pass; raises NotFoundError for an unknown id (before
    anything changes). An id an interrupted erasure was working on finishes that erasure instead."""
    return orchestrator.erase_customers(ws, erasure_plan(), customer_ids, reason, note)


def erase_customer(
    ws: Workspace, customer_id: str, reason: str = DEFAULT_REASON, note: str | None = None
) -> ErasureReport:
    """Remove one person from every store."""
    return erase_customers(ws, [customer_id], reason, note)


def erase_or_resume(
    ws: Workspace,
    customer_ids: Sequence[str],
    reason: str = DEFAULT_REASON,
    note: str | None = None,
    resume_all: bool = False,
) -> list[ErasureReport]:
    """`c360 erase [ID ...] [--resume]`: the resumed erasures' reports, then the new one's."""
    return orchestrator.erase_or_resume(ws, erasure_plan(), customer_ids, reason, note, resume_all)


def resume_open_erasures(ws: Workspace) -> list[ErasureReport]:
    """Finish every interrupted erasure; a run calls this before it may rebuild anyone."""
    return orchestrator.resume_open_erasures(ws, erasure_plan())
