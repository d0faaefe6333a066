"""A small workspace whose churn is learnable: facts, feature rows at monthly builds, Feast applied.

Half of the customers are loyal (they buy every few weeks to the end), the rest stop buying at a random
time. Feature rows written at each build hold the truth as of the build (`total_purchases`,
`last_purchase_at` from the facts) and an engagement score that follows loyalty with noise; every other
feature is noise. A churn model must rank the stoppers above the loyal on held-out cutoffs; a constant or a
shuffled model cannot.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa

from c360.facts.schemas import INTERACTIONS, SCHEMAS, TRANSACTION_LINES
from c360.features.store import apply
from c360.profile.feature_tables import VIEW_SCHEMAS
from c360.profile.staging import partition_of
from c360.workspace import Workspace, init_workspace

START, END = pd.Timestamp("2024-01-01", tz="UTC"), pd.Timestamp("2026-06-30", tz="UTC")
BUILDS = list(pd.date_range("2024-01-15", "2026-06-25", freq="28D", tz="UTC"))


def _write_fact(ws: Workspace, table: str, frame: pd.DataFrame, partitions: int = 2) -> None:
    schema = SCHEMAS[table]
    frame = frame.sort_values(["customer_id", "ts"], ignore_index=True)
    part = partition_of(frame["customer_id"], partitions)
    for p in range(partitions):
        rows = frame[part == p]
        cols = {
            f.name: pa.array(rows[f.name], type=f.type, from_pandas=True)
            if f.name in rows
            else pa.nulls(len(rows), f.type)
            for f in schema
        }
        path = ws.lake.path("facts", table, f"part-{p:05d}.parquet")
        ws.lake.write_table(pa.table(cols, schema=schema), path)


def churn_facts(customers: int, seed: int) -> tuple[pd.DataFrame, pd.DataFrame, pd.Series]:
    """(transaction lines, interactions, loyal flag per customer)."""
    rng = np.random.default_rng(seed)
    span = (END - START).total_seconds()
    lines, visits, loyal = [], [], {}
    for i in range(customers):
        cid = f"cus_{i:05d}"
        loyal[cid] = bool(rng.random() < 0.5)
        first = START + pd.Timedelta(seconds=int(rng.uniform(0, span * 0.3)))
        stop = (
            END
            if loyal[cid]
            else first + pd.Timedelta(seconds=int(rng.uniform(0.1, 1.0) * (END - first).total_seconds()))
        )
        t, k = first, 0
        while t <= stop:
            amount = round(float(rng.uniform(10, 120)), 2)
            lines.append({"customer_id": cid, "order_id": f"o{i}-{k}", "line": 1, "ts": t, "kind": "purchase",
                          "category": "books", "quantity": 1, "amount": amount, "currency": "USD",
                          "fx_rate": 1.0, "amount_rc": amount})  # fmt: skip
            t += pd.Timedelta(seconds=int(86400 * (rng.exponential(18 if loyal[cid] else 30) + 1)))
            k += 1
        visits.append({"customer_id": cid, "ts": first - pd.Timedelta(days=2), "type": "web_visit"})
    lines.append({"customer_id": "cus_00000", "order_id": "end", "line": 1, "ts": END, "kind": "purchase",
                  "category": "books", "quantity": 1, "amount": 1.0, "currency": "USD", "fx_rate": 1.0,
                  "amount_rc": 1.0})  # fmt: skip
    return pd.DataFrame(lines), pd.DataFrame(visits), pd.Series(loyal)


def _noise(rng: np.random.Generator, field: pa.Field, n: int, at: pd.Timestamp) -> pa.Array:
    t = field.type
    if pa.types.is_timestamp(t):
        return pa.array(at - pd.to_timedelta(rng.integers(0, 400, n), unit="D"), type=t)
    if pa.types.is_string(t):
        return pa.array(rng.choice(["a", "b", "c"], n), type=t)
    if pa.types.is_floating(t):
        return pa.array(rng.uniform(0, 100, n), type=t)
    return pa.array(rng.integers(0, 50, n), type=t)


def write_features(
    ws: Workspace, lines: pd.DataFrame, visits: pd.DataFrame, loyal: pd.Series, seed: int
) -> None:
    rng = np.random.default_rng(seed + 1)
    first = (
        pd.concat([lines[["customer_id", "ts"]], visits[["customer_id", "ts"]]])
        .groupby("customer_id")["ts"]
        .min()
    )
    for b, at in enumerate(BUILDS):
        ids = sorted(first[first <= at].index)
        if not ids:
            continue
        bought = lines[(lines["ts"] <= at) & lines["customer_id"].isin(ids)].groupby("customer_id")["ts"]
        count = bought.size().reindex(ids).fillna(0).astype("int64")
        last = bought.max().reindex(ids)
        engaged = np.where(loyal.reindex(ids).to_numpy(dtype=bool), 60.0, 35.0) + rng.normal(0, 12, len(ids))
        truth = {
            "total_purchases": pa.array(count.to_numpy(), pa.int64()),
            "last_purchase_at": pa.array(last, VIEW_SCHEMAS["transactions"].field("last_purchase_at").type),
            "engagement_score": pa.array(np.round(engaged).astype("int64"), pa.int64()),
            "first_seen_at": pa.array(
                first.reindex(ids), VIEW_SCHEMAS["profile"].field("first_seen_at").type
            ),
        }
        for view in ("profile", "transactions", "engagement_rfm", "support_sentiment"):
            schema = VIEW_SCHEMAS[view]
            stamp = pa.array([at] * len(ids), schema.field("event_timestamp").type)
            cols = {"customer_id": pa.array(ids, pa.string()), "event_timestamp": stamp}
            for f in schema:
                if f.name not in cols:
                    cols[f.name] = truth[f.name] if f.name in truth else _noise(rng, f, len(ids), at)
            path = ws.lake.path("features", view, f"part-{b:03d}.parquet")
            ws.lake.write_table(pa.table(cols, schema=schema), path)


def churn_workspace(root: Path, customers: int = 400, seed: int = 5) -> Workspace:
    init_workspace(root)
    ws = Workspace.load(root)
    lines, visits, loyal = churn_facts(customers, seed)
    _write_fact(ws, TRANSACTION_LINES, lines)
    _write_fact(ws, INTERACTIONS, visits)
    apply(ws)
    write_features(ws, lines, visits, loyal, seed)
    return ws
