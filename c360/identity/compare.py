"""Candidate pairs from blocking rules and their comparison vectors, computed in DuckDB over arrow.

`candidate_pairs` joins records that share a blocking key; a pair found by an earlier rule is dropped from a
later one, so every pair is produced once without a global de-duplication (each partition decides alone).
`comparison_vectors` gives each pair one level per comparison: 0 is the strongest agreement, the last level
is "different", -1 means a value is missing (no evidence either way).
"""

from __future__ import annotations

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa

from c360.identity.config import ComparisonSettings, IdentitySettings, comparison_level_names

PAIR_COLUMNS = ("rid_l", "rid_r", "rule")
GIVEN_NAME = "first_name"
FAMILY_NAME = "last_name"
FULL_NAME = "full_name"
"""The full name's dependence (`c360.identity.name_frequency`): its key in `FSModel.tf`, the pair column
`tf_full_name`."""
FULL_NAME_TF = f"{FULL_NAME}__tf"
"""The record column of its full name's dependence ratio."""
NAMESAKE = "namesake__run"
"""The record column saying its name is held by two generations where it lives (`c360.identity.namesakes`)."""
RUN_COLUMNS_SUFFIXES = ("__tf", "__run")
"""Record columns a run derives from all the records (term frequencies, the namesake flag): never stored with
the prepared records."""
GENERATION_COLUMNS = ("name_suffix", "birth_date__s")
"""What the given-name comparison reads besides the names, to tell a Jr from a Sr (`level_sql`)."""
NAMES_SWAPPED = "names_swapped"
"""Whether a pair's names were compared swapped (`comparison_vectors`)."""


def gamma_name(c: ComparisonSettings) -> str:
    return f"g_{c.field}"


def value_column(c: ComparisonSettings, columns: set[str] | list[str]) -> str:
    """The prepared column a comparison reads: the identifier-normalized form when there is one."""
    if f"{c.field}__id" in columns:
        return f"{c.field}__id"
    return c.field


def level_sql(
    c: ComparisonSettings,
    columns: set[str] | list[str],
    values: tuple[str, str] | None = None,
    generation: tuple[str, str, str, str] | None = None,
) -> str:
    """A SQL CASE giving the comparison level of l.<field> against r.<field>.

    `values` (two SQL expressions) compares other values at this comparison's levels, without its nickname
    level (a swapped name has no nickname form); `generation` names the suffix and birth-date columns
    (left and right) when they are not l.* and r.*."""
    if c.method == "address":
        return _address_sql(c)
    case = _level_case(c, columns, values)
    if c.field == GIVEN_NAME and c.method == "name" and set(GENERATION_COLUMNS) <= set(columns):
        # A first name that agrees is no evidence between a record that names a generation and one that may
        # be either: "John Smith" at the address of John Smith Jr and John Smith Sr is one of two people.
        last = len(comparison_level_names(c)) - 1
        ambiguous = f"CASE WHEN ({case}) = {last} THEN {last} ELSE -1 END"
        unknown = _generation_unknown_sql(*(generation or _GENERATION))
        if generation is None and NAMESAKE in columns:
            unknown = f"({unknown} OR {_namesake_sql(*_GENERATION)})"
        case = f"CASE WHEN {unknown} THEN {ambiguous} ELSE {case} END"
    return f"CAST({case} AS TINYINT)"


_GENERATION = ('l."name_suffix"', 'r."name_suffix"', 'l."birth_date__s"', 'r."birth_date__s"')


def _generation_unknown_sql(s_l: str, s_r: str, d_l: str, d_r: str) -> str:
    """One record writes a generational suffix (Jr, Sr, III), the other none, and a birth date (what tells a
    father from his son) is missing on either side."""
    return f"(({s_l} IS NULL) <> ({s_r} IS NULL) AND ({d_l} IS NULL OR {d_r} IS NULL))"


