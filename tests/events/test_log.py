"""The lake's `events/`: parts by day of the event, a failed flush keeps its rows, retention expires them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pyarrow.parquet as pq
import pytest

from c360.events.log import EventLog, event_row
from c360.events.schema import parse_event
from c360.privacy.retention import run_retention
from c360.workspace import Workspace
from tests.events.event_data import page, track

pytestmark = pytest.mark.unit

NOW = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)


def rows(*raws: dict) -> list[dict]:
    out = []
    for i, raw in enumerate(raws):
        ok, err = parse_event(i, raw, NOW, timedelta(days=30))
        assert err is None, err
        out.append(event_row(ok, "C-1", NOW))
    return out


@pytest.fixture
def ws(tmp_path) -> Workspace:
    (tmp_path / "c360.yaml").write_text(
        "workspace: log-test\nprivacy:\n  retention_days:\n    event: 2\n", encoding="utf-8"
    )
    return Workspace.load(tmp_path)


def read_all(ws: Workspace) -> dict[str, list[dict]]:
    lake = ws.lake
    out: dict[str, list[dict]] = {}
    for path in lake.glob("events/**/*.parquet"):
        day = lake.relative(path).split("/")[1]
        out.setdefault(day, []).extend(pq.read_table(path, filesystem=lake.arrow_fs).to_pylist())
    return out


def test_parts_land_under_the_day_of_the_event_and_buffer_until_due(ws):
    log = EventLog(ws.lake, batch=3, flush_seconds=3600)
    log.append(rows(page(NOW, user_id="C-1"), page(NOW - timedelta(days=1), user_id="C-1")))
    assert log.buffered == 2 and read_all(ws) == {}
    log.append(rows(track("Product Added", NOW, user_id="C-1", properties={"price": 2.0})))
    found = read_all(ws)
    assert sorted(found) == ["2026-12-05", "2026-12-06"] and log.buffered == 0
    added = next(r for r in found["2026-12-06"] if r["type"] == "track")
    assert added["customer_id"] == "C-1" and added["properties"] == '{"price":2.0}'


def test_a_failed_flush_keeps_its_rows_for_the_next_one(ws, monkeypatch):
    log = EventLog(ws.lake, batch=100)
    log.append(rows(page(NOW, user_id="C-1"), page(NOW, user_id="C-1")))
    original = ws.lake.write_table

    def down(*args, **kwargs):
        raise OSError("lake down")

    monkeypatch.setattr(ws.lake, "write_table", down)
    with pytest.raises(OSError):
        log.flush()
    assert log.buffered == 2
    monkeypatch.setattr(ws.lake, "write_table", original)
    assert log.flush() == 2 and sum(len(v) for v in read_all(ws).values()) == 2


def test_retention_expires_events_by_their_timestamp(ws):
    log = EventLog(ws.lake)
    old, recent = page(NOW - timedelta(days=5), user_id="C-1"), page(NOW, user_id="C-1")
    log.append(rows(old, recent))
    log.flush()
    report = run_retention(ws, now=NOW + timedelta(hours=1))
    kept = [r["message_id"] for day in read_all(ws).values() for r in day]
    assert kept == [recent["message_id"]] and report.rows == 1
