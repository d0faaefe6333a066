"""`c360 facts`: standardized rows keyed by customer -> the fact tables under `facts/` (schemas.py).

One pass on the driver, vectorised end to end (Arrow joins, DuckDB for JSON, windows and as-of joins, numpy):

1. keys: the identity id map less erased people, each customer's hash partition;
2. transactions and interactions keyed through it; what changed since the last run decides which partitions
   are recomputed (state.py); a run whose inputs are unchanged returns after a listing;
3. transaction lines numbered and converted into the reporting currency (every line, so the no_fx_rate
   quarantine is complete), interactions typed and scored, exposures credited, for the partitions to
   recompute only;
4. each recomputed partition is written when its bytes changed; products and their similar items when the
   product inputs or the rates changed.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from c360.facts import append
from c360.facts.exposures import build_exposures
from c360.facts.fx import FxConverter
from c360.facts.interactions import COLUMNS as INTERACTION_COLUMNS
from c360.facts.interactions import build_interactions
from c360.facts.keyed import FILE_INDEX, customer_keys, file_partitions, key_rows
from c360.facts.lines import COLUMNS as LINE_COLUMNS
from c360.facts.lines import QUARANTINE_FILE, convert, no_rate_quarantine, split_no_rate
from c360.facts.products import build_products
from c360.facts.schemas import (
    CUSTOMER_TABLES,
    EXPOSURES,
    FACTS,
    INTERACTIONS,
    PRODUCT_SIMILARITY,
    PRODUCTS,
    SCHEMAS,
    TRANSACTION_LINES,
)
from c360.facts.sentiment import SENTIMENT_MODEL
from c360.facts.similarity import build_similarity
from c360.facts.state import (
    FactsState,
    changed_file_parts,
    changed_key_parts,
    digest,
    input_fingerprint,
    keys_inputs,
    listing,
    mask_of,
)
from c360.facts.store import (
    facts_partition_paths,
    part_of_name,
    partition_files,
    read_facts,
    serialize,
    write_partitions,
    write_single,
)
from c360.io.lake import Lake
from c360.sources.layout import read_standardized
from c360.workspace import Workspace

__all__ = ["FactsReport", "build_facts", "facts_partition_paths", "read_facts"]

log = logging.getLogger(__name__)

ROWS_PER_BATCH = 2_000_000
"""Input rows (lines and interactions) whose partitions are built and written together."""
FACTS_VERSION = "1"
"""Bumped when a change of this code changes rows: every partition is recomputed once."""


@dataclass
class FactsReport:
    run_id: str
    unchanged: bool = False
    full: bool = False
    reporting_currency: str | None = None
    rows: dict[str, int] = field(default_factory=dict)
    partitions_recomputed: int = 0
    partitions_written: dict[str, int] = field(default_factory=dict)
    partitions_removed: dict[str, int] = field(default_factory=dict)
    no_fx_rate: int = 0
    unresolved: dict[str, int] = field(default_factory=dict)
    """Rows whose customer reference resolves to no customer: counted, not written."""
    suppressed: int = 0
    texts_scored: int = 0
    products_rebuilt: bool = False
    appended: bool = False
    """The run appended new rows as delta files (append.py) instead of recomputing partitions."""
    partitions_appended: int = 0
    seconds: dict[str, float] = field(default_factory=dict)

    @property
    def total_seconds(self) -> float:
        return self.seconds.get("total", 0.0)


def _settings_doc(ws: Workspace) -> dict[str, Any]:
    f = ws.settings.facts
    return {
        "version": FACTS_VERSION,
        "partitions": f.partitions,
        "attribution_days": f.attribution_days,
        "fx_max_age_days": f.fx_max_age_days,
        "similar_items": f.similar_items,
        "reporting_currency": ws.settings.reporting_currency,
        "sentiment": SENTIMENT_MODEL,
    }


def _mismatched_facts_files(lake: Lake, state: FactsState) -> set[int]:
    """Partitions whose facts file is missing, unexpected or not the size this stage wrote."""
    now = {k: v for k, v in listing(lake, FACTS).items() if k.split("/")[1] in CUSTOMER_TABLES}
    dirty: set[int] = set()
    for rel in set(now) | set(state.sizes):
        if rel.split("/")[1] not in CUSTOMER_TABLES:
            continue
        if now.get(rel) != state.sizes.get(rel):
            part = part_of_name(rel)
            if part is not None:
                dirty.add(part)
    return dirty


def _previous_sentiment(lake: Lake, parts: list[int]) -> pa.Table | None:
    """Stored (source, source_record_id, text, sentiment, sentiment_label) of the partitions recomputed."""
    paths = [path for p in parts for path in partition_files(lake, INTERACTIONS, p)]
    if not paths:
        return None
    cols = ["source", "source_record_id", "text", "sentiment", "sentiment_label"]
    tables = [lake.read_table(p, columns=cols) for p in paths]
    prev = pa.concat_tables(tables)
    return prev.filter(pc.is_valid(prev["sentiment"]))


def _write_quarantine(lake: Lake, by_source: dict[str, pa.Table]) -> int:
    """Replace every source's no_fx_rate file; remove those of sources that have none now."""
    for path in lake.glob(f"quarantine/*/{QUARANTINE_FILE}"):
        source = lake.relative(path).split("/")[1]
        if source not in by_source:
            lake.rm(path)
    for source, rows in by_source.items():
        path = lake.path("quarantine", source, QUARANTINE_FILE)
        data, _ = serialize(rows)
        if not lake.fs.exists(path) or lake.read_bytes(path) != data:
            lake.replace_bytes(path, data)
    return sum(t.num_rows for t in by_source.values())


