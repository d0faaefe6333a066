"""A fair Splink (DuckDB backend): the same records, identifiers, blocking and kinds of evidence as c360.

It reads c360's normalized record table, so both tools see identical values, and takes from it what c360
links on: the identifier keys c360 computes (`email__id`, ...), with every value c360's hygiene refused
(placeholders, block-listed, shared by too many people: the run's `refused_identifiers` table) nulled, so a
call-centre phone neither blocks nor scores. Names are compared with term-frequency adjustment, the first
name with a nickname level (c360's nickname groups), and street, city and postcode always, each on its own.
It trains the way Splink's documentation recommends (u by random sampling, the prior from deterministic
rules, m by EM over two blocking rules), predicts once at a low probability and clusters by connected
components at any threshold above it, so a precision-recall sweep costs one clustering per threshold.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any, Literal

import pandas as pd

from c360.identity.config import IdentitySettings, parse_blocking_key
from c360.identity.normalize import blocking_part

IDENTIFIER_COLUMNS = ("email", "phone", "device_id", "cookie_id", "social_handle")
"""Identifiers Splink blocks on and compares exactly (loyalty_id is compared with edits, as c360 does)."""
SPLINK_COLUMNS = [
    "record_key", "first_name", "last_name", "birth_date", "street", "city", "postcode", "gender",
    "first_name__nicks",
]  # fmt: skip
PREDICT_FLOOR = 0.01
"""Pairs below this probability are never kept: the lowest threshold a sweep can cluster at."""


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


def cleaned_identifiers(prepared: pd.DataFrame, refused: pd.DataFrame | None) -> pd.DataFrame:
    """c360's identifier keys per record (columns named by field), every value c360 refused set to null."""
    out = pd.DataFrame(index=prepared.index)
    bad = refused if refused is not None else pd.DataFrame(columns=["field", "value"])
    for field in (*IDENTIFIER_COLUMNS, "loyalty_id"):
        col = f"{field}__id"
        values = prepared[col] if col in prepared else pd.Series(None, index=prepared.index, dtype=object)
        values = values.astype(object).where(values.notna(), None)
        drop = set(bad.loc[bad["field"] == field, "value"].astype(str))
        if drop:
            values = values.where(~values.astype(str).isin(drop), None)
        out[field] = values
    return out


def splink_input(
    prepared: pd.DataFrame, settings: IdentitySettings, refused: pd.DataFrame | None = None
) -> pd.DataFrame:
    """The frame Splink reads: c360's normalized fields, cleaned identifiers, blocking-key columns."""
    cols = [c for c in SPLINK_COLUMNS if c in prepared]
    df = prepared[cols].rename(columns={"record_key": "unique_id"}).copy()
    for c in ("first_name", "last_name", "street", "city", "postcode", "gender", "first_name__nicks"):
        df[c] = df[c].astype(object).where(df[c].notna(), None) if c in df else None
    df["first_name__nick"] = blocking_part(prepared, "nickname(first_name)").to_numpy()
    df["birth_date"] = pd.to_datetime(df["birth_date"], errors="coerce")
    for key in (k for rule in settings.blocking_rules for k in rule.keys):
        fn, field = parse_blocking_key(key)
        if fn == "soundex":
            df[f"{field}__soundex"] = blocking_part(prepared, key).to_numpy()
    ids = cleaned_identifiers(prepared, refused)
    for c in ids:
        df[c] = ids[c].to_numpy()
    return df


def _address_levels(thresholds: list[float]) -> list[Any]:
    """c360's `address` comparison as Splink levels: street, postcode and city as one piece of evidence.

    The same levels, in the same order, as `c360.identity.compare` (a household shares all three, which as
    three comparisons would count as three independent proofs)."""
    import splink.comparison_level_library as cll

    def same(f: str) -> str:
        return f"({f}_l = {f}_r)"

    def missing(f: str) -> str:
        return f"({f}_l IS NULL OR {f}_r IS NULL)"

    post_ok = f"({same('postcode')} OR {missing('postcode')})"
    known = f"NOT {missing('street')}"
    street_ok = f"{known} AND jaro_winkler_similarity(street_l, street_r) >= {min(thresholds)}"
    levels = [
        cll.CustomLevel(
            f"{missing('street')} AND {missing('postcode')} AND {missing('city')}", "address unknown"
        ).configure(is_null_level=True),
        cll.CustomLevel(f"{same('street')} AND {post_ok}", "same street, postcode agrees"),
    ]
    levels += [
        cll.CustomLevel(
            f"{known} AND jaro_winkler_similarity(street_l, street_r) >= {t} AND {post_ok}",
            f"street jw>={t:g}",
        )
        for t in thresholds
    ]
    tail = [
        (f"{street_ok} AND {same('city')}", "street and city"),
        (street_ok, "street only"),
        (f"{known} AND {same('postcode')} AND {same('city')}", "postcode and city"),
        (f"{known} AND {same('postcode')}", "same postcode"),
        (f"{known} AND {same('city')}", "same city"),
        (f"{same('postcode')} AND {same('city')}", "postcode and city, street unknown"),
        (same("postcode"), "postcode, street unknown"),
        (same("city"), "city, street unknown"),
    ]
    return [*levels, *(cll.CustomLevel(sql, label) for sql, label in tail), cll.ElseLevel()]


