"""Retention reaches the fact tables: transaction days expire lines, interaction days interactions and
exposures, by their `ts`."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pyarrow as pa
import pytest

from c360.facts.schemas import EXPOSURES, INTERACTIONS, SCHEMAS, TRANSACTION_LINES
from c360.facts.store import partition_file
from c360.privacy.retention import run_retention
from c360.workspace import Workspace, init_workspace

pytestmark = pytest.mark.unit
NOW = datetime(2026, 6, 1, tzinfo=UTC)


def _table(name: str, times: list[datetime]) -> pa.Table:
    schema = SCHEMAS[name]
    cols = {f.name: pa.nulls(len(times), f.type) for f in schema}
    cols["customer_id"] = pa.array([f"c{i}" for i in range(len(times))])
    cols["ts"] = pa.array(times, schema.field("ts").type)
    return pa.table(cols, schema=schema)


def test_old_fact_rows_expire_with_their_record_type(tmp_path):
    init_workspace(tmp_path)
    ws = Workspace.load(tmp_path)
    ws.settings.privacy.retention_days = {"transaction": 30, "interaction": 10}
    old, recent = NOW - timedelta(days=20), NOW - timedelta(days=5)
    for name in (TRANSACTION_LINES, INTERACTIONS, EXPOSURES):  # rows of 20 and of 5 days ago
        ws.lake.write_table(_table(name, [old, recent]), partition_file(ws.lake, name, 0))
    report = run_retention(ws, now=NOW)
    tables = (TRANSACTION_LINES, INTERACTIONS, EXPOSURES)
    kept = {n: ws.lake.read_table(partition_file(ws.lake, n, 0)).num_rows for n in tables}
    assert kept == {TRANSACTION_LINES: 2, INTERACTIONS: 1, EXPOSURES: 1}
    assert report.counts["interaction"].rows == 2 and report.counts["transaction"].rows == 0
