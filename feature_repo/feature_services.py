"""One feature service per model: the model's feature contract.

The models stage registers each trained version as its own service (`churn_v3`, ...) with the same features
and tags pointing at the artifact; these unversioned services are what the next training run starts from.
"""

from feast import FeatureService
from feature_views import (
    engagement_rfm,
    ml_scores,
    profile,
    realtime_signals,
    support_sentiment,
    transactions,
)

churn = FeatureService(
    name="churn",
    features=[profile, transactions, engagement_rfm, support_sentiment, realtime_signals],
    description="Churn risk: who is about to stop buying.",
    tags={"model": "churn"},
)

clv = FeatureService(
    name="clv",
    features=[profile, transactions, engagement_rfm],
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
        engagement_rfm[["rfm_score", "engagement_score", "preferred_channel", "days_since_last_interaction"]],
        transactions[["total_spend", "days_since_last_purchase"]],
        support_sentiment[["open_tickets", "avg_sentiment"]],
        ml_scores[["churn_risk", "clv"]],
        realtime_signals[["session_page_views", "cart_items", "cart_value"]],
    ],
    description="Bandit context for choosing the next best action.",
    tags={"model": "next_best_action"},
)
