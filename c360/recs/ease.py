"""EASE (Steck, 2019): a closed-form item x item linear model, B = I - P diag(1 / diag(P)), P = (X^T X +
lambda I)^-1, with a zero diagonal so an item never recommends itself. One dense inversion of an items x
items matrix (a few seconds at 4,000 items); `lambda_` is chosen on the validation window.

X is binary (bought or not): repeat counts would let a few bulk buyers dominate the Gram matrix.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from c360.recs.base import Recommender
from c360.recs.data import Interactions, binary
from c360.recs.rules import Rules


def ease_weights(x: sp.csr_matrix, lambda_: float) -> np.ndarray:
    """The EASE item x item weights (float32) of a binarised customers x items matrix."""
    b = (x > 0).astype(np.float64)
    gram = (b.T @ b).toarray()
    gram[np.diag_indices_from(gram)] += lambda_
    p = np.linalg.inv(gram)
    weights = p / (-np.diag(p))
    weights[np.diag_indices_from(weights)] = 0.0
    return weights.astype(np.float32)


class Ease(Recommender):
    name = "EASE"

    def __init__(self, lambda_: float = 250.0, rules: Rules | None = None) -> None:
        super().__init__(rules)
        self.lambda_ = lambda_

    def _fit(self, data: Interactions) -> None:
        self.weights_ = ease_weights(data.weights, self.lambda_)

    def _scores(self, history: sp.csr_matrix, rows: np.ndarray) -> np.ndarray:
        # One product for one customer or many: scipy's sparse x dense reads each bought item's row once;
        # gathering the rows first (weights_[items].sum(0)) copies them, 2-3x slower for long histories.
        return np.asarray(binary(history) @ self.weights_)