def partition_batches(part_columns: list[pa.ChunkedArray], parts: list[int]) -> list[list[int]]:
    """`parts` cut into runs holding about ROWS_PER_BATCH input rows each: what is processed at once, so
    memory follows the batch, not the number of customers."""
    sizes: dict[int, int] = {}
    for col in part_columns:
        if len(col):
            for item in pc.value_counts(col).to_pylist():
                sizes[int(item["values"])] = sizes.get(int(item["values"]), 0) + int(item["counts"])
    batches: list[list[int]] = []
    rows = 0
    for p in parts:
        if not batches or (rows + sizes.get(p, 0) > ROWS_PER_BATCH and batches[-1]):
            batches.append([])
            rows = 0
        batches[-1].append(p)
        rows += sizes.get(p, 0)
    return batches


def _in_parts(table: pa.Table, parts: list[int]) -> pa.Table:
    return table.filter(pc.is_in(table["part"], value_set=pa.array(parts, pa.int32())))


@contextmanager
def _returning_memory() -> Iterator[None]:
    """Arrow allocations through jemalloc while the stage runs: it hands freed pages back to the system,
    where mimalloc (Arrow's default in some builds) keeps them, about a quarter of the peak at scale."""
    try:
        pool = pa.jemalloc_memory_pool()
    except NotImplementedError:  # a pyarrow built without jemalloc
        yield
        return
    before = pa.default_memory_pool()
    pa.set_memory_pool(pool)
    try:
        yield
    finally:
        pa.set_memory_pool(before)


def build_facts(ws: Workspace, *, full: bool = False, progress: bool = False) -> FactsReport:
    """Bring `facts/` up to date with standardized data and identity; `full=True` recomputes and rewrites
    every partition."""
    with _returning_memory():
        return _build(ws, full, progress)


