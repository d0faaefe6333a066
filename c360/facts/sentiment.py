"""Sentiment of ticket and social texts, scored offline by VADER (vaderSentiment 3.3.2).

VADER is a lexicon and rule-based scorer built for short social-media and review text: it handles negation
("not happy"), intensifiers, capitals, punctuation and emoji, which is what tickets and mentions are. Its
lexicon files ship inside the wheel and are read from the installed package, so nothing is downloaded at run
time. The score is VADER's `compound` (-1..1); the label uses the thresholds VADER's authors document
(compound >= 0.05 positive, <= -0.05 negative, else neutral), not thresholds fitted to any data set.

Identical texts are scored once per call (templated replies and short posts repeat), so the cost follows the
number of distinct texts.
"""

from __future__ import annotations

from functools import lru_cache
from typing import TYPE_CHECKING

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

if TYPE_CHECKING:
    from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

VADER_VERSION = "3.3.2"
POSITIVE_AT = 0.05
NEGATIVE_AT = -0.05
SENTIMENT_MODEL = (
    f"vaderSentiment=={VADER_VERSION} compound (positive >= {POSITIVE_AT}, negative <= {NEGATIVE_AT})"
)
LABELS: tuple[str, str, str] = ("negative", "neutral", "positive")


@lru_cache(maxsize=1)
def _analyzer() -> SentimentIntensityAnalyzer:
    """The analyzer, built on first use (it parses its lexicon files, ~0.1 s)."""
    from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

    return SentimentIntensityAnalyzer()


def label_scores(scores: pa.Array) -> pa.Array:
    """negative | neutral | positive for compound scores by VADER's documented thresholds; null stays null."""
    values = scores.to_numpy(zero_copy_only=False)
    codes = np.where(values >= POSITIVE_AT, 2, np.where(values <= NEGATIVE_AT, 0, 1))
    labels = pa.array(LABELS, pa.string()).take(pa.array(codes, pa.int64()))
    return pc.if_else(pc.is_null(scores), pa.scalar(None, pa.string()), labels)


def score_texts(texts: pa.Array | pa.ChunkedArray) -> tuple[pa.Array, pa.Array]:
    """(score float64 in -1..1, label string) per text; both null where the text is null or blank."""
    if isinstance(texts, pa.ChunkedArray):
        texts = texts.combine_chunks() if texts.num_chunks else pa.array([], pa.string())
    if pa.types.is_dictionary(texts.type):
        texts = texts.dictionary_decode()
    if not (pa.types.is_string(texts.type) or pa.types.is_large_string(texts.type)):
        texts = texts.cast(pa.string())
    n = len(texts)
    if n == 0:
        return pa.array([], pa.float64()), pa.array([], pa.string())
    trimmed = pc.utf8_trim_whitespace(texts)
    blank = pc.fill_null(pc.equal(pc.utf8_length(trimmed), 0), True)
    encoded = pc.dictionary_encode(pc.if_else(blank, pa.scalar(None, texts.type), trimmed))
    distinct = encoded.dictionary.to_pylist()
    analyzer = _analyzer()
    unique_scores = pa.array([analyzer.polarity_scores(t)["compound"] for t in distinct], pa.float64())
    scores = unique_scores.take(encoded.indices)  # a null index (null or blank text) gives a null score
    return scores, label_scores(scores)