def _namesake_sql(s_l: str, s_r: str, d_l: str, d_r: str) -> str:
    """Either record's name is held by two generations where it lives, and the two records cannot tell which:
    not both write a suffix, not both give a birth date."""
    either = f'(coalesce(l."{NAMESAKE}", false) OR coalesce(r."{NAMESAKE}", false))'
    return f"({either} AND ({s_l} IS NULL OR {s_r} IS NULL) AND ({d_l} IS NULL OR {d_r} IS NULL))"


def _level_case(
    c: ComparisonSettings, columns: set[str] | list[str], values: tuple[str, str] | None = None
) -> str:
    """The CASE expression (untyped) of a comparison other than an address."""
    col = value_column(c, columns)
    a, b = values or (f'l."{col}"', f'r."{col}"')
    parts = [f"WHEN {a} IS NULL OR {b} IS NULL THEN -1", f"WHEN {a} = {b} THEN 0"]
    lvl = 1
    if c.method in ("string", "name", "address"):
        if c.method == "name" and c.nicknames:
            groups = [f"string_split({side}.\"{c.field}__nicks\", '|')" for side in ("l", "r")]
            # The level keeps its number where the values are not the field's own (swapped names).
            has_any = f"list_has_any({groups[0]}, {groups[1]})" if values is None else "false"
            parts.append(f"WHEN {has_any} THEN {lvl}")
            lvl += 1
        for t in c.thresholds:
            parts.append(f"WHEN jaro_winkler_similarity({a}, {b}) >= {t} THEN {lvl}")
            lvl += 1
        if c.method == "name" and c.max_edits > 0:  # a typo the bands miss: "aym" and "amy", "eakard"
            parts.append(
                f"WHEN length({a}) >= 3 AND length({b}) >= 3 "
                f"AND damerau_levenshtein({a}, {b}) <= {c.max_edits} THEN {lvl}"
            )
            lvl += 1
    elif c.method == "date":
        s_a, s_b = f'l."{c.field}__s"', f'r."{c.field}__s"'
        parts.append(
            f"WHEN substr({s_a},1,4) = substr({s_b},1,4) AND substr({s_a},5,2) = substr({s_b},7,2) "
            f"AND substr({s_a},7,2) = substr({s_b},5,2) THEN {lvl}"
        )
        parts.append(f"WHEN damerau_levenshtein({s_a}, {s_b}) <= {c.max_edits} THEN {lvl + 1}")
        parts.append(f"WHEN substr({s_a},1,6) = substr({s_b},1,6) THEN {lvl + 2}")
        lvl += 3
    elif c.method == "identifier" and c.max_edits > 0:
        parts.append(f"WHEN damerau_levenshtein({a}, {b}) <= {c.max_edits} THEN {lvl}")
        lvl += 1
    parts.append(f"ELSE {lvl}")
    return "CASE " + " ".join(parts) + " END"


def _address_sql(c: ComparisonSettings) -> str:
    """Street, postcode and city as one comparison (a shared address is one piece of evidence, not three)."""

    def same(f: str) -> str:
        return f'(l."{f}" = r."{f}")'

    def missing(f: str) -> str:
        return f'(l."{f}" IS NULL OR r."{f}" IS NULL)'

    post_ok = f"({same('postcode')} OR {missing('postcode')})"
    jw = 'jaro_winkler_similarity(l."street", r."street")'
    parts = [
        f"WHEN {missing('street')} AND {missing('postcode')} AND {missing('city')} THEN -1",
        f"WHEN {same('street')} AND {post_ok} THEN 0",
    ]
    lvl = 1
    for t in c.thresholds:
        parts.append(f"WHEN NOT {missing('street')} AND {jw} >= {t} AND {post_ok} THEN {lvl}")
        lvl += 1
    street_ok = f"NOT {missing('street')} AND {jw} >= {min(c.thresholds)}"
    parts.append(f"WHEN {street_ok} AND {same('city')} THEN {lvl}")
    parts.append(f"WHEN {street_ok} THEN {lvl + 1}")
    # Two known streets that differ make a shared postcode or city weak evidence (neighbours); with one
    # street unknown (a newsletter sign-up gives a postcode only), the same agreement is strong evidence.
    known = f"NOT {missing('street')}"
    parts.append(f"WHEN {known} AND {same('postcode')} AND {same('city')} THEN {lvl + 2}")
    parts.append(f"WHEN {known} AND {same('postcode')} THEN {lvl + 3}")
    parts.append(f"WHEN {known} AND {same('city')} THEN {lvl + 4}")
    parts.append(f"WHEN {same('postcode')} AND {same('city')} THEN {lvl + 5}")
    parts.append(f"WHEN {same('postcode')} THEN {lvl + 6}")
    parts.append(f"WHEN {same('city')} THEN {lvl + 7}")
    parts.append(f"ELSE {lvl + 8}")
    return "CAST(CASE " + " ".join(parts) + " END AS TINYINT)"


