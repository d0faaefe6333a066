"""Sentiment benchmark: the offline scorer against the demo generator's planted labels, and its speed.

The demo writes every support ticket body and social mention with a known label (`ground_truth/sentiment`,
keyed by source, file set and source record id: the ticket or mention id). Texts are read from the raw files
the generator wrote, scored by `c360.facts.sentiment.score_texts` with the model's documented thresholds
(nothing is fitted here), and compared per text kind: accuracy, macro-F1 and the confusion matrix (rows the
planted label, columns the predicted one). Speed is reported twice: texts/s through `score_texts`, which
scores each distinct text once (the demo's templated texts repeat), and distinct texts/s, the rate on text
that never repeats, which is the one to plan with for real data.
"""

from __future__ import annotations

import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.json as pajson
from rich.console import Console
from rich.table import Table

from c360.facts.sentiment import LABELS, SENTIMENT_MODEL, score_texts
from c360.workspace import Workspace, init_workspace

# (source, file set, id column, text column, kind shown)
TEXT_SETS: tuple[tuple[str, str, str, str, str], ...] = (
    ("support", "tickets", "ticket_id", "body", "ticket"),
    ("social", "mentions", "mention_id", "text", "mention"),
)


@dataclass(frozen=True)
class Scores:
    """Agreement of predicted with planted labels over one set of texts."""

    n: int
    accuracy: float
    macro_f1: float
    confusion: np.ndarray  # [planted, predicted] in LABELS order (texts with no prediction left out)
    planted: np.ndarray  # texts per planted label, those with no prediction included

    @property
    def per_class_f1(self) -> dict[str, float]:
        return dict(zip(LABELS, _f1(self.confusion, self.planted), strict=True))


def _f1(confusion: np.ndarray, planted: np.ndarray) -> np.ndarray:
    tp = np.diag(confusion).astype(float)
    predicted = confusion.sum(axis=0)
    denom = planted + predicted
    return np.divide(2 * tp, denom, out=np.zeros_like(tp), where=denom > 0)


def evaluate(planted: pa.Array | list[str | None], predicted: pa.Array | list[str | None]) -> Scores:
    """Accuracy, macro-F1 (mean of the three classes' F1) and confusion matrix; a null prediction is wrong."""
    truth = pa.array(planted, pa.string()) if isinstance(planted, list) else planted
    guess = pa.array(predicted, pa.string()) if isinstance(predicted, list) else predicted
    if len(truth) != len(guess):
        raise ValueError(f"{len(truth)} planted labels but {len(guess)} predictions")
    codes = pa.array(LABELS)
    t = pc.fill_null(pc.index_in(truth, codes), -1).to_numpy(zero_copy_only=False).astype(np.int64)
    g = pc.fill_null(pc.index_in(guess, codes), -1).to_numpy(zero_copy_only=False).astype(np.int64)
    if (t < 0).any():
        raise ValueError("planted labels must be negative, neutral or positive")
    known = g >= 0
    confusion = np.zeros((3, 3), dtype=np.int64)
    np.add.at(confusion, (t[known], g[known]), 1)
    n = len(t)
    planted_counts = np.bincount(t, minlength=3)
    return Scores(
        n=n,
        accuracy=float(np.trace(confusion)) / n if n else 0.0,
        macro_f1=float(_f1(confusion, planted_counts).mean()),
        confusion=confusion,
        planted=planted_counts,
    )


def labelled_texts(ws: Workspace) -> pa.Table:
    """kind, source_record_id, text and planted label of every demo text that has a label."""
    from c360.demo import GROUND_TRUTH

    lake = ws.lake
    truth = lake.read_table(lake.path(GROUND_TRUTH, "sentiment.parquet"))
    parts = []
    for source, file_set, id_col, text_col, kind in TEXT_SETS:
        files = lake.glob(f"raw/{source}/{file_set}/*")
        for f in files:
            with lake.open(f) as fh:
                if f.endswith(".csv"):
                    table = pacsv.read_csv(
                        fh,
                        convert_options=pacsv.ConvertOptions(
                            include_columns=[id_col, text_col],
                            column_types={id_col: pa.string(), text_col: pa.string()},
                            strings_can_be_null=True,
                        ),
                    )
                else:
                    table = pajson.read_json(fh).select([id_col, text_col])
            parts.append(
                pa.table(
                    {
                        "kind": pa.array([kind] * table.num_rows, pa.string()),
                        "source": pa.array([source] * table.num_rows, pa.string()),
                        "file_set": pa.array([file_set] * table.num_rows, pa.string()),
                        "source_record_id": table[id_col].cast(pa.string()),
                        "text": table[text_col].cast(pa.string()),
                    }
                )
            )
    if not parts:
        raise FileNotFoundError(f"no ticket or mention files under {lake.path('raw')}")
    texts = pa.concat_tables(parts)
    joined = texts.join(
        truth.select(["source", "file_set", "source_record_id", "label"]),
        keys=["source", "file_set", "source_record_id"],
        join_type="inner",
    )
    return joined.sort_by([("kind", "ascending"), ("source_record_id", "ascending")])


