"""Feature rows as of a past cutoff, from the fact tables truncated there (nothing after the cutoff is read).

The definitions are the profile's (c360/profile/aggregates.py): the per-customer group-bys of
`transaction_summary`, `interaction_summary` and `support_sentiment` are recomputed here in DuckDB for every
cutoff of a partition at once (a million customers times a dozen cutoffs is too much for pandas group-bys),
and what follows them is the profile's own code: `engagement_score`, `rfm_inputs` / `rfm_thresholds` /
`rfm_scores_global` (quintile edges over the whole population at the cutoff), `age_at`. The view columns are
then laid out as the profile's `assemble` + `feature_frames` would (zeros for no activity), without the
document's lists and other columns. tests/unit/test_feature_history.py holds the two paths equal on
synthetic facts.

Money is `amount_rc` (the reporting currency); sentiment is the facts' `sentiment` column; a ticket is open
when its `status` column says so (the status as recorded, not as it was at the cutoff: facts keep one).

Who has rows at a cutoff: every golden customer first seen at or before it, in every view. First seen
(`first_seen_at`) is the profile's `first_seen`: the earliest of the golden record's `first_observed` and
the customer's first fact (a transaction line of any kind or an interaction, `first_facts`), so a
customer of data that maps no observation time (first_observed null or the ingest day) is there from
their first purchase. The first fact at or before a cutoff is the same whatever facts come later, so no
fact after the cutoff decides who is there or when they were first seen. Age is computed at the
cutoff from the birth date; gender and country are today's golden values (the golden record is not
historised, so they are the current ones at every cutoff).

`product_stats` per cutoff: every catalogue product (facts/products as it is today: category and price are
not historised) and any product bought by then, with purchase lines in the 7, 30 and 90 days up to the
cutoff and distinct buyers in the 30 days.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from c360.profile.aggregates import (
    RESPONSE_WEIGHT,
    engagement_score,
    first_seen,
    rfm_inputs,
    rfm_scores_global,
    rfm_thresholds,
)
from c360.profile.document import age_at
from c360.profile.feature_tables import FEATURE_COLUMNS

TX_COLUMNS = ["customer_id", "order_id", "ts", "product_id", "category", "amount_rc", "kind"]
INTERACTION_COLUMNS = ["customer_id", "ts", "type", "channel", "status", "sentiment"]
GOLDEN_COLUMNS = ["customer_id", "first_observed", "birth_date", "gender", "country"]
PRODUCT_COLUMNS = ["product_id", "category", "price_rc"]

TX_SUMMARY_COLUMNS = [
    "customer_id", "total_purchases", "total_spend", "avg_order_value", "first_purchase", "last_purchase",
    "orders_last_365d", "returns", "return_amount", "favorite_category",
]  # fmt: skip
INTERACTION_SUMMARY_COLUMNS = [
    "customer_id", "last_interaction", "interactions_last_90d", "support_tickets", "web_visits",
    "app_sessions", "email_opens", "email_clicks", "campaign_responses", "social_mentions",
    "preferred_channel",
]  # fmt: skip
TYPE_COUNTS = {
    "support_tickets": "support_ticket",
    "web_visits": "web_visit",
    "app_sessions": "app_session",
    "email_opens": "email_open",
    "email_clicks": "email_click",
    "campaign_responses": "campaign_response",
    "social_mentions": "social_mention",
}
PRODUCT_WINDOWS = {"purchases_7d": 7, "purchases_30d": 30, "purchases_90d": 90}
PRICE_BANDS = ("budget", "mid", "upper", "premium")
"""Catalogue price quartiles (reporting currency), cheapest first."""
DAY_US = 86_400_000_000
TS_US = pa.timestamp("us", tz="UTC")


def _us(ts: pd.Timestamp) -> int:
    return int(pd.Timestamp(ts).tz_convert("UTC").value // 1000)


def _epoch_us(table: pa.Table) -> pa.Table:
    """`ts` as int64 microseconds since the epoch (no time zone arithmetic inside DuckDB)."""
    i = table.schema.get_field_index("ts")
    return table.set_column(i, "ts", pc.cast(pc.cast(table["ts"], TS_US), pa.int64()))


def _as_ts(values: pd.Series) -> pd.Series:
    """int64 microseconds (nullable) -> UTC timestamps in the unit Arrow hands pandas (microseconds)."""
    arr = pa.array(values.astype("Int64"), type=pa.int64(), from_pandas=True)
    return pa.chunked_array([pc.cast(arr, TS_US)]).to_pandas()


@functools.cache
def _database() -> duckdb.DuckDBPyConnection:
    """One in-memory DuckDB per process (opening one costs more than a partition's queries).

    One thread: a float sum then adds the rows in scan order, so the same facts give the same bits and a
    rerun finds every file unchanged (two threads add in whichever order they finish). Partitions run in
    parallel instead (c360/features/backfill.py)."""
    con = duckdb.connect(config={"threads": 1})
    con.execute("SET TimeZone = 'UTC'")
    return con


def _connect() -> duckdb.DuckDBPyConnection:
    return _database().cursor()


def _cutoff_table(cutoffs: Sequence[pd.Timestamp]) -> pa.Table:
    return pa.table({"k": pa.array(range(len(cutoffs)), pa.int32()), "c": [_us(c) for c in cutoffs]})


# Money and sentiment are summed as decimals: exact, so a sum does not depend on the order rows arrive in
# (the join with a different set of cutoffs, threads), and a rerun gives the same bits.
TX_SQL = """
WITH lines AS (
  SELECT k, c, customer_id, order_id, ts, category, kind, CAST(amount_rc AS DECIMAL(38, 9)) AS amount
  FROM tx JOIN cutoffs ON tx.ts <= cutoffs.c
),
orders AS (
  SELECT k, c, customer_id, order_id, coalesce(sum(amount), 0) AS amount, max(ts) AS ts
  FROM lines WHERE kind = 'purchase' AND order_id IS NOT NULL
  GROUP BY ALL
),
per AS (
  SELECT k, customer_id, count(*) AS total_purchases, sum(amount) AS gross, min(ts) AS first_purchase,
         max(ts) AS last_purchase, count(*) FILTER (WHERE ts > c - 365 * {day}) AS orders_last_365d
  FROM orders GROUP BY k, customer_id
),
ret AS (
  SELECT k, customer_id, count(DISTINCT order_id) AS returns, coalesce(sum(abs(amount)), 0) AS return_amount
  FROM lines WHERE kind = 'return' GROUP BY k, customer_id
),
cats AS (
  SELECT k, customer_id, category, coalesce(sum(amount), 0) AS amount
  FROM lines WHERE kind = 'purchase' AND category IS NOT NULL GROUP BY ALL
),
fav AS (
  SELECT k, customer_id, first(category ORDER BY amount DESC, category ASC) AS favorite_category
  FROM cats GROUP BY k, customer_id
)
SELECT k, customer_id, coalesce(per.total_purchases, 0) AS total_purchases,
       CAST(coalesce(per.gross, 0) AS DOUBLE) AS gross,
       per.first_purchase, per.last_purchase, coalesce(per.orders_last_365d, 0) AS orders_last_365d,
       coalesce(ret.returns, 0) AS returns, CAST(coalesce(ret.return_amount, 0) AS DOUBLE) AS return_amount,
       fav.favorite_category
FROM per FULL OUTER JOIN ret USING (k, customer_id) LEFT JOIN fav USING (k, customer_id)
"""

INTERACTION_SQL = """
WITH rows AS (
  SELECT k, c, customer_id, ts, type, channel, status, sentiment
  FROM inter JOIN cutoffs ON inter.ts <= cutoffs.c
),
per AS (
  SELECT k, customer_id, max(ts) AS last_interaction,
         count(*) FILTER (WHERE ts > c - 90 * {day}) AS interactions_last_90d,
         {type_counts},
         count(*) FILTER (WHERE type = 'support_ticket' AND status = 'open') AS open_tickets,
         count(*) FILTER (WHERE type IN ('support_ticket', 'social_mention')) AS text_rows,
         CAST(avg(CAST(sentiment AS DECIMAL(38, 15)))
              FILTER (WHERE type IN ('support_ticket', 'social_mention')) AS DOUBLE) AS avg_sentiment
  FROM rows GROUP BY k, customer_id
),
channels AS (
  SELECT k, customer_id, channel, sum({weight}) AS w, max(ts) AS last
  FROM rows WHERE type IN ({response_types}) AND channel IS NOT NULL GROUP BY ALL
),
preferred AS (
  SELECT k, customer_id, arg_max(channel, (w, last, channel)) AS preferred_channel
  FROM channels GROUP BY k, customer_id
)
SELECT * FROM per LEFT JOIN preferred USING (k, customer_id)
"""


def _sql_list(values: Sequence[str]) -> str:
    return ", ".join("'" + v.replace("'", "''") + "'" for v in values)


def _interaction_sql() -> str:
    weight = " ".join(f"WHEN '{t}' THEN {w}" for t, w in RESPONSE_WEIGHT.items())
    counts = ",\n         ".join(
        f"count(*) FILTER (WHERE type = '{typ}') AS {col}" for col, typ in TYPE_COUNTS.items()
    )
    return INTERACTION_SQL.format(
        day=DAY_US,
        type_counts=counts,
        weight=f"CASE type {weight} ELSE 1.0 END",
        response_types=_sql_list(sorted(RESPONSE_WEIGHT)),
    )


@dataclass
class Summaries:
    """Per cutoff (by index): the transaction and interaction summaries in the profile's shapes (with the
    favourite category, the first of `favorite_categories`, instead of the list), and the support_sentiment
    rows."""

    tx: dict[int, pd.DataFrame]
    interactions: dict[int, pd.DataFrame]
    sentiment: dict[int, pd.DataFrame]


def summaries(tx: pa.Table, inter: pa.Table, cutoffs: Sequence[pd.Timestamp]) -> Summaries:
    """`transaction_summary`, `interaction_summary` and `support_sentiment` at every cutoff, in one pass.

    `tx` holds TX_COLUMNS (amount in the reporting currency), `inter` INTERACTION_COLUMNS, of the customers
    wanted (any number of them); rows after a cutoff never reach that cutoff's aggregates.
    """
    ids = pc.unique(pa.chunked_array([*tx["customer_id"].chunks, *inter["customer_id"].chunks], pa.string()))
    con = _connect()
    con.register("cutoffs", _cutoff_table(cutoffs))
    con.register("tx", _coded(_epoch_us(tx.select(TX_COLUMNS)), ids))
    con.register("inter", _coded(_epoch_us(inter.select(INTERACTION_COLUMNS)), ids))
    t = _decoded(con.sql(TX_SQL.format(day=DAY_US)).to_arrow_table(), ids)
    i = _decoded(con.sql(_interaction_sql()).to_arrow_table(), ids)
    con.close()
    return Summaries(
        tx=_split(t, len(cutoffs), _tx_frame), interactions=_split(i, len(cutoffs), _interaction_frame),
        sentiment=_split(i, len(cutoffs), _sentiment_frame),
    )  # fmt: skip


def _coded(table: pa.Table, ids: pa.Array) -> pa.Table:
    """customer_id (and order_id) as integer codes: DuckDB groups integers far faster than strings."""
    i = table.schema.get_field_index("customer_id")
    table = table.set_column(i, "customer_id", pc.index_in(table["customer_id"], value_set=ids))
    if "order_id" in table.column_names:
        j = table.schema.get_field_index("order_id")
        orders = table["order_id"].combine_chunks().dictionary_encode().indices
        table = table.set_column(j, "order_id", orders)
    return table


def _decoded(table: pa.Table, ids: pa.Array) -> pa.Table:
    i = table.schema.get_field_index("customer_id")
    return table.set_column(i, "customer_id", ids.take(table["customer_id"]))


def _split(table: pa.Table, n: int, shape: object) -> dict[int, pd.DataFrame]:
    frame = table.to_pandas()
    groups = dict(tuple(frame.groupby("k", sort=True))) if len(frame) else {}
    return {k: shape(groups[k].reset_index(drop=True) if k in groups else frame.iloc[:0]) for k in range(n)}  # type: ignore[operator]


def _tx_frame(g: pd.DataFrame) -> pd.DataFrame:
    """The DuckDB rows in `transaction_summary`'s shape and rounding (favorite_category: the first of its
    favorite_categories)."""
    if g.empty:
        return pd.DataFrame(columns=TX_SUMMARY_COLUMNS)
    gross = g["gross"].astype("float64")
    ret = g["return_amount"].astype("float64")
    n = g["total_purchases"].astype(int)
    out = pd.DataFrame(
        {
            "customer_id": g["customer_id"].to_numpy(),
            "total_purchases": n.to_numpy(),
            "total_spend": (gross - ret).round(2).to_numpy(),
            "avg_order_value": pd.Series(np.where(n > 0, gross / n.clip(lower=1), 0.0)).round(2).to_numpy(),
            "first_purchase": _as_ts(g["first_purchase"]).array,
            "last_purchase": _as_ts(g["last_purchase"]).array,
            "orders_last_365d": g["orders_last_365d"].astype(int).to_numpy(),
            "returns": g["returns"].astype(int).to_numpy(),
            "return_amount": ret.to_numpy(),
            "favorite_category": g["favorite_category"].to_numpy(dtype=object),
        }
    )
    return out


def _interaction_frame(g: pd.DataFrame) -> pd.DataFrame:
    if g.empty:
        return pd.DataFrame(columns=INTERACTION_SUMMARY_COLUMNS)
    out = g[["customer_id", "interactions_last_90d", *TYPE_COUNTS, "preferred_channel"]].copy()
    for col in ("interactions_last_90d", *TYPE_COUNTS):
        out[col] = out[col].astype(int)
    out["last_interaction"] = _as_ts(g["last_interaction"])
    return out[INTERACTION_SUMMARY_COLUMNS].reset_index(drop=True)


def _sentiment_frame(g: pd.DataFrame) -> pd.DataFrame:
    text = g[g["text_rows"] > 0] if len(g) else g
    if text.empty:
        return pd.DataFrame(columns=["customer_id", "open_tickets", "avg_sentiment"])
    return pd.DataFrame(
        {
            "customer_id": text["customer_id"].to_numpy(),
            "open_tickets": text["open_tickets"].astype(int).to_numpy(),
            "avg_sentiment": text["avg_sentiment"].astype("float64").to_numpy(),
        }
    )


@dataclass
class CutoffRows:
    """One partition at one cutoff before RFM scoring: the finished rows of every view but the R, F and M
    scores (set by `score_rfm` once the population's edges are known), and the RFM inputs."""

    cutoff: pd.Timestamp
    views: dict[str, pd.DataFrame]
    rfm_inputs: pd.DataFrame


def first_facts(tx: pa.Table, inter: pa.Table) -> pd.Series:
    """customer_id -> the time of their earliest transaction line or interaction."""
    both = pa.concat_tables(
        [tx.select(["customer_id", "ts"]).cast(pa.schema([("customer_id", pa.string()), ("ts", TS_US)])),
         inter.select(["customer_id", "ts"]).cast(pa.schema([("customer_id", pa.string()), ("ts", TS_US)]))]
    )  # fmt: skip
    if not both.num_rows:
        return pd.Series(dtype="datetime64[us, UTC]")
    first = both.group_by("customer_id", use_threads=False).aggregate([("ts", "min")])
    return pd.Series(first["ts_min"].to_pandas().to_numpy(), index=first["customer_id"].to_pylist())


def typed_golden(golden: pd.DataFrame) -> pd.DataFrame:
    """GOLDEN_COLUMNS with first_observed as UTC timestamps and birth_date as timestamps (a date column
    arrives as Python dates, which every cutoff would convert again)."""
    if pd.api.types.is_datetime64_any_dtype(golden["birth_date"]) and isinstance(
        golden["first_observed"].dtype, pd.DatetimeTZDtype
    ):
        return golden
    return golden.assign(
        first_observed=pd.to_datetime(golden["first_observed"], utc=True),
        birth_date=pd.to_datetime(golden["birth_date"], errors="coerce"),
    )


def customer_rows(
    golden: pd.DataFrame,
    tx_summary: pd.DataFrame,
    inter_summary: pd.DataFrame,
    sentiment: pd.DataFrame,
    first_fact: pd.Series,
    cutoff: pd.Timestamp,
) -> CutoffRows:
    """The views' rows at `cutoff` from the summaries at that cutoff; `golden` holds GOLDEN_COLUMNS of the
    partition's customers, `first_fact` their `first_facts` (over all time: a first fact after the cutoff
    only says the customer had none by then). What the profile's `assemble` + `feature_frames` give for
    these columns (zeros for no activity, null times, NaN sentiment), without the document's other columns
    and list handling, which cost more than the aggregates at a dozen cutoffs
    (tests/unit/test_feature_history.py holds the two equal)."""
    golden = typed_golden(golden)
    seen = first_seen(
        golden["first_observed"].reset_index(drop=True),
        pd.Series(first_fact.reindex(golden["customer_id"]).array),
    )
    in_view = (seen <= cutoff).to_numpy()
    known = golden[in_view].reset_index(drop=True)
    ids = pd.Index(known["customer_id"])
    n = len(ids)
    stamp = pd.Series(pd.DatetimeIndex([cutoff] * n).as_unit("ns").tz_convert("UTC"))

    def take(frame: pd.DataFrame, columns: list[str]) -> pd.DataFrame:
        if frame.empty:
            return pd.DataFrame(index=ids, columns=columns)
        return frame.set_index("customer_id")[columns].reindex(ids)

    def ints(values: pd.Series) -> np.ndarray:
        return values.fillna(0).to_numpy(dtype="int64")

    def times(values: pd.Series) -> pd.Series:
        return pd.Series(pd.to_datetime(values, utc=True).array, dtype="datetime64[ns, UTC]")

    t = take(tx_summary, [c for c in TX_SUMMARY_COLUMNS if c != "customer_id"])
    i = take(inter_summary, [c for c in INTERACTION_SUMMARY_COLUMNS if c != "customer_id"])
    st = take(sentiment, ["open_tickets", "avg_sentiment"])
    eng = engagement_score(tx_summary, inter_summary, cutoff)
    score = take(eng, ["engagement_score"])["engagement_score"] if len(eng) else pd.Series(0, index=ids)
    head = pd.DataFrame({"customer_id": ids.to_numpy(), "event_timestamp": stamp})
    spend = t["total_spend"].astype("float64").fillna(0.0).to_numpy()
    purchases = ints(t["total_purchases"])
    views = {
        "profile": head.assign(
            age=age_at(known["birth_date"], cutoff).to_numpy(),
            gender=known["gender"].to_numpy(dtype=object),
            country=known["country"].to_numpy(dtype=object),
            first_seen_at=times(seen[in_view]),
        ),
        "transactions": head.assign(
            total_purchases=purchases,
            total_spend=spend,
            avg_order_value=t["avg_order_value"].astype("float64").fillna(0.0).to_numpy(),
            orders_last_365d=ints(t["orders_last_365d"]),
            returns=ints(t["returns"]),
            return_amount=t["return_amount"].astype("float64").fillna(0.0).to_numpy(),
            last_purchase_at=times(t["last_purchase"]),
            favorite_category=t["favorite_category"].to_numpy(dtype=object),
        ),
        "engagement_rfm": head.assign(
            r_score=1, f_score=1, m_score=1, rfm_score="111",  # scored by score_rfm
            engagement_score=ints(score),
            interactions_last_90d=ints(i["interactions_last_90d"]),
            web_visits=ints(i["web_visits"]),
            app_sessions=ints(i["app_sessions"]),
            email_opens=ints(i["email_opens"]),
            email_clicks=ints(i["email_clicks"]),
            campaign_responses=ints(i["campaign_responses"]),
            last_interaction_at=times(i["last_interaction"]),
            preferred_channel=i["preferred_channel"].to_numpy(dtype=object),
        ),
        "support_sentiment": head.assign(
            support_tickets=ints(i["support_tickets"]),
            open_tickets=ints(st["open_tickets"]),
            social_mentions=ints(i["social_mentions"]),
            avg_sentiment=st["avg_sentiment"].astype("float64").to_numpy(),
        ),
    }  # fmt: skip
    for view, frame in views.items():
        views[view] = frame[["customer_id", "event_timestamp", *FEATURE_COLUMNS[view]]]
    inputs = rfm_inputs(
        pd.DataFrame(
            {
                "customer_id": ids.to_numpy(),
                "last_purchase": times(t["last_purchase"]),
                "total_purchases": purchases,
                "total_spend": spend,
            }
        ),
        cutoff,
    )
    return CutoffRows(cutoff, views, inputs)


def score_rfm(rows: CutoffRows, thresholds: dict[str, list[float]]) -> dict[str, pd.DataFrame]:
    """The views with R, F, M and the rfmScore scored against the population's edges at the cutoff."""
    views = dict(rows.views)
    eng = views["engagement_rfm"].copy()
    scores = rfm_scores_global(rows.rfm_inputs, thresholds).set_index("customer_id")
    scores = scores.reindex(eng["customer_id"])
    for out, col in (("r_score", "r"), ("f_score", "f"), ("m_score", "m"), ("rfm_score", "rfm_score")):
        eng[out] = scores[col].to_numpy()
    views["engagement_rfm"] = eng
    return views


def thresholds_of(inputs: Sequence[pd.DataFrame]) -> dict[str, list[float]]:
    """RFM quintile edges over every partition's customers at one cutoff."""
    frames = [f for f in inputs if len(f)]
    both = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(
        columns=["customer_id", "recency", "frequency", "monetary"]
    )  # fmt: skip
    return rfm_thresholds(both)


def features_at(
    golden: pd.DataFrame, tx: pa.Table, inter: pa.Table, cutoff: pd.Timestamp
) -> dict[str, pd.DataFrame]:
    """Every customer view at one cutoff for a population held in one piece (RFM edges over it)."""
    s = summaries(tx, inter, [cutoff])
    rows = customer_rows(golden, s.tx[0], s.interactions[0], s.sentiment[0], first_facts(tx, inter), cutoff)
    return score_rfm(rows, thresholds_of([rows.rfm_inputs]))


# ------------------------------------------------------------------------------------------- products

PRODUCT_SQL = """
SELECT k, product_id, min(category) AS line_category, {windows},
       count(DISTINCT customer_id) FILTER (WHERE ts > c - 30 * {day}) AS buyers_30d
FROM tx JOIN cutoffs ON tx.ts <= cutoffs.c
WHERE kind = 'purchase' AND product_id IS NOT NULL
GROUP BY k, product_id
"""


def product_activity(tx: pa.Table, cutoffs: Sequence[pd.Timestamp]) -> pa.Table:
    """Per cutoff index `k` and product: purchase lines in the trailing windows and distinct buyers in 30
    days, over the customers of `tx` (partitions add up: a customer's lines are all in one partition)."""
    windows = ", ".join(
        f"count(*) FILTER (WHERE ts > c - {days} * {DAY_US}) AS {col}"
        for col, days in PRODUCT_WINDOWS.items()
    )
    con = _connect()
    con.register("cutoffs", _cutoff_table(cutoffs))
    con.register("tx", _epoch_us(tx.select(["customer_id", "ts", "product_id", "category", "kind"])))
    out = con.sql(PRODUCT_SQL.format(windows=windows, day=DAY_US)).to_arrow_table()
    con.close()
    return out


def price_bands(price: pd.Series) -> pd.Series:
    """PRICE_BANDS by the catalogue's price quartiles (null where the price is unknown)."""
    known = price.dropna().to_numpy(dtype=float)
    if not len(known):
        return pd.Series([None] * len(price), index=price.index, dtype=object)
    edges = np.quantile(known, [0.25, 0.5, 0.75])
    idx = np.searchsorted(edges, price.fillna(0).to_numpy(dtype=float), side="right")
    bands = np.array(PRICE_BANDS, dtype=object)[np.clip(idx, 0, 3)]
    return pd.Series(np.where(price.isna(), None, bands), index=price.index, dtype=object)


PRODUCT_FEATURES = ("category", "price_band", "price_rc", *PRODUCT_WINDOWS, "buyers_30d")


def product_rows(products: pd.DataFrame, activity: pd.DataFrame, cutoff: pd.Timestamp) -> pd.DataFrame:
    """product_id, event_timestamp and PRODUCT_FEATURES at one cutoff; `activity` is `product_activity`'s
    rows of that cutoff summed over partitions (product_id, line_category and the counts)."""
    cat = products.drop_duplicates("product_id").set_index("product_id")
    cat = cat.assign(price_band=price_bands(cat["price_rc"].astype("float64")))
    counts = [*PRODUCT_WINDOWS, "buyers_30d"]
    act = (
        activity.set_index("product_id")
        if len(activity)
        else pd.DataFrame(columns=counts + ["line_category"])
    )
    ids = sorted(set(cat.index) | set(act.index))
    out = pd.DataFrame({"product_id": ids})
    out["event_timestamp"] = pd.Timestamp(cutoff).tz_convert("UTC")
    out["category"] = cat["category"].reindex(ids).fillna(act["line_category"].reindex(ids)).to_numpy()
    out["price_band"] = cat["price_band"].reindex(ids).to_numpy()
    out["price_rc"] = cat["price_rc"].reindex(ids).astype("float64").to_numpy()
    for col in counts:
        out[col] = act[col].reindex(ids).fillna(0).astype("int64").to_numpy()
    out["category"] = out["category"].astype(object).where(out["category"].notna(), None)
    return out
