"""`facts/product_similarity`: each product's nearest neighbours by the cosine similarity of TF-IDF vectors
over its title, description, category and attribute values, the input of content-based recommendations.

The similarity matrix is never built whole: rows are multiplied in chunks and only each row's top k survive,
so memory stays at chunk x products whatever the catalogue size. Ties are broken by product id, so the same
catalogue always gives the same table. A product is never its own neighbour, and a product sharing no term
with another (score 0) is not listed as similar to it.

The product is exact, and split by term frequency: `M M^T = M_common M_common^T + M_rare M_rare^T`, since the
two parts hold disjoint terms. A term in a large share of the catalogue ("designed", "for", a category name)
makes a sparse product quadratic in its document count (a 50,000-item catalogue whose descriptions share a
dozen words is 2.5e9 products per word), so the commonest terms (`DENSE_SHARE`, at most `DENSE_TERMS`) go
through a dense BLAS product and the rest stay sparse, where each costs only its own document count squared.
"""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
import pyarrow as pa

from c360.facts.schemas import PRODUCT_SIMILARITY, SCHEMAS

CHUNK_CELLS = 2_000_000
"""Dense similarity cells per chunk: a few int64, double and float copies of it, each under the 32 MB above
which glibc maps fresh pages for every allocation (page faults cost more than the work at 8M cells)."""
SCALE = 1_000_000
SLACK = 8
"""Candidates kept beyond k by the float pre-selection."""
DENSE_SHARE = 0.01
"""A term in more than this share of the products goes into the dense part of the product."""
DENSE_TERMS = 512
"""At most this many terms (the commonest) go dense: n x 512 doubles, 200 MB at 50,000 products."""


def _attribute_words(text: str | None) -> str:
    if not text:
        return ""
    try:
        value = json.loads(text)
    except (ValueError, TypeError):
        return ""
    out: list[str] = []

    def walk(v: object) -> None:
        if isinstance(v, dict):
            for x in v.values():
                walk(x)
        elif isinstance(v, list):
            for x in v:
                walk(x)
        elif isinstance(v, str):
            out.append(v)
        elif isinstance(v, bool) or v is None:
            return
        # numbers (ratings, sizes) are not words; they would only add noise to a text similarity

    walk(value)
    return " ".join(out)


def product_texts(products: pa.Table) -> list[str]:
    """One document per product: title, description, category and attribute values."""
    cols = [products[c].to_pylist() for c in ("title", "description", "category")]
    attrs = products["attributes"].to_pylist()
    return [
        " ".join(p for p in (t, d, c, _attribute_words(a)) if p)
        for t, d, c, a in zip(*cols, attrs, strict=True)
    ]


def _keys(micro: np.ndarray, cols: np.ndarray, n: int) -> np.ndarray:
    """One integer per cell: the score to 6 decimals, then the lower product id (column) first."""
    return micro * n + (n - 1 - cols)


def chunk_top_k(sims: np.ndarray, start: int, kk: int) -> tuple[np.ndarray, np.ndarray]:
    """Per row of a block of the similarity matrix (rows start.., all columns): the `kk` best columns and
    their scores (to 6 decimals), best first, ties to the lower column; the row's own column excluded.

    A float argpartition keeps `kk + SLACK` candidates; exact integer keys are built for those only. A row
    whose k-th score could tie with a cell left out (the lowest candidate rounds to the same value) is
    ranked again over all its columns, so the answer never depends on argpartition's order."""
    m, n = sims.shape
    rows = np.arange(m)
    sims[rows, rows + start] = -1.0  # never one's own neighbour
    width = min(n, kk + SLACK)
    if width < n:
        cand = np.argpartition(-sims, width - 1, axis=1)[:, :width]
    else:
        cand = np.tile(np.arange(n), (m, 1))
    micro = np.rint(np.take_along_axis(sims, cand, axis=1).astype(np.float64) * SCALE).astype(np.int64)
    pick = np.argsort(-_keys(micro, cand, n), axis=1, kind="stable")[:, :kk]
    best = np.take_along_axis(cand, pick, axis=1)
    best_micro = np.take_along_axis(micro, pick, axis=1)
    if width < n:
        unsure = (micro.min(axis=1) >= best_micro[:, -1]) & (best_micro[:, -1] > 0)
        for r in np.flatnonzero(unsure):
            full = np.rint(sims[r].astype(np.float64) * SCALE).astype(np.int64)
            top = np.argsort(-_keys(full, np.arange(n), n), kind="stable")[:kk]
            best[r], best_micro[r] = top, full[top]
    return best, best_micro / SCALE


