"""The feature services of registered model versions (`churn_v3`, ...), one per MLflow model version.

c360's model registry (c360/models/registry.py) records each version's features (`view:feature`
references) and tags (artifact, metrics, stage, MLflow run) in a JSON file of the workspace, named by
`C360_MODEL_SERVICES`, and applies the service at once. Declaring them here too is what keeps them through
every later `feast apply`: an apply deletes what the repo does not define.
"""

import json
import os

from feast import FeatureService
from feature_views import (
    engagement_rfm,
    ml_scores,
    product_stats,
    profile,
    realtime_signals,
    support_sentiment,
)
from feature_views import transactions as transactions_view
from on_demand import elapsed_days

VIEWS = {
    v.name: v
    for v in (
        profile,
        transactions_view,
        engagement_rfm,
        support_sentiment,
        realtime_signals,
        ml_scores,
        product_stats,
        elapsed_days,
    )
}


def _load(path: str) -> dict:
    if not path or not os.path.exists(path):
        return {}
    with open(path, encoding="utf-8") as f:
        return json.load(f).get("services", {})


def _service(name: str, spec: dict) -> FeatureService | None:
    by_view: dict[str, list[str]] = {}
    for ref in spec.get("features", []):
        view, _, feature = ref.partition(":")
        by_view.setdefault(view, []).append(feature)
    if not by_view or any(view not in VIEWS for view in by_view):
        return None  # a view the repo no longer defines: Feast would refuse the whole apply
    return FeatureService(
        name=name,
        features=[VIEWS[view][features] for view, features in by_view.items()],
        description=spec.get("description", ""),
        tags={str(k): str(v) for k, v in spec.get("tags", {}).items()},
    )


for _name, _spec in sorted(_load(os.environ.get("C360_MODEL_SERVICES", "")).items()):
    _fs = _service(_name, _spec)
    if _fs is not None:
        globals()[f"model_service_{_name}"] = _fs
