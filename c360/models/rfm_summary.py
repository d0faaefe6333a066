"""Per-customer purchase summaries at a cutoff, what BG/NBD and Gamma-Gamma (`c360.models.bgnbd`) and the
Online Retail benchmark read.

- Transaction lines to summaries: `purchase_days`, `rfm_summary` (frequency, recency, T, monetary at a
  cutoff), `holdout_outcomes` (purchases and net spend in a window), `rfm_features` (behaviour features).
- The summary from what a frame carries (`summary_of`): the summary columns themselves, the profile's
  stored timestamps (`summary_from_profile`) or the clv feature service's day counts
  (`summary_from_features`: T = tenure_days, which counts from the customer's first fact, not their first
  purchase).
- `cdnow_summary`: the CDNOW summary `lifetimes` ships, for the published-parameter checks.

frequency = repeat transactions, recency = first to last transaction, T = first transaction to the cutoff,
monetary = mean spend of the repeat transactions; in days.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pandas as pd

from c360.errors import NotFoundError
from c360.models.base import ModelError

DAY = pd.Timedelta(days=1)
SUMMARY_COLUMNS = ("frequency", "recency", "T", "monetary")


def _utc(values: pd.Series) -> pd.Series:
    return pd.to_datetime(values, utc=True)


PURCHASE = "purchase"
UNITS = ("day", "order")


# ------------------------------------------------------------------------------------------ summaries


def _cutoff(value: object) -> pd.Timestamp:
    ts = pd.Timestamp(value)  # type: ignore[arg-type]
    return ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")


def purchase_days(lines: pd.DataFrame, start: object | None, end: object, unit: str = "day") -> pd.DataFrame:
    """customer_id, day (UTC midnight), spend: one row per transaction among the purchase lines with
    start < ts <= end. `unit` says what a transaction is: "day" (several orders of a customer on one day are
    one, as BG/NBD is usually fitted) or "order" (each order id, dated by its day)."""
    if unit not in UNITS:
        raise ModelError(f"unknown transaction unit {unit!r}; one of {', '.join(UNITS)}")
    columns = ["customer_id", "ts", "amount_rc", *(["order_id"] if unit == "order" else [])]
    rows = lines.loc[lines["kind"] == PURCHASE, columns].copy()
    rows["ts"] = _utc(rows["ts"])
    keep = rows["ts"] <= _cutoff(end)
    if start is not None:
        keep &= rows["ts"] > _cutoff(start)
    rows = rows[keep & rows["ts"].notna()]
    rows["day"] = rows["ts"].dt.floor("D")
    rows["amount_rc"] = rows["amount_rc"].astype("float64").fillna(0.0)
    if unit == "order":
        rows["order_id"] = rows["order_id"].fillna(rows["day"].astype(str))
        orders = rows.groupby(["customer_id", "order_id"], sort=False).agg(
            day=("day", "min"), spend=("amount_rc", "sum")
        )
        return orders.reset_index().sort_values(["customer_id", "day"], kind="stable", ignore_index=True)[
            ["customer_id", "day", "spend"]
        ]
    out = rows.groupby(["customer_id", "day"], sort=True)["amount_rc"].sum().rename("spend").reset_index()
    return out


def rfm_summary(
    lines: pd.DataFrame, cutoff: object, start: object | None = None, unit: str = "day"
) -> pd.DataFrame:
    """Per customer with a purchase in (start, cutoff]: frequency (repeat transactions), recency, T (days),
    monetary (mean spend of the repeat transactions, reporting currency), plus `spend` (all of them) and
    `first_day`; indexed by customer_id, sorted. `unit`: see `purchase_days`."""
    cut = _cutoff(cutoff)
    days = purchase_days(lines, start, cut, unit)
    if days.empty:
        return pd.DataFrame(columns=[*SUMMARY_COLUMNS, "spend", "first_day"]).rename_axis("customer_id")
    g = days.groupby("customer_id", sort=True)
    first, last, n = g["day"].min(), g["day"].max(), g["day"].size()
    spend = g["spend"].sum()
    first_spend = days.drop_duplicates("customer_id").set_index("customer_id")["spend"].reindex(n.index)
    frequency = (n - 1).astype("float64")
    repeat_spend = spend - first_spend
    monetary = np.where(frequency > 0, repeat_spend / frequency.clip(lower=1), 0.0)
    end_day = (cut - pd.Timedelta(microseconds=1)).floor("D") + DAY  # the day after the last one counted
    return pd.DataFrame(
        {
            "frequency": frequency,
            "recency": (last - first) / DAY,
            "T": (end_day - first) / DAY,
            "monetary": monetary,
            "spend": spend,
            "first_day": first,
        }
    ).rename_axis("customer_id")


def holdout_outcomes(lines: pd.DataFrame, start: object, end: object, unit: str = "day") -> pd.DataFrame:
    """Per customer: `purchases` (transactions, `unit` as in `purchase_days`) and `spend` (net: purchases
    minus returns, the clv label's definition; cancellations count nothing) in (start, end]."""
    days = purchase_days(lines, start, end, unit)
    purchases = days.groupby("customer_id")["day"].size().rename("purchases")
    rows = lines.loc[
        lines["kind"].isin([PURCHASE, "return"]), ["customer_id", "ts", "kind", "amount_rc"]
    ].copy()
    rows["ts"] = _utc(rows["ts"])
    rows = rows[(rows["ts"] > _cutoff(start)) & (rows["ts"] <= _cutoff(end))]
    amount = rows["amount_rc"].astype("float64").fillna(0.0)
    rows["net"] = np.where(rows["kind"] == PURCHASE, amount, -amount.abs())
    spend = rows.groupby("customer_id")["net"].sum().rename("spend")
    return pd.concat([purchases, spend], axis=1).fillna(0.0).rename_axis("customer_id")


def rfm_features(lines: pd.DataFrame, cutoff: object, unit: str = "order") -> pd.DataFrame:
    """Behaviour features at `cutoff` that keep their meaning however long a customer has been seen: the
    summary (frequency, recency, T, monetary, spend), per-day rates over the customer's observed time,
    days since the last purchase and how overdue that is against their mean gap, orders and spend in the
    last 30 and 90 days, distinct products, lines per order, cancelled amount. Customers with a purchase at
    or before the cutoff, indexed by customer_id."""
    cut = _cutoff(cutoff)
    f = rfm_summary(lines, cut, unit=unit).drop(columns=["first_day"])
    if f.empty:
        return f
    t = f["T"].clip(lower=1.0)
    f["orders_per_day"] = (f["frequency"] + 1) / t
    f["spend_per_day"] = f["spend"] / t
    f["days_since_last"] = f["T"] - f["recency"]
    f["avg_spend"] = f["spend"] / (f["frequency"] + 1)
    gap = (f["recency"] / f["frequency"]).where(f["frequency"] > 0)
    f["mean_gap"] = gap
    f["overdue"] = (f["days_since_last"] / gap.where(gap > 0)).astype("float64")
    rows = lines.loc[
        lines["kind"].isin([PURCHASE, "cancel"]),
        ["customer_id", "order_id", "ts", "kind", "product_id", "amount_rc"],
    ].copy()
    rows["ts"] = _utc(rows["ts"])
    rows = rows[rows["ts"] <= cut]
    bought = rows[rows["kind"] == PURCHASE]
    for days in (30, 90):
        recent = bought[bought["ts"] > cut - pd.Timedelta(days=days)].groupby("customer_id")
        f[f"orders_{days}d"] = recent["order_id"].nunique().reindex(f.index).fillna(0).astype("float64")
        f[f"spend_{days}d"] = recent["amount_rc"].sum().reindex(f.index).fillna(0.0)
    g = bought.groupby("customer_id")
    f["products"] = g["product_id"].nunique().reindex(f.index).fillna(0).astype("float64")
    f["lines_per_order"] = g.size().reindex(f.index).fillna(0) / g["order_id"].nunique().reindex(
        f.index
    ).clip(lower=1)
    cancelled = rows[rows["kind"] == "cancel"].groupby("customer_id")["amount_rc"].sum().abs()
    f["cancelled_amount"] = cancelled.reindex(f.index).fillna(0.0)
    return f


def summary_from_profile(frame: pd.DataFrame) -> pd.DataFrame:
    """The BG/NBD summary approximated from profile features when a frame carries no summary columns:
    frequency = total_purchases - 1 (orders, not days), recency = last_purchase_at - first_seen_at,
    T = event_timestamp - first_seen_at, monetary = avg_order_value. Same index as `frame`; a row whose
    first_seen_at is unknown has T NaN (fit leaves it out, predict gives it no value)."""
    needed = ["total_purchases", "last_purchase_at", "first_seen_at", "event_timestamp", "avg_order_value"]
    missing = [c for c in needed if c not in frame.columns]
    if missing:
        raise ModelError(
            f"clv_bgnbd: needs the summary columns {', '.join(SUMMARY_COLUMNS)} or the profile features "
            f"{', '.join(needed)}; missing: {', '.join(missing)}"
        )
    first = _utc(frame["first_seen_at"])
    last = _utc(frame["last_purchase_at"])
    at = _utc(frame["event_timestamp"])
    n = pd.to_numeric(frame["total_purchases"], errors="coerce").fillna(0.0)
    frequency = (n - 1).clip(lower=0)
    recency = ((last - first) / DAY).fillna(0.0).clip(lower=0)
    t = ((at - first) / DAY).clip(lower=0)  # NaN when first_seen_at is unknown: such rows get no value
    return pd.DataFrame(
        {
            "frequency": frequency.astype("float64"),
            "recency": np.minimum(recency, t).where(frequency > 0, 0.0),
            "T": t,
            "monetary": pd.to_numeric(frame["avg_order_value"], errors="coerce")
            .fillna(0.0)
            .where(frequency > 0, 0.0),
        },
        index=frame.index,
    )


DAY_COUNT_FEATURES = ("tenure_days", "days_since_last_purchase", "total_purchases")
"""What `summary_from_features` needs (and `total_spend` or `avg_order_value`): the clv feature service's
columns, whose day counts the on-demand view `elapsed_days` computes at each row's event_timestamp."""


def summary_from_features(frame: pd.DataFrame) -> pd.DataFrame:
    """The BG/NBD summary from the clv feature service's columns (feature_repo/feature_services.py), which
    carry day counts at each row's event_timestamp instead of the stored timestamps:

    - T = `tenure_days`; recency = T - `days_since_last_purchase` (clipped to [0, T]);
    - frequency = repeat purchases = `total_purchases` - 1, floored at 0 (orders, not purchase days);
    - monetary = mean spend per purchase, `total_spend` / `total_purchases` (`avg_order_value` when the frame
      has no `total_spend`), for repeat customers only (0 otherwise, as Gamma-Gamma expects; a net spend
      at or below zero leaves the customer out of the Gamma-Gamma fit).

    Tenure counts from the customer's first fact, not their first purchase: the profile's `first_seen_at`
    is the earliest of the identity's first observation, their first transaction line (of any kind) and
    their first interaction (c360/features/history.py). So T and recency are both measured from first seen,
    not from the first purchase as in Fader, Hardie & Lee; a customer who browsed for months before buying
    looks older (longer T) than the textbook summary would make them. Day counts are whole days (floored).
    A row with no tenure has T NaN (fit leaves it out, predict gives it no value); a row with no purchase
    (no `days_since_last_purchase`) has frequency and recency 0."""
    spend_col = "total_spend" if "total_spend" in frame.columns else "avg_order_value"
    missing = [c for c in (*DAY_COUNT_FEATURES, spend_col) if c not in frame.columns]
    if missing:
        raise ModelError(
            f"clv_bgnbd: needs the summary columns {', '.join(SUMMARY_COLUMNS)}, the profile features "
            "total_purchases, last_purchase_at, first_seen_at, event_timestamp, avg_order_value, or the "
            f"clv feature service's {', '.join(DAY_COUNT_FEATURES)}, total_spend; "
            f"missing: {', '.join(missing)}"
        )

    def number(column: str) -> pd.Series:
        return pd.to_numeric(frame[column], errors="coerce").astype("float64")

    t = number("tenure_days").clip(lower=0)
    n = number("total_purchases").fillna(0.0).clip(lower=0)
    frequency = (n - 1).clip(lower=0)
    since = number("days_since_last_purchase")
    recency = (t - since).clip(lower=0)
    recency = np.minimum(recency, t).where(since.notna() & (frequency > 0), 0.0)
    per_purchase = number(spend_col).fillna(0.0)
    if spend_col == "total_spend":
        per_purchase = per_purchase / n.clip(lower=1)
    return pd.DataFrame(
        {
            "frequency": frequency,
            "recency": recency.fillna(0.0),
            "T": t,
            "monetary": per_purchase.clip(lower=0).where(frequency > 0, 0.0),
        },
        index=frame.index,
    )


def summary_of(frame: pd.DataFrame) -> pd.DataFrame:
    """The summary a frame carries (`SUMMARY_COLUMNS`), else from its stored timestamps
    (`summary_from_profile`), else from the clv feature service's day counts (`summary_from_features`)."""
    if all(c in frame.columns for c in SUMMARY_COLUMNS):
        out = frame.loc[:, list(SUMMARY_COLUMNS)].astype("float64")
        return out.fillna({"frequency": 0.0, "recency": 0.0, "monetary": 0.0})
    if all(c in frame.columns for c in ("first_seen_at", "last_purchase_at")):
        return summary_from_profile(frame)
    if all(c in frame.columns for c in DAY_COUNT_FEATURES):
        return summary_from_features(frame)
    return summary_from_profile(frame)  # names what is missing


def cdnow_summary(with_monetary: bool = False) -> pd.DataFrame:
    """The CDNOW summary `lifetimes` ships (2,357 customers, weeks): frequency, recency, T (and monetary with
    `with_monetary`, the mean spend of repeat purchases). Read as a file beside the package: importing
    `lifetimes.datasets` needs pkg_resources, and nothing of lifetimes is imported here."""
    spec = importlib.util.find_spec("lifetimes")
    if spec is None or not spec.submodule_search_locations:
        raise NotFoundError(
            "the CDNOW summary ships with lifetimes (a dev dependency): pip install lifetimes"
        )
    folder = Path(next(iter(spec.submodule_search_locations))) / "datasets"
    if with_monetary:
        raw = pd.read_csv(folder / "cdnow_customers_summary_with_transactions.csv")
        return raw.rename(columns={"x": "frequency", "t_x": "recency", "zbar": "monetary"})[
            ["frequency", "recency", "T", "monetary"]
        ]
    return pd.read_csv(folder / "cdnow_customers_summary.csv")[["frequency", "recency", "T"]]


# ------------------------------------------------------------------------------------------- BG/NBD
