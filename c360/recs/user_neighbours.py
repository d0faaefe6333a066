"""Customer-neighbour recommenders: user-kNN over purchases and TIFU-kNN over time-decayed frequencies.

Both find, for a customer, the `neighbours` most similar customers by cosine and score items by what those
customers bought; item-kNN and EASE look at items instead, so these propose other candidates. The benchmark's
hybrid uses them as generators, one per task (a registered one only with `customer_neighbours` set:
`c360.recs.hybrid_state.generators` says why), each chosen on Online Retail's forward validation (the ranker
learnt from 2011-03-01..06-01 (and 2011-02-01..05-01 in (b)) with generators fitted before it, the generators
refitted before 2011-06-01, NDCG@10 on 2011-06-01..09-01; their parameters from the bench's grid on the window
before), mean of six LightGBM seeds: user-kNN in (a) new items, 0.1674 -> 0.1706 (seeds 0 and 1: 0.1659 ->
0.1758, 0.1686 -> 0.1723), where TIFU-kNN lowered it (0.1658); TIFU-kNN in (b) all purchases, 0.4279 ->
0.4330, up on five seeds of six (seeds 0 and 1: 0.4308 -> 0.4301, 0.4232 -> 0.4343; a draft that broke ties
between equally similar neighbours otherwise: 0.4338, up on all six), where user-kNN gained less (0.4307).
Both together: (a) 0.1728 but down on seed 0, (b) 0.4332. RP3beta (Paudel et al. 2017) was tried beside them
and helped neither (alone 0.127 against item-kNN's 0.139 in (a), on the tuning window). Nor did two that need
each basket, which `Interactions` does not keep (tried from the purchase lines): the paper's basket-index
decay (groups of 7, decays 0.9 and 0.7) in place of time decay, (b) 0.4293 against 0.4330, and a next-order
transition generator (item i in an order -> item j in the customer's next) beside the one above, (a) 0.1724
against 0.1706 and (b) 0.4333 against 0.4330, each down on one of seeds 0 and 1. The test window, read once
after the choice: (a) 0.1300 -> 0.1318, (b) 0.4004 -> 0.4055; TIFU-kNN alone 0.404 in (b) against 0.364 for
repeat + popularity.

Their state is the customers' own rows, not an item side: a registered version keeps nothing for them and
they are refitted (a normalisation, no learning) on the histories a scorer attaches. Both find every fitted
customer's neighbours once, at fit (`neighbour_lists`), and scoring one reads their list; a history the
fit did not see is searched at the call. On two years of Online Retail (5,900 customers) the fit takes
about 1 s more for each, and one customer's scores (the same scores) take 0.3 ms CPU p50 and 0.4-0.6 ms
p99, against 0.7-0.8 and 1.0-1.4 ms searching at each call. The fit grows with the square of the
customers: TIFU-kNN's took 290 s at 105,000 (the same customers repeated), where scoring one took 1.1 ms
at the median; user-kNN's search at the call had taken 5 ms CPU p99 at 100,000.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from c360.recs.base import BATCH, Recommender
from c360.recs.data import Interactions, binary, csr_rows
from c360.recs.rules import Rules


def l2_rows(m: sp.csr_matrix) -> sp.csr_matrix:
    """Rows scaled to unit length (float32; empty rows stay empty; duplicates summed, indices sorted). On the
    stored values directly: scipy's `multiply`, `sum` and a diagonal product took 0.35 ms for the one row a
    customer's list scores, this 0.08 ms."""
    m = sp.csr_matrix(m, dtype=np.float32, copy=True)
    m.sum_duplicates()
    lengths = np.diff(m.indptr)
    squares = np.zeros(m.shape[0], dtype=np.float32)
    filled = lengths > 0
    squares[filled] = np.add.reduceat(m.data * m.data, m.indptr[:-1][filled])
    norms = np.sqrt(squares)
    inv = np.divide(np.float32(1.0), norms, out=np.zeros_like(norms), where=norms > 0)
    m.data *= np.repeat(inv, lengths)
    m.eliminate_zeros()
    return m


