"""`c360 profiles`: golden records + the fact tables -> `profiles/`, `features/`, the profile store.

First the fact tables are brought up to date (`c360.facts.build.build_facts`, which returns at once when
they are current), so profiles never read stale facts. Then three steps, each vectorised:

1. staging (Arrow, on the driver): every input keyed by customer_id and cut into hash partitions;
2. pass 1 (Ray Data, one task per partition): per-customer input digests decide who changed; only they are
   aggregated; RFM inputs of every customer come back so the quintile edges are global, computed once;
3. pass 2 (Ray Data, one task per partition): RFM scores, documents, the profile file, feature rows.

Pass 2 tasks upsert their rebuilt documents into the profile store; the driver then records the aliases
of identity merges made since the last run (old ids keep answering), removes customers that no longer
exist from the store and the Feast online store, and records which identifiers several customers hold
(a lookup by one of them names nobody).
Time-relative values (engagementScore, RFM, days since ...) are as of the customer's last rebuild, recorded
as `engagement.asOf` and as the feature rows' event_timestamp; `full=True` refreshes everyone.
Money is in the reporting currency of the facts (`transactions.currency` in the document); the state
records it, and a run in another reporting currency rebuilds everyone.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from c360.faults import checkpoint
from c360.identity.store import IdentityStore
from c360.io.lake import Lake
from c360.io.outages import online_store_call
from c360.profile.aggregates import ENGAGEMENT_FORMULA, rfm_thresholds
from c360.profile.partition import IDENTITY_COLUMNS, aggregate_partition, encoded_profiles, finish_partition
from c360.profile.staging import stage_inputs
from c360.profile.store.base import IDENTIFIER_FIELDS, identifier_key
from c360.workspace import Workspace

if TYPE_CHECKING:
    from c360.facts.build import FactsReport
    from c360.profile.store import ProfileStore

log = logging.getLogger(__name__)

DEFAULT_PARTITIONS = 16
STATE_FILE = ("profiles", "_state", "profiles.json")
RUNNING_FILE = ("profiles", "_state", "running.json")


@dataclass
class ProfilesReport:
    run_id: str
    as_of: str
    customers: int = 0
    rebuilt: int = 0
    removed: int = 0
    aliases: int = 0
    """Aliases written to the store by this run (those made by identity runs since the last one)."""
    upserted: int = 0
    inputs: dict[str, int] = field(default_factory=dict)
    thresholds: dict[str, list[float]] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)
    currency: str | None = None
    """The reporting currency every money value of the profiles is in."""


def _lake_args(lake: Lake) -> dict[str, Any]:
    return {"uri": lake.uri if not lake.is_local else lake.root, "storage_options": lake.storage_options}


def _lake(args: dict[str, Any]) -> Lake:
    return Lake(args["uri"], args["storage_options"])


def _pass1(
    batch: dict[str, Any], lake: dict[str, Any], as_of: pd.Timestamp, full: bool, currency: str
) -> pd.DataFrame:
    parts = [aggregate_partition(_lake(lake), int(p), as_of, full, currency) for p in batch["part"]]
    return pd.concat(parts, ignore_index=True)


def _pass2(
    batch: dict[str, Any],
    lake: dict[str, Any],
    thresholds: dict,
    run_id: str,
    removed: set[str],
    store_ws: Workspace | None,
) -> pd.DataFrame:
    from c360.profile.store import open_profile_store

    store = open_profile_store(store_ws) if store_ws is not None else None
    try:
        upsert = store.upsert_encoded if store is not None else None
        parts = [
            finish_partition(_lake(lake), int(p), thresholds, run_id, removed, upsert) for p in batch["part"]
        ]
    finally:
        if store is not None:
            store.close()
    return pd.concat(parts, ignore_index=True)


def _reporting_currency(ws: Workspace, facts: FactsReport) -> str:
    """The currency the facts' `amount_rc` is in: the facts run says so when it converted anything; a run
    that found its inputs unchanged does not, and then it is the configured one, or else (one currency in
    the data, as the facts stage requires) the one the transaction lines are in."""
    from c360.facts.build import read_facts
    from c360.facts.fx import reporting_currency_for
    from c360.facts.schemas import TRANSACTION_LINES

    if facts.reporting_currency:
        return facts.reporting_currency
    if ws.settings.reporting_currency:
        return ws.settings.reporting_currency
    lines = read_facts(ws.lake, TRANSACTION_LINES, columns=["currency"])
    return reporting_currency_for(None, pc.unique(lines["currency"]).to_pylist())


def _state(lake: Lake, where: tuple[str, ...] = STATE_FILE) -> dict[str, Any]:
    path = lake.path(*where)
    return json.loads(lake.read_text(path)) if lake.fs.exists(path) else {}


def _write_state(lake: Lake, where: tuple[str, ...], data: dict[str, Any]) -> None:
    """Written beside and renamed over (a rename on a local lake): a kill never leaves half a file."""
    path = lake.path(*where)
    lake.replace_text(path, json.dumps(data))


def _resumed(lake: Lake, state: dict[str, Any], as_of: datetime | None) -> dict[str, Any] | None:
    """The run killed midway that this one finishes, if any (see `build_profiles`)."""
    running = _state(lake, RUNNING_FILE)
    if not running or running["run_id"] == state.get("run_id"):
        return None  # none, or it had committed its state: nothing left to finish
    if as_of is not None and pd.Timestamp(as_of) != pd.Timestamp(running["as_of"]):
        return {**running, "abandoned": True}
    return running


def _over_partitions(partitions: int, fn: Any, **kwargs: Any) -> pd.DataFrame:
    import ray.data

    ds = ray.data.from_items([{"part": p} for p in range(partitions)], override_num_blocks=partitions)
    out = ds.map_batches(fn, batch_size=1, batch_format="numpy", fn_kwargs=kwargs).to_pandas()
    return out if "part" in out.columns else pd.DataFrame(columns=["customer_id", "part"])


def build_profiles(
    ws: Workspace,
    *,
    as_of: datetime | None = None,
    full: bool = False,
    partitions: int | None = None,
    write_store: bool = True,
    progress: bool = False,
) -> ProfilesReport:
    """Build (incrementally) every customer's profile; see the module docstring for the steps."""
    import time

    from c360.facts.build import build_facts
    from c360.runtime import ensure_ray

    lake = ws.lake
    t0 = time.perf_counter()
    facts = build_facts(ws, progress=progress)  # at once when current: profiles never read stale facts
    facts_seconds = time.perf_counter() - t0
    currency = _reporting_currency(ws, facts)
    state = _state(lake)
    # A run killed midway left some partitions done (store upserted, feature rows and profile file written,
    # in that order) and the rest not. It is finished with its own clock and run id, so the partitions it
    # did count as unchanged and the rest are built as it would have; the customers it found removed are
    # kept in its running file, since its finished partitions no longer show them.
    resumed = _resumed(lake, state, as_of)
    removed_before: set[str] = set()
    if resumed is not None and resumed.get("abandoned"):
        full = True  # another clock was asked for: rebuild everyone rather than mix two
        removed_before = set(resumed.get("removed", []))
    elif resumed is not None:
        as_of, full = datetime.fromisoformat(resumed["as_of"]), full or bool(resumed["full"])
        partitions = partitions or int(resumed["partitions"])
        removed_before = set(resumed.get("removed", []))
    partitions = partitions or int(state.get("partitions", DEFAULT_PARTITIONS))
    if state.get("partitions") not in (None, partitions):
        full = True  # customers moved between partitions: nothing to compare against
    if state and state.get("reporting_currency") != currency:
        full = True  # every money value changes unit: rebuild everyone, not only who has foreign money
    when = pd.Timestamp(as_of or datetime.now(UTC))
    when = when.tz_localize("UTC") if when.tzinfo is None else when.tz_convert("UTC")
    run_id = when.strftime("%Y%m%dT%H%M%S%fZ")
    running = {"run_id": run_id, "as_of": when.isoformat(), "full": full, "partitions": partitions}
    report = ProfilesReport(run_id=run_id, as_of=when.isoformat(), currency=currency)
    report.seconds["facts"] = facts_seconds
    if write_store:  # fail fast, before the lake says these customers are done
        from c360.profile.store import open_profile_store

        open_profile_store(ws).close()
    ensure_ray(ws.settings.ray, progress=progress)
    _write_state(lake, RUNNING_FILE, {**running, "removed": sorted(removed_before)})
    checkpoint("profiles", "started")

    t0 = time.perf_counter()
    report.inputs = stage_inputs(lake, partitions)
    report.seconds["staging"] = time.perf_counter() - t0
    checkpoint("profiles", "staged")

    t0 = time.perf_counter()
    status = _over_partitions(
        partitions, _pass1, lake=_lake_args(lake), as_of=when, full=full, currency=currency
    )
    report.seconds["aggregate"] = time.perf_counter() - t0
    live = status[status["status"] != "removed"]
    thresholds = rfm_thresholds(live)
    removed = set(status.loc[status["status"] == "removed", "customer_id"])
    removed = (removed | removed_before) - set(live["customer_id"])
    _write_state(lake, RUNNING_FILE, {**running, "removed": sorted(removed)})
    checkpoint("profiles", "aggregated")
    report.thresholds = thresholds
    report.customers = len(live)
    report.removed = len(removed)

    t0 = time.perf_counter()
    rebuilt = _over_partitions(
        partitions,
        _pass2,
        lake=_lake_args(lake),
        thresholds=thresholds,
        run_id=run_id,
        removed=removed,
        store_ws=Workspace.from_settings(ws.settings, ws.root) if write_store else None,
    )
    report.rebuilt = len(rebuilt)
    report.seconds["finish"] = time.perf_counter() - t0
    checkpoint("profiles", "built")

    aliases_through = state.get("aliases_through")
    if write_store:
        t0 = time.perf_counter()
        report.upserted = len(rebuilt)  # upserted by the pass 2 tasks
        since = None if full else aliases_through
        report.aliases, aliases_through = _update_store(ws, removed, since)
        report.seconds["store"] = time.perf_counter() - t0
        checkpoint("profiles", "store")
        if removed:
            _forget_online(ws, removed)
            checkpoint("profiles", "online")
    _write_state(
        lake,
        STATE_FILE,
        {"partitions": partitions, "run_id": run_id, "as_of": when.isoformat(), "thresholds": thresholds,
         "engagement_formula": ENGAGEMENT_FORMULA, "aliases_through": aliases_through,
         "reporting_currency": currency},
    )  # fmt: skip
    checkpoint("profiles", "state")  # the run is done: its running file only says so
    lake.rm(lake.path(*RUNNING_FILE))
    lake.rm(lake.path("profiles", "_staging"), recursive=True)
    checkpoint("profiles", "cleaned")
    log.info(
        "profiles: %d customers, %d rebuilt, %d removed", report.customers, report.rebuilt, report.removed
    )
    return report


