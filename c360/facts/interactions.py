"""`facts/interactions`: standardized interactions with the attributes their type defines as typed columns,
the campaign, offer and variant they concern, and the sentiment of their text.

Attributes are parsed by DuckDB's JSON functions, one pass over every row: a value of another JSON type than
the column's is null (a number sent as a string, "12" or "4.50", is read as that number), and so is a
key the row's type does not define, invalid JSON or a JSON value that is not an object. Nothing raises.

Sentiment is the expensive part (a pure-Python scorer): a row that already has a score in facts for the
same (source, source_record_id) and the same text keeps it, so only new or changed texts are scored.
"""

from __future__ import annotations

import duckdb
import pyarrow as pa
import pyarrow.compute as pc

from c360.facts.schemas import INTERACTION_ATTRIBUTES, INTERACTIONS, SCHEMAS
from c360.facts.sentiment import score_texts

COLUMNS = [
    "source",
    "source_record_id",
    "_file",
    "_row",
    "ts",
    "type",
    "channel",
    "text",
    "attributes",
    "campaign_id",
    "offer_id",
    "variant",
]
JSON_KEYS: dict[str, str] = {"page_category": "category"}
"""Typed column -> its JSON key, where the two differ."""
SHOWN_KEYS: dict[str, tuple[str, ...]] = {
    "campaign_id": ("campaign_id",),
    "offer_id": ("offer_id", "offer"),
    "variant": ("variant",),
}
"""Column -> the attribute keys it is filled from when the source did not map it."""


