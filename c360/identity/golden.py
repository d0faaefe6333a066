"""Golden records: one row per customer, each attribute chosen by a survivorship rule, with its lineage.

`<field>__from` names the record (`source:source_record_id`) the golden value came from, so the profile can
show where every value was learned and an operator can fix the source rather than the symptom.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from c360.identity.config import IdentitySettings, SurvivorshipRule

GOLDEN_FIELDS: tuple[str, ...] = (
    "first_name", "last_name", "birth_date", "gender", "email", "phone", "street", "city", "postcode",
    "state", "country", "loyalty_id", "social_handle",
)  # fmt: skip
LIST_FIELDS: dict[str, str] = {
    "emails": "email",
    "phones": "phone",
    "device_ids": "device_id",
    "cookie_ids": "cookie_id",
}


def _rule_for(settings: IdentitySettings, field: str) -> SurvivorshipRule:
    return settings.survivorship.get(field, settings.default_survivorship)


def _order(rule: SurvivorshipRule, field: str) -> tuple[str, str]:
    """The score column a rule ranks by, and its direction (ties: most recent, then smallest record key)."""
    if rule.rule == "most_frequent":
        return f'count(*) OVER (PARTITION BY customer_id, "{field}")', "DESC"
    if rule.rule == "most_complete":
        return f'length(CAST("{field}" AS VARCHAR))', "DESC"
    if rule.rule == "source_priority" and rule.source_priority:
        cases = " ".join(
            f"WHEN source = '{src.replace(chr(39), chr(39) * 2)}' THEN {i}"
            for i, src in enumerate(rule.source_priority)
        )
        return f"CASE {cases} ELSE {len(rule.source_priority)} END", "ASC"
    return "0", "ASC"


def golden_records(
    records: pd.DataFrame, customer_ids: np.ndarray, settings: IdentitySettings
) -> pd.DataFrame:
    """records: the latest standardized rows (original values) with record_key; one customer id per row.

    One DuckDB statement: every survivorship rule is an ordered `first` per customer, lists are ordered
    distinct aggregates, so a million records need no Python per customer or per field.
    """
    import duckdb
    import pyarrow as pa

    observed = pd.to_datetime(records.get("observed_at"), utc=True, errors="coerce").reset_index(drop=True)
    if "_ingested_at" in records:
        observed = observed.fillna(
            pd.to_datetime(records["_ingested_at"], utc=True, errors="coerce").reset_index(drop=True)
        )
    cols = {
        "customer_id": pa.array(np.asarray(customer_ids, dtype=object), pa.string()),
        "record_key": pa.array(records["record_key"].to_numpy(dtype=object), pa.string()),
        "source": pa.array(records["source"].to_numpy(dtype=object), pa.string()),
        "observed_at": pa.array(observed, pa.timestamp("us", tz="UTC")),
        # rn: rank in record-key order (ties go to the smallest key); obs: recency, missing = oldest.
        "rn": pa.array(
            pd.Series(records["record_key"].to_numpy(dtype=object)).rank(method="first").to_numpy(np.int64)
        ),
        "obs": pa.array(
            np.where(
                observed.notna().to_numpy(),
                observed.to_numpy(dtype="datetime64[us]").astype(np.int64),
                np.iinfo(np.int64).min + 1,
            )
        ),
    }
    fields = [*GOLDEN_FIELDS, *(f for f in LIST_FIELDS.values() if f not in GOLDEN_FIELDS)]
    for f in fields:
        col = records[f] if f in records else pd.Series([None] * len(records))
        arr = pa.array(col.reset_index(drop=True), from_pandas=True)
        cols[f] = pa.array([None] * len(records), pa.string()) if pa.types.is_null(arr.type) else arr
    table = pa.table(cols)
    ctes, joins, select = [], [], []
    for f in GOLDEN_FIELDS:
        score, direction = _order(_rule_for(settings, f), f)
        usable = f'"{f}" IS NOT NULL' + (f" AND \"{f}\" <> ''" if pa.types.is_string(table[f].type) else "")
        key = f"({'' if direction == 'DESC' else '-'}score, obs, -rn)"
        ctes.append(
            f"""g_{f} AS (
                SELECT customer_id, arg_max(v, {key}) AS "{f}", arg_max(record_key, {key}) AS "{f}__from"
                FROM (SELECT customer_id, record_key, rn, obs, "{f}" AS v, {score} AS score
                      FROM r WHERE {usable})
                GROUP BY customer_id)"""
        )
        joins.append(f"LEFT JOIN g_{f} USING (customer_id)")
        select += [f'g_{f}."{f}"', f'g_{f}."{f}__from"']
    lists = [
        f'coalesce(list(DISTINCT "{f}" ORDER BY "{f}") FILTER (WHERE "{f}" IS NOT NULL), []) AS "{name}"'
        for name, f in LIST_FIELDS.items()
    ]
    sql = f"""
        WITH b AS (
            SELECT customer_id, count(*) AS n_records, list(DISTINCT source ORDER BY source) AS sources,
                   min(observed_at) AS first_observed, max(observed_at) AS last_observed, {", ".join(lists)}
            FROM r GROUP BY customer_id),
        {", ".join(ctes)}
        SELECT b.customer_id, b.n_records, b.sources, b.first_observed, b.last_observed, {", ".join(select)},
               {", ".join(f'b."{name}"' for name in LIST_FIELDS)}
        FROM b {" ".join(joins)} ORDER BY b.customer_id
    """
    con = duckdb.connect()
    con.execute("SET enable_progress_bar = false")
    con.register("r", table)  # zero-copy: DuckDB scans the arrow columns in place
    out = con.sql(sql).df()
    con.close()
    for name in ("sources", *LIST_FIELDS):
        out[name] = [list(x) if x is not None else [] for x in out[name]]
    return out