def split_common_terms(matrix: Any) -> tuple[np.ndarray, Any]:
    """(the commonest terms' columns as a dense float64 array, the other columns as a sparse CSR matrix)."""
    n = matrix.shape[0]
    df = np.diff(matrix.tocsc().indptr)
    common = np.flatnonzero(df > max(1.0, DENSE_SHARE * n))
    if len(common) > DENSE_TERMS:
        common = common[np.argsort(-df[common], kind="stable")[:DENSE_TERMS]]
    common = np.sort(common)
    rare_cols = np.setdiff1d(np.arange(matrix.shape[1]), common)
    dense = matrix[:, common].toarray().astype(np.float64)
    rare = matrix[:, rare_cols].astype(np.float64).tocsr()
    return dense, rare


def top_k_similar(ids: list[str], texts: list[str], k: int) -> pa.Table:
    """The product_similarity rows for products `ids` (any order) with documents `texts`."""
    from sklearn.feature_extraction.text import TfidfVectorizer

    schema = SCHEMAS[PRODUCT_SIMILARITY]
    n = len(ids)
    if n < 2 or k < 1:
        return schema.empty_table()
    order = np.argsort(np.asarray(ids, dtype=object), kind="stable")
    ids_sorted = [ids[i] for i in order]
    docs = [texts[i] for i in order]
    try:
        matrix = TfidfVectorizer(sublinear_tf=True, dtype=np.float32).fit_transform(docs).tocsr()
    except ValueError:  # every document empty: no vocabulary, nothing is similar
        return schema.empty_table()
    dense, rare = split_common_terms(matrix)
    rare_t = rare.T.tocsc()
    dense_t = np.ascontiguousarray(dense.T)
    kk = min(k, n - 1)
    chunk = max(1, CHUNK_CELLS // n)
    src, dst, rank, score = [], [], [], []

    def block(start: int) -> tuple[int, np.ndarray, np.ndarray]:
        stop = min(n, start + chunk)
        # doubles in the product, so its result does not depend on how BLAS blocks a chunk of this size;
        # floats for the top-k, as the sparse path always gave
        sims = dense[start:stop] @ dense_t if dense.shape[1] else np.zeros((stop - start, n))
        part = (rare[start:stop] @ rare_t).tocoo()
        np.add.at(sims, (part.row, part.col), part.data)
        sims = sims.astype(np.float32)
        return (start, *chunk_top_k(sims, start, kk))

    # BLAS, scipy's sparse product and numpy's partition release the GIL: two blocks at a time use both
    # cores, each with a single-threaded BLAS (two BLAS thread pools would fight over the same two cores).
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1, user_api="blas"), ThreadPoolExecutor(max_workers=2) as pool:
        blocks = list(pool.map(block, range(0, n, chunk)))
    for start, best, best_scores in blocks:
        r, c = np.nonzero(best_scores > 0)
        src.append(r + start)
        dst.append(best[r, c])
        rank.append(c + 1)
        score.append(best_scores[r, c])
    src_a = np.concatenate(src)
    ids_arr = pa.array(ids_sorted, pa.string())
    return pa.table(
        {
            "product_id": ids_arr.take(pa.array(src_a)),
            "similar_product_id": ids_arr.take(pa.array(np.concatenate(dst))),
            "rank": pa.array(np.concatenate(rank).astype(np.int32)),
            "score": pa.array(np.concatenate(score).astype(np.float64)),
        },
        schema=schema,
    )


def build_similarity(products: pa.Table, k: int) -> pa.Table:
    return top_k_similar(products["product_id"].to_pylist(), product_texts(products), k)
