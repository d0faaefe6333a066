"""Erasure reaches what the sink wrote: the person's events in the lake (also those an anonymous id sent
before its identify), their stitches in the shared state, and the visitor's online signals."""

from __future__ import annotations

import pytest

from c360.erasure_plan import erasure_plan
from c360.events import read_signals
from c360.events.erasure import EVENTS_STEP
from c360.events.signals import ANONYMOUS
from c360.privacy.subject import Subject
from c360.workspace import Workspace
from tests.events.event_data import identify, page, track, uid

pytestmark = [pytest.mark.feast, pytest.mark.filterwarnings("ignore:Stream feature views:RuntimeWarning")]


def test_the_erasure_plan_runs_the_events_stages_step():
    assert EVENTS_STEP in erasure_plan().steps


def test_erasure_removes_the_persons_events_stitches_and_visitor_signals(events_ws):
    gone, kept = events_ws.customer(), events_ws.customer()
    visitor, other_visitor = f"anon-{uid()}", f"anon-{uid()}"
    sink = events_ws.sink()
    before_identify = track("Product Added", anonymous_id=visitor, properties={"price": 3.0})
    theirs = [
        before_identify,
        identify(user_id=gone, anonymous_id=visitor),
        page(anonymous_id=visitor),
        track("Product Viewed", user_id=gone),
    ]
    others = [
        page(user_id=kept),
        identify(user_id=kept, anonymous_id=other_visitor),
        page(anonymous_id=other_visitor),
    ]
    assert sink.accept(theirs[:1]).accepted == 1
    sink.flush()  # the visitor's own signals row exists online before the stitch
    assert sink.accept(theirs[1:] + others).accepted == 6
    sink.flush()
    assert read_signals(events_ws.feature_store, ANONYMOUS + visitor)["last_event_time"] is not None

    counts = EVENTS_STEP.run(events_ws.ws, Subject(customer_id=gone, customer_ids={gone}))

    rows = events_ws.lake_rows()
    ids = {r["message_id"] for r in rows}
    assert not ids & {e["message_id"] for e in theirs}
    assert {e["message_id"] for e in others} <= ids
    assert not any(visitor in (r["anonymous_id"], r["customer_id"]) for r in rows)
    assert counts.rows >= len(theirs) and counts.keys >= 1
    assert events_ws.sink().state.stitched([visitor, other_visitor]) == {other_visitor: kept}
    assert read_signals(events_ws.feature_store, ANONYMOUS + visitor)["last_event_time"] is None


def test_erasure_where_no_sink_ever_ran_changes_nothing(tmp_path):
    (tmp_path / "c360.yaml").write_text("workspace: never-ran\n", encoding="utf-8")
    ws = Workspace.load(tmp_path)
    counts = EVENTS_STEP.run(ws, Subject(customer_id="C-1", customer_ids={"C-1"}))
    assert (counts.rows, counts.keys) == (0, 0)
    assert not list(tmp_path.rglob("events_state.db"))
