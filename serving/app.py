"""The Ray Serve application: the ingress around `c360.api.create_api` and one deployment per model family,
bound by `build_app`.

```
Gateway (FastAPI: keys, validation, errors; profile lookup, scores and segment, real-time signals in-process)
  -> Recommender      c360.inference.Recommender            (recommendations, popular, similar items)
  -> NextBestAction   c360.inference.NextBestActionPolicy   (decide, reward; the decision log)
```

Scores and segment are read from the profile the ingress already holds (`c360 score` writes them there):
a deployment of their own would cost a handle hop for a dictionary lookup. With `models: ingress` the two
models run inside the ingress too (`LocalModels`, in threads): no hop at all, for a single machine where
every hop's milliseconds come out of the same two cores; `deployments` (the default) lets each model scale
on its own replicas across a cluster.

The profile lookup stays inside the ingress: on 2 cores every handle hop between deployments costs
milliseconds (COMPONENTS.md), more than the lookup itself. The models are asked at once, not in a chain,
each under its own timeout (`c360.inference.personalizer`): the ingress reaches them through `ServeModels`,
the `ModelClients` protocol over deployment handles. A model deployment that is slow or down degrades the
answer to its flagged fallback; it never fails the request.

Nothing opens a store, reads the workspace or loads a model when this module is imported or the
application is built: the FastAPI app is built on the ingress replica (`__serve_build_asgi_app__`), each
model in its replica's constructor, and only the workspace's path travels.

Started by `c360 serve`, `serve run serving.app:build_app workspace=/path/to/ws` or
`serve deploy serving/serve_config.yaml`, from the repository root (replicas import `serving.app`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

from fastapi import FastAPI
from pydantic import BaseModel, ConfigDict, Field
from ray import serve
from ray.serve import Application
from ray.serve.handle import DeploymentHandle

INGRESS_CPUS = 0.5
"""A replica reserves half a core: at Serve's default of one, an ingress and a model deployment would not
both fit on a 2-CPU node, and `serve.run` waits for them forever without an error."""
MODEL_CPUS = 0.25
"""Each model replica: the three fit beside the ingress on a 2-CPU node with 0.75 CPU left for others."""
READY_SECONDS = 2.0
"""How long `/readyz` waits for the model deployments to answer."""
MODEL_DEPLOYMENT = {
    "max_ongoing_requests": 64,
    "health_check_period_s": 10,
    "graceful_shutdown_timeout_s": 5,
}


class AppArgs(BaseModel):
    """The application's arguments (`serve run ... key=value`, `args:` in serve_config.yaml)."""

    model_config = ConfigDict(extra="forbid")

    workspace: str = "."
    """The workspace folder holding c360.yaml; resolved to an absolute path where the app is built."""
    num_cpus: float = Field(default=INGRESS_CPUS, ge=0, le=INGRESS_CPUS)
    """0 on a Ray shared with jobs that need every CPU (the test session runs Ray Train on 2 workers of one
    CPU each beside the app: any reservation would leave them waiting forever)."""
    num_replicas: int = Field(default=1, ge=1)
    model_num_cpus: float | None = Field(default=None, ge=0, le=INGRESS_CPUS)
    """Per model replica; unset: MODEL_CPUS, or 0 when `num_cpus` is 0."""
    models: Literal["deployments", "ingress"] = "deployments"
    """Where the models run: their own deployments (scaled apart, one handle hop each) or the ingress."""


def _answer(call: Callable[[], Any]) -> dict[str, Any]:
    """A model's answer as a plain dict; a refusal the caller must see travels as a value."""
    from c360.errors import C360Error
    from c360.inference.clients import refusal

    try:
        out = call()
    except C360Error as exc:
        return refusal(exc)
    return out if isinstance(out, dict) else out.to_dict()


def _loader(name: str, build: Callable[[Any], Any], workspace: str) -> Any:
    """The replica's model, loaded now when it can be (`c360.inference.loader.Loader`: loads serialized
    across the replicas of a machine, a failed one retried later while calls answer `store_unavailable`):
    a replica whose registry or lake is down still starts, and its callers degrade to their fallback."""
    from c360.inference.loader import Loader
    from c360.io import heap
    from c360.workspace import Workspace

    heap.enable()  # a replica lives long: settle its heap after the load (c360.io.heap)
    ws = Workspace.load(workspace)
    loader = Loader(name, lambda: build(ws), ws)
    loader.try_load()
    return loader


@serve.deployment(name="Recommender", ray_actor_options={"num_cpus": MODEL_CPUS}, **MODEL_DEPLOYMENT)
class RecommenderDeployment:
    """`c360.inference.Recommender` over the workspace's production `recs`, loaded once per replica."""

    def __init__(self, workspace: str) -> None:
        from c360.inference.recommender import Recommender

        self.model = _loader("recommender", Recommender.for_workspace, workspace)

    def ready(self) -> bool:
        """Answered once the constructor (the model's load) has finished: the ingress's `/readyz` asks."""
        return True

    def recommend(self, *args: Any) -> dict[str, Any]:
        return _answer(lambda: self.model.get().recommend(*args))

    def popular(self, n: int, category: str | None) -> dict[str, Any]:
        return _answer(lambda: self.model.get().popular(n, category))

    def similar(self, product_id: str, n: int) -> dict[str, Any]:
        return _answer(lambda: self.model.get().similar(product_id, n))


