"""ALS fitted in a Ray task: the same pure function bare (`als_factors`) and remote (`als_factors_on_ray`), so
the Ray path gives the very factors the in-process one does for the same seed and thread count.

A plain `ray.remote` task, not a Ray Train job: implicit's ALS is one multi-threaded process over one
matrix, with no data-parallel workers to coordinate; a task moves the matrix to a worker (the object store)
and the factors back, which is all the cluster adds here. `python -m c360.bench recs-als-overhead` times the
two side by side.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.sparse as sp


@dataclass(frozen=True)
class AlsParams:
    factors: int = 64
    regularization: float = 0.05
    iterations: int = 15
    random_state: int = 0
    num_threads: int = 1


def new_als(params: AlsParams) -> Any:
    """implicit's CPU ALS with confidence built by the caller (alpha 1)."""
    from implicit.cpu.als import AlternatingLeastSquares

    return AlternatingLeastSquares(
        factors=params.factors,
        regularization=params.regularization,
        alpha=1.0,
        iterations=params.iterations,
        random_state=params.random_state,
        num_threads=params.num_threads,
    )


def als_factors(confidence: sp.csr_matrix, params: AlsParams) -> tuple[np.ndarray, np.ndarray]:
    """(user factors, item factors) of implicit's ALS on a customers x items confidence matrix. BLAS is held
    to one thread: implicit's own threads do the work (see c360.recs.als)."""
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1, user_api="blas"):
        model = new_als(params)
        model.fit(confidence, show_progress=False)
    return np.asarray(model.user_factors), np.asarray(model.item_factors)


def als_factors_on_ray(confidence: sp.csr_matrix, params: AlsParams) -> tuple[np.ndarray, np.ndarray]:
    """`als_factors` in a Ray task holding `num_threads` CPUs (Ray must be started by the caller)."""
    import ray

    task = ray.remote(num_cpus=params.num_threads, max_retries=0)(_writable_fit)
    return ray.get(task.remote(confidence, params))


def _writable_fit(confidence: sp.csr_matrix, params: AlsParams) -> tuple[np.ndarray, np.ndarray]:
    """`als_factors` on a copy: arrays from Ray's object store are read-only, implicit's solver writes."""
    return als_factors(confidence.copy(), params)
