"""The facts benchmark's synthetic lake: the shapes later stages read, every reference resolvable, the volumes
the benchmark claims."""

from __future__ import annotations

from datetime import UTC, datetime

import pyarrow.compute as pc
import pytest

from c360.bench.synthetic_lake import DAYS, LakeCounts, add_increment, write_lake
from c360.identity.store import IdentityStore
from c360.io.lake import Lake
from c360.schemas import ENUM_FIELDS, standardized_schema
from c360.sources.layout import read_standardized

pytestmark = pytest.mark.unit

END = datetime(2026, 6, 1, tzinfo=UTC)
N = 3_000


@pytest.fixture(scope="module")
def written(tmp_path_factory) -> tuple[Lake, LakeCounts]:
    lake = Lake(str(tmp_path_factory.mktemp("synthetic") / "lake"))
    return lake, write_lake(lake, N, seed=3, block=1_000, end=END)


@pytest.fixture(scope="module")
def lake(written: tuple[Lake, LakeCounts]) -> Lake:
    return written[0]


def test_tables_are_in_the_standardized_schema_with_valid_vocabularies(lake: Lake) -> None:
    for record in ("transaction", "interaction", "product", "fx_rate"):
        table = read_standardized(lake, record)
        assert table.schema == standardized_schema(record)
        assert table.num_rows > 0
        for name, vocabulary in ENUM_FIELDS.get(record, {}).items():
            assert set(pc.unique(table[name]).to_pylist()) <= set(vocabulary)
    tx = read_standardized(lake, "transaction")
    assert pc.min(tx["ts"]).as_py() >= END.replace(year=END.year - 2)
    assert pc.max(tx["ts"]).as_py() <= END
    assert set(pc.unique(tx["currency"]).to_pylist()) == {"GBP", "USD", "EUR"}


def test_every_reference_resolves_to_one_customer(lake: Lake) -> None:
    store = IdentityStore(lake)
    id_map = store.read_arrow("id_map")
    golden = store.read_arrow("golden")
    assert golden.num_rows == N == len(pc.unique(id_map["customer_id"]))
    assert len(pc.unique(id_map["record_key"])) == id_map.num_rows
    keys = set(zip(id_map["source"].to_pylist(), id_map["source_record_id"].to_pylist(), strict=True))
    for record in ("transaction", "interaction"):
        table = read_standardized(lake, record)
        refs = set(zip(table["source"].to_pylist(), table["customer_ref"].to_pylist(), strict=True))
        assert refs <= keys
        assert len(pc.unique(table["source_record_id"])) == table.num_rows


def test_volumes_per_customer_are_the_demo_generators(written: tuple[Lake, LakeCounts]) -> None:
    counts = written[1]
    assert 6.5 < counts.transaction_lines / N < 8.5
    assert 10 < counts.interactions / N < 12.5
    assert counts.texts == counts.by_type["support_ticket"] + counts.by_type["social_mention"]
    sends, opens = counts.by_type["email_send"], counts.by_type["email_open"]
    assert 0.2 < opens / sends < 0.36  # an open follows a send of the same campaign


def test_an_increment_is_about_one_percent_and_after_the_end(lake: Lake) -> None:
    before = read_standardized(lake, "transaction").num_rows
    more = add_increment(lake, N, END, fraction=0.01, seed=5, block=1_000)
    assert 0.006 < more.transaction_lines / before < 0.014
    tx = read_standardized(lake, "transaction")
    assert tx.num_rows == before + more.transaction_lines
    new = tx.filter(pc.greater(tx["ts"], END))
    assert new.num_rows == more.transaction_lines
    assert pc.max(new["ts"]).as_py().timestamp() <= END.timestamp() + 0.01 * DAYS * 86400
