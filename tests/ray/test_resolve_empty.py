"""Incremental identity from a first run that found no links (issue 11, defect 5).

A first run over records that share nothing wrote its link and change tables with every column null; Arrow
typed those columns `null`, and every later incremental run died casting strings to null. These tests start
from such a run, and from a store written by the old code (null-typed columns, written here by hand).
"""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from c360.identity.explain import explain
from c360.identity.resolve import resolve
from c360.identity.store import IdentityStore
from c360.schemas import standardized_schema
from c360.settings import Settings
from c360.workspace import Workspace

pytestmark = pytest.mark.ray

LONERS = [
    {"source_record_id": "1", "email": "ann@example.org", "first_name": "Ann", "last_name": "Lee"},
    {"source_record_id": "2", "email": "bob@example.net", "first_name": "Bob", "last_name": "Ray"},
    {"source_record_id": "3", "phone": "+14155550101", "first_name": "Cy", "last_name": "Oda"},
]
LINKING = [
    {"source_record_id": "4", "email": "ann@example.org", "first_name": "Ann", "last_name": "Lee"},
    {"source_record_id": "5", "phone": "+14155550101", "first_name": "Cy", "last_name": "Oda"},
]


def write_load(ws_root: Path, rows: list[dict], load_date: str) -> None:
    schema = standardized_schema("identity")
    rows = [{"source": "shop", **r} for r in rows]
    table = pa.Table.from_pylist([{f.name: r.get(f.name) for f in schema} for r in rows], schema=schema)
    target = ws_root / "data" / "lake" / "standardized" / "identity" / "source=shop"
    target = target / f"load_date={load_date}"
    target.mkdir(parents=True, exist_ok=True)
    pq.write_table(table, target / "part-0.parquet")


def _customer(store: IdentityStore, key: str) -> str:
    id_map = store.read("id_map")
    assert id_map is not None
    return str(id_map.set_index("record_key").loc[key, "customer_id"])


def test_incremental_after_a_run_with_no_links(ray_session, tmp_path: Path) -> None:
    ws = Workspace.from_settings(Settings(), tmp_path)
    write_load(tmp_path, LONERS, "2024-01-01")
    first = resolve(ws, progress=False)
    assert first.customers == 3 and first.deterministic_links + first.probabilistic_links == 0
    store = IdentityStore(ws.lake)
    links_schema = pq.read_schema(store.files("links")[0])
    assert not any(pa.types.is_null(f.type) for f in links_schema)  # typed even when empty
    assert explain(ws, _customer(store, "shop:1"))  # explains a lone record without an Arrow error

    write_load(tmp_path, LINKING, "2024-01-02")
    second = resolve(ws, progress=False)
    assert second.mode == "incremental"
    assert _customer(store, "shop:4") == _customer(store, "shop:1")
    assert _customer(store, "shop:5") == _customer(store, "shop:3")
    assert second.customers == 3
    assert explain(ws, _customer(store, "shop:4"))


def test_a_store_written_with_null_typed_columns_recovers(ray_session, tmp_path: Path) -> None:
    """The old code's empty tables: every column that was all null stored with Arrow's null type."""
    ws = Workspace.from_settings(Settings(), tmp_path)
    write_load(tmp_path, LONERS, "2024-01-01")
    resolve(ws, progress=False)
    store = IdentityStore(ws.lake)
    for name in ("links", "golden"):
        for path in store.files(name):
            t = pq.read_table(path)
            nulls = [
                pa.nulls(t.num_rows) if t.column(i).null_count == t.num_rows else t.column(i)
                for i in range(t.num_columns)
            ]
            pq.write_table(pa.table(nulls, names=t.column_names), path)
    assert any(pa.types.is_null(f.type) for f in pq.read_schema(store.files("links")[0]))
    assert explain(ws, _customer(store, "shop:1"))

    write_load(tmp_path, LINKING, "2024-01-02")
    second = resolve(ws, progress=False)
    assert second.mode == "incremental"
    assert _customer(store, "shop:4") == _customer(store, "shop:1")
    assert explain(ws, _customer(store, "shop:4"))
