"""A small demo workspace through init -> demo-data -> ingest -> resolve, for profile and feature tests."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from c360.identity.resolve import resolve
from c360.identity.store import IdentityStore
from c360.sources.demo import generate_demo_data
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
