"""Customer segments: RFM segments with business names and behavioural k-means clusters, and a segment
history per customer.

RFM. Recency (days since the last purchase), frequency (purchases) and monetary value (spend) become scores
1..5 by quintile of the training population (the quantile grid is kept, so a customer scored later gets
the score their values would have had in training; ties share a score). Never having bought is the worst
recency and zero frequency and spend. The name comes from R and FM = round((F + M) / 2) by the grid
used in most RFM write-ups (the R x FM form of the widely copied "RFM segmentation" map):

    R \\ FM   1                2                  3                4                5
    5        New customers    Potential loyalists Potential loyal. Champions        Champions
    4        Promising        Potential loyalists Potential loyal. Loyal            Loyal
    3        About to sleep   About to sleep      Need attention   Loyal            Loyal
    2        Hibernating      Hibernating         At risk          At risk          Can't lose them
    1        Lost             Hibernating         At risk          At risk          Can't lose them

Behaviour. k-means on the numeric feature columns (or the `cluster_features` among them: a feature service
holds demographics and derived scores too, which split customers by something other than how they
behave): missing values take the training median, non-negative
right-skewed columns (skew > 1) are log1p'd, then each column is standardised. k is the one with the best
silhouette within [k_min, k_max], the silhouette computed on a sample of at most `silhouette_sample` rows
(exact silhouettes cost O(n^2)). Above `minibatch_above` rows MiniBatchKMeans replaces KMeans.

Stable labels. A retrain given the previous model (`fit(..., previous=model)`) matches its centroids to the
previous ones (both mapped into the new model's scaled space; Hungarian assignment on Euclidean distance,
`scipy.optimize.linear_sum_assignment`) and takes the matched cluster's label; a cluster with no partner
(k grew) takes a new label above every previous one. A customer whose behaviour did not change keeps their
cluster number across retrains, whatever order k-means found the clusters in.

History. `append_history(ws, frame, as_of, version)` writes one parquet file per scoring run under
`segments/history/` (customer_id, as_of, rfm_segment, cluster, model_version); `read_history` reads them
back. The erasure plan's `segments` step (`c360.models.erasure`) removes a person's rows.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pandas as pd
import pyarrow as pa

from c360.models.base import ID_COLUMNS, LABEL, Model, ModelError, register

STATE_FILE = "segments.json"
HISTORY = "segments/history"
HISTORY_SCHEMA = pa.schema(
    [
        ("customer_id", pa.string()),
        ("as_of", pa.timestamp("us", "UTC")),
        ("rfm_segment", pa.string()),
        ("cluster", pa.int64()),
        ("model_version", pa.string()),
    ]
)

CHAMPIONS, LOYAL, POTENTIAL = "Champions", "Loyal", "Potential loyalists"
NEW, PROMISING, NEED_ATTENTION = "New customers", "Promising", "Need attention"
ABOUT_TO_SLEEP, AT_RISK, CANT_LOSE = "About to sleep", "At risk", "Can't lose them"
HIBERNATING, LOST = "Hibernating", "Lost"
RFM_GRID: dict[int, tuple[str, str, str, str, str]] = {  # R -> names for FM = 1..5
    5: (NEW, POTENTIAL, POTENTIAL, CHAMPIONS, CHAMPIONS),
    4: (PROMISING, POTENTIAL, POTENTIAL, LOYAL, LOYAL),
    3: (ABOUT_TO_SLEEP, ABOUT_TO_SLEEP, NEED_ATTENTION, LOYAL, LOYAL),
    2: (HIBERNATING, HIBERNATING, AT_RISK, AT_RISK, CANT_LOSE),
    1: (LOST, HIBERNATING, AT_RISK, AT_RISK, CANT_LOSE),
}
RFM_SEGMENTS: tuple[str, ...] = (
    CHAMPIONS,
    LOYAL,
    POTENTIAL,
    NEW,
    PROMISING,
    NEED_ATTENTION,
    ABOUT_TO_SLEEP,
    AT_RISK,
    CANT_LOSE,
    HIBERNATING,
    LOST,
)
_GRID = np.array([[RFM_GRID[r][fm - 1] for fm in range(1, 6)] for r in range(1, 6)], dtype=object)
_QUANTILES = np.linspace(0.0, 1.0, 1001)


# ------------------------------------------------------------------------------------------ RFM


def rfm_name(r: np.ndarray, f: np.ndarray, m: np.ndarray) -> np.ndarray:
    """Business names of R, F, M scores (1..5 each); FM = round half up of (F + M) / 2."""
    r = np.clip(np.asarray(r, dtype=int), 1, 5)
    fm = np.clip(np.floor((np.asarray(f, dtype=int) + np.asarray(m, dtype=int)) / 2 + 0.5).astype(int), 1, 5)
    return _GRID[r - 1, fm - 1]


def quantile_grid(values: np.ndarray) -> list[float]:
    values = np.asarray(values, dtype=float)
    return np.quantile(values, _QUANTILES).tolist() if len(values) else [0.0] * len(_QUANTILES)


def quintile_score(values: np.ndarray, grid: Sequence[float], higher_is_better: bool = True) -> np.ndarray:
    """Scores 1..5 from a value's mid-rank percentile in the training population (its quantile `grid`)."""
    q = np.asarray(grid, dtype=float)
    v = np.asarray(values, dtype=float)
    pct = (np.searchsorted(q, v, side="left") + np.searchsorted(q, v, side="right")) / (2.0 * len(q))
    if not higher_is_better:
        pct = 1.0 - pct
    return np.clip(1 + np.floor(pct * 5).astype(int), 1, 5)