def _build(ws: Workspace, full: bool, progress: bool) -> FactsReport:
    lake = ws.lake
    fs = ws.settings.facts
    say = log.info if progress else log.debug
    started = time.perf_counter()
    clock = {"t": started}
    run_id = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
    report = FactsReport(run_id=run_id)

    def lap(name: str) -> None:
        now = time.perf_counter()
        report.seconds[name] = round(report.seconds.get(name, 0.0) + now - clock["t"], 3)
        clock["t"] = now

    state = FactsState.load(lake)
    fingerprint = input_fingerprint(lake, _settings_doc(ws))
    if not full and state.fingerprint == fingerprint:
        report.unchanged = True
        report.rows = {t: sum(state.counts.get(t, {}).values()) for t in state.counts}
        report.seconds["total"] = round(time.perf_counter() - started, 3)
        return report

    keys_digest = keys_inputs(lake, fs.partitions)
    if not full and _append(ws, state, keys_digest, report, run_id, lap):
        report.rows = {t: sum(v.values()) for t, v in state.counts.items()}
        report.seconds["total"] = round(time.perf_counter() - started, 3)
        return report
    keys, report.suppressed = customer_keys(lake, fs.partitions)
    tx = key_rows(lake, "transaction", LINE_COLUMNS, keys)
    ix = key_rows(lake, "interaction", INTERACTION_COLUMNS, keys)
    report.unresolved = {"transaction": tx.unresolved, "interaction": ix.unresolved}
    tx_refs, ix_refs = tx.unresolved_refs, ix.unresolved_refs
    product_rows = read_standardized(lake, "product")
    money = [tx.table["currency"].combine_chunks(), product_rows["currency"].combine_chunks()]
    currencies = pc.unique(pa.concat_arrays([m.cast(pa.string()) for m in money])).to_pylist()
    conv = FxConverter.load(ws, currencies)
    report.reporting_currency = conv.reporting
    lap("read")
    say("facts: %d transaction and %d interaction rows keyed", tx.table.num_rows, ix.table.num_rows)

    config = digest(_settings_doc(ws), conv.reporting, conv.fingerprint())
    full = full or state.config != config
    report.full = full
    sizes = {**listing(lake, "standardized/transaction"), **listing(lake, "standardized/interaction")}
    file_parts = {**file_partitions(tx), **file_partitions(ix)}
    dirty_files, file_records = changed_file_parts({} if full else state.files, sizes, file_parts)
    old_keys = None
    if state.keys and lake.fs.exists(lake.path(state.keys)) and not full:
        old_keys = lake.read_table(lake.path(state.keys))
    key_dirty = changed_key_parts(old_keys, keys)
    if full:
        parts = list(range(fs.partitions))
    else:
        dirty = dirty_files | key_dirty | _mismatched_facts_files(lake, state)
        parts = sorted(p for p in dirty if 0 <= p < fs.partitions)
    report.partitions_recomputed = len(parts)
    lap("plan")

    lines_all = convert(tx.table, conv.rates(tx.table["currency"], tx.table["ts"]))
    del tx
    lines_all, missing = split_no_rate(lines_all)
    report.no_fx_rate = _write_quarantine(lake, no_rate_quarantine(missing, conv.reporting))
    lines_all = lines_all.select([*SCHEMAS[TRANSACTION_LINES].names, "part"])
    interactions_all = ix.table.drop_columns([FILE_INDEX])
    del ix, missing
    lap("lines")

    digests = {t: dict(state.digests.get(t, {})) for t in CUSTOMER_TABLES} if not full else {}
    counts = {t: dict(state.counts.get(t, {})) for t in CUSTOMER_TABLES}
    reuse = state.sentiment_model == SENTIMENT_MODEL
    for group in partition_batches([lines_all["part"], interactions_all["part"]], parts):
        lines = _in_parts(lines_all, group)
        previous = _previous_sentiment(lake, group) if reuse else None
        interactions, scored = build_interactions(_in_parts(interactions_all, group), previous)
        report.texts_scored += scored
        del previous
        lap("interactions")
        exposures = build_exposures(interactions, lines, fs.attribution_days)
        lap("exposures")
        for name, table in ((TRANSACTION_LINES, lines), (INTERACTIONS, interactions), (EXPOSURES, exposures)):
            result = write_partitions(lake, name, table, group, digests.setdefault(name, {}))
            report.partitions_written[name] = report.partitions_written.get(name, 0) + result["written"]
            report.partitions_removed[name] = report.partitions_removed.get(name, 0) + result["removed"]
            for p in group:
                counts[name].pop(str(p), None)
            if table.num_rows:
                for item in pc.value_counts(table["part"]).to_pylist():
                    counts[name][str(item["values"])] = int(item["counts"])
        del lines, interactions, exposures
        pa.default_memory_pool().release_unused()  # hand the batch's buffers back before the next one
        lap("write")
    del lines_all, interactions_all
    if full:  # partitions of an earlier, larger partition count
        for name in CUSTOMER_TABLES:
            for path in facts_partition_paths(lake, name):
                if (part_of_name(path) or 0) >= fs.partitions:
                    lake.rm(path)
            counts[name] = {k: v for k, v in counts[name].items() if int(k) < fs.partitions}

    single, products_key = _products(ws, state, product_rows, conv, config, full, counts, report)
    lap("products")

    keys_path = state.keys
    if key_dirty or old_keys is None:
        keys_path = _snapshot_keys(lake, keys, run_id)
    unresolved = pa.concat_tables([r for r in (tx_refs, ix_refs) if r is not None])
    new_state = FactsState(
        run_id=run_id,
        config=config,
        files=file_records,
        keys=keys_path,
        digests={**digests, **single},
        counts=counts,
        products=products_key,
        sentiment_model=SENTIMENT_MODEL,
        unresolved=_save_unresolved(lake, unresolved, run_id),
        keys_inputs=keys_digest,
    )
    _save_state(ws, state, new_state)
    report.rows = {t: sum(v.values()) for t, v in counts.items()}
    lap("state")
    report.seconds["total"] = round(time.perf_counter() - started, 3)
    return report


