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
STORED_TIMES = ("first_seen_at", "last_purchase_at", "last_interaction_at")
"""The inputs of the day counts: Feast returns them beside an on-demand view's outputs even when not asked."""


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


def without_unrequested_inputs(frame: pd.DataFrame, features: Any) -> pd.DataFrame:
    """A historical result without the stored times nobody asked for (a feature service or `view:feature`
    references): an absolute time is no model feature, and a training set holds what was requested."""
    if isinstance(features, str | list | tuple):
        names = {str(ref).split(":")[-1] for ref in ([features] if isinstance(features, str) else features)}
    else:  # a FeatureService
        names = {f.name for p in features.feature_view_projections for f in p.features}
    drop = [c for c in STORED_TIMES if c in frame.columns and c not in names]
    return frame.drop(columns=drop)
