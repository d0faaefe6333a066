"""A LightGBM booster scored through compiled code: the hybrid's ranker on the serving path.

The hybrid scores every candidate of a customer with its ranker: about 170 rows x 150 trees in (b) on two
years of Online Retail. LightGBM's own `predict` walks each tree's node arrays in a loop: 0.89 ms CPU for
one customer's candidates at the median, 1.2 ms at p99. lleaves (LLVM, through llvmlite) compiles the
trees into machine code, one function per forest: 0.23 ms and 0.36 ms for the same rows
(`python -m c360.bench recs` prints both), the same scores to within 1e-14 (it sums the trees in blocks of 34,
LightGBM one at a time).

Compiling takes about 4 s for 150 trees (0.2 s for 10), once per booster and process: at the first
`predict`, or ahead of it with `compile()` (a server's load). Where it cannot compile (llvmlite has no
build for the platform, say), LightGBM scores, said once in the log; the scores are the same either way.
A `CompiledBooster` pickles as its model text and compiles again where it is unpickled.
"""

from __future__ import annotations

import logging
import os
import tempfile
import threading
from typing import Any

import numpy as np

log = logging.getLogger("c360.recs")


class CompiledBooster:
    """A trained LightGBM booster whose `predict` runs its trees compiled (module docstring)."""

    def __init__(self, booster: Any) -> None:
        self.booster = booster
        self._compiled: Any = None
        self._failed = False
        self._lock = threading.Lock()

    @classmethod
    def from_string(cls, text: str) -> CompiledBooster:
        import lightgbm as lgb

        return cls(lgb.Booster(model_str=text))

    def model_to_string(self) -> str:
        return str(self.booster.model_to_string())

    def feature_importance(self, importance_type: str = "split") -> np.ndarray:
        return np.asarray(self.booster.feature_importance(importance_type=importance_type))

    def num_feature(self) -> int:
        return int(self.booster.num_feature())

    @property
    def compiled(self) -> bool:
        """Whether `predict` runs compiled code (False before `compile`, or where compiling failed)."""
        return self._compiled is not None

    def compile(self) -> bool:
        """Compile now (once; later calls return at once). True if `predict` will run compiled code."""
        with self._lock:
            if self._compiled is None and not self._failed:
                try:
                    self._compiled = _compile(self.model_to_string())
                except Exception as exc:  # noqa: BLE001 - any failure leaves LightGBM scoring, as before
                    self._failed = True
                    log.warning(
                        "the recommender's ranker could not be compiled (%s: %s): LightGBM scores it, "
                        "about 4x slower",
                        type(exc).__name__,
                        exc,
                    )
        return self._compiled is not None

    def predict(self, x: np.ndarray) -> np.ndarray:
        """Raw scores of the rows of `x` (float64), compiled where possible, on the calling thread."""
        if self._compiled is None and not self._failed:
            self.compile()
        if self._compiled is None:
            return np.asarray(self.booster.predict(x, raw_score=True, num_threads=1), dtype=np.float64)
        return np.asarray(self._compiled.predict(np.ascontiguousarray(x, dtype=np.float64), n_jobs=1))

    def __getstate__(self) -> dict[str, Any]:
        return {"text": self.model_to_string()}

    def __setstate__(self, state: dict[str, Any]) -> None:
        import lightgbm as lgb

        self.booster = lgb.Booster(model_str=state["text"])
        self._compiled, self._failed, self._lock = None, False, threading.Lock()


def _compile(text: str) -> Any:
    """lleaves' compiled model of a LightGBM model text (lleaves reads a file: a temporary one)."""
    import lleaves

    fd, path = tempfile.mkstemp(suffix=".txt", prefix="c360-ranker-")
    try:
        with os.fdopen(fd, "w") as f:
            f.write(text)
        model = lleaves.Model(model_file=path)
        model.compile(raw_score=True)
    finally:
        os.unlink(path)
    return model