def _comparisons(settings: IdentitySettings, with_gender: bool, address: str) -> list[Any]:
    import splink.comparison_level_library as cll
    import splink.comparison_library as cl

    first_name = cl.CustomComparison(
        output_column_name="first_name",
        comparison_levels=[
            cll.NullLevel("first_name"),
            cll.ExactMatchLevel("first_name", term_frequency_adjustments=True),
            # c360's nickname groups ("a|b" per name): Bob and Robert agree when a group is shared
            cll.CustomLevel(
                "list_has_any(string_split(first_name__nicks_l, '|'), "
                "string_split(first_name__nicks_r, '|'))",
                label_for_charts="Same nickname group",
            ),
            cll.JaroWinklerLevel("first_name", 0.92),
            cll.JaroWinklerLevel("first_name", 0.88),
            cll.ElseLevel(),
        ],
        comparison_description="first name: exact (tf), nickname, Jaro-Winkler",
    )
    comparisons = [
        first_name,
        cl.NameComparison("last_name").configure(term_frequency_adjustments=True),
        cl.DateOfBirthComparison("birth_date", input_is_string=False),
    ]
    combined = next((c for c in settings.comparisons if c.method == "address"), None)
    if address == "as_c360" and combined is not None:
        comparisons.append(cl.CustomComparison(_address_levels(combined.thresholds), "address"))
    else:
        comparisons += [
            cl.JaroWinklerAtThresholds("street", [0.9, 0.8]),
            cl.JaroWinklerAtThresholds("city", [0.9]).configure(term_frequency_adjustments=True),
            cl.DamerauLevenshteinAtThresholds("postcode", [1]),
        ]
    comparisons += [
        *(cl.ExactMatch(c) for c in IDENTIFIER_COLUMNS),
        cl.DamerauLevenshteinAtThresholds("loyalty_id", [2]),
    ]
    if with_gender:
        comparisons.append(cl.ExactMatch("gender"))
    return comparisons


def identifier_links(ids: pd.DataFrame, keys: pd.Series, settings: IdentitySettings) -> pd.DataFrame:
    """The links c360 makes outright, for Splink to cluster with its predictions: records holding one value
    of an identifier not shared by nature (an email, a phone; its cleaned values, `cleaned_identifiers`),
    as a star per value (unique_id_l, unique_id_r)."""
    personal = [i.field for i in settings.identifiers if i.enabled and not i.is_shared and i.field in ids]
    frames = []
    for field in personal:
        held = pd.DataFrame({"key": keys.to_numpy(), "value": ids[field].to_numpy()}).dropna()
        hub = held.groupby("value")["key"].transform("min")
        spokes = held["key"] != hub
        frames.append(pd.DataFrame({"unique_id_l": hub[spokes], "unique_id_r": held.loc[spokes, "key"]}))
    if not frames:
        return pd.DataFrame({"unique_id_l": [], "unique_id_r": []}, dtype=object)
    return pd.concat(frames, ignore_index=True).drop_duplicates()


