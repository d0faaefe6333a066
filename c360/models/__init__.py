"""Models: one interface (base.py) for churn, survival, lifetime value, propensity, response and segments;
the registry (MLflow through Feast's integration) and batch scoring. Importable without a running cluster:
Ray Train / Tune wrappers live in `c360.models.ray_fit` and `training/`."""