def _update_store(ws: Workspace, removed: set[str], since: str | None) -> tuple[int, str | None]:
    """Aliases (merged-away ids keep answering), then deletion of customers that are gone without one.

    Only aliases made by identity runs after `since` are written (None: all of them); a chain a -> b -> c
    needs no rewrite of a -> b, the store re-points what pointed at b when b -> c arrives. Returns how many
    were written and the newest identity run they came from."""
    from c360.profile.store import open_profile_store

    aliases = IdentityStore(ws.lake).read("aliases")
    with open_profile_store(ws) as store:
        mapping: dict[str, str] = {}
        newest = since
        if aliases is not None and len(aliases):
            run_ids = aliases["run_id"].astype(str)
            fresh = aliases[run_ids > since] if since is not None else aliases
            mapping = dict(zip(fresh["alias_id"], fresh["customer_id"], strict=True))
            if mapping:
                store.add_aliases(mapping)
            newest = max(run_ids.max(), since or "")
        every_alias = set(aliases["alias_id"]) if aliases is not None else set()
        for cid in removed - every_alias:
            store.delete(cid)
        settled = _settle_shared_identifiers(ws.lake, store)
        if settled:
            log.info("profiles: %d profile(s) rewritten to hold identifiers no longer shared", settled)
    return len(mapping), newest