@dataclass
class SplinkRun:
    """A trained Splink model's predictions above `PREDICT_FLOOR`, clustered on demand at any threshold."""

    linker: Any
    predictions: Any
    record_keys: pd.Series
    train_predict_seconds: float
    deterministic: pd.DataFrame | None = None
    """Links clustered whatever the threshold (`identifier_links`), or None: Splink's predictions alone."""

    def labels(self, threshold: float) -> tuple[pd.Series, float]:
        """Cluster labels indexed by record key (a singleton's own key), and the clustering seconds."""
        if threshold < PREDICT_FLOOR:
            raise ValueError(f"threshold {threshold} is below the prediction floor {PREDICT_FLOOR}")
        t0 = time.perf_counter()
        if self.deterministic is not None:
            return self._with_deterministic(threshold, t0)
        clusters = self.linker.clustering.cluster_pairwise_predictions_at_threshold(
            self.predictions, threshold
        ).as_pandas_dataframe()
        seconds = time.perf_counter() - t0
        labels = clusters.set_index("unique_id")["cluster_id"].reindex(self.record_keys)
        labels = labels.where(labels.notna(), self.record_keys.to_numpy())
        return labels, seconds

    def _with_deterministic(self, threshold: float, t0: float) -> tuple[pd.Series, float]:
        """Connected components of the predictions at `threshold` and the deterministic links (what
        Splink's own clustering computes from the predictions alone), labelled by the smallest key."""
        from scipy.sparse import coo_matrix
        from scipy.sparse.csgraph import connected_components

        pred = self.predictions.as_pandas_dataframe()
        pred = pred.loc[pred["match_probability"] >= threshold, ["unique_id_l", "unique_id_r"]]
        edges = pd.concat([pred, self.deterministic], ignore_index=True)
        index = pd.Index(self.record_keys.to_numpy())
        a, b = index.get_indexer(edges["unique_id_l"]), index.get_indexer(edges["unique_id_r"])
        n = len(index)
        graph = coo_matrix(([1] * len(a), (a, b)), shape=(n, n))
        comp = connected_components(graph, directed=False)[1]
        first = pd.Series(self.record_keys.to_numpy()).groupby(comp).transform("min").to_numpy()
        return pd.Series(first, index=self.record_keys.to_numpy()), time.perf_counter() - t0


def fair_splink(
    prepared: pd.DataFrame,
    settings: IdentitySettings,
    refused: pd.DataFrame | None = None,
    with_gender: bool = True,
    address: Literal["as_c360", "apart"] = "as_c360",
    deterministic: bool = False,
) -> SplinkRun:
    """Train Splink on c360's prepared records and predict every blocked pair at `PREDICT_FLOOR` or above.

    `address`: as c360's config compares it (one comparison of street, postcode and city when c360 has an
    `address` comparison, as by default; three apart when c360 compares them apart, as for FEBRL), or always
    three apart (street by Jaro-Winkler bands, city with tf adjustment, postcode exact or one edit).

    `deterministic`: cluster with c360's outright identifier links as well (`identifier_links`). Without
    them a record that holds one identifier and nothing else (a web visit's email, a newsletter sign-up)
    never reaches a high threshold: one exact email is worth about as many bits as the prior's odds against
    two random records (about 14.7 against 14.4 on the demo), so its pair stays near p = 0.5."""
    import duckdb
    from splink import Linker, SettingsCreator, block_on
    from splink.backends.duckdb import DuckDBAPI

    logging.getLogger("splink").setLevel(logging.ERROR)
    df = splink_input(prepared, settings, refused)
    t0 = time.perf_counter()
    con = duckdb.connect()
    con.execute("SET enable_progress_bar = false")  # a bar per query would flood the benchmark's output
    db_api = DuckDBAPI(con)
    sdf = db_api.register(df)
    creator = SettingsCreator(
        link_type="dedupe_only",
        comparisons=_comparisons(settings, with_gender, address),
        blocking_rules_to_generate_predictions=_blocking_sql(settings),
        retain_intermediate_calculation_columns=False,
        retain_matching_columns=False,
    )
    linker = Linker(sdf, creator, log_level=logging.ERROR)
    rules = [block_on("first_name", "last_name", "birth_date")]
    rules += [block_on(c) for c in ("email", "phone", "loyalty_id") if df[c].notna().any()]
    linker.training.estimate_probability_two_random_records_match(rules, recall=0.7)
    linker.training.estimate_u_using_random_sampling(max_pairs=1e6, seed=1)
    linker.training.estimate_parameters_using_expectation_maximisation(block_on("first_name", "last_name"))
    linker.training.estimate_parameters_using_expectation_maximisation(block_on("birth_date"))
    predictions = linker.inference.predict(threshold_match_probability=PREDICT_FLOOR)
    keys = prepared["record_key"].reset_index(drop=True)
    det = identifier_links(cleaned_identifiers(prepared, refused), keys, settings) if deterministic else None
    return SplinkRun(linker, predictions, keys, time.perf_counter() - t0, det)


def splink_resolve(
    prepared: pd.DataFrame,
    settings: IdentitySettings,
    threshold: float,
    with_gender: bool = True,
    refused: pd.DataFrame | None = None,
    address: Literal["as_c360", "apart"] = "as_c360",
) -> tuple[pd.Series, float]:
    """Cluster labels per record key from the fair Splink, and the seconds it took (training included)."""
    run = fair_splink(prepared, settings, refused, with_gender, address)
    labels, seconds = run.labels(threshold)
    return labels, run.train_predict_seconds + seconds
