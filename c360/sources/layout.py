"""Where ingest writes, in one place, and how later stages read it back.

    standardized/<record>/source=<source>/load_date=<YYYY-MM-DD>/<file_set>-<hash of input path>.parquet
    quarantine/<source>/<file_set>/load_date=<YYYY-MM-DD>/<hash of input path>.parquet
    _state/ingest/<source>/<file_set>.json

Standardized files carry a `source` column *and* sit under `source=` folders (a reader can prune by source).
pyarrow's hive discovery would read the folder name as a dictionary column that clashes with the file's
string column, so read them with `read_standardized` (or `partitioning=None`); Ray Data's `read_parquet`
is fine as is.
"""

from __future__ import annotations

import hashlib

import pyarrow as pa
import pyarrow.dataset as ds

from c360.io.lake import Lake
from c360.schemas import QUARANTINE_SCHEMA, standardized_schema

HIVE_KEYS = pa.schema([("source", pa.string()), ("load_date", pa.string())])


def file_hash(rel: str) -> str:
    """A stable short name for an input file: the same raw path always maps to the same output names."""
    return hashlib.sha256(rel.encode("utf-8")).hexdigest()[:16]


def standardized_rel(record: str, source: str, file_set: str, load_date: str, rel: str) -> str:
    return f"standardized/{record}/source={source}/load_date={load_date}/{file_set}-{file_hash(rel)}.parquet"


def quarantine_rel(source: str, file_set: str, load_date: str, rel: str) -> str:
    return f"quarantine/{source}/{file_set}/load_date={load_date}/{file_hash(rel)}.parquet"


def read_standardized(lake: Lake, record: str, source: str | None = None) -> pa.Table:
    """Every standardized row of one record type (of one source), in `standardized_schema(record)`."""
    schema = standardized_schema(record)
    root = (
        lake.path("standardized", record)
        if source is None
        else lake.path("standardized", record, f"source={source}")
    )
    if not lake.fs.exists(root):
        return schema.empty_table()
    dataset = ds.dataset(root, filesystem=lake.arrow_fs, format="parquet", schema=schema, partitioning=None)
    return dataset.to_table()


def read_quarantine(lake: Lake, source: str | None = None) -> pa.Table:
    """Every quarantine entry (of one source), in QUARANTINE_SCHEMA."""
    root = lake.path("quarantine") if source is None else lake.path("quarantine", source)
    if not lake.fs.exists(root):
        return QUARANTINE_SCHEMA.empty_table()
    dataset = ds.dataset(
        root, filesystem=lake.arrow_fs, format="parquet", schema=QUARANTINE_SCHEMA, partitioning=None
    )
    return dataset.to_table()
