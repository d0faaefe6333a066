"""The lake behaves the same on a local folder and on `abfs://` (azurite), for pyarrow and for Ray Data."""

from __future__ import annotations

import pyarrow as pa
import pytest

from c360.errors import StoreUnavailableError
from c360.io.lake import Lake


@pytest.fixture(params=["local", "abfs"])
def lake(request, tmp_path) -> Lake:
    if request.param == "local":
        return Lake("data/lake", base_dir=tmp_path)
    az = request.getfixturevalue("azurite_lake")
    return Lake(az.uri, az.storage_options)


@pytest.mark.azure
def test_files_round_trip(lake: Lake):
    lake.write_text(lake.path("raw/crm/a.csv"), "id,email\n1,a@example.com\n")
    lake.write_text(lake.path("raw/crm/b.csv"), "id,email\n2,b@example.com\n")
    lake.write_text(lake.path("raw/web/c.jsonl"), '{"id": 3}\n')
    found = lake.glob("raw/crm/*.csv")
    assert [lake.relative(p) for p in found] == ["raw/crm/a.csv", "raw/crm/b.csv"]
    assert lake.read_text(found[1]).endswith("b@example.com\n")
    assert lake.glob("raw/nothing/*.csv") == []
    lake.rm(found[0])
    assert [lake.relative(p) for p in lake.glob("raw/crm/*.csv")] == ["raw/crm/b.csv"]


@pytest.mark.azure
def test_parquet_round_trip(lake: Lake):
    table = pa.table({"customer_id": ["c1", "c2"], "spend": [10.5, 3.0]})
    lake.write_table(table, lake.path("profiles/part-0.parquet"))
    assert lake.read_table(lake.path("profiles")).sort_by("customer_id").equals(table)


@pytest.mark.ray
@pytest.mark.azure
def test_ray_data_reads_and_writes_through_the_lake(lake: Lake, ray_session):
    import ray

    rows = [{"customer_id": f"c{i}", "n": i} for i in range(100)]
    ray.data.from_items(rows).write_parquet(lake.path("features/t"), filesystem=lake.arrow_fs)
    back = ray.data.read_parquet(lake.path("features/t"), filesystem=lake.arrow_fs)
    assert back.count() == 100
    assert sorted(r["n"] for r in back.take_all()) == list(range(100))


def test_unsupported_scheme_is_a_clear_error():
    with pytest.raises(StoreUnavailableError, match="unsupported scheme 's3'"):
        Lake("s3://bucket/x")
