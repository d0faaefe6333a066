"""The request field of the on-demand view `elapsed_days` (feature_repo/on_demand.py): the instant of a read.

Day counts (`tenure_days`, `days_since_last_purchase`, `days_since_last_interaction`) are computed when read,
from stored timestamps and `as_of`. Online, `as_of` is the time of the read; offline, each entity row's own
timestamp, so a training row holds what an online read at that instant would have returned.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

import pandas as pd

AS_OF = "as_of"
TIME_COLUMN = "event_timestamp"


def online_rows(
    entity_rows: Iterable[Mapping[str, Any]], as_of: datetime | None = None
) -> list[dict[str, Any]]:
    """Entity rows for `get_online_features` with `as_of` (now, unless given or already in a row)."""
    when = (as_of or datetime.now(UTC)).astimezone(UTC)
    return [{AS_OF: when, **row} for row in entity_rows]


def offline_rows(entity_df: pd.DataFrame) -> pd.DataFrame:
    """Entity rows for `get_historical_features` with `as_of` = each row's event_timestamp (unless given)."""
    if AS_OF in entity_df.columns:
        return entity_df
    return entity_df.assign(**{AS_OF: pd.to_datetime(entity_df[TIME_COLUMN], utc=True)})
