"""Hand-made identity records for the comparison and clustering tests."""

from __future__ import annotations

import pandas as pd

from c360.identity.config import IDENTITY_FIELDS


def identity_records(rows: list[dict]) -> pd.DataFrame:
    """Standardized identity rows from partial dicts: every identity field present (None unless given), one
    source `s`, record keys `s:0`, `s:1`, ... in row order."""
    base = dict.fromkeys(f for f in IDENTITY_FIELDS if f != "source")
    df = pd.DataFrame([{**base, "source": "s", "source_record_id": str(i), **r} for i, r in enumerate(rows)])
    df["record_key"] = df["source"] + ":" + df["source_record_id"]
    return df
