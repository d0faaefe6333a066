"""The Ray Serve application: one ingress deployment around `c360.api.create_api`, bound by `build_app`.

The profile lookup stays inside the ingress: on 2 cores every handle hop between deployments costs
milliseconds (COMPONENTS.md), more than the lookup itself. The FastAPI app is built on the replica
(`__serve_build_asgi_app__`), so nothing opens a store or reads the workspace when this module is imported
or when the application is built; only the workspace's path travels to the replica.

Started by `c360 serve`, `serve run serving.app:build_app workspace=/path/to/ws` or
`serve deploy serving/serve_config.yaml`, from the repository root (replicas import `serving.app`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import FastAPI
from pydantic import BaseModel, ConfigDict, Field
from ray import serve
from ray.serve import Application

INGRESS_CPUS = 0.5
"""A replica reserves half a core: at Serve's default of one, an ingress and a model deployment would not
both fit on a 2-CPU node, and `serve.run` waits for them forever without an error."""


class AppArgs(BaseModel):
    """The application's arguments (`serve run ... key=value`, `args:` in serve_config.yaml)."""

    model_config = ConfigDict(extra="forbid")

    workspace: str = "."
    """The workspace folder holding c360.yaml; resolved to an absolute path where the app is built."""
    num_cpus: float = Field(default=INGRESS_CPUS, ge=0, le=INGRESS_CPUS)
    """0 on a Ray shared with jobs that need every CPU (the test session runs Ray Train on 2 workers of one
    CPU each beside the app: any reservation would leave them waiting forever)."""
    num_replicas: int = Field(default=1, ge=1)


@serve.deployment(
    name="Gateway",
    ray_actor_options={"num_cpus": INGRESS_CPUS},
    max_ongoing_requests=64,
    health_check_period_s=10,
    graceful_shutdown_timeout_s=5,  # requests take milliseconds: a replica being replaced drains for 5 s
)
@serve.ingress()
class Gateway:
    """The HTTP ingress: keys, validation, errors and the profile routes of `create_api`."""

    def __init__(self, workspace: str) -> None:
        self.workspace = workspace

    def __serve_build_asgi_app__(self) -> FastAPI:
        from c360.api.app import create_api

        return create_api(self.workspace)


def build_app(args: dict[str, Any]) -> Application:
    """Bind the graph: today the ingress alone (model deployments join it as their issues land)."""
    config = AppArgs.model_validate(args)
    workspace = str(Path(config.workspace).expanduser().resolve())
    return Gateway.options(
        ray_actor_options={"num_cpus": config.num_cpus}, num_replicas=config.num_replicas
    ).bind(workspace)