@dataclass(frozen=True)
class SentimentBenchResult:
    customers: int | None
    texts: int
    distinct: int
    seconds: float  # score_texts over all texts
    distinct_seconds: float  # every distinct text scored once, no sharing
    by_kind: dict[str, Scores]

    @property
    def texts_per_s(self) -> float:
        return self.texts / self.seconds if self.seconds else 0.0

    @property
    def distinct_per_s(self) -> float:
        return self.distinct / self.distinct_seconds if self.distinct_seconds else 0.0


def bench_workspace(ws: Workspace, customers: int | None = None) -> SentimentBenchResult:
    data = labelled_texts(ws)
    score_texts(pa.array(["warm up: the lexicon is parsed once, not timed"]))
    t0 = time.perf_counter()
    _, predicted = score_texts(data["text"])
    seconds = time.perf_counter() - t0
    distinct = pc.unique(data["text"].drop_null())
    t0 = time.perf_counter()
    score_texts(distinct)
    distinct_seconds = time.perf_counter() - t0
    by_kind: dict[str, Scores] = {}
    kinds = data["kind"]
    for _, _, _, _, kind in TEXT_SETS:
        mask = pc.equal(kinds, kind)
        by_kind[kind] = evaluate(
            data["label"].filter(mask).combine_chunks(), predicted.filter(mask.combine_chunks())
        )
    by_kind["all"] = evaluate(data["label"].combine_chunks(), predicted)
    return SentimentBenchResult(
        customers=customers,
        texts=data.num_rows,
        distinct=len(distinct),
        seconds=seconds,
        distinct_seconds=distinct_seconds,
        by_kind=by_kind,
    )


def results_tables(result: SentimentBenchResult) -> list[Table]:
    who = f"{result.customers:,} demo customers, " if result.customers else ""
    summary = Table(title=f"Sentiment: {SENTIMENT_MODEL}", title_justify="left")
    for name in ("texts", "n", "accuracy", "macro-F1", "F1 neg", "F1 neu", "F1 pos"):
        summary.add_column(name, justify="right")
    for kind, s in result.by_kind.items():
        f1 = s.per_class_f1
        summary.add_row(
            kind,
            f"{s.n:,}",
            f"{s.accuracy:.3f}",
            f"{s.macro_f1:.3f}",
            f"{f1['negative']:.3f}",
            f"{f1['neutral']:.3f}",
            f"{f1['positive']:.3f}",
        )
    tables = [summary]
    for kind, s in result.by_kind.items():
        t = Table(title=f"{kind}: planted (rows) x predicted (columns)", title_justify="left")
        t.add_column("planted")
        for label in LABELS:
            t.add_column(label, justify="right")
        for i, label in enumerate(LABELS):
            t.add_row(label, *(f"{int(v):,}" for v in s.confusion[i]))
        tables.append(t)
    speed = Table(title=f"Speed ({who}one process)", title_justify="left")
    for name in ("texts", "seconds", "texts/s", "distinct texts", "distinct texts/s"):
        speed.add_column(name, justify="right")
    speed.add_row(
        f"{result.texts:,}",
        f"{result.seconds:.2f}",
        f"{result.texts_per_s:,.0f}",
        f"{result.distinct:,}",
        f"{result.distinct_per_s:,.0f}",
    )
    tables.append(speed)
    return tables


def run(
    customers: int = 20_000,
    seed: int = 42,
    workdir: Path | None = None,
    workspace: Path | None = None,
    console: Console | None = None,
) -> SentimentBenchResult:
    """Generate demo data (or use `workspace`, which must hold demo ground truth), score, print, return."""
    from c360.demo import generate_demo_data

    console = console or Console()
    if workspace is not None:
        result = bench_workspace(Workspace.load(workspace))
    else:
        base = Path(workdir) if workdir else Path(tempfile.mkdtemp(prefix="c360-bench-sentiment-"))
        try:
            root = base / f"sentiment-{customers}"
            init_workspace(root, force=True)
            ws = Workspace.load(root)
            generate_demo_data(ws, customers=customers, seed=seed, console=None)
            result = bench_workspace(ws, customers)
        finally:
            if workdir is None:
                shutil.rmtree(base, ignore_errors=True)
    for table in results_tables(result):
        console.print(table)
    return result
