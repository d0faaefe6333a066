"""Synthetic fact tables (in c360.facts.schemas.SCHEMAS) and golden rows for feature-history tests.

Seeded; a few hundred customers over two years, with the awkward cases the profile's aggregates handle:
returns and cancellations, multi-line orders, lines without a category, customers with only interactions,
tickets with and without text, sentiment missing on some, customers first observed after their first fact.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa

from c360.facts.schemas import INTERACTIONS, PRODUCTS, SCHEMAS, TRANSACTION_LINES
from c360.facts.store import single_file
from c360.identity.store import IdentityStore
from c360.io.lake import Lake
from c360.profile.staging import partition_of

START = pd.Timestamp("2024-01-01", tz="UTC")
END = pd.Timestamp("2025-12-31", tz="UTC")
CATEGORIES = ["books", "toys", "garden", "kitchen", "sports", None]
TYPES = [
    "support_ticket", "web_visit", "app_session", "email_send", "email_open", "email_click",
    "campaign_response", "social_mention",
]  # fmt: skip
CHANNELS = ["email", "web", "app", "sms", None]


@dataclass
class Facts:
    golden: pd.DataFrame
    tx: pa.Table
    inter: pa.Table
    products: pa.Table


def _times(rng: np.random.Generator, n: int, start: pd.Timestamp, end: pd.Timestamp) -> pd.Series:
    span = int((end - start).total_seconds())
    return pd.Series(start + pd.to_timedelta(rng.integers(0, span, n), unit="s")).dt.floor("s")


def _table(name: str, frame: pd.DataFrame) -> pa.Table:
    schema = SCHEMAS[name]
    cols = {}
    for f in schema:
        if f.name in frame:
            cols[f.name] = pa.array(frame[f.name].tolist(), type=f.type, from_pandas=True)
        else:
            cols[f.name] = pa.nulls(len(frame), f.type)
    return pa.table(cols, schema=schema)


def synthetic_facts(customers: int = 300, seed: int = 7) -> Facts:
    rng = np.random.default_rng(seed)
    ids = [f"cus_{i:05d}" for i in range(customers)]
    golden = pd.DataFrame(
        {
            "customer_id": ids,
            "first_observed": _times(rng, customers, START - pd.Timedelta(days=200), END).to_numpy(),
            "birth_date": pd.to_datetime(
                pd.Series(rng.integers(1950, 2005, customers)).astype(str) + "-06-15"
            ).dt.date.to_numpy(),
            "gender": rng.choice(["female", "male", None], customers),
            "country": rng.choice(["GB", "US", "DE"], customers),
        }
    )
    golden["first_observed"] = pd.to_datetime(golden["first_observed"], utc=True)

    # transaction lines: orders of 1-3 lines; 15% of customers never buy
    buyers = [c for c in ids if rng.random() > 0.15]
    orders = []
    for c in buyers:
        for o in range(int(rng.integers(1, 9))):
            orders.append((c, f"{c}-o{o}"))
    rows = []
    order_ts = _times(rng, len(orders), START, END)
    for (c, oid), ts in zip(orders, order_ts, strict=True):
        kind = rng.choice(["purchase", "return", "cancel"], p=[0.85, 0.1, 0.05])
        for line in range(int(rng.integers(1, 4))):
            qty = int(rng.integers(1, 4))
            price = float(np.round(rng.uniform(2, 80), 2))
            rate = float(rng.choice([1.0, 0.79, 1.17]))
            sign = -1 if kind == "return" else 1
            rows.append(
                {
                    "customer_id": c, "order_id": oid, "line": line + 1,
                    "ts": ts + pd.Timedelta(seconds=line), "product_id": f"p{int(rng.integers(0, 40)):03d}",
                    "category": CATEGORIES[int(rng.integers(0, len(CATEGORIES)))], "quantity": qty,
                    "unit_price": price, "amount": sign * qty * price, "currency": "GBP", "fx_rate": rate,
                    "unit_price_rc": price * rate, "amount_rc": sign * qty * price * rate, "kind": kind,
                    "channel": "web", "source": "shop", "source_record_id": f"{oid}-{line}",
                }
            )  # fmt: skip
    tx = pd.DataFrame(rows)

    # interactions: 0-25 per customer (some customers only interact)
    irows = []
    for c in ids:
        n = int(rng.integers(0, 26))
        for ts, typ in zip(_times(rng, n, START, END), rng.choice(TYPES, n), strict=True):
            text = typ in ("support_ticket", "social_mention") and rng.random() > 0.2
            score = float(np.round(rng.uniform(-1, 1), 4)) if text and rng.random() > 0.1 else None
            status = rng.choice(["open", "closed"]) if typ == "support_ticket" else None
            attrs = {"status": status} if status else {}
            irows.append(
                {
                    "customer_id": c, "ts": ts, "type": typ,
                    "channel": CHANNELS[int(rng.integers(0, len(CHANNELS)))],
                    "text": "some words" if text else None,
                    "sentiment": score,
                    "status": status, "attributes": json.dumps(attrs), "source": "crm",
                }
            )  # fmt: skip
    inter = pd.DataFrame(irows)
    products = pd.DataFrame(
        {
            "product_id": [f"p{i:03d}" for i in range(36)],  # p036..p039 are sold but not in the catalogue
            "category": [CATEGORIES[i % 5] for i in range(36)],
            "price_rc": [float(5 + 3 * i) if i % 7 else None for i in range(36)],
            "title": [f"Product {i}" for i in range(36)],
        }
    )
    tx = tx.sort_values(["customer_id", "ts"], kind="mergesort")
    inter = inter.sort_values(["customer_id", "ts"], kind="mergesort")
    return Facts(
        golden, _table(TRANSACTION_LINES, tx), _table(INTERACTIONS, inter), _table(PRODUCTS, products)
    )


def write_fact_partitions(lake: Lake, facts: Facts, partitions: int) -> None:
    """facts/<table>/part-<p>.parquet as the facts stage lays them out, and the products file."""
    for name, table in ((TRANSACTION_LINES, facts.tx), (INTERACTIONS, facts.inter)):
        parts = partition_of(table["customer_id"].to_numpy(zero_copy_only=False), partitions)
        for p in range(partitions):
            chunk = table.filter(pa.array(parts == p))
            lake.write_table(chunk, lake.path("facts", name, f"part-{p:05d}.parquet"))
    lake.write_table(facts.products, single_file(lake, PRODUCTS))


def write_golden(lake: Lake, golden: pd.DataFrame) -> None:
    """identity/golden as resolve leaves it (only the columns feature history reads)."""
    IdentityStore(lake).write("golden", pa.Table.from_pandas(golden, preserve_index=False))
