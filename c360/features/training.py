"""Point-in-time-correct training sets as Ray Datasets.

`get_historical_features` joins, for each entity row, the latest feature row whose event_timestamp is at or
before the row's label time (and within the view's ttl), so no value from after the label leaks in. Erased
customers are removed from the entity rows before the join and from the result after it.

The workspace's offline store is Feast's file store with the join done by DuckDB ASOF joins
(c360.features.offline_store): every entity row comes back, in its order, with nulls where a view has no
row for it yet, so all of a service's views can be asked for at once.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pandas as pd
import pyarrow as pa

from c360.errors import ValidationError
from c360.features.request import offline_rows, without_unrequested_inputs
from c360.features.store import open_feature_store
from c360.privacy.suppression import exclude_suppressed
from c360.workspace import Workspace

TIME_COLUMN = "event_timestamp"


def historical_features(
    ws: Workspace, entity_rows: pd.DataFrame, features: str | Sequence[str], store: Any | None = None
) -> pa.Table:
    """The joined table: entity rows (customer_id, event_timestamp = label time, labels...) plus features.

    `features` is a feature service name (a model's contract) or a list of `view:feature` references.
    """
    missing = {"customer_id", TIME_COLUMN} - set(entity_rows.columns)
    if missing:
        raise ValidationError(f"entity rows need columns {sorted(missing)}")
    rows = entity_rows.copy()
    rows[TIME_COLUMN] = pd.to_datetime(rows[TIME_COLUMN], utc=True)
    rows = offline_rows(rows)  # day counts (feature_repo/on_demand.py) at each row's own time
    kept = exclude_suppressed(ws, pa.Table.from_pandas(rows, preserve_index=False))
    store = store or open_feature_store(ws)
    refs: Any = store.get_feature_service(features) if isinstance(features, str) else list(features)
    job = store.get_historical_features(entity_df=kept.to_pandas(), features=refs, full_feature_names=False)
    table = pa.Table.from_pandas(without_unrequested_inputs(job.to_df(), refs), preserve_index=False)
    return exclude_suppressed(ws, table)


def training_dataset(
    ws: Workspace, entity_rows: pd.DataFrame, features: str | Sequence[str], store: Any | None = None
) -> Any:
    """`historical_features` as a Ray Dataset, for Ray Train / Tune."""
    import ray.data

    return ray.data.from_arrow(historical_features(ws, entity_rows, features, store=store))
