"""`facts/exposures`: every campaign send with what came of it within the attribution window.

An outcome (an open, a click, a campaign response, an order carrying the campaign) is credited to the most
recent send of the same campaign to the same customer at or before it, if it falls within that send's window
[ts, ts + attribution_days] (both ends included: `window_end` is the last instant credited). So a campaign
sent twice in a week does not count one click twice. Revenue is the net reporting-currency amount of the
credited orders' lines within the window: purchases add, returns subtract, cancellations count nothing.
"""

from __future__ import annotations

import duckdb
import pyarrow as pa

from c360.facts.schemas import EXPOSURE_TYPES, EXPOSURES, OUTCOME_TYPES, SCHEMAS


def _in(values: tuple[str, ...] | list[str]) -> str:
    return ", ".join("'" + v.replace("'", "''") + "'" for v in values)


def build_exposures(interactions: pa.Table, lines: pa.Table, attribution_days: int) -> pa.Table:
    """Exposure rows (the exposures schema plus `part` when the inputs carry it) from interactions
    (customer_id, ts, type, channel, campaign_id, offer_id, variant, source, source_record_id) and
    transaction lines (customer_id, source, order_id, ts, campaign_id, kind, amount_rc)."""
    has_part = "part" in interactions.column_names
    sends_cols = ["customer_id", "ts", "type", "channel", "campaign_id", "offer_id", "variant", "source"]
    sends_cols += ["source_record_id", *(["part"] if has_part else [])]
    ix = interactions.select(sends_cols)
    ln = lines.select(["customer_id", "source", "order_id", "ts", "campaign_id", "kind", "amount_rc"])
    outcome_case = " ".join(f"WHEN '{t}' THEN '{k}'" for t, k in OUTCOME_TYPES.items())
    window = f"INTERVAL {int(attribution_days)} DAY"
    con = duckdb.connect()
    try:
        con.execute("SET TimeZone = 'UTC'")  # days added in UTC, not across the machine's DST changes
        con.register("ix", ix)
        con.register("ln", ln)
        con.execute(
            f"""CREATE TEMP TABLE sends AS
            SELECT *, source || ':' || source_record_id AS exposure_id, ts + {window} AS window_end
            FROM ix WHERE type IN ({_in(EXPOSURE_TYPES)}) AND ts IS NOT NULL"""
        )
        con.execute(
            f"""CREATE TEMP TABLE events AS
            SELECT customer_id, campaign_id, ts, CASE type {outcome_case} END AS outcome,
                   NULL::VARCHAR AS order_key, NULL::DOUBLE AS revenue
            FROM ix WHERE type IN ({_in(list(OUTCOME_TYPES))}) AND campaign_id IS NOT NULL AND ts IS NOT NULL
            UNION ALL
            SELECT customer_id, campaign_id, min(ts) AS ts, 'order' AS outcome,
                   source || ':' || order_id AS order_key, NULL::DOUBLE AS revenue
            FROM ln WHERE campaign_id IS NOT NULL AND ts IS NOT NULL AND order_id IS NOT NULL
            GROUP BY customer_id, campaign_id, source, order_id"""
        )
        # Each outcome joins the latest send of its campaign at or before it, then must be in its window.
        con.execute(
            """CREATE TEMP TABLE credited AS
            SELECT s.exposure_id, s.window_end, e.* FROM events e
            ASOF JOIN sends s ON e.customer_id = s.customer_id AND e.campaign_id = s.campaign_id
                AND e.ts >= s.ts
            WHERE e.ts <= s.window_end"""
        )
        con.execute(
            """CREATE TEMP TABLE revenue AS
            SELECT c.exposure_id, count(DISTINCT c.order_key) AS orders,
                   sum(CASE l.kind WHEN 'purchase' THEN l.amount_rc WHEN 'return' THEN -abs(l.amount_rc)
                       ELSE 0 END) AS revenue_rc
            FROM credited c JOIN ln l
              ON c.order_key = l.source || ':' || l.order_id AND l.customer_id = c.customer_id
             AND l.ts <= c.window_end
            WHERE c.outcome = 'order'
            GROUP BY c.exposure_id"""
        )
        part = ", s.part" if has_part else ""
        out = con.sql(
            f"""WITH o AS (
                SELECT exposure_id,
                    min(ts) FILTER (WHERE outcome = 'opened') AS first_open_ts,
                    min(ts) FILTER (WHERE outcome = 'clicked') AS first_click_ts,
                    min(ts) FILTER (WHERE outcome IN ('converted', 'order')) AS conversion_ts
                FROM credited GROUP BY exposure_id)
            SELECT s.customer_id, s.exposure_id, s.ts, s.type, s.channel, s.campaign_id, s.offer_id,
                s.variant, o.first_open_ts IS NOT NULL AS opened, o.first_click_ts IS NOT NULL AS clicked,
                o.conversion_ts IS NOT NULL AS converted, o.first_open_ts, o.first_click_ts,
                o.conversion_ts, coalesce(r.orders, 0) AS orders, coalesce(r.revenue_rc, 0.0) AS revenue_rc,
                s.window_end, s.source{part}
            FROM sends s LEFT JOIN o USING (exposure_id) LEFT JOIN revenue r USING (exposure_id)"""
        ).to_arrow_table()
    finally:
        con.close()
    schema = SCHEMAS[EXPOSURES]
    table = pa.table({f.name: out[f.name] for f in schema}).cast(schema)
    if has_part:
        table = table.append_column("part", out["part"])
    return table
