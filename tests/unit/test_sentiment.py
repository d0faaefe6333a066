"""The offline sentiment scorer: hand-written cases, nulls, no network, and accuracy on the demo's planted
labels (floors well below what `python -m c360.bench sentiment` measures, far above chance at ~0.33)."""

from __future__ import annotations

import socket
from importlib.metadata import version
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from c360.bench.sentiment import bench_workspace, evaluate
from c360.demo import generate_demo_data
from c360.facts import sentiment
from c360.facts.sentiment import SENTIMENT_MODEL, score_texts
from c360.workspace import Workspace, init_workspace

pytestmark = pytest.mark.unit

# Measured at 20,000 customers, seed 42: accuracy all 0.706, ticket 0.545, mention 0.830;
# macro-F1 0.698, 0.488, 0.831.
FLOORS = {"all": 0.60, "ticket": 0.45, "mention": 0.72}
MACRO_F1_FLOORS = {"all": 0.58, "ticket": 0.38, "mention": 0.72}


def _labels(texts: list[str | None]) -> list[str | None]:
    return score_texts(pa.array(texts, pa.string()))[1].to_pylist()


def test_hand_written_cases():
    assert _labels(
        [
            "I am not happy with this order.",
            "Love it!",
            "The parcel arrived broken and nobody answers my emails.",
            "What are the opening hours of the Leeds store?",
            "Thank you so much, brilliant service.",
            "This is not good at all.",
        ]
    ) == ["negative", "positive", "negative", "neutral", "positive", "negative"]


def test_null_and_blank_texts_have_no_score():
    scores, labels = score_texts(pa.array([None, "", "   \n", "great"], pa.string()))
    assert scores.to_pylist()[:3] == [None, None, None]
    assert labels.to_pylist() == [None, None, None, "positive"]
    assert scores.type == pa.float64() and labels.type == pa.string()


def test_shapes_and_types_accepted():
    chunked = pa.chunked_array([["love it", None], ["hate it"]])
    scores, labels = score_texts(chunked)
    assert labels.to_pylist() == ["positive", None, "negative"]
    assert len(scores) == 3
    dictionary = pa.array(["love it", "love it", "awful"]).dictionary_encode()
    assert score_texts(dictionary)[1].to_pylist() == ["positive", "positive", "negative"]
    empty_scores, empty_labels = score_texts(pa.chunked_array([], pa.string()))
    assert len(empty_scores) == 0 and len(empty_labels) == 0
    assert score_texts(pa.array([None, None], pa.string()))[1].null_count == 2


def test_scores_in_range_and_repeats_scored_alike():
    texts = ["Worst service ever!!!", "ok", "Best purchase I have made, thanks!", "Worst service ever!!!"]
    scores = score_texts(pa.array(texts))[0].to_numpy()
    assert np.all((scores >= -1) & (scores <= 1))
    assert scores[0] == scores[3] and scores[0] < -0.5 and scores[2] > 0.5


def test_model_named_is_the_installed_one():
    assert f"vaderSentiment=={version('vaderSentiment')} " in SENTIMENT_MODEL


def test_scores_without_network(monkeypatch):
    """The lexicon ships in the wheel: building the analyzer and scoring open no socket."""

    def refuse(*args, **kwargs):
        raise AssertionError("the sentiment scorer tried to use the network")

    sentiment._analyzer.cache_clear()
    monkeypatch.setattr(socket, "socket", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    try:
        assert _labels(["not bad at all"]) == ["positive"]
    finally:
        sentiment._analyzer.cache_clear()


def test_evaluate_counts_a_missing_prediction_as_wrong():
    s = evaluate(["negative", "neutral", "positive", "positive"], ["negative", "positive", "positive", None])
    assert s.n == 4 and s.accuracy == 0.5
    assert s.confusion.tolist() == [[1, 0, 0], [0, 0, 1], [0, 0, 1]]
    # F1: negative 1, neutral 0, positive 2*1/(2+2) = 0.5
    assert s.macro_f1 == pytest.approx(0.5)
    with pytest.raises(ValueError):
        evaluate(["joyful"], ["positive"])


@pytest.fixture(scope="module")
def demo_scores(tmp_path_factory) -> dict:
    root: Path = tmp_path_factory.mktemp("sentiment-demo")
    init_workspace(root)
    ws = Workspace.load(root)
    generate_demo_data(ws, customers=2_000, seed=11, console=None)
    return bench_workspace(ws, 2_000).by_kind


@pytest.mark.parametrize("kind", ["all", "ticket", "mention"])
def test_accuracy_against_planted_labels(demo_scores, kind):
    s = demo_scores[kind]
    assert s.n > 300
    assert s.accuracy >= FLOORS[kind], (kind, s.accuracy, s.confusion.tolist())
    assert s.macro_f1 >= MACRO_F1_FLOORS[kind], (kind, s.macro_f1)