def nearest(sims: np.ndarray, rows: np.ndarray, k: int) -> sp.csr_matrix:
    """len(rows) x customers: each row's k largest similarities, kept as weights; a fitted customer (row >= 0)
    is not their own neighbour. Overwrites `sims` at the customers' own columns."""
    n_rows, n = sims.shape
    known = np.flatnonzero(rows >= 0)
    sims[known, rows[known]] = 0.0
    k = min(k, n)
    if k <= 0:
        return sp.csr_matrix((n_rows, n), dtype=np.float32)
    top = np.argpartition(-sims, k - 1, axis=1)[:, :k] if k < n else np.tile(np.arange(n), (n_rows, 1))
    values = np.take_along_axis(sims, top, 1)
    out = sp.csr_matrix(
        (values.ravel(), (np.repeat(np.arange(n_rows), top.shape[1]), top.ravel())),
        shape=(n_rows, n),
        dtype=np.float32,
    )
    out.eliminate_zeros()
    return out


def neighbour_lists(unit: sp.csr_matrix, unit_t: sp.csr_matrix, rows: np.ndarray, k: int) -> sp.csr_matrix:
    """Each row of `unit` (unit-length vectors of the customers `rows`, -1 for one the fit did not see): its
    k most similar fitted customers (`nearest`), their cosine as weight. `unit_t` is the fitted customers'
    unit vectors transposed (items x customers); the cosines are made in batches of at most 2^24. The
    recommenders find every fitted customer's list at fit, and an unseen history's at the call."""
    n = unit_t.shape[1]
    step = max(1, min(BATCH, (1 << 24) // max(n, 1)))
    parts = [sp.csr_matrix((0, n), dtype=np.float32)]
    for lo in range(0, len(rows), step):
        parts.append(nearest((unit[lo : lo + step] @ unit_t).toarray(), rows[lo : lo + step], k))
    return sp.vstack(parts, format="csr")


class UserKNN(Recommender):
    """Cosine user-kNN over binary purchases: score(u, i) = sum over u's `neighbours` most similar customers
    v of cos(u, v) [v bought i]. 50 neighbours (from 50, 100, 200, 400 on the validation window)."""

    name = "user-kNN"

    def __init__(self, neighbours: int = 50, rules: Rules | None = None) -> None:
        super().__init__(rules)
        self.neighbours = neighbours

    def _fit(self, data: Interactions) -> None:
        self.bought_ = binary(data.weights)
        unit = l2_rows(self.bought_)
        self.unit_t_ = unit.T.tocsr()  # items x customers: one product gives every cosine
        self.neighbours_ = neighbour_lists(unit, self.unit_t_, np.arange(data.shape[0]), self.neighbours)

    def _scores(self, history: sp.csr_matrix, rows: np.ndarray) -> np.ndarray:
        known = rows >= 0
        out = np.zeros((len(rows), self.bought_.shape[1]), dtype=np.float32)
        if known.any():  # a fitted customer: their neighbours as the fit found them
            out[known] = (csr_rows(self.neighbours_, rows[known]) @ self.bought_).toarray()
        fresh = np.flatnonzero(~known)
        if len(fresh):
            unit = l2_rows(binary(history[fresh]))
            out[fresh] = (
                neighbour_lists(unit, self.unit_t_, rows[fresh], self.neighbours) @ self.bought_
            ).toarray()
        return out


def _decayed_sum(newest: np.ndarray, oldest: np.ndarray, count: np.ndarray, rate: float) -> np.ndarray:
    """sum over `count` events evenly spaced from `newest` to `oldest` days ago of exp(-rate * days)."""
    count = np.maximum(count, 1.0)
    gap = np.where(count > 1, (oldest - newest) / np.maximum(count - 1.0, 1.0), 0.0)
    q = np.exp(-rate * gap)
    with np.errstate(divide="ignore", invalid="ignore"):
        series = np.where(q < 1.0 - 1e-9, (1.0 - q**count) / (1.0 - q), count)
    return np.exp(-rate * newest) * series


def decayed_frequency(data: Interactions, half_life_days: float | None) -> sp.csr_matrix:
    """Customers x items: the decay-weighted share of a customer's orders that held the item (each order
    weighted 2^(-days ago / half_life_days); plain shares when None). `Interactions` keeps a pair's order
    count and its first and last purchase, not each basket, so a pair's orders are taken as evenly spaced
    between the two, and the customer's orders between their first and last purchase."""
    orders = sp.csr_matrix(data.orders, dtype=np.float64)
    orders.sort_indices()
    if half_life_days is None:
        share = 1.0 / np.maximum(data.customer_orders, 1.0)
        return sp.csr_matrix(sp.diags(share) @ orders, dtype=np.float32)
    rate = np.log(2.0) / half_life_days
    u, i = orders.nonzero()  # row-major, as orders.data
    last = np.asarray(data.last_days[u, i]).ravel() - 1.0
    first = np.asarray(data.first_days[u, i]).ravel() - 1.0
    pairs = _decayed_sum(np.maximum(last, 0.0), np.maximum(first, last), orders.data, rate)
    latest = np.full(orders.shape[0], np.inf)
    np.minimum.at(latest, u, np.maximum(last, 0.0))
    latest[~np.isfinite(latest)] = 0.0
    tenure = np.maximum(np.nan_to_num(data.customer_days, nan=0.0), latest)
    per_order = _decayed_sum(latest, tenure, np.maximum(data.customer_orders, 1.0), rate)
    inverse = np.divide(1.0, per_order, out=np.zeros_like(per_order), where=per_order > 0)
    out = sp.csr_matrix((pairs * inverse[u], (u, i)), shape=orders.shape, dtype=np.float32)
    out.sort_indices()
    return out


class TifuKNN(Recommender):
    """TIFU-kNN (Hu et al., SIGIR 2020), with time decay in place of the paper's basket-index groups (module
    docstring of `decayed_frequency`): each customer is their time-decayed item frequency vector; score(u) =
    alpha * u's vector + (1 - alpha) * the mean vector of u's `neighbours` nearest customers (cosine over
    the vectors). The own part is a repeat-purchase model, the neighbours' part proposes new items.

    Defaults from the validation grid (neighbours 100, 300; alpha 0.5, 0.9; half-life 90, 365 days), scored
    on (b) all purchases, where the own part counts: alone, NDCG@10 0.395 on that window (fitted before
    2011-03-01, scored on the three months after) against 0.342 for repeat + popularity."""

    name = "TIFU-kNN"

    def __init__(
        self,
        neighbours: int = 100,
        alpha: float = 0.5,
        half_life_days: float | None = 90.0,
        rules: Rules | None = None,
    ) -> None:
        super().__init__(rules)
        self.neighbours = neighbours
        self.alpha = alpha
        self.half_life_days = half_life_days

    def _fit(self, data: Interactions) -> None:
        self.vectors_ = decayed_frequency(data, self.half_life_days)
        unit = l2_rows(self.vectors_)
        self.unit_t_ = unit.T.tocsr()
        self.neighbours_ = self._neighbours(unit, np.arange(data.shape[0]))

    def _neighbours(self, unit: sp.csr_matrix, rows: np.ndarray) -> sp.csr_matrix:
        weights = neighbour_lists(unit, self.unit_t_, rows, self.neighbours)
        weights.data[:] = 1.0  # the neighbours' mean, unweighted as in the paper
        return weights

    def _scores(self, history: sp.csr_matrix, rows: np.ndarray) -> np.ndarray:
        known = rows >= 0
        own = np.zeros((len(rows), self.vectors_.shape[1]), dtype=np.float32)
        mean = np.zeros_like(own)
        if known.any():  # a fitted customer: their vector and neighbours as the fit found them
            own[known] = csr_rows(self.vectors_, rows[known]).toarray()
            mean[known] = self._mean(csr_rows(self.neighbours_, rows[known]))
        fresh = np.flatnonzero(~known)
        if len(fresh):  # a history the fit did not see: every item in every order, undecayed
            h = binary(history[fresh])
            own[fresh] = h.toarray() / np.maximum(np.asarray(h.sum(axis=1)), 1.0)
            mean[fresh] = self._mean(self._neighbours(l2_rows(sp.csr_matrix(own[fresh])), rows[fresh]))
        return self.alpha * own + (1.0 - self.alpha) * mean

    def _mean(self, neighbours: sp.csr_matrix) -> np.ndarray:
        count = np.maximum(np.diff(neighbours.indptr), 1).astype(np.float32)
        return (neighbours @ self.vectors_).toarray() / count[:, None]