def _append(
    ws: Workspace, state: FactsState, keys_digest: str, report: FactsReport, run_id: str, lap: Any
) -> bool:
    """Take the append path (append.py) when the only change is new standardized files; False, having
    written nothing, when the partition path must run instead."""
    lake = ws.lake
    fs = ws.settings.facts
    if not state.config or not state.keys or not lake.fs.exists(lake.path(state.keys)):
        return False
    sizes = {**listing(lake, "standardized/transaction"), **listing(lake, "standardized/interaction")}
    added = append.new_files(state.files, sizes)
    if not added or _mismatched_facts_files(lake, state):
        return False
    old_keys = lake.read_table(lake.path(state.keys))
    if state.keys_inputs == keys_digest:  # identity and suppression as the snapshot saw them
        keys, appeared = old_keys, old_keys.schema.empty_table().select(["source", "source_record_id"])
    else:
        keys, report.suppressed = customer_keys(lake, fs.partitions)
        appeared = append.appeared_records(old_keys, keys)
        if appeared is None:
            return False
    unresolved_before = lake.read_table(lake.path(state.unresolved)) if state.unresolved else None
    if append.resolves_old_rows(appeared, unresolved_before):
        return False
    tx = key_rows(lake, "transaction", LINE_COLUMNS, keys, files=[f for f in added if "/transaction/" in f])
    ix = key_rows(
        lake, "interaction", INTERACTION_COLUMNS, keys, files=[f for f in added if "/interaction/" in f]
    )
    product_rows = read_standardized(lake, "product")
    money = [tx.table["currency"].combine_chunks(), product_rows["currency"].combine_chunks()]
    currencies = pc.unique(pa.concat_arrays([m.cast(pa.string()) for m in money])).to_pylist()
    conv = FxConverter.load(ws, currencies)
    config = digest(_settings_doc(ws), conv.reporting, conv.fingerprint())
    if config != state.config or state.sentiment_model != SENTIMENT_MODEL:
        return False
    lines = convert(tx.table, conv.rates(tx.table["currency"], tx.table["ts"]))
    lines, missing = split_no_rate(lines)
    if append.orders_seen(lake, lines):
        return False
    lap("read")

    report.reporting_currency = conv.reporting
    report.unresolved = {"transaction": tx.unresolved, "interaction": ix.unresolved}
    report.no_fx_rate = append.merge_quarantine(lake, no_rate_quarantine(missing, conv.reporting))
    lines = lines.select([*SCHEMAS[TRANSACTION_LINES].names, "part"])
    interactions, report.texts_scored = build_interactions(ix.table.drop_columns([FILE_INDEX]), None)
    lap("interactions")
    digests = {t: dict(state.digests.get(t, {})) for t in CUSTOMER_TABLES}
    counts = {t: dict(v) for t, v in state.counts.items()}
    # exposures first, from the facts before this run's deltas plus its rows
    customers = append.exposure_customers(interactions, lines)
    rebuilt = None
    if len(customers):
        ix_hist, ln_hist = append.exposure_inputs(lake, customers, fs.partitions, interactions, lines)
        rebuilt = build_exposures(ix_hist, ln_hist, fs.attribution_days)
        del ix_hist, ln_hist
    lap("exposures")
    touched: set[int] = set()
    for name, table in ((TRANSACTION_LINES, lines), (INTERACTIONS, interactions)):
        result = append.write_deltas(lake, name, table, run_id, fs.partitions, digests.setdefault(name, {}))
        report.partitions_written[name] = result["written"]
        report.partitions_removed[name] = result["removed"]
        for item in pc.value_counts(table["part"]).to_pylist() if table.num_rows else []:
            p = str(item["values"])
            counts.setdefault(name, {})[p] = counts.get(name, {}).get(p, 0) + int(item["counts"])
            touched.add(int(item["values"]))
    if rebuilt is not None:
        exposure_digests = digests.setdefault(EXPOSURES, {})
        result = append.replace_exposures(lake, rebuilt, customers, fs.partitions, exposure_digests)
        report.partitions_written[EXPOSURES] = result["written"]
        report.partitions_removed[EXPOSURES] = result["removed"]
        counts.setdefault(EXPOSURES, {}).update(result["counts"])
    lap("write")
    report.partitions_recomputed = 0
    report.partitions_appended = len(touched)
    single, products_key = _products(ws, state, product_rows, conv, config, False, counts, report)
    lap("products")

    records = dict(state.files)
    for f, parts in {**file_partitions(tx), **file_partitions(ix)}.items():
        records[f] = [sizes.get(f, -1), mask_of(parts)]
    refs = [r for r in (tx.unresolved_refs, ix.unresolved_refs) if r is not None and r.num_rows]
    if unresolved_before is not None and refs:
        refs.append(unresolved_before.cast(refs[0].schema))
    new_state = FactsState(
        run_id=run_id,
        config=config,
        files=records,
        keys=_snapshot_keys(lake, keys, run_id) if appeared.num_rows else state.keys,
        keys_inputs=keys_digest,
        digests={**digests, **single},
        counts=counts,
        products=products_key,
        sentiment_model=SENTIMENT_MODEL,
        unresolved=_save_unresolved(lake, pa.concat_tables(refs), run_id) if refs else state.unresolved,
    )
    _save_state(ws, state, new_state)
    state.counts = counts
    report.appended = True
    lap("state")
    return True