def _sql_str(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _typed_expr(slot: str, typ: pa.DataType) -> str:
    """SQL for one extracted JSON value (`slot`) as `typ`, null on a type mismatch."""
    jt = f"json_type({slot})"
    text = f"({slot} ->> '$')"
    if pa.types.is_string(typ):
        return f"CASE WHEN {jt} = 'VARCHAR' THEN {text} END"
    if pa.types.is_boolean(typ):
        return f"CASE WHEN {jt} = 'BOOLEAN' THEN TRY_CAST({text} AS BOOLEAN) END"
    if pa.types.is_integer(typ):
        whole = f"TRY_CAST({text} AS DOUBLE)"
        return (
            f"CASE WHEN {jt} IN ('BIGINT', 'UBIGINT') THEN TRY_CAST({text} AS BIGINT) "
            f"WHEN {jt} IN ('DOUBLE', 'VARCHAR') AND {whole} = floor({whole}) "
            f"AND abs({whole}) < 9.0e18 THEN CAST({whole} AS BIGINT) END"
        )
    if pa.types.is_floating(typ):
        return (
            f"CASE WHEN {jt} IN ('BIGINT', 'UBIGINT', 'DOUBLE', 'VARCHAR') "
            f"AND isfinite(TRY_CAST({text} AS DOUBLE)) THEN TRY_CAST({text} AS DOUBLE) END"
        )
    raise TypeError(f"no JSON reading for {typ}")


def typed_attributes(table: pa.Table) -> pa.Table:
    """`table` (with `type` and `attributes`) plus one column per INTERACTION_ATTRIBUTES entry, and
    campaign_id / offer_id / variant filled from the attributes where they are null."""
    names = list(INTERACTION_ATTRIBUTES)
    shown = [(col, key) for col, keys in SHOWN_KEYS.items() for key in keys]
    paths = [JSON_KEYS.get(n, n) for n in names] + [key for _, key in shown]
    path_list = "[" + ", ".join(_sql_str(f"$.{_json_path_key(p)}") for p in paths) + "]"
    selects = []
    for i, name in enumerate(names, start=1):
        typ, types = INTERACTION_ATTRIBUTES[name]
        allowed = ", ".join(_sql_str(t) for t in types)
        selects.append(f"CASE WHEN type IN ({allowed}) THEN {_typed_expr(f'v[{i}]', typ)} END AS {name}")
    fills = []
    for col in SHOWN_KEYS:
        slots = [i for i, (c, _) in enumerate(shown, start=len(names) + 1) if c == col]
        # A value in the row's own column wins; else the first key present as a string or a number.
        found = ", ".join(
            f"CASE WHEN json_type(v[{i}]) IN ('VARCHAR', 'BIGINT', 'UBIGINT') THEN v[{i}] ->> '$' END"
            for i in slots
        )
        fills.append(f"coalesce(NULLIF(trim({col}), ''), {found}) AS {col}")
    base = pa.table({"type": table["type"], "attributes": table["attributes"]}).append_column(
        "_i", pa.array(range(table.num_rows), pa.int64())
    )
    for col in SHOWN_KEYS:
        base = base.append_column(col, table[col])
    con = duckdb.connect()
    try:
        con.register("t", base)
        parsed = con.sql(
            f"SELECT _i, {', '.join(selects)}, {', '.join(fills)} FROM ("
            f"SELECT _i, type, campaign_id, offer_id, variant, CASE WHEN json_valid(attributes) "
            f"AND json_type(attributes) = 'OBJECT' THEN json_extract(attributes, {path_list}) END AS v "
            "FROM t) ORDER BY _i"
        ).to_arrow_table()
    finally:
        con.close()
    out = table
    for name in [*names, *SHOWN_KEYS]:
        col = parsed[name]
        typ = INTERACTION_ATTRIBUTES[name][0] if name in INTERACTION_ATTRIBUTES else pa.string()
        col = col.cast(typ) if col.type != typ else col
        if name in out.column_names:
            out = out.set_column(out.schema.get_field_index(name), name, col)
        else:
            out = out.append_column(name, col)
    return out


def _json_path_key(key: str) -> str:
    """A JSON path member, quoted when it is not a plain identifier."""
    return key if key.isidentifier() else '"' + key.replace('"', '\\"') + '"'


def sentiment(table: pa.Table, previous: pa.Table | None) -> tuple[pa.Array, pa.Array, int]:
    """(score, label, texts scored) per row of `table` (source, source_record_id, text): the previous score
    where `previous` (source, source_record_id, text, sentiment, sentiment_label) has the same text."""
    n = table.num_rows
    idx = pa.array(range(n), pa.int64())
    has_text = pc.fill_null(pc.greater(pc.utf8_length(pc.utf8_trim_whitespace(table["text"])), 0), False)
    score = pa.nulls(n, pa.float64())
    label = pa.nulls(n, pa.string())
    if n == 0:
        return score, label, 0
    rows = pa.table(
        {"source": table["source"], "source_record_id": table["source_record_id"], "text": table["text"]}
    ).append_column("_i", idx)
    rows = rows.filter(has_text)
    empty = {"_i": pa.array([], pa.int64()), "s": pa.array([], pa.float64()), "l": pa.array([], pa.string())}
    reused = pa.table(empty)
    if previous is not None and previous.num_rows:
        prev = previous.filter(pc.is_valid(previous["sentiment"])).select(
            ["source", "source_record_id", "text", "sentiment", "sentiment_label"]
        )
        prev = prev.rename_columns(["source", "source_record_id", "old_text", "s", "l"])
        prev = _unique_keys(prev)
        j = rows.join(prev, ["source", "source_record_id"], join_type="inner", use_threads=True)
        j = j.filter(pc.fill_null(pc.equal(j["text"], j["old_text"]), False))
        reused = j.select(["_i", "s", "l"])
    todo = rows.filter(pc.invert(pc.is_in(rows["_i"], value_set=reused["_i"].combine_chunks())))
    new_s, new_l = score_texts(todo["text"])
    both_i = pa.concat_arrays([reused["_i"].combine_chunks(), todo["_i"].combine_chunks()])
    both_s = pa.concat_arrays([reused["s"].combine_chunks().cast(pa.float64()), new_s])
    both_l = pa.concat_arrays([reused["l"].combine_chunks().cast(pa.string()), new_l])
    # scatter: position of each row in (both_i), null where the row has no text
    pos = pc.index_in(idx, value_set=both_i)
    return pc.take(both_s, pos), pc.take(both_l, pos), todo.num_rows


def _unique_keys(prev: pa.Table) -> pa.Table:
    """One previous row per (source, source_record_id): the first (they are equal unless a source repeats an
    id, in which case a text comparison still decides)."""
    if prev.num_rows == 0:
        return prev
    marked = prev.append_column("_k", pa.array(range(prev.num_rows), pa.int64()))
    first = marked.group_by(["source", "source_record_id"], use_threads=False).aggregate([("_k", "min")])
    return marked.take(first["_k_min"]).drop_columns(["_k"])


def build_interactions(keyed: pa.Table, previous: pa.Table | None) -> tuple[pa.Table, int]:
    """Keyed standardized interactions -> (rows in the interactions schema plus `part`, texts scored)."""
    typed = typed_attributes(keyed)
    score, label, scored = sentiment(typed, previous)
    typed = typed.append_column("sentiment", score).append_column("sentiment_label", label)
    schema = SCHEMAS[INTERACTIONS]
    out = pa.table({f.name: typed[f.name] for f in schema}).cast(schema)
    if "part" in typed.column_names:
        out = out.append_column("part", typed["part"])
    return out, scored
