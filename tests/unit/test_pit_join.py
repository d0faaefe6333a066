"""The DuckDB point-in-time join on tiny feature files whose right answers are read off by hand."""

from __future__ import annotations

from datetime import timedelta
from types import SimpleNamespace as NS

import pandas as pd
import pyarrow as pa
import pytest

from c360.features.pit_join import point_in_time_join
from c360.io.lake import Lake


def ts(text: str) -> pd.Timestamp:
    return pd.Timestamp(text, tz="UTC")


def view(name: str, ttl_days: int) -> NS:
    return NS(
        name=name,
        ttl=timedelta(days=ttl_days),
        entity_columns=[NS(name="customer_id")],
        batch_source=NS(timestamp_field="event_timestamp"),
    )


STORE = NS(
    list_feature_views=lambda: [view("spend", 30), view("forever", 0)],
    list_stream_feature_views=lambda: [],
    list_on_demand_feature_views=lambda: [],
)


def write(lake: Lake, path: str, rows: list[tuple[str, str, float]], unit: str = "us") -> None:
    table = pa.table(
        {
            "customer_id": [r[0] for r in rows],
            "event_timestamp": pa.array([ts(r[1]) for r in rows], pa.timestamp(unit, "UTC")),
            "total": [r[2] for r in rows],
        }
    )
    lake.write_table(table, lake.path(path))


@pytest.fixture
def lake(tmp_path) -> Lake:
    lake = Lake(str(tmp_path / "lake"))
    write(
        lake,
        "features/spend/a.parquet",
        [("x", "2025-01-01", 1.0), ("x", "2025-02-01", 2.0), ("y", "2025-03-01", 5.0)],
    )
    # a later file with another timestamp unit: x again at 02-01 (it wins the tie) and at 03-01
    write(lake, "features/spend/b.parquet", [("x", "2025-02-01", 20.0), ("x", "2025-03-01", 3.0)], unit="ns")
    write(lake, "features/forever/a.parquet", [("x", "2020-01-01", 9.0)])
    lake.write_table(  # an older file without the feature: nulls, not an error
        pa.table(
            {"customer_id": ["y"], "event_timestamp": pa.array([ts("2020-01-01")], pa.timestamp("us", "UTC"))}
        ),
        lake.path("features/forever/0-old.parquet"),
    )
    return lake


def test_latest_row_at_or_before_each_time_within_the_ttl(lake):
    entity = pd.DataFrame(
        {
            "customer_id": ["x", "x", "x", "x", "y", "z"],
            "event_timestamp": [
                ts("2024-12-31"),  # before every row: null, and the row stays
                ts("2025-02-01"),  # exactly at a row: that row (the later file's, 20)
                ts("2025-03-02"),  # the 03-01 row, not the 02-01 one
                ts("2025-04-15"),  # 03-01 is 45 days old, past the 30-day ttl: null
                ts("2025-03-01"),
                ts("2025-03-01"),  # no rows at all
            ],
        }
    )
    got = point_in_time_join(lake, STORE, entity, ["spend:total"])
    assert got["customer_id"].tolist() == entity["customer_id"].tolist()  # same rows, same order
    assert got["total"].fillna(-1).tolist() == [-1, 20.0, 3.0, -1, 5.0, -1]


def test_no_ttl_reads_any_age_and_a_missing_column_is_null(lake):
    entity = pd.DataFrame(
        {"customer_id": ["x", "y"], "event_timestamp": [ts("2026-01-01"), ts("2026-01-01")]}
    )
    got = point_in_time_join(lake, STORE, entity, ["forever:total"])
    assert got["total"].tolist()[0] == 9.0 and pd.isna(got["total"].tolist()[1])


def test_an_unknown_view_is_named(lake):
    from c360.errors import ValidationError

    entity = pd.DataFrame({"customer_id": ["x"], "event_timestamp": [ts("2026-01-01")]})
    with pytest.raises(ValidationError, match="no view 'nope'"):
        point_in_time_join(lake, STORE, entity, ["nope:total"])
