"""How the API reaches the models: the `ModelClients` protocol, and `LocalModels`, its in-process form.

The routes and the `Personalizer` only await `ModelClients` methods, so the same app runs with the models in
its own process (`LocalModels`: plain classes in worker threads, for tests, benchmarks and `c360 serve`
without Serve) or in Ray Serve deployments (`serving/app.py` implements the protocol over deployment
handles). Every method answers a plain dict (`Part.to_dict`, or a reward record): what crosses a handle.

A refusal the caller must see (an unknown product or decision, a reward given twice) travels as a value,
`{"error": {"kind": ..., "message": ...}}`, and `raise_refusal` raises it again on the caller's side as the
same `C360Error` class: an exception pickled through Ray would arrive wrapped, with its status lost.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol

from c360.errors import C360Error, NotFoundError, StoreUnavailableError, ValidationError
from c360.inference.loader import Loader
from c360.inference.nba import NextBestActionPolicy
from c360.inference.recommender import Recommender
from c360.inference.scorer import Scorer
from c360.nba.decisions import DuplicateRewardError, RewardWindowError, UnknownDecisionError
from c360.workspace import Workspace

log = logging.getLogger("c360.inference")
REFUSALS: dict[str, type[C360Error]] = {
    cls.__name__: cls
    for cls in (
        UnknownDecisionError,
        DuplicateRewardError,
        RewardWindowError,
        NotFoundError,
        ValidationError,
        StoreUnavailableError,
    )
}
"""The errors a model answers its caller with, by class name (a model that could not load: the store is
unavailable); anything else is the model's failure."""


class ModelClients(Protocol):
    """The model side of personalization, however it is deployed."""

    async def recommend(
        self,
        customer_id: str | None,
        n: int,
        category: str | None,
        exclude: Sequence[str],
        consent: Mapping[str, Any] | None,
    ) -> dict[str, Any]: ...

    async def popular(self, n: int, category: str | None) -> dict[str, Any]: ...

    async def similar(self, product_id: str, n: int) -> dict[str, Any]: ...

    async def decide(
        self,
        customer_id: str | None,
        profile: Mapping[str, Any] | None,
        context: Mapping[str, Any],
        deadline: float | None,
    ) -> dict[str, Any]: ...

    async def reward(
        self, decision_id: str, click: bool, conversion: bool, revenue: float
    ) -> dict[str, Any]: ...

    async def scores(self, customer_id: str | None, profile: Mapping[str, Any] | None) -> dict[str, Any]: ...

    async def ready(self) -> bool:
        """Whether the models have finished starting: each loaded, or its load tried (a model not trained
        yet answers its documented fallback, which is an answer). Quick: a server's `/readyz` asks it."""
        ...


def refusal(exc: C360Error) -> dict[str, Any]:
    """`exc` as a value, when the caller may see it (REFUSALS); else raised again."""
    kind = type(exc).__name__
    if kind not in REFUSALS:
        raise exc
    return {"error": {"kind": kind, "message": exc.message}}


def raise_refusal(answer: dict[str, Any]) -> dict[str, Any]:
    """`answer`, or the refusal it carries raised as its own class."""
    error = answer.get("error")
    if isinstance(error, dict):
        raise REFUSALS.get(str(error.get("kind")), ValidationError)(str(error.get("message")))
    return answer


class LocalModels:
    """`ModelClients` in this process: each model loaded on first use (`Loader`: serialized across
    processes, a failed load retried later) and called in a worker thread, so a slow model holds a thread,
    never the event loop."""

    def __init__(
        self,
        recommender: Callable[[], Recommender],
        policy: Callable[[], NextBestActionPolicy],
        scorer: Callable[[], Scorer],
        ws: Workspace | None = None,
    ) -> None:
        self._loaders: dict[str, Loader[Any]] = {
            "recommender": Loader("recommender", recommender, ws),
            "policy": Loader("next-best-action policy", policy, ws),
            "scorer": Loader("scorer", scorer, ws),
        }
        self._warming: dict[tuple[str, ...], threading.Thread] = {}
        self._warm_lock = threading.Lock()

    @classmethod
    def for_workspace(cls, ws: Workspace) -> LocalModels:
        return cls(
            lambda: Recommender.for_workspace(ws),
            lambda: NextBestActionPolicy.for_workspace(ws),
            lambda: Scorer.for_workspace(ws),
            ws,
        )

    def _model(self, name: str) -> Any:
        return self._loaders[name].get()

    def load(self) -> None:
        """Load every model now (a server's start-up, a benchmark's warm-up)."""
        for loader in self._loaders.values():
            loader.get()

    def try_load(self, names: Sequence[str] | None = None) -> None:
        """Try these models' (all by default) loads now, in this thread (a server replica's constructor); a
        load that fails leaves its model answering the fallback, and is retried on use."""
        for name in names or self._loaders:
            self._loaders[name].try_load()

    async def ready(self, names: Sequence[str] | None = None) -> bool:
        """Whether these models' (all by default) loads have been tried. The first call starts them on a
        thread of their own and answers False until they are done: a readiness probe must not wait seconds
        for a model, and the first request should not either."""
        wanted = tuple(names or self._loaders)
        with self._warm_lock:
            warming = self._warming.get(wanted)
            if warming is None:
                warming = threading.Thread(
                    target=self.try_load, args=(wanted,), name="c360-models-load", daemon=True
                )
                self._warming[wanted] = warming
                warming.start()
        return not warming.is_alive()

    async def _call(self, name: str, method: str, *args: Any) -> dict[str, Any]:
        def run() -> dict[str, Any]:
            try:
                out = getattr(self._model(name), method)(*args)
            except C360Error as exc:
                return refusal(exc)
            return out if isinstance(out, dict) else out.to_dict()

        return raise_refusal(await asyncio.to_thread(run))

    async def recommend(
        self,
        customer_id: str | None,
        n: int,
        category: str | None,
        exclude: Sequence[str],
        consent: Mapping[str, Any] | None,
    ) -> dict[str, Any]:
        return await self._call("recommender", "recommend", customer_id, n, category, exclude, consent)

    async def popular(self, n: int, category: str | None) -> dict[str, Any]:
        return await self._call("recommender", "popular", n, category)

    async def similar(self, product_id: str, n: int) -> dict[str, Any]:
        return await self._call("recommender", "similar", product_id, n)

    async def decide(
        self,
        customer_id: str | None,
        profile: Mapping[str, Any] | None,
        context: Mapping[str, Any],
        deadline: float | None,
    ) -> dict[str, Any]:
        return await self._call("policy", "decide", customer_id, profile, context, deadline)

    async def reward(self, decision_id: str, click: bool, conversion: bool, revenue: float) -> dict[str, Any]:
        return await self._call("policy", "reward", decision_id, click, conversion, revenue)

    async def scores(self, customer_id: str | None, profile: Mapping[str, Any] | None) -> dict[str, Any]:
        return await self._call("scorer", "scores", customer_id, profile)

    def close(self) -> None:
        for loader in self._loaders.values():
            loader.close()