def _settle_shared_identifiers(lake: Lake, store: ProfileStore) -> int:
    """Records in the store which identifiers several profiles hold (a family's device, a couple's email):
    such an identifier names nobody, so a lookup answers AmbiguousIdentifierError instead of whichever
    holder's task wrote last. An identifier that stops being shared is first re-pointed to its one remaining
    holder (that profile is written again: the holder that last claimed the entry may have dropped it with
    the identifier), and only then leaves the set, so it never answers a former holder. Runs on every store
    update, a resumed one too (a killed run rewrote what it rewrote; the set left in the store says what is
    still to do): one read of the identity columns. Between pass 2's writes and this step an identifier
    that became shared in this run still answers its last writer. Returns how many profiles were
    rewritten."""
    shared, holders = _shared_identifier_keys(
        read_profiles(lake, ["customer_id", *IDENTITY_COLUMNS.values()])
    )
    leaving = store.shared_identifiers() - shared
    rewrite = sorted({holders[key] for key in leaving if key in holders})
    if rewrite:
        store.upsert_encoded(encoded_profiles(_profile_rows(lake, rewrite)))
    store.replace_shared_identifiers(shared)
    log.info("profiles: %d identifier(s) held by several customers", len(shared))
    return len(rewrite)


def _shared_identifier_keys(profiles: pd.DataFrame) -> tuple[frozenset[str], dict[str, str]]:
    """(index keys several customers hold, index key -> its holder for the keys only one customer holds).

    Keys, not raw values: the store indexes the normalized value, so `Ada@x.com` and `ada@x.com` on two
    profiles are one shared email."""
    kinds = {IDENTITY_COLUMNS[field]: kind for kind, field in IDENTIFIER_FIELDS.items()}
    claims = pd.concat(
        [
            profiles[["customer_id", col]]
            .explode(col)
            .dropna()
            .rename(columns={col: "value"})
            .assign(kind=kind)
            for col, kind in kinds.items()
        ],
        ignore_index=True,
    )
    claims["value"] = claims["value"].astype(str)
    claims = claims[claims["value"].str.strip() != ""]
    pairs = claims[["kind", "value"]].drop_duplicates()  # each distinct value hashed once
    pairs = pairs.assign(
        key=[identifier_key(k, v) for k, v in zip(pairs["kind"], pairs["value"], strict=True)]
    )
    claims = claims.merge(pairs, on=["kind", "value"])
    per_key = claims.drop_duplicates(["key", "customer_id"]).groupby("key")["customer_id"]
    counts, first = per_key.size(), per_key.first()
    return frozenset(counts.index[counts > 1]), first[counts == 1].to_dict()


