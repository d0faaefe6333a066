"""The events stage's erasure step: the person's rows in `events/`, their stitches and their anonymous
signals.

A stitched anonymous id names the person as surely as a cookie id, but only the event state knows it: the
identity stage never saw it. So the step removes the person's stitches first, remembering the anonymous ids,
then filters `events/` on the person's keys plus those ids (rows an anonymous id wrote before its identify
event carry no customer id), and deletes the online rows the visitors' signals lived under.
"""

from __future__ import annotations

from c360.events.signals import ANONYMOUS
from c360.events.state import SQLITE_FILE, event_state_ttl, open_event_state
from c360.privacy.lakefiles import KEY_COLUMNS
from c360.privacy.rewrite import StoreCounts, filter_parquet
from c360.privacy.subject import FunctionStep, Subject
from c360.workspace import Workspace

FOLDER = "events"


def erase_events(ws: Workspace, subject: Subject) -> StoreCounts:
    anonymous = _forget_stitches(ws, subject)
    keys = subject.key_values() | anonymous
    counts = StoreCounts(keys=len(anonymous))
    lake = ws.lake
    for path in lake.glob(f"{FOLDER}/**/*.parquet"):
        counts.add(filter_parquet(lake, path, {c: keys for c in KEY_COLUMNS}, delete_if_empty=True))
    if anonymous:
        counts.add(StoreCounts(keys=_delete_visitor_signals(ws, anonymous)))
    return counts


def _forget_stitches(ws: Workspace, subject: Subject) -> set[str]:
    """The person's stitched anonymous ids, removed from the shared state (none if no sink ever ran)."""
    profile = ws.settings.stores.profile
    state_file = ws.resolve_path(profile.sqlite_path).parent / SQLITE_FILE
    if profile.backend == "sqlite" and not state_file.exists():
        return set()
    state = open_event_state(ws, event_state_ttl(0, 0))
    try:
        return set(state.forget_customers(subject.customer_ids))
    finally:
        state.close()


def _delete_visitor_signals(ws: Workspace, anonymous: set[str]) -> int:
    feast = ws.settings.stores.feast
    if feast.registry == "file" and not ws.resolve_path(feast.registry_path).exists():
        return 0  # nothing was ever applied, so nothing was pushed
    from c360.features.store import delete_online_entities, open_feature_store

    return delete_online_entities(open_feature_store(ws), [ANONYMOUS + a for a in anonymous])


EVENTS_STEP = FunctionStep(FOLDER, erase_events)
