"""User-kNN and TIFU-kNN (c360.recs.user_neighbours) on hand-made purchase tables whose scores are worked
out by hand."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from c360.recs.data import binary, build_interactions
from c360.recs.user_neighbours import TifuKNN, UserKNN, decayed_frequency, l2_rows

pytestmark = pytest.mark.unit

AS_OF = pd.Timestamp("2011-01-31", tz="UTC")


def table(rows: list[tuple[str, str, str, str]]) -> pd.DataFrame:
    frame = pd.DataFrame(rows, columns=["customer_id", "order_id", "ts", "product_id"])
    return frame.assign(ts=pd.to_datetime(frame["ts"], utc=True), quantity=1, kind="purchase", category=None)


def baskets() -> pd.DataFrame:
    """A bought P, Q; B bought P, Q, R; C bought S, T; D bought P, S (one order each)."""
    bought = {"A": "PQ", "B": "PQR", "C": "ST", "D": "PS"}
    return table([(c, f"o{c}", "2011-01-10", p) for c, items in bought.items() for p in items])


def test_user_knn_scores_items_by_the_nearest_customers_cosine():
    data = build_interactions(baskets(), AS_OF)
    # A's cosines: B 2 / (sqrt 2 sqrt 3) = 0.8165, D 1 / (sqrt 2 sqrt 2) = 0.5, C 0
    items, scores = UserKNN(neighbours=2).fit(data).top_items(data.rows_of(["A"]), 2)
    assert [data.items[i] for i in items[0]] == ["R", "S"]  # R from B, S from D
    assert scores[0] == pytest.approx([2 / np.sqrt(6), 0.5], rel=1e-5)
    # one neighbour: B only, so S (bought by D) scores nothing and A is never their own neighbour
    one = UserKNN(neighbours=1).fit(data)
    s = one.scores(data.rows_of(["A"]))[0]
    at = data.item_index
    assert s[at["R"]] == pytest.approx(2 / np.sqrt(6), rel=1e-5) and s[at["S"]] == 0.0
    assert s[at["P"]] == pytest.approx(2 / np.sqrt(6), rel=1e-5)  # B's share, not A's own 1


def test_user_knn_scores_a_history_the_fit_did_not_see():
    data = build_interactions(baskets(), AS_OF)
    history = sp.csr_matrix(([1.0], ([0], [data.item_index["S"]])), shape=(1, data.shape[1]))
    # S alone: cosine 1 / sqrt 2 with C and with D; both are neighbours (the -1 row excludes no one)
    s = UserKNN(neighbours=2).fit(data)._scores(history, np.array([-1]))[0]
    at = data.item_index
    assert s[at["T"]] == pytest.approx(1 / np.sqrt(2), rel=1e-5)
    assert s[at["P"]] == pytest.approx(1 / np.sqrt(2), rel=1e-5)
    assert s[at["R"]] == 0.0


def orders() -> pd.DataFrame:
    """A buys X 30 days before as_of and Y 10 days before; B buys Y and Z together 10 days before; C buys
    W."""
    return table(
        [
            ("A", "o1", "2011-01-01", "X"),
            ("A", "o2", "2011-01-21", "Y"),
            ("B", "o3", "2011-01-21", "Y"),
            ("B", "o3", "2011-01-21", "Z"),
            ("C", "o4", "2011-01-21", "W"),
        ]
    )


def test_decayed_frequency_weights_each_order_by_its_age():
    data = build_interactions(orders(), AS_OF)
    a, b = data.rows_of(["A", "B"])
    at = data.item_index
    # half-life 10 days: A's orders weigh 2^-3 (X, 30 days) and 2^-1 (Y, 10 days), 0.625 in all
    v = decayed_frequency(data, 10.0).toarray()
    assert v[a, at["X"]] == pytest.approx(0.125 / 0.625) and v[a, at["Y"]] == pytest.approx(0.5 / 0.625)
    assert v[b, at["Y"]] == pytest.approx(1.0) and v[b, at["Z"]] == pytest.approx(1.0)
    plain = decayed_frequency(data, None).toarray()  # no decay: the share of orders
    assert plain[a, at["X"]] == pytest.approx(0.5) and plain[a, at["Y"]] == pytest.approx(0.5)


def test_tifu_mixes_the_own_vector_with_the_nearest_customers_mean():
    data = build_interactions(orders(), AS_OF)
    at = data.item_index
    rows = data.rows_of(["A"])
    own = TifuKNN(neighbours=1, alpha=1.0, half_life_days=10.0).fit(data).scores(rows)[0]
    assert own[at["Y"]] == pytest.approx(0.8) and own[at["X"]] == pytest.approx(0.2)
    # half own, half the nearest customer's vector (B: Y 1, Z 1; C shares nothing with A)
    model = TifuKNN(neighbours=1, alpha=0.5, half_life_days=10.0).fit(data)
    s = model.scores(rows)[0]
    expected = {"X": 0.1, "Y": 0.4 + 0.5, "Z": 0.5, "W": 0.0}
    assert {p: s[at[p]] for p in expected} == pytest.approx(expected)
    items, _ = model.top_items(rows, 3, exclude_bought=False)
    assert [data.items[i] for i in items[0]] == ["Y", "Z", "X"]
    items, _ = model.top_items(rows, 1, exclude_bought=True)
    assert [data.items[i] for i in items[0]] == ["Z"]


def random_baskets() -> pd.DataFrame:
    """60 customers, 3 orders each in the 90 days before AS_OF, of 1 to 4 of 25 products (seeded)."""
    rng = np.random.default_rng(7)
    return table(
        [
            (f"c{c}", f"o{c}-{d}", str(AS_OF.date() - pd.Timedelta(days=int(d))), f"p{p}")
            for c in range(60)
            for d in rng.choice(90, size=3, replace=False)
            for p in rng.choice(25, size=int(rng.integers(1, 5)), replace=False)
        ]
    )


def test_user_knn_neighbour_lists_found_at_fit_score_as_a_search_at_the_call(monkeypatch):
    """A fitted customer's neighbours come from the fit, in batches; the scores equal a search at the call
    over every customer (`nearest`, whose order among equal cosines the fit's batches keep: binary baskets
    tie often), for everyone, one customer, and beside a history the fit did not see."""
    import c360.recs.user_neighbours as un

    data = build_interactions(random_baskets(), AS_OF)
    monkeypatch.setattr(un, "BATCH", 7)
    model = UserKNN(neighbours=5).fit(data)
    bought = binary(data.weights)

    def searched(history: sp.csr_matrix, rows: np.ndarray) -> np.ndarray:
        sims = (l2_rows(binary(history)) @ l2_rows(bought).T).toarray()
        return (un.nearest(sims, rows, 5) @ bought).toarray()

    everyone = np.arange(data.shape[0])
    want = searched(bought, everyone)
    assert (np.count_nonzero(want, axis=1) > np.count_nonzero(bought.toarray(), axis=1)).all()
    np.testing.assert_allclose(model.scores(everyone), want, rtol=1e-6)
    np.testing.assert_allclose(model.scores(np.array([3])), want[[3]], rtol=1e-6)
    unseen = sp.csr_matrix(([1.0, 1.0], ([0, 0], [0, 4])), shape=(1, data.shape[1]))
    history = sp.vstack([bought[[3]], unseen]).tocsr()
    rows = np.array([3, -1])
    np.testing.assert_allclose(model._scores(history, rows), searched(history, rows), rtol=1e-6)


def test_tifu_neighbour_lists_found_at_fit_score_as_a_search_from_scratch(monkeypatch):
    """Fitted customers' neighbours are found once, at fit (in batches), and scoring reads them: one customer,
    all of them at once, or beside a history the fit did not see, the scores equal a brute-force search."""
    import c360.recs.user_neighbours as un

    data = build_interactions(random_baskets(), AS_OF)
    monkeypatch.setattr(un, "BATCH", 7)  # several batches of neighbour lists
    model = TifuKNN(neighbours=5, alpha=0.6, half_life_days=30.0).fit(data)

    v = decayed_frequency(data, 30.0).toarray()
    unit = v / np.maximum(np.linalg.norm(v, axis=1, keepdims=True), 1e-30)

    def expected(vector: np.ndarray, own_row: int) -> np.ndarray:
        sims = unit @ (vector / np.linalg.norm(vector))
        if own_row >= 0:
            sims[own_row] = 0.0
        nearest = [k for k in np.argsort(-sims, kind="stable")[:5] if sims[k] > 0]
        return 0.6 * vector + 0.4 * (v[nearest].mean(axis=0) if nearest else 0.0)

    everyone = np.arange(data.shape[0])
    want = np.array([expected(v[r], r) for r in everyone])
    np.testing.assert_allclose(model.scores(everyone), want, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(model.scores(np.array([3]))[0], want[3], rtol=1e-5, atol=1e-7)
    history = sp.csr_matrix(([1.0, 1.0], ([0, 0], [0, 4])), shape=(1, data.shape[1]))
    mixed = model._scores(sp.vstack([sp.csr_matrix(v[[3]]), history]).tocsr(), np.array([3, -1]))
    fresh = np.zeros(data.shape[1])
    fresh[[0, 4]] = 0.5  # every item of the unseen history, undecayed
    np.testing.assert_allclose(mixed, [want[3], expected(fresh, -1)], rtol=1e-5, atol=1e-7)


def test_l2_rows_scales_each_row_to_unit_length_and_leaves_the_input_alone():
    m = sp.csr_matrix(np.array([[3.0, 0.0, 4.0], [0.0, 0.0, 0.0], [0.0, 2.0, 0.0]], dtype=np.float32))
    before = m.toarray().copy()
    unit = l2_rows(m)
    np.testing.assert_allclose(unit.toarray(), [[0.6, 0.0, 0.8], [0.0, 0.0, 0.0], [0.0, 1.0, 0.0]], rtol=1e-6)
    assert unit.dtype == np.float32 and unit.nnz == 3  # the empty row stays empty
    np.testing.assert_array_equal(m.toarray(), before)
    # a matrix with duplicate entries is summed first: (1 + 2, 4) has length 5
    dup = sp.csr_matrix((np.array([1.0, 2.0, 4.0]), np.array([0, 0, 1]), np.array([0, 3])), shape=(1, 2))
    np.testing.assert_allclose(l2_rows(dup).toarray(), [[0.6, 0.8]], rtol=1e-6)