def comparison_columns(settings: IdentitySettings) -> list[str]:
    """The prepared columns the comparison SQL reads (kept small when shipped to workers); the full name's
    dependence ratio (`FULL_NAME_TF`) and the namesake flag (`NAMESAKE`) are read too where the records carry
    them."""
    cols = ["rid"]
    for c in settings.comparisons:
        cols.append(c.field)
        if c.method == "address":
            cols += ["postcode", "city"]
        if f"{c.field}__id" not in cols and c.field in [i.field for i in settings.identifiers]:
            cols.append(f"{c.field}__id")
        if c.method == "name" and c.nicknames:
            cols.append(f"{c.field}__nicks")
        if c.method == "name" and c.field == GIVEN_NAME:
            cols += GENERATION_COLUMNS
        if c.method == "date":
            cols.append(f"{c.field}__s")
        if c.tf_adjustment:
            cols.append(f"{c.field}__tf")
    cols += [f"k{i}" for i in range(len(settings.blocking_rules))]
    return list(dict.fromkeys(cols))


def _connect(threads: int | None = 1) -> duckdb.DuckDBPyConnection:
    """One thread inside a Ray worker (Ray runs one worker per core); all cores when called in the driver."""
    con = duckdb.connect()
    if threads is not None:
        con.execute(f"SET threads = {threads}")
    return con


def comparison_vectors(
    records: pa.Table, pairs: pa.Table, settings: IdentitySettings, threads: int | None = 1
) -> pa.Table:
    """The pairs' columns, one TINYINT level per comparison, the term frequency of each tf-adjusted field,
    and (where first and last names are both compared) whether the names were compared swapped."""
    con = _connect(threads)
    con.register("rec", records)
    con.register("pairs", pairs)
    names = set(records.column_names)
    select = [f"{level_sql(c, names)} AS {gamma_name(c)}" for c in settings.comparisons]
    select += [
        f'CAST(l."{c.field}__tf" AS FLOAT) AS tf_{c.field}' for c in settings.comparisons if c.tf_adjustment
    ]
    if FULL_NAME_TF in names:  # a full name's dependence ratio (c360.identity.name_frequency)
        select.append(f'CAST(l."{FULL_NAME_TF}" AS FLOAT) AS tf_{FULL_NAME}')
    body = "SELECT p.*, " + ", ".join(select)
    swap = _name_swap(settings, names)
    if swap is not None:
        body += ", " + ", ".join(f"{expr} AS {alias}" for alias, expr in swap.carried.items())
    body += " FROM pairs p JOIN rec l ON l.rid = p.rid_l JOIN rec r ON r.rid = p.rid_r"
    if swap is not None:
        body = swap.wrap(body)
    out = con.sql(body + " ORDER BY rid_l, rid_r").to_arrow_table()
    con.close()
    return out


