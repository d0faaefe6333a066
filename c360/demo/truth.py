"""Ground truth under `ground_truth/` (parquet), which the pipeline never reads and evaluations do.

- identity_map: every identity row -> the person behind it (source, file_set, source_record_id, person_id)
- people: one row per person: household, true name (and Jr / Sr suffix) / birth date / address, segment,
  preferences, churn (flag, date, latent risk) and the traits customer value follows from
- sentiment: the label of every support ticket and social mention
- bad_rows: every row spoiled on purpose (file relative to the lake root, 1-based row, canonical field,
  reason)
- counts: rows written and rows spoiled per file set, so ingest can be checked to accept exactly the
  difference
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from c360.demo import vec
from c360.demo.catalogue import CATEGORIES, CATEGORY_NAMES
from c360.demo.layout import FileSet
from c360.demo.people import NEVER, SOURCES, People, monthly_hazard
from c360.demo.world import CHANNELS, COUNTRIES, CURRENCIES, FX_FROM_USD, SEASON, SEGMENTS, World
from c360.demo.writers import Injected

IDENTITY_MAP = pa.schema(
    [
        ("source", pa.string()),
        ("file_set", pa.string()),
        ("source_record_id", pa.string()),
        ("person_id", pa.string()),
    ]
)
PEOPLE = pa.schema(
    [
        ("person_id", pa.string()),
        ("household_id", pa.string()),
        ("first_name", pa.string()),
        ("last_name", pa.string()),
        ("name_suffix", pa.string()),
        ("gender", pa.string()),
        ("birth_date", pa.date32()),
        ("street", pa.string()),
        ("city", pa.string()),
        ("postcode", pa.string()),
        ("state", pa.string()),
        ("country", pa.string()),
        ("moved_at", pa.timestamp("s", "UTC")),
        ("segment", pa.string()),
        ("preferred_categories", pa.list_(pa.string())),
        ("preferred_channel", pa.string()),
        ("sources", pa.list_(pa.string())),
        ("acquired_at", pa.timestamp("s", "UTC")),
        ("churned", pa.bool_()),
        ("churn_date", pa.date32()),
        ("churn_risk", pa.float64()),
        ("orders_per_month", pa.float64()),
        ("expected_order_value", pa.float64()),
        ("return_rate", pa.float64()),
        ("email_engagement", pa.float64()),
        ("currency", pa.string()),
        ("expected_12m_value", pa.float64()),
    ]
)
SENTIMENT = pa.schema(
    [
        ("source", pa.string()),
        ("file_set", pa.string()),
        ("source_record_id", pa.string()),
        ("label", pa.string()),
    ]
)
BAD_ROWS = pa.schema(
    [
        ("source", pa.string()),
        ("file_set", pa.string()),
        ("file", pa.string()),
        ("row", pa.int64()),
        ("field", pa.string()),
        ("reason", pa.string()),
        ("column", pa.string()),
        ("value", pa.string()),
    ]
)
COUNTS = pa.schema(
    [
        ("source", pa.string()),
        ("file_set", pa.string()),
        ("files", pa.int64()),
        ("rows_written", pa.int64()),
        ("bad_rows", pa.int64()),
    ]
)
TABLES = {"identity_map": IDENTITY_MAP, "people": PEOPLE, "sentiment": SENTIMENT, "bad_rows": BAD_ROWS}

_CATEGORY_RETURN = np.array([c[3] for c in CATEGORIES])


def identity_map(
    source: str, file_set: str, record_ids: pa.Array, people: People, person: np.ndarray
) -> pa.Table:
    n = len(record_ids)
    return pa.table(
        {
            "source": pa.array([source] * n, pa.string()),
            "file_set": pa.array([file_set] * n, pa.string()),
            "source_record_id": record_ids,
            "person_id": vec.take(people.person_id, person),
        },
        schema=IDENTITY_MAP,
    )


def _value_traits(world: World, people: People) -> tuple[np.ndarray, np.ndarray]:
    """Expected order value (net of returns, local currency) and expected value of the next 12 months."""
    fx = FX_FROM_USD[people.country]
    per_category = people.tiers @ world.catalogue.mean_price_cents.T / 100.0  # [n, categories]
    line_value = (people.prefs * per_category).sum(axis=1) * 1.15  # mean quantity
    kept = 1.0 - people.return_rate * (people.prefs * _CATEGORY_RETURN).sum(axis=1)
    order_value = line_value * (1.0 + people.basket) * kept * fx
    hazard = monthly_hazard(people.risk)
    survival = (1.0 - np.exp(-12 * hazard)) / (12 * hazard)
    value_12m = people.rate * 12 * SEASON.mean() * order_value * survival
    value_12m = np.where(people.churned | ~people.buyer, 0.0, value_12m)
    return np.where(people.buyer, order_value, 0.0), value_12m


def people_table(world: World, people: People) -> pa.Table:
    order_value, value_12m = _value_traits(world, people)
    rows, cols = np.nonzero(people.in_source)
    offsets = np.r_[0, np.cumsum(np.bincount(rows, minlength=people.n))].astype(np.int32)
    sources = pa.ListArray.from_arrays(pa.array(offsets), vec.take(pa.array(SOURCES), cols))
    top = np.argsort(-people.prefs, axis=1)[:, :3].reshape(-1)
    top_offsets = pa.array(np.arange(people.n + 1, dtype=np.int32) * 3)
    preferred = pa.ListArray.from_arrays(top_offsets, vec.take(pa.array(CATEGORY_NAMES), top))
    churn_day = np.where(people.churned, people.churn_ts // vec.DAY, 0).astype("datetime64[D]")
    moved = people.move_ts != NEVER
    return pa.table(
        {
            "person_id": people.person_id,
            "household_id": vec.join("H", vec.codes(people.household_gid, 8)),
            "first_name": people.first,
            "last_name": people.last,
            "name_suffix": people.suffix,
            "gender": vec.take(pa.array(["female", "male", "other"]), people.gender),
            "birth_date": pa.array(people.birth_day.astype("datetime64[D]"), pa.date32()),
            "street": people.address["street"],
            "city": people.address["city"],
            "postcode": people.address["postcode"],
            "state": people.address["state"],
            "country": vec.take(pa.array(COUNTRIES), people.country),
            "moved_at": vec.null_where(~moved, vec.timestamps(np.where(moved, people.move_ts, 0))),
            "segment": vec.take(pa.array(SEGMENTS), people.segment),
            "preferred_categories": preferred,
            "preferred_channel": vec.take(pa.array(CHANNELS), people.pref_channel),
            "sources": sources,
            "acquired_at": vec.timestamps(people.acq_ts),
            "churned": pa.array(people.churned),
            "churn_date": vec.null_where(~people.churned, pa.array(churn_day, pa.date32())),
            "churn_risk": pa.array(people.risk),
            "orders_per_month": pa.array(people.rate),
            "expected_order_value": pa.array(np.round(order_value, 2)),
            "return_rate": pa.array(people.return_rate),
            "email_engagement": pa.array(people.engagement),
            "currency": vec.take(pa.array(CURRENCIES), people.country),
            "expected_12m_value": pa.array(np.round(value_12m, 2)),
        },
        schema=PEOPLE,
    )


def bad_rows_table(fs: FileSet, path: str, injected: Injected) -> pa.Table:
    n = len(injected.rows)
    specs = fs.defects
    return pa.table(
        {
            "source": pa.array([fs.source] * n, pa.string()),
            "file_set": pa.array([fs.name] * n, pa.string()),
            "file": pa.array([path] * n, pa.string()),
            "row": pa.array(injected.rows + 1, pa.int64()),
            "field": vec.take(pa.array([s.field for s in specs], pa.string()), injected.defect),
            "reason": vec.take(pa.array([s.reason for s in specs], pa.string()), injected.defect),
            "column": vec.take(pa.array([s.column for s in specs], pa.string()), injected.defect),
            "value": vec.take(pa.array([s.value for s in specs], pa.string()), injected.defect),
        },
        schema=BAD_ROWS,
    )
