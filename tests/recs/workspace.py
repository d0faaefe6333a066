"""A small workspace for the recommendation stage: the seeded shop of `tests.recs.make_world` written as the
facts (`transaction_lines`, `products`) and profiles whose consent says who may get a personal list."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pyarrow as pa

from c360.facts.schemas import PRODUCTS, SCHEMAS, TRANSACTION_LINES
from c360.workspace import Workspace, init_workspace
from tests.models.churn_world import _write_fact
from tests.recs import make_world, products_of

CONSENTED_SHARE = 5
"""Every customer but one in CONSENTED_SHARE has personalization consent on the web."""


def consent_of(customer_id: str) -> dict:
    granted = int(customer_id[1:]) % CONSENTED_SHARE != 0
    return {
        "personalization": {"web": {"granted": granted, "ts": "2011-01-01T00:00:00+00:00", "source": "t"}}
    }


def write_products(ws: Workspace, products: pd.DataFrame) -> None:
    schema = SCHEMAS[PRODUCTS]
    cols = {
        f.name: pa.array(products[f.name], type=f.type)
        if f.name in products
        else pa.nulls(len(products), f.type)
        for f in schema
    }
    ws.lake.write_table(pa.table(cols, schema=schema), ws.lake.path("facts", PRODUCTS, "part-00000.parquet"))


def write_profiles(ws: Workspace, customers: list[str]) -> None:
    """Just what scoring reads from `profiles/`: customer_id and the consent section (JSON text)."""
    table = pa.table(
        {"customer_id": customers, "consent": [json.dumps(consent_of(c)) for c in customers]},
    )
    ws.lake.write_table(table, ws.lake.path("profiles", "part-00000.parquet"))


def recs_workspace(root: Path, customers: int = 240, seed: int = 0) -> tuple[Workspace, pd.DataFrame]:
    """(the workspace, its transaction lines)."""
    init_workspace(root)
    ws = Workspace.load(root)
    lines = make_world(customers=customers, seed=seed)
    lines = lines.assign(line=1, amount=1.0, currency="USD", ts=lines["ts"].dt.floor("s"))
    _write_fact(ws, TRANSACTION_LINES, lines)
    write_products(ws, products_of(lines))
    write_profiles(ws, sorted(lines["customer_id"].unique()))
    return ws, lines