class _NameSwap:
    """Names written in each other's fields ("Doe, Jane" read as first name Doe, a form filled the wrong way
    round): a pair whose first and last names both differ, yet agree crosswise (the left's last with
    the right's first, the left's first with the right's last, each at its comparison's own levels), is
    compared with the left record's names swapped. Both must agree crosswise: "Thomas Smith" and "John
    Thomas" share one name in the wrong field, which is no evidence. The comparison's levels, and so a
    stored model, are unchanged; the swapped levels are read as the straight ones would be. A
    frequency-adjusted exact agreement takes the higher of the two records' frequencies: the record whose
    names stand in the wrong fields holds rare values there ("Nguyen" as a first name), which would
    otherwise count as strong evidence (two Lachlan Nguyens, born years apart, linked on it).

    Computed in stages so the crosswise comparison runs only on pairs whose names both differ, and the
    second one only where the first agreed: asked of every pair with one differing name, the crosswise
    comparison made the scoring stage of the 1,000,000-record run 70% slower."""

    def __init__(
        self, first: ComparisonSettings, last: ComparisonSettings, columns: set[str], tf: list[str]
    ) -> None:
        self.first, self.last, self.columns = first, last, columns
        self.tf = tf
        self.carried = {
            "__lf": f'l."{GIVEN_NAME}"',
            "__ll": f'l."{FAMILY_NAME}"',
            "__rf": f'r."{GIVEN_NAME}"',
            "__rl": f'r."{FAMILY_NAME}"',
            **{f"__rtf_{f}": f'CAST(r."{f}__tf" AS FLOAT)' for f in tf},
        }
        self.generation = None
        if set(GENERATION_COLUMNS) <= columns:
            self.generation = ("__ls", "__rs", "__ld", "__rd")
            self.carried |= {
                "__ls": 'l."name_suffix"',
                "__rs": 'r."name_suffix"',
                "__ld": 'l."birth_date__s"',
                "__rd": 'r."birth_date__s"',
            }

    def wrap(self, body: str) -> str:
        lf = len(comparison_level_names(self.first)) - 1
        ll = len(comparison_level_names(self.last)) - 1
        g_f, g_l = gamma_name(self.first), gamma_name(self.last)
        cross_first = level_sql(self.first, self.columns, ("__ll", "__rf"), self.generation)
        cross_last = level_sql(self.last, self.columns, ("__lf", "__rl"))
        disagree = f"({g_f} = {lf} AND {g_l} = {ll})"
        stage1 = f"SELECT *, CASE WHEN {disagree} THEN {cross_first} END AS __sf FROM ({body})"
        stage2 = (
            f"SELECT *, CASE WHEN __sf BETWEEN 0 AND {lf - 1} THEN {cross_last} END AS __sl FROM ({stage1})"
        )
        swapped = f"coalesce(__sf BETWEEN 0 AND {lf - 1} AND __sl BETWEEN 0 AND {ll - 1}, false)"
        replace = [
            f"CASE WHEN {swapped} THEN __sf ELSE {g_f} END AS {g_f}",
            f"CASE WHEN {swapped} THEN __sl ELSE {g_l} END AS {g_l}",
            *(
                f"CASE WHEN {swapped} THEN greatest(tf_{f}, __rtf_{f}) ELSE tf_{f} END AS tf_{f}"
                for f in self.tf
            ),
        ]
        helpers = ", ".join([*self.carried, "__sf", "__sl"])
        return (
            f"SELECT * EXCLUDE ({helpers}) REPLACE ({', '.join(replace)}), {swapped} AS {NAMES_SWAPPED} "
            f"FROM ({stage2})"
        )


def _name_swap(settings: IdentitySettings, columns: set[str]) -> _NameSwap | None:
    """The swap of first and last names, where both are compared as names."""
    by_field = {c.field: c for c in settings.comparisons if c.method in ("name", "string")}
    first, last = by_field.get(GIVEN_NAME), by_field.get(FAMILY_NAME)
    if first is None or last is None or value_column(first, columns) != GIVEN_NAME:
        return None
    if value_column(last, columns) != FAMILY_NAME:
        return None
    tf = [f for f in (GIVEN_NAME, FAMILY_NAME) if by_field[f].tf_adjustment and f"{f}__tf" in columns]
    return _NameSwap(first, last, columns, tf)


