"""BG/NBD + Gamma-Gamma by maximum likelihood: the maths of the `clv_bgnbd` model (c360/models/clv.py).

- BG/NBD purchase model (Fader, Hardie & Lee 2005, "Counting your customers the easy way") and Gamma-Gamma
  spend model (Fader, Hardie & Lee 2005, "RFM and CLV"; Colombo & Jiang 1999), each fitted by maximising
  its vectorised log-likelihood (scipy.special) over log parameters with scipy.optimize. Inputs are the
  per-customer summary at a calibration cutoff (`c360.models.rfm_summary`: frequency = repeat transactions,
  recency = first to last transaction, T = first transaction to the cutoff, monetary = mean spend of the
  repeat transactions), in days. Checked against the published CDNOW parameters (r=0.243, alpha=4.414,
  a=0.793, b=2.426; p=6.25, q=3.74, v=15.44) on the CDNOW summary `lifetimes` ships (`cdnow_summary`), in
  tests/models/test_clv.py.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from scipy import optimize, special

from c360.models.base import ModelError


@dataclass(frozen=True)
class BgNbdParams:
    r: float
    alpha: float
    a: float
    b: float


@dataclass(frozen=True)
class GammaGammaParams:
    p: float
    q: float
    v: float


def bgnbd_loglik(params: Sequence[float], x: np.ndarray, tx: np.ndarray, t: np.ndarray) -> np.ndarray:
    """Per-customer BG/NBD log-likelihood (FHL 2005, eq. 6) of r, alpha, a, b."""
    r, alpha, a, b = params
    a1 = special.gammaln(r + x) - special.gammaln(r) + r * np.log(alpha)
    a2 = special.gammaln(a + b) + special.gammaln(b + x) - special.gammaln(b) - special.gammaln(a + b + x)
    a3 = -(r + x) * np.log(alpha + t)
    repeat = x > 0
    with np.errstate(divide="ignore", invalid="ignore"):
        a4 = np.where(
            repeat,
            np.log(a) - np.log(np.where(repeat, b + x - 1, 1.0)) - (r + x) * np.log(alpha + tx),
            -np.inf,
        )
    return a1 + a2 + np.logaddexp(a3, a4)


COARSE_ROWS = 20_000
"""Rows Nelder-Mead sees at most: on more, it runs on a seeded sample of this many distinct rows (hundreds
of likelihood evaluations, cheap there) and L-BFGS-B polishes on all of them (tens of evaluations)."""


def _fit_log_params(neg_ll: Any, start: np.ndarray, coarse: Any | None = None) -> tuple[np.ndarray, float]:
    """Minimise over log parameters: Nelder-Mead to get near (on `coarse`, the objective on a sample of the
    rows, when given), then L-BFGS-B on `neg_ll` to polish. If the polish fails after a coarse start,
    Nelder-Mead runs again on all rows from where the sample left it."""
    options = {"maxiter": 4000, "xatol": 1e-7, "fatol": 1e-10}
    best = optimize.minimize(coarse or neg_ll, start, method="Nelder-Mead", options=options)
    x, fun = best.x, (float(neg_ll(best.x)) if coarse is not None else float(best.fun))
    polish = optimize.minimize(neg_ll, x, method="L-BFGS-B", bounds=[(-20.0, 20.0)] * len(start))
    if polish.success and polish.fun <= fun:
        x, fun = polish.x, float(polish.fun)
    elif coarse is not None:
        again = optimize.minimize(neg_ll, x, method="Nelder-Mead", options=options)
        if again.fun <= fun:
            x, fun = again.x, float(again.fun)
    if not np.isfinite(fun):
        raise ModelError("the likelihood could not be maximised (no finite value)")
    return x, fun


def _distinct(*columns: np.ndarray) -> tuple[list[np.ndarray], np.ndarray]:
    """The distinct rows of the columns and how often each occurs: a likelihood summed over customers is
    the same sum over distinct (x, t_x, T) weighted by their counts (day-grained data repeats them a lot)."""
    rows, counts = np.unique(np.column_stack(columns), axis=0, return_counts=True)
    return [rows[:, i] for i in range(rows.shape[1])], counts.astype("float64")


def _sample(n: int) -> np.ndarray | None:
    """Positions of a seeded uniform sample of `COARSE_ROWS` of `n` distinct rows, which keep their counts
    (None when there are not more)."""
    if n <= COARSE_ROWS:
        return None
    return np.sort(np.random.default_rng(0).choice(n, COARSE_ROWS, replace=False))


def fit_bgnbd(
    frequency: np.ndarray, recency: np.ndarray, t: np.ndarray, penalizer: float = 0.0
) -> tuple[BgNbdParams, float]:
    """Maximum-likelihood r, alpha, a, b and the log-likelihood at them. Times are rescaled so the longest T
    is 10 while fitting (alpha scales back), which keeps the optimiser well conditioned for any time unit."""
    x, tx, tt = (np.asarray(v, dtype="float64") for v in (frequency, recency, t))
    if not len(x):
        raise ModelError("clv_bgnbd: no customers to fit")
    if (x > 0).sum() == 0:
        raise ModelError("clv_bgnbd: no customer purchased twice; BG/NBD needs repeat purchases")
    scale = 10.0 / max(float(tt.max()), 1e-9)
    (ux, utx, ut), weight = _distinct(x, tx * scale, tt * scale)

    def objective(rows: np.ndarray | slice) -> Any:
        w = weight[rows]
        total = float(w.sum())

        def neg_ll(log_p: np.ndarray) -> float:
            p = np.exp(log_p)
            ll = bgnbd_loglik(p, ux[rows], utx[rows], ut[rows])
            value = -float(ll @ w) / total + penalizer * float((p**2).sum())
            return value if np.isfinite(value) else 1e12

        return neg_ll

    sample = _sample(len(ux))
    coarse = None if sample is None else objective(sample)
    log_p, fun = _fit_log_params(objective(slice(None)), np.zeros(4), coarse)
    r, alpha, a, b = np.exp(log_p)
    params = BgNbdParams(float(r), float(alpha / scale), float(a), float(b))
    return params, float(bgnbd_loglik(astuple_(params), x, tx, tt).sum())


def astuple_(params: BgNbdParams | GammaGammaParams) -> tuple[float, ...]:
    return tuple(asdict(params).values())


def bgnbd_p_alive(params: BgNbdParams, x: np.ndarray, tx: np.ndarray, t: np.ndarray) -> np.ndarray:
    """P(still active at T | x, t_x, T) (FHL 2005, eq. 11); 1 for customers without a repeat purchase."""
    r, alpha, a, b = astuple_(params)
    x, tx, t = (np.asarray(v, dtype="float64") for v in (x, tx, t))
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        log_ratio = np.log(a) - np.log(b + x - 1) + (r + x) * (np.log(alpha + t) - np.log(alpha + tx))
        out = np.where(x > 0, special.expit(-log_ratio), 1.0)
    return out


def bgnbd_expected(
    params: BgNbdParams, horizon: float, x: np.ndarray, tx: np.ndarray, t: np.ndarray
) -> np.ndarray:
    """E[purchases in (T, T + horizon] | x, t_x, T] (FHL 2005, eq. 10), vectorised; same time unit as T."""
    r, alpha, a, b = astuple_(params)
    x, tx, t = (np.asarray(v, dtype="float64") for v in (x, tx, t))
    h = float(horizon)
    z = h / (alpha + t + h)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        hyp = special.hyp2f1(r + x, b + x, a + b + x - 1, z)
        log_head = (r + x) * (np.log(alpha + t) - np.log(alpha + t + h))
        term = 1.0 - np.exp(log_head) * hyp
        first = (a + b + x - 1) / (a - 1) * term
        log_ratio = np.log(a) - np.log(b + x - 1) + (r + x) * (np.log(alpha + t) - np.log(alpha + tx))
        denom = 1.0 + np.where(x > 0, np.exp(log_ratio), 0.0)
        out = first / denom
    bad = ~np.isfinite(out) | (out < 0)
    if bad.any():  # the hypergeometric series overflowed: the alive probability times the rate's mean
        rate = (r + x[bad]) / (alpha + t[bad])
        out[bad] = bgnbd_p_alive(params, x[bad], tx[bad], t[bad]) * rate * h
    return out


# ------------------------------------------------------------------------------------------- Gamma-Gamma


def gamma_gamma_loglik(params: Sequence[float], x: np.ndarray, m: np.ndarray) -> np.ndarray:
    """Per-customer log-likelihood of the mean spend m of x repeat purchases (x > 0, m > 0)."""
    p, q, v = params
    px = p * x
    return (
        special.gammaln(px + q)
        - special.gammaln(px)
        - special.gammaln(q)
        + q * np.log(v)
        + (px - 1) * np.log(m)
        + px * np.log(x)
        - (px + q) * np.log(x * m + v)
    )


def fit_gamma_gamma(
    frequency: np.ndarray, monetary: np.ndarray, penalizer: float = 0.0
) -> tuple[GammaGammaParams, float]:
    """Maximum-likelihood p, q, v on the customers with repeat purchases and positive mean spend."""
    x = np.asarray(frequency, dtype="float64")
    m = np.asarray(monetary, dtype="float64")
    keep = (x > 0) & (m > 0) & np.isfinite(m)
    x, m = x[keep], m[keep]
    if len(x) < 2:
        raise ModelError("clv_bgnbd: fewer than two customers with repeat purchases; Gamma-Gamma needs them")
    scale = 10.0 / float(np.median(m))
    (ux, um), weight = _distinct(x, m * scale)

    def objective(rows: np.ndarray | slice) -> Any:
        w = weight[rows]
        total = float(w.sum())

        def neg_ll(log_p: np.ndarray) -> float:
            p = np.exp(log_p)
            value = -float(gamma_gamma_loglik(p, ux[rows], um[rows]) @ w) / total
            value += penalizer * float((p**2).sum())
            return value if np.isfinite(value) else 1e12

        return neg_ll

    sample = _sample(len(ux))
    coarse = None if sample is None else objective(sample)
    log_p, _ = _fit_log_params(objective(slice(None)), np.zeros(3), coarse)
    p, q, v = np.exp(log_p)
    params = GammaGammaParams(float(p), float(q), float(v / scale))
    return params, float(gamma_gamma_loglik(astuple_(params), x, m).sum())


def gamma_gamma_expected(params: GammaGammaParams, x: np.ndarray, m: np.ndarray) -> np.ndarray:
    """E[spend per purchase | x, m]: p(v + x m) / (p x + q - 1); the population mean p v / (q - 1) without
    repeat purchases (and when q <= 1, where that mean is infinite: the customer's own mean, or 0)."""
    p, q, v = astuple_(params)
    x = np.asarray(x, dtype="float64")
    m = np.nan_to_num(np.asarray(m, dtype="float64"))
    x_ = np.where(m > 0, x, 0.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        out = p * (v + x_ * m) / (p * x_ + q - 1)
    fallback = np.where(m > 0, m, 0.0)
    return np.where(np.isfinite(out) & (out > 0), out, fallback)
