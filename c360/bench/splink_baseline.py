"""Splink (DuckDB backend) on the same records, with blocking and comparisons comparable to c360's.

It reads c360's normalized record table (so both see identical values), trains the way Splink's documentation
recommends (u by random sampling, the prior from deterministic rules, m by EM over two blocking rules),
predicts
with the same blocking rules and clusters at the same threshold by connected components.
"""

from __future__ import annotations

import logging
import time

import pandas as pd

from c360.identity.config import IdentitySettings, parse_blocking_key
from c360.identity.normalize import blocking_part

IDENTIFIER_COLUMNS = ("email", "phone", "device_id", "cookie_id", "social_handle")
SPLINK_COLUMNS = [
    "record_key", "first_name", "last_name", "birth_date", "street", "city", "postcode", "gender", "email",
    "phone", "loyalty_id", "device_id", "cookie_id", "social_handle",
]  # fmt: skip


def _blocking_sql(settings: IdentitySettings) -> list[str]:
    """c360's blocking rules as Splink SQL (c360's key functions become precomputed columns)."""
    # c360 links on strong identifiers deterministically; Splink gets them as blocking rules and comparisons.
    rules = [f"l.{f} = r.{f}" for f in IDENTIFIER_COLUMNS]
    for rule in settings.blocking_rules:
        parts = []
        for key in rule.keys:
            fn, field = parse_blocking_key(key)
            col = "birth_date" if field == "birth_date" else field
            if fn is None:
                parts.append(f"l.{col} = r.{col}")
            elif fn == "soundex":
                parts.append(f"l.{col}__soundex = r.{col}__soundex")
            elif fn == "year":
                parts.append(f"year(l.{col}) = year(r.{col})")
            elif fn in ("prefix3", "prefix4"):
                n = int(fn[-1])
                parts.append(f"substr(l.{col}, 1, {n}) = substr(r.{col}, 1, {n})")
            elif fn == "nickname":
                parts.append(f"l.{col}__nick = r.{col}__nick")
            else:
                parts = []
                break
        if parts:
            rules.append(" AND ".join(parts))
    return rules


def splink_resolve(
    prepared: pd.DataFrame,
    settings: IdentitySettings,
    threshold: float,
    with_gender: bool = True,
    separate_address: bool = False,
) -> tuple[pd.Series, float]:
    """Cluster labels per record key from Splink, and the seconds it took (training included)."""
    import splink.comparison_library as cl
    from splink import Linker, SettingsCreator, block_on
    from splink.backends.duckdb import DuckDBAPI

    logging.getLogger("splink").setLevel(logging.ERROR)
    cols = [c for c in SPLINK_COLUMNS if c in prepared]
    df = prepared[cols].rename(columns={"record_key": "unique_id"}).copy()
    df["first_name__nick"] = blocking_part(prepared, "nickname(first_name)").to_numpy()
    df["birth_date"] = pd.to_datetime(df["birth_date"], errors="coerce")
    for key in (k for rule in settings.blocking_rules for k in rule.keys):
        fn, field = parse_blocking_key(key)
        if fn == "soundex":
            df[f"{field}__soundex"] = blocking_part(prepared, key).to_numpy()
    for c in ("email", "phone", "loyalty_id", "device_id", "cookie_id", "social_handle"):
        df[c] = df[c].astype(object).where(df[c].notna(), None)
    comparisons = [
        cl.NameComparison("first_name"),
        cl.NameComparison("last_name"),
        cl.DateOfBirthComparison("birth_date", input_is_string=False),
        cl.JaroWinklerAtThresholds("street", [0.9, 0.8]),
        cl.ExactMatch("email"),
        cl.ExactMatch("phone"),
        cl.ExactMatch("device_id"),
        cl.ExactMatch("cookie_id"),
        cl.ExactMatch("social_handle"),
        cl.DamerauLevenshteinAtThresholds("loyalty_id", [2]),
    ]
    if separate_address:
        comparisons += [
            cl.JaroWinklerAtThresholds("city", [0.9]),
            cl.DamerauLevenshteinAtThresholds("postcode", [1]),
        ]
    if with_gender:
        comparisons.append(cl.ExactMatch("gender"))
    t0 = time.perf_counter()
    db_api = DuckDBAPI()
    sdf = db_api.register(df)
    creator = SettingsCreator(
        link_type="dedupe_only",
        comparisons=comparisons,
        blocking_rules_to_generate_predictions=_blocking_sql(settings),
        retain_intermediate_calculation_columns=False,
        retain_matching_columns=False,
    )
    linker = Linker(sdf, creator, log_level=logging.ERROR)
    deterministic = [block_on("email"), block_on("phone"), block_on("first_name", "last_name", "birth_date")]
    if df["loyalty_id"].notna().any():
        deterministic.append(block_on("loyalty_id"))
    linker.training.estimate_probability_two_random_records_match(deterministic, recall=0.7)
    linker.training.estimate_u_using_random_sampling(max_pairs=1e6, seed=1)
    linker.training.estimate_parameters_using_expectation_maximisation(block_on("first_name", "last_name"))
    linker.training.estimate_parameters_using_expectation_maximisation(block_on("birth_date"))
    predictions = linker.inference.predict(threshold_match_probability=threshold)
    clusters = linker.clustering.cluster_pairwise_predictions_at_threshold(
        predictions, threshold
    ).as_pandas_dataframe()
    seconds = time.perf_counter() - t0
    labels = clusters.set_index("unique_id")["cluster_id"].reindex(prepared["record_key"]).fillna("singleton")
    labels = labels.where(labels != "singleton", prepared["record_key"].to_numpy())
    return labels, seconds