# ------------------------------------------------------------------------------------------ k-means


class Scaler:
    """Median imputation, log1p of skewed non-negative columns, standardisation; kept for predict."""

    def __init__(
        self, columns: Sequence[str], median: Sequence[float], log: Sequence[bool], mean, std
    ) -> None:  # noqa: ANN001
        self.columns = list(columns)
        self.median = np.asarray(median, dtype=float)
        self.log = np.asarray(log, dtype=bool)
        self.mean = np.asarray(mean, dtype=float)
        self.std = np.asarray(std, dtype=float)

    @classmethod
    def fit(cls, frame: pd.DataFrame, columns: Sequence[str], log_skewed: bool) -> Scaler:
        raw = frame[list(columns)].apply(pd.to_numeric, errors="coerce").to_numpy(dtype=float)
        median = np.nan_to_num(np.nanmedian(raw, axis=0)) if len(raw) else np.zeros(raw.shape[1])
        filled = np.where(np.isnan(raw), median, raw)
        skew = pd.DataFrame(filled).skew().fillna(0).to_numpy()
        log = log_skewed & (filled.min(axis=0) >= 0) & (skew > 1.0)
        shaped = np.where(log, np.log1p(np.maximum(filled, 0)), filled)
        std = shaped.std(axis=0)
        return cls(columns, median, log, shaped.mean(axis=0), np.where(std > 0, std, 1.0))

    def transform(self, frame: pd.DataFrame) -> np.ndarray:
        raw = (
            np.column_stack(
                [
                    pd.to_numeric(frame[c], errors="coerce").to_numpy(dtype=float)
                    if c in frame.columns
                    else np.full(len(frame), np.nan)
                    for c in self.columns
                ]
            )
            if self.columns
            else np.zeros((len(frame), 0))
        )
        filled = np.where(np.isnan(raw), self.median, raw)
        shaped = np.where(self.log, np.log1p(np.maximum(filled, 0)), filled)
        return (shaped - self.mean) / self.std

    def inverse(self, scaled: np.ndarray) -> np.ndarray:
        shaped = scaled * self.std + self.mean
        return np.where(self.log, np.expm1(shaped), shaped)

    def to_json(self) -> dict[str, Any]:
        return {
            "columns": self.columns,
            "median": self.median.tolist(),
            "log": self.log.tolist(),
            "mean": self.mean.tolist(),
            "std": self.std.tolist(),
        }


