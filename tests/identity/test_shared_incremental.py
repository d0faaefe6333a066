"""Shared identifiers in an incremental run: the values a new record touches are judged again, every other
value's links and evidence are kept, and the result equals a full run."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from c360.bench.febrl import febrl_standardized
from c360.identity.resolve import resolve
from c360.identity.store import IdentityStore
from c360.settings import Settings
from c360.workspace import Workspace

pytestmark = pytest.mark.ray


def _with_devices(table: pa.Table) -> pa.Table:
    """One device per person for a third of the people; every tenth person shares a family tablet with the
    next one (two people, two names: its records must not link)."""
    ids = table.column("source_record_id").to_pylist()
    person = np.array([int(re.match(r"rec-(\d+)-", i).group(1)) for i in ids])
    device = np.where(person % 3 == 0, np.char.add("dev-", person.astype(str)), None)
    family = person % 10 == 0
    device = np.where(family, np.char.add("fam-", person.astype(str)), device)
    device = np.where((person % 10 == 1), np.char.add("fam-", (person - 1).astype(str)), device)
    col = table.schema.get_field_index("device_id")
    return table.set_column(col, "device_id", pa.array(device.tolist(), pa.string()))


def _write(lake: Path, table: pa.Table, load_date: str) -> None:
    target = lake / "standardized" / "identity" / "source=febrl" / f"load_date={load_date}"
    target.mkdir(parents=True, exist_ok=True)
    pq.write_table(table, target / "part-0.parquet")


def test_incremental_with_shared_devices_equals_full(ray_session, tmp_path: Path) -> None:
    table = _with_devices(febrl_standardized(3)["febrl"])
    order = np.random.default_rng(5).permutation(table.num_rows)
    lake = tmp_path / "data" / "lake"
    _write(lake, table.take(order[:4500]), "2020-01-01")
    ws = Workspace.from_settings(Settings(), tmp_path)
    resolve(ws, progress=False)
    _write(lake, table.take(order[4500:]), "2020-01-02")
    inc = resolve(ws, progress=False)
    assert inc.mode == "incremental"
    store = IdentityStore(ws.lake)
    inc_map, inc_links = store.read("id_map"), store.read("links")
    full = resolve(ws, full=True, progress=False)
    assert full.mode == "full" and not full.trained
    full_map, full_links = store.read("id_map"), store.read("links")
    pd.testing.assert_frame_equal(inc_map, full_map)
    cols = ["record_key_l", "record_key_r", "kind", "rule", "accepted", "reason"]
    pd.testing.assert_frame_equal(inc_links[cols], full_links[cols])

    # The family tablets link no one to anyone else, and say why; one person's own device still links.
    refused = store.read("refused_identifiers")
    assert (refused.loc[refused["field"] == "device_id", "reason"] == "shared_conflict").any()
    evidence = full_links[(full_links["kind"] == "evidence") & ~full_links["accepted"]]
    assert evidence["reason"].str.startswith("shared device_id: first_name and ").any()
    device_links = full_links[
        (full_links["kind"] == "deterministic") & full_links["rule"].str.contains("device")
    ]
    assert len(device_links) and device_links["accepted"].all()
    prepared = store.read("prepared")[["record_key", "device_id__id"]]
    family = prepared[prepared["device_id__id"].str.startswith("fam-", na=False)].merge(
        full_map, on="record_key"
    )
    family["person"] = family["record_key"].str.extract(r"rec-(\d+)-", expand=False)
    for _, group in family.groupby("device_id__id"):
        owners = group.groupby("customer_id")["person"].nunique()
        assert (owners == 1).all(), group
