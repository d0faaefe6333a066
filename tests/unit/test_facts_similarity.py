"""Similar items: top k by cosine of TF-IDF, never oneself, deterministic ties."""

from __future__ import annotations

import pytest

from c360.facts.similarity import CHUNK_CELLS, product_texts, top_k_similar

pytestmark = pytest.mark.unit


def test_nearest_by_shared_words_and_never_oneself():
    ids = ["p3", "p1", "p2", "p4"]
    texts = ["red wool scarf", "red wool hat", "blue steel kettle", "steel kettle blue large"]
    out = top_k_similar(ids, texts, 2).to_pylist()
    first = {r["product_id"]: r for r in out if r["rank"] == 1}
    assert first["p1"]["similar_product_id"] == "p3" and first["p3"]["similar_product_id"] == "p1"
    assert first["p2"]["similar_product_id"] == "p4"
    assert all(r["product_id"] != r["similar_product_id"] for r in out)
    # nothing shared between the scarf and the kettle: a zero score is not a neighbour
    assert {r["similar_product_id"] for r in out if r["product_id"] == "p1"} == {"p3"}
    scores = [r["score"] for r in out if r["product_id"] == "p2"]
    assert scores == sorted(scores, reverse=True) and all(0 < s <= 1 for s in scores)


def test_ties_break_by_product_id_whatever_the_input_order():
    ids = ["c", "a", "d", "b", "q"]
    texts = ["same words here"] * 4 + ["same words here too"]
    for order in (ids, list(reversed(ids))):
        txt = [texts[ids.index(i)] for i in order]
        out = [r for r in top_k_similar(order, txt, 2).to_pylist() if r["product_id"] == "b"]
        assert [r["similar_product_id"] for r in out] == ["a", "c"]


def test_chunks_give_the_same_answer_as_one_block(monkeypatch):
    ids = [f"p{i:03d}" for i in range(60)]
    texts = [f"word{i % 7} word{i % 5} common{i % 3}" for i in range(60)]
    whole = top_k_similar(ids, texts, 5)
    monkeypatch.setattr("c360.facts.similarity.CHUNK_CELLS", 7 * 60)  # chunks of 7 rows
    assert CHUNK_CELLS > 7 * 60
    assert top_k_similar(ids, texts, 5).equals(whole)


def test_product_text_includes_attribute_values():
    import pyarrow as pa

    products = pa.table(
        {
            "title": ["Mug"],
            "description": [None],
            "category": ["home"],
            "attributes": ['{"colour": "teal", "rating": 4.5, "tags": ["gift"]}'],
        }
    )
    assert product_texts(products) == ["Mug home teal gift"]


def test_candidate_preselection_matches_a_brute_force_ranking():
    """Many exact ties (a tiny vocabulary): the fast path must agree with sorting every column."""
    import numpy as np

    from c360.facts.similarity import chunk_top_k

    rng = np.random.default_rng(3)
    n, k = 80, 3
    sims = np.round(rng.integers(0, 4, size=(n, n)) / 4, 2).astype(np.float32)
    best, scores = chunk_top_k(sims.copy(), 0, k)
    for r in range(n):
        ranked = sorted((c for c in range(n) if c != r), key=lambda c: (-round(float(sims[r, c]), 6), c))[:k]
        assert best[r].tolist() == ranked
        assert scores[r].tolist() == [round(float(sims[r, c]), 6) for c in ranked]


@pytest.mark.parametrize(("share", "terms"), [(2.0, 512), (0.0, 3), (0.0, 512)])
def test_common_terms_split_dense_give_the_sparse_answer(monkeypatch, share, terms):
    """The product split by term frequency (common terms dense, the rest sparse) is the same product: the
    table equals the all-sparse one whichever terms go dense."""
    import numpy as np

    rng = np.random.default_rng(7)
    ids = [f"p{i:03d}" for i in range(150)]
    common = ["designed", "for", "everyday", "use"]
    texts = [
        " ".join([*common[: 1 + i % 4], f"brand{i % 9}", f"noun{i % 13}", f"rare{rng.integers(0, 400)}"])
        for i in range(150)
    ]
    monkeypatch.setattr("c360.facts.similarity.DENSE_SHARE", 2.0)  # nothing dense: the plain sparse product
    sparse_only = top_k_similar(ids, texts, 6)
    monkeypatch.setattr("c360.facts.similarity.DENSE_SHARE", share)
    monkeypatch.setattr("c360.facts.similarity.DENSE_TERMS", terms)
    assert top_k_similar(ids, texts, 6).equals(sparse_only)