def _kmeans(k: int, n: int, params: Mapping[str, Any]) -> Any:
    from sklearn.cluster import KMeans, MiniBatchKMeans

    seed, n_init = int(params["seed"]), int(params["n_init"])
    if n > int(params["minibatch_above"]):
        return MiniBatchKMeans(n_clusters=k, n_init=n_init, random_state=seed, batch_size=4096)
    return KMeans(n_clusters=k, n_init=n_init, random_state=seed)


def choose_k(x: np.ndarray, params: Mapping[str, Any]) -> tuple[Any, dict[int, float]]:
    """The fitted k-means with the best sampled silhouette for k in [k_min, k_max], and every k's score."""
    from sklearn.metrics import silhouette_score

    n = len(x)
    lo, hi = int(params["k_min"]), min(int(params["k_max"]), n - 1)
    if lo < 2 or hi < lo:
        raise ModelError(
            f"segments: k must lie in [{params['k_min']}, {params['k_max']}] with 2 <= k < rows ({n})"
        )
    rng = np.random.default_rng(int(params["seed"]))
    sample = rng.choice(n, size=min(n, int(params["silhouette_sample"])), replace=False)
    best, best_score, scores = None, -np.inf, {}
    for k in range(lo, hi + 1):
        km = _kmeans(k, n, params).fit(x)
        labels = km.labels_[sample]
        score = float(silhouette_score(x[sample], labels)) if len(np.unique(labels)) > 1 else -1.0
        scores[k] = score
        if score > best_score + 1e-9:
            best, best_score = km, score
    return best, scores


def match_labels(new_centers: np.ndarray, old_centers: np.ndarray, old_labels: Sequence[int]) -> list[int]:
    """Stable label of each new centroid: the label of the old centroid it is assigned to by minimum total
    distance (Hungarian); unassigned new centroids get fresh labels above the old ones, in order."""
    from scipy.optimize import linear_sum_assignment

    cost = np.linalg.norm(new_centers[:, None, :] - old_centers[None, :, :], axis=2)
    rows, cols = linear_sum_assignment(cost)
    labels = [-1] * len(new_centers)
    for r, c in zip(rows, cols, strict=True):
        labels[r] = int(old_labels[c])
    fresh = max(old_labels, default=-1) + 1
    for i, lab in enumerate(labels):
        if lab < 0:
            labels[i], fresh = fresh, fresh + 1
    return labels


# ------------------------------------------------------------------------------------------ the model


