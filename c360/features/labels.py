"""Labels for training sets: one value per (customer_id, cutoff), computed from the fact tables alone.

Pure pandas functions, vectorised over customers and looped over the (few) cutoffs. Each takes the fact rows
it needs (`facts/transaction_lines`, `facts/interactions`, `facts/exposures`, in `c360.facts.schemas`) and a
list of cutoffs, and returns `customer_id, event_timestamp, label` sorted by (event_timestamp, customer_id),
`event_timestamp` being the cutoff: the time the features are joined at, so a feature may use what happened at
or before it and the label only what happened after it.

Time windows are half-open on the left: a fact exactly at the cutoff is history (known when the row is
scored), a fact exactly at the end of the horizon is still inside it. Money is `amount_rc`, the reporting
currency, so a label never adds pounds to dollars.

"Known at the cutoff": a customer with any transaction line or interaction at or before it. Someone whose
first trace comes later does not exist yet for a model scoring at the cutoff, so they are never a row.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from c360.settings import LabelSettings

LABEL_COLUMNS: tuple[str, ...] = ("customer_id", "event_timestamp", "label")
PURCHASE, RETURN = "purchase", "return"

# The fact columns each label kind reads, per table (`None`: the table is not read).
FACT_COLUMNS: dict[str, dict[str, list[str] | None]] = {
    "churn": {"transaction_lines": ["customer_id", "ts", "kind"], "interactions": None, "exposures": None},
    "clv": {
        "transaction_lines": ["customer_id", "ts", "kind", "amount_rc"],
        "interactions": ["customer_id", "ts"],
        "exposures": None,
    },
    "purchase": {
        "transaction_lines": ["customer_id", "ts", "kind", "category"],
        "interactions": ["customer_id", "ts"],
        "exposures": None,
    },
    "response": {
        "transaction_lines": None,
        "interactions": None,
        "exposures": ["customer_id", "exposure_id", "ts", "window_end", "converted"],
    },
}


def as_cutoffs(cutoffs: Sequence[object]) -> list[pd.Timestamp]:
    """Distinct UTC timestamps, ascending; a date without a zone is read as midnight UTC."""
    out = set()
    for c in cutoffs:
        ts = pd.Timestamp(c)  # type: ignore[arg-type]
        out.add(ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC"))
    return sorted(out)


def horizon_end(cutoff: pd.Timestamp, *, days: int | None = None, months: int | None = None) -> pd.Timestamp:
    """The last instant a label looks at: cutoff + days, or cutoff + calendar months."""
    if months is not None:
        return cutoff + pd.DateOffset(months=months)
    return cutoff + pd.Timedelta(days=days or 0)


def _utc(ts: pd.Series) -> pd.Series:
    return pd.to_datetime(ts, utc=True)


def _empty() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "customer_id": pd.Series(dtype=object),
            "event_timestamp": pd.Series(dtype="datetime64[us, UTC]"),
            "label": pd.Series(dtype="int64"),
        }
    )


def _rows(customers: np.ndarray, cutoff: pd.Timestamp, label: np.ndarray) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "customer_id": customers,
            "event_timestamp": pd.DatetimeIndex([cutoff]).as_unit("us").repeat(len(customers)),
            "label": label,
        }
    )


def _finish(parts: list[pd.DataFrame]) -> pd.DataFrame:
    """One frame of the per-cutoff parts: built for ascending cutoffs with sorted customers, it is sorted."""
    if not parts:
        return _empty()
    out = pd.concat(parts, ignore_index=True)
    out["event_timestamp"] = out["event_timestamp"].astype("datetime64[us, UTC]")
    return out


def _sorted_by_ts(frame: pd.DataFrame, columns: Sequence[str]) -> pd.DataFrame:
    out = frame.loc[:, list(columns)].copy()
    out["ts"] = _utc(out["ts"])
    out = out[out["ts"].notna()]
    return out.sort_values("ts", kind="stable", ignore_index=True)


def _window(sorted_frame: pd.DataFrame, start: pd.Timestamp, end: pd.Timestamp) -> pd.DataFrame:
    """Rows with start < ts <= end of a frame sorted by ts (a binary search, not a scan)."""
    ts = sorted_frame["ts"].dt.tz_convert(None).to_numpy()
    lo = np.searchsorted(ts, start.tz_convert(None).to_datetime64(), side="right")
    hi = np.searchsorted(ts, end.tz_convert(None).to_datetime64(), side="right")
    return sorted_frame.iloc[lo:hi]


def first_seen(lines: pd.DataFrame, interactions: pd.DataFrame | None = None) -> pd.Series:
    """customer_id -> the time of their first transaction line or interaction."""
    frames = [lines[["customer_id", "ts"]]]
    if interactions is not None:
        frames.append(interactions[["customer_id", "ts"]])
    both = pd.concat(frames, ignore_index=True)
    both["ts"] = _utc(both["ts"])
    return both.dropna(subset=["ts"]).groupby("customer_id")["ts"].min()


def known_customers(seen: pd.Series, cutoff: pd.Timestamp) -> np.ndarray:
    """Sorted ids of the customers known at `cutoff` (first trace at or before it)."""
    return np.sort(seen.index.to_numpy()[(seen <= cutoff).to_numpy()])


def churn_labels(lines: pd.DataFrame, cutoffs: Sequence[object], days: int) -> pd.DataFrame:
    """1 when a customer makes no purchase in (cutoff, cutoff + days], else 0.

    Population: customers with a purchase line at or before the cutoff (someone who never bought cannot
    stop buying). Returns and cancellations are not purchases.
    """
    purchases = _sorted_by_ts(lines[lines["kind"] == PURCHASE], ["customer_id", "ts"])
    first_purchase = purchases.groupby("customer_id")["ts"].min()
    parts = []
    for cutoff in as_cutoffs(cutoffs):
        buyers = known_customers(first_purchase, cutoff)
        if not len(buyers):
            continue
        again = _window(purchases, cutoff, horizon_end(cutoff, days=days))["customer_id"].unique()
        parts.append(_rows(buyers, cutoff, (~pd.Index(buyers).isin(again)).astype("int64")))
    return _finish(parts)


def clv_labels(
    lines: pd.DataFrame, cutoffs: Sequence[object], months: int, interactions: pd.DataFrame | None = None
) -> pd.DataFrame:
    """Net spend in the reporting currency in (cutoff, cutoff + months]: purchases minus returns.

    Population: every customer known at the cutoff (a transaction line or an interaction at or before it),
    0.0 for those who spend nothing in the horizon. A return counts by its absolute amount (sources deliver
    it signed either way), so the label is negative when returns of earlier purchases outweigh new spend;
    cancellations count nothing. The label is a float rounded to cents.
    """
    money = _sorted_by_ts(lines, ["customer_id", "ts", "kind", "amount_rc"])
    amount = money["amount_rc"].astype("float64").fillna(0.0)
    money["net"] = np.where(
        money["kind"] == PURCHASE, amount, np.where(money["kind"] == RETURN, -amount.abs(), 0.0)
    )
    seen = first_seen(lines, interactions)
    parts = []
    for cutoff in as_cutoffs(cutoffs):
        known = known_customers(seen, cutoff)
        if not len(known):
            continue
        window = _window(money, cutoff, horizon_end(cutoff, months=months))
        spend = window.groupby("customer_id")["net"].sum()
        value = spend.reindex(known, fill_value=0.0).to_numpy(dtype="float64").round(2)
        parts.append(_rows(known, cutoff, value))
    out = _finish(parts)
    out["label"] = out["label"].astype("float64")
    return out


def purchase_labels(
    lines: pd.DataFrame,
    cutoffs: Sequence[object],
    days: int,
    category: str | None = None,
    interactions: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """1 when a customer makes a purchase in (cutoff, cutoff + days] (of a line in `category` when given).

    Population: every customer known at the cutoff (a transaction line or an interaction at or before it),
    buyers or not: a first purchase is what a propensity model is most asked to predict.
    """
    bought = lines[lines["kind"] == PURCHASE]
    if category is not None:
        bought = bought[bought["category"] == category]
    purchases = _sorted_by_ts(bought, ["customer_id", "ts"])
    seen = first_seen(lines, interactions)
    parts = []
    for cutoff in as_cutoffs(cutoffs):
        known = known_customers(seen, cutoff)
        if not len(known):
            continue
        hit = _window(purchases, cutoff, horizon_end(cutoff, days=days))["customer_id"].unique()
        parts.append(_rows(known, cutoff, pd.Index(known).isin(hit).astype("int64")))
    return _finish(parts)


def response_labels(exposures: pd.DataFrame, cutoffs: Sequence[object]) -> pd.DataFrame:
    """One row per exposure: event_timestamp = the exposure's time, label 1 when it converted.

    Population: every exposure whose attribution window (`window_end`, set by the facts stage from
    facts.attribution_days) has closed by the latest cutoff, so each outcome is final when the set is built;
    an exposure still open then is left out rather than counted as a non-conversion. Features are joined at
    the exposure's own time (what the sender knew), so earlier cutoffs add no rows of their own.
    `exposure_id` is kept beside the label, for tracing.
    """
    cuts = as_cutoffs(cutoffs)
    out = _empty().assign(exposure_id=pd.Series(dtype=object))
    if not cuts or exposures.empty:
        return out
    rows = exposures.loc[:, ["customer_id", "exposure_id", "ts", "window_end", "converted"]].copy()
    rows["ts"] = _utc(rows["ts"])
    rows["window_end"] = _utc(rows["window_end"])
    rows = rows[rows["ts"].notna() & (rows["window_end"] <= cuts[-1])].reset_index(drop=True)
    out = pd.DataFrame(
        {
            "customer_id": rows["customer_id"].to_numpy(),
            "event_timestamp": rows["ts"].astype("datetime64[us, UTC]"),
            "label": rows["converted"].astype("boolean").fillna(False).astype("int64").to_numpy(),
            "exposure_id": rows["exposure_id"].to_numpy(),
        }
    )
    return out.sort_values(
        ["event_timestamp", "customer_id", "exposure_id"], kind="stable", ignore_index=True
    )


def label_rows(
    label: LabelSettings,
    cutoffs: Sequence[object],
    lines: pd.DataFrame,
    interactions: pd.DataFrame,
    exposures: pd.DataFrame,
) -> pd.DataFrame:
    """The rows of a label declared in config (`features.labels`), from the fact tables it needs."""
    if label.kind == "churn":
        return churn_labels(lines, cutoffs, days=int(label.days or 0))
    if label.kind == "clv":
        return clv_labels(lines, cutoffs, months=int(label.months or 0), interactions=interactions)
    if label.kind == "purchase":
        return purchase_labels(
            lines, cutoffs, days=int(label.days or 0), category=label.category, interactions=interactions
        )
    return response_labels(exposures, cutoffs)
