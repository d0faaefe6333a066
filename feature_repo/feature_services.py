"""One feature service per model: the model's feature contract.

The models stage registers each trained version as its own service (`churn_v3`, ...) with the same features
and tags pointing at the artifact; these unversioned services are what the next training run starts from.

Stored timestamps (`*_at`) are inputs of the on-demand view `elapsed_days`, not model features: a service
takes the day counts it computes at read time, and reading one needs the request field `as_of`
(c360.features.request).
"""

from feast import FeatureService
from feast.feature_view import FeatureView
from feast.feature_view_projection import FeatureViewProjection
from feature_views import (
    engagement_rfm,
    ml_scores,
    profile,
    realtime_signals,
    support_sentiment,
    transactions,
)
from on_demand import elapsed_days

TIMESTAMPS = {"first_seen_at", "last_purchase_at", "last_interaction_at"}


def values_of(view: FeatureView) -> FeatureView | FeatureViewProjection:
    """The view without its stored timestamps."""
    return view[[f.name for f in view.features if f.name not in TIMESTAMPS]]


churn = FeatureService(
    name="churn",
    features=[
        values_of(profile),
        values_of(transactions),
        values_of(engagement_rfm),
        support_sentiment,
        realtime_signals,
        elapsed_days,
    ],
    description="Churn risk: who is about to stop buying.",
    tags={"model": "churn"},
)

clv = FeatureService(
    name="clv",
    features=[values_of(profile), values_of(transactions), values_of(engagement_rfm), elapsed_days],
    description="Customer lifetime value over the next 12 months.",
    tags={"model": "clv"},
)

recommendations = FeatureService(
    name="recommendations",
    features=[
        profile[["age", "gender", "country"]],
        transactions[["total_purchases", "avg_order_value", "favorite_category"]],
        realtime_signals[["session_page_views", "cart_items", "cart_value"]],
    ],
    description="Context for ranking candidate products.",
    tags={"model": "recommendations"},
)

next_best_action = FeatureService(
    name="next_best_action",
    features=[
        engagement_rfm[["rfm_score", "engagement_score", "preferred_channel"]],
        transactions[["total_spend"]],
        elapsed_days[["days_since_last_interaction", "days_since_last_purchase"]],
        support_sentiment[["open_tickets", "avg_sentiment"]],
        ml_scores[["churn_risk", "clv"]],
        realtime_signals[["session_page_views", "cart_items", "cart_value"]],
    ],
    description="Bandit context for choosing the next best action.",
    tags={"model": "next_best_action"},
)