@register
class Segments(Model):
    """RFM names and behavioural clusters (see the module docstring). Score: `segment`, the RFM name (or
    `cluster N` when the frame has no RFM columns)."""

    name = "segments"
    score = "segment"
    defaults: ClassVar[dict[str, Any]] = {
        "recency": "days_since_last_purchase",
        "frequency": "total_purchases",
        "monetary": "total_spend",
        "cluster_features": None,
        "k_min": 3,
        "k_max": 8,
        "silhouette_sample": 10_000,
        "minibatch_above": 200_000,
        "n_init": 4,
        "log_skewed": True,
        "seed": 42,
    }

    def __init__(self, params: Mapping[str, Any] | None = None) -> None:
        super().__init__(params)
        self.rfm_grids_: dict[str, list[float]] = {}
        self.scaler_: Scaler | None = None
        self.centers_: np.ndarray = np.zeros((0, 0))  # scaled space, k-means order
        self.labels_: list[int] = []  # stable label of each k-means centroid

    # -------------------------------------------------------------- fit

    def _rfm_columns(self, frame: pd.DataFrame) -> dict[str, str] | None:
        cols = {k: self.params[k] for k in ("recency", "frequency", "monetary")}
        return cols if all(c in frame.columns for c in cols.values()) else None

    def _rfm_values(self, frame: pd.DataFrame, cols: Mapping[str, str]) -> dict[str, np.ndarray]:
        num = {k: pd.to_numeric(frame[c], errors="coerce").to_numpy(dtype=float) for k, c in cols.items()}
        never = np.isnan(num["recency"])
        worst = max(self.rfm_grids_.get("recency", [0.0])[-1], np.nanmax(num["recency"], initial=0.0))
        return {
            "recency": np.where(never, worst + 1.0, num["recency"]),
            "frequency": np.nan_to_num(num["frequency"]),
            "monetary": np.nan_to_num(num["monetary"]),
        }

    def fit(
        self,
        train: pd.DataFrame,
        features: Sequence[str],
        valid: pd.DataFrame | None = None,
        previous: Segments | None = None,
    ) -> dict[str, float]:
        from sklearn.metrics import silhouette_score

        if train is None or len(train) == 0:
            raise ModelError("segments: the training set is empty")
        rfm = self._rfm_columns(train)
        if rfm:
            values = self._rfm_values(train, rfm)
            self.rfm_grids_ = {k: quantile_grid(v) for k, v in values.items()}
        chosen = self.params["cluster_features"]
        columns = [
            c
            for c in (features if chosen is None else [c for c in chosen if c in features])
            if c in train.columns
            and c not in ID_COLUMNS
            and c != LABEL
            and pd.api.types.is_numeric_dtype(train[c])
            and not pd.api.types.is_bool_dtype(train[c])
            and train[c].notna().any()
        ]
        if not columns:
            raise ModelError("segments: no numeric feature columns to cluster on")
        self.scaler_ = Scaler.fit(train, columns, bool(self.params["log_skewed"]))
        x = self.scaler_.transform(train)
        km, scores = choose_k(x, self.params)
        self.centers_ = np.asarray(km.cluster_centers_, dtype=float)
        self.labels_ = list(range(len(self.centers_)))
        matched = False
        if previous is not None and previous.scaler_ is not None and len(previous.centers_):
            common = [c for c in previous.scaler_.columns if c in columns]
            if common:
                old_raw = pd.DataFrame(
                    previous.scaler_.inverse(previous.centers_), columns=previous.scaler_.columns
                )
                old = self.scaler_.transform(old_raw.reindex(columns=columns))
                keep = [columns.index(c) for c in common]
                self.labels_ = match_labels(self.centers_[:, keep], old[:, keep], previous.labels_)
                matched = True
        k = len(self.centers_)
        held = valid if valid is not None and len(valid) > k else None
        xs = self.scaler_.transform(held) if held is not None else x
        rng = np.random.default_rng(int(self.params["seed"]))
        idx = rng.choice(len(xs), size=min(len(xs), int(self.params["silhouette_sample"])), replace=False)
        assigned = self._nearest(xs[idx])
        silhouette = float(silhouette_score(xs[idx], assigned)) if len(np.unique(assigned)) > 1 else -1.0
        self.card.features = columns
        self.card.metrics = {"k": float(k), "silhouette": silhouette}
        self.card.extra |= {
            "silhouette_by_k": {str(kk): v for kk, v in scores.items()},
            "rfm_columns": rfm,
            "matched_previous": matched,
            "labels": self.labels_,
        }
        return self.card.metrics

    # -------------------------------------------------------------- predict

    def _nearest(self, x: np.ndarray) -> np.ndarray:
        d = ((x[:, None, :] - self.centers_[None, :, :]) ** 2).sum(axis=2)
        return np.argmin(d, axis=1)

    def rfm_scores(self, frame: pd.DataFrame) -> pd.DataFrame | None:
        rfm = self._rfm_columns(frame)
        if not rfm or not self.rfm_grids_:
            return None
        v = self._rfm_values(frame, rfm)
        r = quintile_score(v["recency"], self.rfm_grids_["recency"], higher_is_better=False)
        f = quintile_score(v["frequency"], self.rfm_grids_["frequency"])
        m = quintile_score(v["monetary"], self.rfm_grids_["monetary"])
        return pd.DataFrame(
            {"rfm_segment": rfm_name(r, f, m), "r_score": r, "f_score": f, "m_score": m}, index=frame.index
        )

    def predict(self, frame: pd.DataFrame) -> pd.DataFrame:
        if self.scaler_ is None:
            raise ModelError("segments: not fitted")
        n = len(frame)
        cluster = (
            np.asarray(self.labels_, dtype=np.int64)[self._nearest(self.scaler_.transform(frame))]
            if n
            else np.zeros(0, np.int64)
        )
        rfm = self.rfm_scores(frame)
        out = pd.DataFrame(index=frame.index)
        out["segment"] = rfm["rfm_segment"] if rfm is not None else [f"cluster {c}" for c in cluster]
        if rfm is not None:
            out = out.join(rfm)
        out["cluster"] = cluster
        return out

    # -------------------------------------------------------------- save / load

    def _save(self, folder: Path) -> None:
        doc = {
            "rfm_grids": self.rfm_grids_,
            "scaler": self.scaler_.to_json() if self.scaler_ else None,
            "centers": self.centers_.tolist(),
            "labels": self.labels_,
        }
        (folder / STATE_FILE).write_text(json.dumps(doc), encoding="utf-8")

    def _load(self, folder: Path) -> None:
        doc = json.loads((folder / STATE_FILE).read_text(encoding="utf-8"))
        self.rfm_grids_ = doc["rfm_grids"]
        self.scaler_ = Scaler(**doc["scaler"]) if doc["scaler"] else None
        self.centers_ = np.asarray(doc["centers"], dtype=float)
        self.labels_ = [int(v) for v in doc["labels"]]


