"""A small demo workspace through init -> demo-data -> ingest -> resolve, for profile and feature tests."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from c360.demo import generate_demo_data
from c360.identity.resolve import resolve
from c360.identity.store import IdentityStore
from c360.sources.ingest import ingest
from c360.sources.layout import read_standardized
from c360.workspace import Workspace, init_workspace


def demo_workspace(root: Path, customers: int, seed: int) -> Workspace:
    init_workspace(root)
    ws = Workspace.load(root)
    generate_demo_data(ws, customers=customers, seed=seed)
    ingest(ws, progress=False)
    resolve(ws, progress=False)
    return ws


def keyed(ws: Workspace, record: str) -> pd.DataFrame:
    """Standardized rows of a record type with the customer_id of their reference."""
    rows = read_standardized(ws.lake, record).to_pandas()
    id_map = IdentityStore(ws.lake).read("id_map")[["source", "source_record_id", "customer_id"]]
    return rows.merge(
        id_map.rename(columns={"source_record_id": "customer_ref"}), on=["source", "customer_ref"]
    )


def reporting_factors(ws: Workspace, rows: pd.DataFrame, reporting: str, max_age_days: int = 7) -> pd.Series:
    """Reporting-currency units per unit of each row's `currency` at its UTC date, worked out from
    `standardized/fx_rate` alone (the demo's file has one base): the newest fixing on or before the date, at
    most `max_age_days` old; 1.0 where the row is in the reporting currency; NaN where there is no rate."""
    rates = read_standardized(ws.lake, "fx_rate").to_pandas()
    bases = set(rates["base"])
    assert len(bases) == 1, f"expected one base currency, got {bases}"
    base = bases.pop()
    wide = rates.drop_duplicates(["date", "currency"], keep="last").pivot(
        index="date", columns="currency", values="rate"
    )
    wide[base] = 1.0
    wide = wide.sort_index()
    days = pd.to_datetime(wide.index).to_numpy(dtype="datetime64[D]")
    row_day = rows["ts"].dt.tz_convert("UTC").dt.tz_localize(None).to_numpy(dtype="datetime64[D]")
    pos = np.searchsorted(days, row_day, side="right") - 1
    fresh = (pos >= 0) & ((row_day - days[np.clip(pos, 0, None)]).astype(int) <= max_age_days)
    column = wide.columns.get_indexer(rows["currency"].to_numpy())
    values = wide.to_numpy(dtype=float)
    at = np.clip(pos, 0, None)
    per_unit = np.where(column >= 0, values[at, np.clip(column, 0, None)], np.nan)  # currency per base
    reporting_per_base = values[at, wide.columns.get_loc(reporting)]
    factor = np.where(fresh, reporting_per_base / per_unit, np.nan)
    factor = np.where(rows["currency"].to_numpy() == reporting, 1.0, factor)
    return pd.Series(factor, index=rows.index)
