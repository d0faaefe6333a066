"""Fitting a model's booster through Ray Train (XGBoostTrainer / LightGBMTrainer of ray 2.60).

`RayTrainFit(num_workers)` is a `BoosterFit` (`c360.models.boosting`): the model's own `train_booster` call
runs inside a Ray Train worker group, the data shipped as Ray Datasets (one shard per worker), the booster
returned through ONE `ray.train.report` with a checkpoint at the end. Ray Train v2 costs about 2 s per report
(its controller polls), so per-round reports are never used.

With one worker the Ray path trains on the same rows in the same order with the same parameters, so it gives
the same booster as the plain path (tested). `fit_with_ray(model, train, features, valid)` is what the
training orchestration calls.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
import uuid
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from c360.models.base import Model, ModelError
from c360.models.boosting import (
    LIBRARIES,
    BoosterData,
    load_booster,
    passive_threads,
    save_booster,
    train_booster,
)


def _worker_loop(config: dict[str, Any]) -> None:
    """Runs in every Ray Train worker: this worker's shards -> `train_booster` -> one report at the end."""
    started = time.time()
    passive_threads()
    import ray
    import ray.train

    library = config["library"]
    ctx = ray.train.get_context()
    world = ctx.get_world_size()

    def shard(name: str) -> BoosterData | None:
        """Training rows: this worker's part. Validation rows: all of them, on every worker."""
        if name in config["objects"]:  # one object-store copy; a contiguous slice of the training rows
            frame = ray.get(config["objects"][name])
            if name == "train":
                bounds = np.linspace(0, len(frame), world + 1).astype(int)
                rank = ctx.get_world_rank()
                frame = frame.iloc[bounds[rank] : bounds[rank + 1]]
        elif name in config["datasets"]:  # a Ray Dataset, split by Ray Train (`datasets_to_split`)
            it = ray.train.get_dataset_shard(name)
            batches = list(it.iter_batches(batch_format="pandas", batch_size=None))
            frame = pd.concat(batches, ignore_index=True) if batches else pd.DataFrame()
        else:
            return None
        return BoosterData.from_frame(frame, config["categorical"])

    train, valid = shard("train"), shard("valid")
    loaded = time.time()
    extra: dict[str, Any] = {}
    if library == "lightgbm" and world > 1:
        from ray.train.lightgbm import get_network_params

        extra = {"tree_learner": "data_parallel", "pre_partition": True, **get_network_params()}
    booster = train_booster(
        library,
        config["params"],
        train,
        valid,
        config["num_boost_round"],
        config["early_stopping_rounds"],
        extra_params=extra,
    )
    from ray.train import Checkpoint

    metrics = {"rows": len(train.X), "worker_started": started, "data_loaded": loaded, "trained": time.time()}
    if ctx.get_world_rank() == 0:
        with tempfile.TemporaryDirectory() as tmp:
            save_booster(library, booster, Path(tmp))
            ray.train.report(metrics, checkpoint=Checkpoint.from_directory(tmp))
    else:
        ray.train.report(metrics)


INGEST = ("objects", "dataset")


