"""Time-relative features, computed when they are read (a Feast on-demand feature view).

The batch views store when things happened (`first_seen_at`, `last_purchase_at`, `last_interaction_at`);
`elapsed_days` turns them into whole days before `as_of`, a request field the caller passes. Online,
`as_of` is the time of the read (c360 passes now); offline, it is each entity row's own timestamp (c360
copies `event_timestamp` into it). The same function on the same stored values and the same instant gives
the same number, so an online value equals the offline one, and a quiet customer's count keeps growing
instead of freezing at the last run that touched them.

Day counts are floored, like `(as_of - ts).days`; a customer with no purchase (no interaction) has none.
"""

import pandas as pd
from feast import Field, RequestSource
from feast.on_demand_feature_view import on_demand_feature_view
from feast.types import Int64, UnixTimestamp
from feature_views import engagement_rfm, profile, transactions

AS_OF = "as_of"

as_of_request = RequestSource(
    name="as_of_request",
    schema=[Field(name=AS_OF, dtype=UnixTimestamp)],
    description="The instant the features are read at: now online, the entity row's time offline.",
)


@on_demand_feature_view(
    sources=[
        profile[["first_seen_at"]],
        transactions[["last_purchase_at"]],
        engagement_rfm[["last_interaction_at"]],
        as_of_request,
    ],
    schema=[
        Field(name="tenure_days", dtype=Int64),
        Field(name="days_since_last_purchase", dtype=Int64),
        Field(name="days_since_last_interaction", dtype=Int64),
    ],
    mode="pandas",
    description="Whole days from each stored timestamp to the request's as_of.",
    tags={"stage": "features"},
)
def elapsed_days(inputs: pd.DataFrame) -> pd.DataFrame:
    as_of = pd.to_datetime(inputs["as_of"], utc=True)

    def days(column: str) -> pd.Series:
        delta = as_of - pd.to_datetime(inputs[column], utc=True)
        return delta.dt.days.astype("Int64")

    return pd.DataFrame(
        {
            "tenure_days": days("first_seen_at"),
            "days_since_last_purchase": days("last_purchase_at"),
            "days_since_last_interaction": days("last_interaction_at"),
        }
    )