def candidate_pairs(
    keys: pa.Table, records: pa.Table, n_rules: int, new_only: bool = False, threads: int | None = 1
) -> pa.Table:
    """Pairs (rid_l < rid_r) sharing a key under some rule, each produced once, by the first rule it meets.

    `keys` holds (rule, key, rid[, is_new]) for the blocks of one partition; `records` the k0..kN columns.
    With `new_only`, only pairs with at least one new record are produced (the incremental run).
    """
    con = _connect(threads)
    con.register("keys", keys)
    con.register("rec", records)
    earlier = " OR ".join(f'(a.rule > {j} AND coalesce(l."k{j}" = r."k{j}", false))' for j in range(n_rules))
    new_cond = "AND (a.is_new OR b.is_new)" if new_only else ""
    bits = [f'CAST(coalesce(l."k{j}" = r."k{j}", false) AS INTEGER) * {1 << j}' for j in range(n_rules)]
    mask = "CAST(" + (" + ".join(bits) or "0") + " AS INTEGER)"
    sql = f"""
        SELECT a.rid AS rid_l, b.rid AS rid_r, a.rule AS rule, {mask} AS rules_mask
        FROM keys a JOIN keys b ON a.rule = b.rule AND a.key = b.key AND a.rid < b.rid {new_cond}
        JOIN rec l ON l.rid = a.rid JOIN rec r ON r.rid = b.rid
        WHERE NOT ({earlier or "false"})
    """
    out = con.sql(sql).to_arrow_table()
    con.close()
    return out


def blocking_keys(
    df: pd.DataFrame, n_rules: int, partitions: int, new_mask: np.ndarray | None = None
) -> pd.DataFrame:
    """Long table (rule, key, rid, is_new, partition) of every non-null blocking key.

    In an incremental run only blocks holding at least one new record are kept: the others yield no new pair.
    """
    frames = []
    for i in range(n_rules):
        k = df[f"k{i}"]
        ok = k.notna().to_numpy()
        part = pd.DataFrame(
            {
                "rule": np.int8(i),
                "key": k[ok].astype(np.int64).to_numpy(),
                "rid": df["rid"].to_numpy()[ok],
                "is_new": (new_mask[ok] if new_mask is not None else np.ones(ok.sum(), dtype=bool)),
            }
        )
        if new_mask is not None:
            hot = part.loc[part["is_new"], "key"].unique()
            part = part[part["key"].isin(hot)]
        # Singleton blocks yield no pair.
        part = part[part.duplicated("key", keep=False)]
        frames.append(part)
    long = (
        pd.concat(frames, ignore_index=True)
        if frames
        else pd.DataFrame(columns=["rule", "key", "rid", "is_new"])
    )
    mixed = (long["key"].to_numpy().astype(np.uint64) * np.uint64(0x9E3779B97F4A7C15)) >> np.uint64(40)
    long["partition"] = ((mixed + long["rule"].to_numpy().astype(np.uint64)) % np.uint64(partitions)).astype(
        np.int32
    )
    return long


def random_pairs(n: int, size: int, seed: int) -> pa.Table:
    """Uniform random distinct record pairs, for estimating u probabilities."""
    rng = np.random.default_rng(seed)
    if n < 2:
        return pa.table({"rid_l": pa.array([], pa.int64()), "rid_r": pa.array([], pa.int64())})
    a = rng.integers(0, n, size)
    b = rng.integers(0, n, size)
    keep = a != b
    lo, hi = np.minimum(a, b)[keep], np.maximum(a, b)[keep]
    return pa.table({"rid_l": lo, "rid_r": hi})