@serve.deployment(name="NextBestAction", ray_actor_options={"num_cpus": MODEL_CPUS}, **MODEL_DEPLOYMENT)
class NextBestActionDeployment:
    """`c360.inference.NextBestActionPolicy`: the bandit and the decision log of this replica. One replica:
    a decision's reward must reach the replica whose log holds it (the log's index is per process)."""

    def __init__(self, workspace: str) -> None:
        from c360.inference.nba import NextBestActionPolicy

        self.model = _loader("next-best-action policy", NextBestActionPolicy.for_workspace, workspace)

    def ready(self) -> bool:
        """Answered once the constructor (the policy's load) has finished: the ingress's `/readyz` asks."""
        return True

    def decide(self, *args: Any) -> dict[str, Any]:
        return _answer(lambda: self.model.get().decide(*args))

    def reward(self, *args: Any) -> dict[str, Any]:
        return _answer(lambda: self.model.get().reward(*args))

    def __del__(self) -> None:
        self.model.close()  # the decision log's buffered lines reach the lake


class ServeModels:
    """`c360.inference.clients.ModelClients` over the model deployments' handles (the Personalizer applies
    the timeouts: a cancelled wait cancels the handle's request); scores from the ingress's own `Scorer`."""

    def __init__(self, workspace: str, recommender: DeploymentHandle, policy: DeploymentHandle) -> None:
        from c360.inference.clients import LocalModels
        from c360.workspace import Workspace

        self.recommender, self.policy = recommender, policy
        self.local = LocalModels.for_workspace(Workspace.load(workspace))

    async def recommend(
        self,
        customer_id: str | None,
        n: int,
        category: str | None,
        exclude: Sequence[str],
        consent: Mapping[str, Any] | None,
    ) -> dict[str, Any]:
        return _checked(
            await self.recommender.recommend.remote(customer_id, n, category, list(exclude), consent)
        )

    async def popular(self, n: int, category: str | None) -> dict[str, Any]:
        return _checked(await self.recommender.popular.remote(n, category))

    async def similar(self, product_id: str, n: int) -> dict[str, Any]:
        return _checked(await self.recommender.similar.remote(product_id, n))

    async def decide(
        self,
        customer_id: str | None,
        profile: Mapping[str, Any] | None,
        context: Mapping[str, Any],
        deadline: float | None,
    ) -> dict[str, Any]:
        return _checked(await self.policy.decide.remote(customer_id, profile, dict(context), deadline))

    async def reward(self, decision_id: str, click: bool, conversion: bool, revenue: float) -> dict[str, Any]:
        return _checked(await self.policy.reward.remote(decision_id, click, conversion, revenue))

    async def scores(self, customer_id: str | None, profile: Mapping[str, Any] | None) -> dict[str, Any]:
        return await self.local.scores(customer_id, profile)

    async def ready(self) -> bool:
        """Both model deployments answer within `READY_SECONDS` (their replicas have loaded their models:
        until then `/personalize` would wait for them or fall back) and the ingress's scorer has loaded."""
        try:
            await asyncio.wait_for(
                asyncio.gather(self.recommender.ready.remote(), self.policy.ready.remote()), READY_SECONDS
            )
        except Exception:  # noqa: BLE001 - a timeout or a replica still starting: not ready yet
            return False
        return await self.local.ready(("scorer",))

    def close(self) -> None:
        self.local.close()


def _checked(answer: dict[str, Any]) -> dict[str, Any]:
    from c360.inference.clients import raise_refusal

    return raise_refusal(answer)


@serve.deployment(
    name="Gateway",
    ray_actor_options={"num_cpus": INGRESS_CPUS},
    # c360's own access line (route template, status, ms, key id: c360.api.app.RequestGuard) replaces
    # Serve's, which would log every request a second time.
    logging_config={"enable_access_log": False},
    max_ongoing_requests=64,
    health_check_period_s=10,
    graceful_shutdown_timeout_s=5,  # requests take milliseconds: a replica being replaced drains for 5 s
)
@serve.ingress()
class Gateway:
    """The HTTP ingress: keys, validation, errors, the profile routes and the personalization routes of
    `create_api`, with the models behind `ServeModels`."""

    def __init__(
        self,
        workspace: str,
        recommender: DeploymentHandle | None = None,
        policy: DeploymentHandle | None = None,
    ) -> None:
        from c360.inference.clients import LocalModels, ModelClients
        from c360.io import heap
        from c360.workspace import Workspace

        heap.enable()  # a server process: settle the heap after each warm-up step (c360.io.heap)
        self.workspace = workspace
        self.models: ModelClients
        # The models this process holds load here, before Serve counts the replica as started (`serve.run`
        # waits for it); `/readyz` also waits for the model deployments, which start on their own.
        if recommender is not None and policy is not None:
            self.models = ServeModels(workspace, recommender, policy)
            self.models.local.try_load(("scorer",))
        else:  # models: ingress
            local = LocalModels.for_workspace(Workspace.load(workspace))
            local.try_load()
            self.models = local

    def __serve_build_asgi_app__(self) -> FastAPI:
        from c360.api.app import create_api

        return create_api(self.workspace, models=self.models)


def build_app(args: dict[str, Any]) -> Application:
    """Bind the graph: the ingress over the two model deployments (or alone, with `models: ingress`)."""
    config = AppArgs.model_validate(args)
    workspace = str(Path(config.workspace).expanduser().resolve())
    model_cpus = config.model_num_cpus
    if model_cpus is None:
        model_cpus = MODEL_CPUS if config.num_cpus > 0 else 0.0
    models = []
    if config.models == "deployments":
        models = [
            deployment.options(ray_actor_options={"num_cpus": model_cpus}).bind(workspace)
            for deployment in (RecommenderDeployment, NextBestActionDeployment)
        ]
    return Gateway.options(
        ray_actor_options={"num_cpus": config.num_cpus}, num_replicas=config.num_replicas
    ).bind(workspace, *models)