def _profile_rows(lake: Lake, customer_ids: list[str]) -> pd.DataFrame:
    """The document and identity columns of some customers, read from `profiles/` with a filter."""
    columns = list(IDENTITY_COLUMNS.values())
    ids = pa.array(customer_ids, pa.string())
    return pd.concat(
        [
            pq.read_table(
                f,
                filesystem=lake.arrow_fs,
                columns=["customer_id", "document", *columns],
                filters=pc.field("customer_id").isin(ids),
            ).to_pandas()
            for f in lake.glob("profiles/part-*.parquet")
        ],
        ignore_index=True,
    )


def _forget_online(ws: Workspace, removed: set[str]) -> None:
    """Customers merged away or gone lose their Feast online rows (once the feature store is applied)."""
    from c360.features.store import delete_online_entities, open_feature_store

    if (
        ws.settings.stores.feast.registry == "file"
        and not ws.resolve_path(ws.settings.stores.feast.registry_path).exists()
    ):
        return
    store = open_feature_store(ws)
    with online_store_call(ws.settings):
        delete_online_entities(store, sorted(removed))


def read_profiles(lake: Lake, columns: list[str] | None = None) -> pd.DataFrame:
    """Every row of `profiles/` (all partitions)."""
    files = [f for f in lake.glob("profiles/part-*.parquet")]
    if not files:
        return pd.DataFrame(columns=columns or ["customer_id"])
    return pd.concat(
        [pq.read_table(f, filesystem=lake.arrow_fs, columns=columns).to_pandas() for f in files],
        ignore_index=True,
    )


def print_report(report: ProfilesReport, console: Any) -> None:
    """A short summary for the CLI (counts and timings only, no customer data)."""
    timings = ", ".join(f"{k} {v:.1f}s" for k, v in report.seconds.items())
    console.print(
        f"profiles as of {report.as_of}: {report.customers:,} customers, {report.rebuilt:,} rebuilt, "
        f"{report.removed:,} removed, {report.aliases:,} alias(es), {report.upserted:,} upserted, "
        f"money in {report.currency} ({timings})"
    )
