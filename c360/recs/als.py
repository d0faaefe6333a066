"""Implicit-feedback ALS (Hu, Koren, Volinsky 2008) through `implicit`'s CPU solver.

Confidence is 1 + alpha * log1p(weight) (orders plus weighted views and carts): a tenth order of the same
item says less than the first. Customers seen at fit time are scored from their stored factors; a customer
with history the fit did not see gets factors solved from that history (`recalculate_user`), so a fresh
purchase changes the list without a refit. BLAS is held to one thread: implicit's own threads do the work,
and OpenBLAS threads on top of them make the fit several times slower on two cores.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from c360.recs.base import Recommender
from c360.recs.data import Interactions
from c360.recs.rules import Rules


def confidence(weights: sp.csr_matrix, alpha: float) -> sp.csr_matrix:
    out = weights.astype(np.float32).copy()
    out.data = (1.0 + alpha * np.log1p(out.data)).astype(np.float32)
    return out


class Als(Recommender):
    name = "ALS"

    def __init__(
        self,
        factors: int = 64,
        regularization: float = 0.05,
        alpha: float = 10.0,
        iterations: int = 15,
        random_state: int = 0,
        num_threads: int = 1,
        rules: Rules | None = None,
        on_ray: bool = False,
    ) -> None:
        super().__init__(rules)
        self.factors = factors
        self.regularization = regularization
        self.alpha = alpha
        self.iterations = iterations
        self.random_state = random_state
        self.num_threads = num_threads
        self.on_ray = on_ray
        """Fit in a Ray task (`c360.recs.ray_fit`; Ray started by the caller) instead of in this process."""

    def _fit(self, data: Interactions) -> None:
        from threadpoolctl import threadpool_limits

        from c360.recs.ray_fit import AlsParams, als_factors, als_factors_on_ray, new_als

        params = AlsParams(
            self.factors, self.regularization, self.iterations, self.random_state, self.num_threads
        )
        fit = als_factors_on_ray if self.on_ray else als_factors
        users, items = fit(confidence(data.weights, self.alpha), params)
        with threadpool_limits(limits=1, user_api="blas"):  # inside: implicit checks the limit when built
            self.model_ = new_als(params)  # the fitted factors, for scoring and recalculate_user
        self.model_.user_factors, self.model_.item_factors = users, items

    def _scores(self, history: sp.csr_matrix, rows: np.ndarray) -> np.ndarray:
        users = np.empty((len(rows), self.model_.item_factors.shape[1]), dtype=np.float32)
        known = rows >= 0
        users[known] = self.model_.user_factors[rows[known]]
        if (~known).any():
            fresh = np.flatnonzero(~known)
            users[fresh] = self.model_.recalculate_user(fresh, confidence(history[fresh], self.alpha))
        return users @ self.model_.item_factors.T
