"""The customer side of recommendations, in the lake and keyed by customer_id, so erasure removes it by key
(`c360.recs.erasure`) and no model version ever holds it.

- `recs/customers/`: the purchase lines the scorer builds each customer's history from: `snapshot.parquet`
  (the facts' purchases as of the last `c360 train recs` or scoring run) plus `update-*.parquet` files
  that incremental updates append (`c360.recs.incremental`); readers take the union, one row per
  (customer, order, product). A snapshot drops the update files it covers.
- `recommendations/`: each customer's top n with reasons, the model version and the time it was scored:
  `part-<run>.parquet` per scoring run (a run replaces the earlier files) and `update-*.parquet` per
  incremental update; readers keep each customer's latest list.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import UTC, datetime

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from c360.workspace import Workspace

HISTORY = "recs/customers"
LISTS = "recommendations"
HISTORY_SCHEMA = pa.schema(
    [
        ("customer_id", pa.string()),
        ("order_id", pa.string()),
        ("ts", pa.timestamp("us", "UTC")),
        ("product_id", pa.string()),
        ("quantity", pa.float64()),
        ("kind", pa.string()),
    ]
)
LIST_SCHEMA = pa.schema(
    [
        ("customer_id", pa.string()),
        ("rank", pa.int32()),
        ("product_id", pa.string()),
        ("score", pa.float64()),
        ("reason", pa.string()),
        ("personalized", pa.bool_()),
        ("model_version", pa.string()),
        ("scored_at", pa.timestamp("us", "UTC")),
    ]
)


def _stamp() -> str:
    return f"{datetime.now(UTC).strftime('%Y%m%dT%H%M%S%fZ')}-{uuid.uuid4().hex[:8]}"


def _table(frame: pd.DataFrame, schema: pa.Schema) -> pa.Table:
    cols = {}
    for f in schema:
        values = frame[f.name] if f.name in frame.columns else pd.Series([None] * len(frame))
        if pa.types.is_timestamp(f.type):
            values = pd.to_datetime(values, utc=True)
        cols[f.name] = pa.array(values, type=f.type, from_pandas=True)
    return pa.table(cols, schema=schema)


def _read(ws: Workspace, folder: str, schema: pa.Schema, customer_ids: Sequence[str] | None) -> pd.DataFrame:
    paths = sorted(ws.lake.glob(f"{folder}/*.parquet"))
    wanted = None if customer_ids is None else list(customer_ids)
    frames = []
    for path in paths:
        table = ws.lake.read_table(path, schema=schema)
        if wanted is not None:
            table = table.filter(pc.is_in(table["customer_id"], pa.array(wanted, pa.string())))
        frames.append(table)
    table = pa.concat_tables(frames) if frames else schema.empty_table()
    frame = table.to_pandas()
    for f in schema:
        if pa.types.is_timestamp(f.type):
            frame[f.name] = pd.to_datetime(frame[f.name], utc=True)
    return frame


# ------------------------------------------------------------------------------------------ histories


def write_history(ws: Workspace, lines: pd.DataFrame) -> str:
    """Replace the snapshot with `lines` (purchase lines); drop the update files it covers (every row at or
    before its newest line). Returns its path."""
    keep = lines[(lines["kind"] == "purchase") & (lines["quantity"] > 0) & lines["product_id"].notna()]
    table = _table(keep, HISTORY_SCHEMA)
    path = ws.lake.path(HISTORY, "snapshot.parquet")
    ws.lake.replace_table(table, path)
    newest = keep["ts"].max() if len(keep) else None
    for update in ws.lake.glob(f"{HISTORY}/update-*.parquet"):
        ts = ws.lake.read_table(update, columns=["ts"])["ts"].to_pandas()
        if newest is not None and (ts.empty or pd.to_datetime(ts, utc=True).max() <= newest):
            ws.lake.rm(update)
    return path


def append_history(ws: Workspace, lines: pd.DataFrame) -> str:
    """New purchase lines of some customers as an update file; returns its path."""
    path = ws.lake.path(HISTORY, f"update-{_stamp()}.parquet")
    ws.lake.replace_table(_table(lines, HISTORY_SCHEMA), path)
    return path


def read_history(ws: Workspace, customer_ids: Sequence[str] | None = None) -> pd.DataFrame:
    """The purchase lines of `customer_ids` (everyone when None), snapshot and updates, without repeats."""
    frame = _read(ws, HISTORY, HISTORY_SCHEMA, customer_ids)
    return frame.drop_duplicates(["customer_id", "order_id", "product_id"], keep="last").reset_index(
        drop=True
    )


# ------------------------------------------------------------------------------------------ lists


def write_lists(ws: Workspace, lists: pd.DataFrame, run_id: str) -> str:
    """A scoring run's lists (LIST_SCHEMA's columns) as `recommendations/part-<run_id>.parquet`; earlier
    files go. Returns its path."""
    path = ws.lake.path(LISTS, f"part-{run_id}.parquet")
    ws.lake.replace_table(_table(lists, LIST_SCHEMA), path)
    for old in ws.lake.glob(f"{LISTS}/*.parquet"):
        if old != path:
            ws.lake.rm(old)
    return path


def append_lists(ws: Workspace, lists: pd.DataFrame) -> str:
    """Some customers' new lists (an incremental update) as an update file; returns its path."""
    path = ws.lake.path(LISTS, f"update-{_stamp()}.parquet")
    ws.lake.replace_table(_table(lists, LIST_SCHEMA), path)
    return path


def read_lists(ws: Workspace, customer_ids: Sequence[str] | None = None) -> pd.DataFrame:
    """Each customer's latest list (by scored_at), ranked."""
    frame = _read(ws, LISTS, LIST_SCHEMA, customer_ids)
    if frame.empty:
        return frame
    latest = frame.groupby("customer_id")["scored_at"].transform("max")
    frame = frame[frame["scored_at"] == latest]
    return frame.sort_values(["customer_id", "rank"], kind="stable").reset_index(drop=True)
