"""`c360 features backfill` on a small lake of synthetic facts: files per view, cutoff and partition, rows
equal to the history functions, a rerun that rewrites nothing, and bad ranges refused before any work."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
import pytest

from c360.errors import ValidationError
from c360.features.backfill import backfill, cutoff_days, parse_every
from c360.features.history import features_at
from c360.profile.feature_tables import CUSTOMER_VIEWS
from c360.settings import parse_settings
from c360.workspace import Workspace
from tests.history_data import synthetic_facts, write_fact_partitions, write_golden

pytestmark = pytest.mark.unit

PARTITIONS = 3
NOW = datetime(2026, 6, 1, tzinfo=UTC)


@pytest.fixture(scope="module")
def lake_ws(tmp_path_factory: pytest.TempPathFactory):
    root = tmp_path_factory.mktemp("backfill")
    settings = parse_settings(f"workspace: bf\nfacts:\n  partitions: {PARTITIONS}\n", env={})
    ws = Workspace.from_settings(settings, root=root)
    facts = synthetic_facts(customers=240, seed=11)
    write_fact_partitions(ws.lake, facts, PARTITIONS)
    write_golden(ws.lake, facts.golden)
    # in this process (tests/feast/test_feature_history.py runs the partitions as Ray tasks)
    first = backfill(ws, "2024-03-04", "2024-05-27", "2w", now=NOW, workers=1)
    return ws, facts, first


def rows_of(ws: Workspace, view: str, day: str) -> pd.DataFrame:
    files = ws.lake.glob(f"features/{view}/backfill-{day}-part-*.parquet")
    return pd.concat([pd.read_parquet(f) for f in files], ignore_index=True)


def test_cutoffs_every_two_weeks_inclusive():
    days = cutoff_days("2024-03-04", "2024-05-27", parse_every("2w"))
    assert [d.date().isoformat() for d in days] == [
        "2024-03-04", "2024-03-18", "2024-04-01", "2024-04-15", "2024-04-29", "2024-05-13", "2024-05-27",
    ]  # fmt: skip


def test_files_per_view_cutoff_and_partition_hold_the_history_rows(lake_ws):
    ws, facts, report = lake_ws
    assert len(report.cutoffs) == 7 and report.written > 0 and report.unchanged == 0
    for view in CUSTOMER_VIEWS:
        files = ws.lake.glob(f"features/{view}/backfill-2024-04-15-part-*.parquet")
        assert [Path(f).name for f in files] == [
            f"backfill-2024-04-15-part-{p:05d}.parquet" for p in range(PARTITIONS)
        ]
    cutoff = pd.Timestamp("2024-04-15", tz="UTC")
    want = features_at(facts.golden, facts.tx, facts.inter, cutoff)
    for view in CUSTOMER_VIEWS:
        got = rows_of(ws, view, "2024-04-15").sort_values("customer_id").reset_index(drop=True)
        exp = want[view].sort_values("customer_id").reset_index(drop=True)
        assert (got["event_timestamp"] == cutoff).all()
        assert got["customer_id"].tolist() == exp["customer_id"].tolist()
        for col in exp.columns[2:]:
            a, b = got[col], exp[col]
            if pd.api.types.is_datetime64_any_dtype(b):
                a, b = pd.to_datetime(a, utc=True), pd.to_datetime(b, utc=True)
            assert (
                a.astype(object).where(a.notna(), None).tolist()
                == b.astype(object).where(b.notna(), None).tolist()
            ), f"{view}.{col}"
    products = rows_of(ws, "product_stats", "2024-04-15")
    assert products["product_id"].is_unique and products["purchases_90d"].sum() > 0


def test_a_rerun_over_the_same_range_rewrites_nothing(lake_ws):
    ws, _, first = lake_ws
    files = ws.lake.glob("features/*/backfill-*.parquet")
    before = {f: Path(f).stat().st_mtime_ns for f in files}
    again = backfill(ws, "2024-03-04", "2024-05-27", "2w", now=NOW, workers=1)
    assert again.written == 0 and again.removed == 0
    assert again.unchanged == first.written
    assert {f: Path(f).stat().st_mtime_ns for f in ws.lake.glob("features/*/backfill-*.parquet")} == before
    # another set of cutoffs over the same days (its own join with the facts) gives the same files
    part = backfill(ws, "2024-04-15", "2024-05-27", "2w", now=NOW, workers=1)
    assert part.written == 0 and part.unchanged > 0


def test_a_changed_fact_rewrites_only_what_it_touches(lake_ws):
    ws, facts, _ = lake_ws
    # A file edited behind the backfill's back is noticed (its digest no longer matches) and rewritten.
    victim = ws.lake.glob("features/transactions/backfill-2024-05-27-part-00001.parquet")[0]
    pd.read_parquet(victim).iloc[:3].to_parquet(victim)
    again = backfill(ws, "2024-05-13", "2024-05-27", "2w", now=NOW, workers=1)
    assert again.written == 1 and again.files == [
        "features/transactions/backfill-2024-05-27-part-00001.parquet"
    ]
    assert len(pd.read_parquet(victim)) > 3


@pytest.mark.parametrize(
    ("start", "end", "every", "message"),
    [
        ("2024-05-01", "2024-04-01", "7d", "is before --start"),
        ("2023-01-02", "2024-04-01", "7d", "before the oldest fact"),
        ("2025-12-01", "2026-02-02", "7d", "after the newest fact"),
        ("2026-05-04", "2026-07-06", "7d", "would read the future"),
        ("2024-04-01", "2024-05-01", "7x", "expected a number and d or w"),
        ("2024-04-01", "2024-05-01T10:00", "7d", "not a time of day"),
        ("2024-13-01", "2024-05-01", "7d", "expected a date"),
    ],
)
def test_bad_ranges_are_refused_before_any_work(lake_ws, start, end, every, message):
    ws, _, _ = lake_ws
    state = ws.lake.read_text(ws.lake.path("features", "_state", "backfill.json"))
    with pytest.raises(ValidationError, match=message):
        backfill(ws, start, end, every, now=NOW, workers=1)
    assert ws.lake.read_text(ws.lake.path("features", "_state", "backfill.json")) == state