# ------------------------------------------------------------------------------------------ history


def _stamp(as_of: Any) -> pd.Timestamp:
    ts = pd.Timestamp(as_of)
    return ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")


def append_history(ws: Any, frame: pd.DataFrame, as_of: Any, version: str | int) -> str:
    """Write one scoring run's segments (`customer_id`, `rfm_segment` or `segment`, `cluster`) as a file of
    `segments/history/`; the same as_of and version again replaces that run's file. Returns its path."""
    if "customer_id" not in frame.columns:
        raise ModelError("segments history: the frame has no customer_id column")
    at = _stamp(as_of)
    n = len(frame)
    rfm = frame["rfm_segment"] if "rfm_segment" in frame else frame.get("segment", pd.Series([None] * n))
    cluster = frame["cluster"] if "cluster" in frame else pd.Series([None] * n)
    table = pa.table(
        {
            "customer_id": pa.array(frame["customer_id"].astype(str).to_numpy(), pa.string()),
            "as_of": pa.array([at.to_pydatetime()] * n, pa.timestamp("us", "UTC")),
            "rfm_segment": pa.array(rfm.to_numpy(dtype=object), pa.string(), from_pandas=True),
            "cluster": pa.array(
                pd.to_numeric(cluster).to_numpy(dtype=float), pa.float64(), from_pandas=True
            ).cast(pa.int64()),
            "model_version": pa.array([str(version)] * n, pa.string()),
        },
        schema=HISTORY_SCHEMA,
    )
    safe = "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in str(version))
    path = ws.lake.path(HISTORY, f"{at.strftime('%Y%m%dT%H%M%SZ')}-v{safe}.parquet")
    ws.lake.replace_table(table, path)
    return path


def read_history(ws: Any, customer_ids: Sequence[str] | None = None) -> pd.DataFrame:
    """Every recorded segment (of `customer_ids` when given), sorted by customer and time."""
    paths = sorted(ws.lake.glob(f"{HISTORY}/*.parquet"))
    if not paths:
        return HISTORY_SCHEMA.empty_table().to_pandas()
    frames = [ws.lake.read_table(p).to_pandas() for p in paths]
    out = pd.concat(frames, ignore_index=True)
    if customer_ids is not None:
        out = out[out["customer_id"].isin(list(customer_ids))]
    return out.sort_values(["customer_id", "as_of", "model_version"], ignore_index=True)