class RayTrainFit:
    """A `BoosterFit` that trains through Ray Train's XGBoostTrainer or LightGBMTrainer on `num_workers`
    workers (each 1 CPU, the library's threads set by the model's params). Joins the Ray this process is
    connected to, or starts one with `c360.runtime.ensure_ray`.

    `ingest`: how the encoded rows reach the workers. "objects" (default): one object-store copy of each
    frame, every worker takes its contiguous slice. "dataset": Ray Datasets through Ray Train's streaming
    split (its coordinator actor and executor cost seconds per run on a busy 2-core machine, see
    `c360.bench.models_overhead`). Both give the one-worker run the plain path's booster."""

    def __init__(
        self, num_workers: int = 1, storage_path: str | Path | None = None, ingest: str = "objects"
    ) -> None:
        if num_workers < 1:
            raise ModelError(f"num_workers must be at least 1, not {num_workers}")
        if ingest not in INGEST:
            raise ModelError(f"ingest {ingest!r} unknown; known: {', '.join(INGEST)}")
        self.ingest = ingest
        self.num_workers = num_workers
        self.storage_path = storage_path
        self.result: Any = None
        self.timings: dict[str, float] = {}
        """Seconds of the last call: startup (to the worker's first line), data (shards to frames), train,
        finish (report, checkpoint, teardown), total."""

    def __call__(
        self,
        library: str,
        params: Mapping[str, Any],
        train: BoosterData,
        valid: BoosterData | None,
        num_boost_round: int,
        early_stopping_rounds: int | None,
    ) -> Any:
        if library not in LIBRARIES:
            raise ModelError(f"unknown booster library {library!r}; known: {', '.join(LIBRARIES)}")
        begun = time.time()
        import ray
        import ray.data
        import ray.train

        from c360.runtime import ensure_ray

        if not ray.is_initialized():
            ensure_ray(progress=False)
        parts = {"train": train.frame(), **({"valid": valid.frame()} if valid is not None else {})}
        datasets = {k: ray.data.from_pandas(v) for k, v in parts.items()} if self.ingest == "dataset" else {}
        objects = {k: ray.put(v) for k, v in parts.items()} if self.ingest == "objects" else {}
        # Ray Train v2's controller polls its workers every 2 s by default: the run's end waits for the next
        # poll. A quarter second costs the controller nothing measurable and the run up to 2 s less.
        os.environ.setdefault("RAY_TRAIN_HEALTH_CHECK_INTERVAL_S", "0.25")
        config = {
            "library": library,
            "params": dict(params),
            "categorical": list(train.categorical),
            "num_boost_round": num_boost_round,
            "early_stopping_rounds": early_stopping_rounds,
            "datasets": sorted(datasets),
            "objects": objects,
        }
        storage = Path(self.storage_path or tempfile.mkdtemp(prefix="c360-raytrain-"))
        name = f"c360-{library}-{uuid.uuid4().hex[:8]}"
        run_config = ray.train.RunConfig(name=name, storage_path=str(storage))
        scaling = ray.train.ScalingConfig(num_workers=self.num_workers, use_gpu=False)
        if library == "xgboost":
            from ray.train.xgboost import XGBoostTrainer as Trainer
        else:
            from ray.train.lightgbm import LightGBMTrainer as Trainer
        # Every worker evaluates the whole validation set: early stopping then decides the same round on
        # every worker (LightGBM's data-parallel run deadlocked when each stopped on its own shard).
        trainer = Trainer(
            _worker_loop,
            train_loop_config=config,
            scaling_config=scaling,
            run_config=run_config,
            datasets=datasets or None,
            dataset_config=ray.train.DataConfig(datasets_to_split=["train"]),
        )
        try:
            self.result = trainer.fit()
            if self.result.checkpoint is None:
                raise ModelError(f"Ray Train {library} run {name} reported no checkpoint")
            with self.result.checkpoint.as_directory() as folder:
                booster = load_booster(library, Path(folder))
            m = self.result.metrics or {}
            if "worker_started" in m:
                self.timings = {
                    "startup": m["worker_started"] - begun,
                    "data": m["data_loaded"] - m["worker_started"],
                    "train": m["trained"] - m["data_loaded"],
                    "finish": time.time() - m["trained"],
                    "total": time.time() - begun,
                }
        finally:
            if self.storage_path is None:
                shutil.rmtree(storage, ignore_errors=True)
            else:
                shutil.rmtree(storage / name, ignore_errors=True)
        return booster


def supports_ray_train(model: Model) -> bool:
    """Whether the model trains a booster a `BoosterFit` can take over (it sets `booster_library`)."""
    return getattr(model, "booster_library", None) in LIBRARIES


def fit_with_ray(
    model: Model,
    train: pd.DataFrame,
    features: Sequence[str],
    valid: pd.DataFrame | None = None,
    *,
    num_workers: int = 1,
    storage_path: str | Path | None = None,
    ingest: str = "objects",
) -> dict[str, float]:
    """Fit `model` with its booster trained through Ray Train; the same metrics `model.fit` returns."""
    if not supports_ray_train(model):
        raise ModelError(f"{model.name}: not a booster model; fit it with model.fit (no Ray Train path)")
    return model.fit(  # type: ignore[call-arg]
        train,
        features,
        valid,
        booster_fit=RayTrainFit(num_workers=num_workers, storage_path=storage_path, ingest=ingest),
    )