def _products(
    ws: Workspace,
    state: FactsState,
    product_rows: pa.Table,
    conv: FxConverter,
    config: str,
    full: bool,
    counts: dict[str, dict[str, int]],
    report: FactsReport,
) -> tuple[dict[str, dict[str, str]], str]:
    """Products and their similar items, rebuilt when the product inputs or the rates changed; (their
    digests, the digest of their inputs). `counts` is updated in place."""
    lake = ws.lake
    products_key = digest(sorted(listing(lake, "standardized/product").items()), config)
    single = {k: v for k, v in state.digests.items() if k in (PRODUCTS, PRODUCT_SIMILARITY)}
    missing_single = not facts_partition_paths(lake, PRODUCTS)
    if full or products_key != state.products or missing_single:
        products = build_products(product_rows, conv)
        flat = {k: next(iter(v.values()), "") for k, v in single.items()}
        write_single(lake, PRODUCTS, products, flat)
        similar = build_similarity(products, ws.settings.facts.similar_items)
        write_single(lake, PRODUCT_SIMILARITY, similar, flat)
        single = {k: {k: v} for k, v in flat.items()}
        counts[PRODUCTS] = {PRODUCTS: products.num_rows}
        counts[PRODUCT_SIMILARITY] = {PRODUCT_SIMILARITY: similar.num_rows}
        report.products_rebuilt = True
    else:
        for t in (PRODUCTS, PRODUCT_SIMILARITY):
            counts[t] = dict(state.counts.get(t, {}))
    return single, products_key


def _snapshot_keys(lake: Lake, keys: pa.Table, run_id: str) -> str:
    """The id map as this run keyed rows with (facts/_state/keys-<run>.parquet), relative to the lake."""
    path = f"{FACTS}/_state/keys-{run_id}.parquet"
    lake.write_table(keys.select(["source", "source_record_id", "customer_id", "part"]), lake.path(path))
    return path


def _save_unresolved(lake: Lake, refs: pa.Table | None, run_id: str) -> str | None:
    """Write the references rows were left out under (once each); None when there are none."""
    if refs is None or refs.num_rows == 0:
        return None
    refs = refs.group_by(["source", "customer_ref"], use_threads=False).aggregate([])
    path = f"{FACTS}/_state/unresolved-{run_id}.parquet"
    lake.write_table(refs, lake.path(path))
    return path


def _save_state(ws: Workspace, old: FactsState, new: FactsState) -> None:
    """Record what this run wrote (sizes, the input fingerprint), then drop the files of the old state."""
    lake = ws.lake
    new.sizes = {k: v for k, v in listing(lake, FACTS).items() if k.split("/")[1] in CUSTOMER_TABLES}
    new.fingerprint = input_fingerprint(lake, _settings_doc(ws))
    new.save(lake)
    for path in (old.keys, old.unresolved):
        if path and path not in (new.keys, new.unresolved):
            lake.rm(lake.path(path))


def print_report(report: FactsReport, console: Any) -> None:
    """A short summary: rows per table, partitions rewritten, lines quarantined, seconds."""
    if report.unchanged:
        console.print(f"facts: inputs unchanged since the last run ({report.total_seconds:.1f}s)")
        return
    rows = ", ".join(f"{t} {n:,}" for t, n in report.rows.items())
    written = sum(report.partitions_written.values())
    removed = sum(report.partitions_removed.values())
    console.print(
        f"facts ({'full' if report.full else 'appended' if report.appended else 'incremental'}, in "
        f"{report.reporting_currency}): {rows}\n"
        f"  partitions recomputed {report.partitions_recomputed}, appended to {report.partitions_appended}, "
        f"files written {written}, "
        f"removed {removed}; texts scored {report.texts_scored:,}; products "
        f"{'rebuilt' if report.products_rebuilt else 'unchanged'}\n  quarantined no_fx_rate lines "
        f"{report.no_fx_rate:,}; rows without a customer {sum(report.unresolved.values()):,}; "
        f"in {report.total_seconds:.1f}s"
    )
