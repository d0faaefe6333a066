"""The per-partition work of `profiles`, as plain functions Ray Data tasks call (testable without Ray).

`aggregate_partition` (pass 1) finds the customers whose inputs changed (per-customer input digest) and
computes their aggregates; `finish_partition` (pass 2) scores RFM against the global edges, renders the
documents and writes the partition's `profiles/` file and feature rows.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from c360.identity.golden import LIST_FIELDS
from c360.io.lake import Lake
from c360.profile.aggregates import (
    engagement_score,
    input_hash,
    interaction_summary,
    rfm_inputs,
    rfm_scores_global,
    support_sentiment,
    transaction_summary,
)
from c360.profile.document import ML_COLUMNS, assemble, consent_documents, render_documents
from c360.profile.feature_tables import feature_frames, feature_table
from c360.profile.staging import COLUMNS, read_part
from c360.profile.store.base import EncodedProfile, profile_identifier_keys

HASH_COLUMNS: dict[str, list[str]] = {
    name: COLUMNS[name] for name in ("transaction", "interaction", "consent")
}
"""Every staged column feeds the digest: amount_rc (so a corrected rate rebuilds the customer) and sentiment
(a rescored text) included."""
UPSERT_BATCH = 1000
IDENTITY_COLUMNS = {
    "email": "emails",
    "phone": "phones",
    "deviceIds": "device_ids",
    "cookieIds": "cookie_ids",
}
"""Document `identities` field -> the profile column holding it (what the store indexes)."""
RFM_STATUS_COLUMNS = ["customer_id", "status", "recency", "frequency", "monetary"]


def profile_path(lake: Lake, part: int) -> str:
    return lake.path("profiles", f"part-{part:05d}.parquet")


def built_path(lake: Lake, part: int) -> str:
    return lake.path("profiles", "_staging", "built", f"part-{part:05d}.parquet")


def read_previous(lake: Lake, part: int, columns: list[str] | None = None) -> pd.DataFrame | None:
    path = profile_path(lake, part)
    if not lake.fs.exists(path):
        return None
    return pq.read_table(path, filesystem=lake.arrow_fs, columns=columns).to_pandas()


def customer_digests(golden: pd.DataFrame, inputs: dict[str, pd.DataFrame]) -> pd.Series:
    """customer_id -> uint64 digest of the golden row and every behaviour row of the customer."""
    g = golden.copy()
    for col in (c for c in LIST_FIELDS if c in g.columns):
        g[col] = ["\x1f".join(map(str, v)) if v is not None else "" for v in g[col]]
    total = input_hash(g, [c for c in g.columns if c != "customer_id"], 0).reindex(golden["customer_id"])
    total = total.fillna(0).astype("uint64")
    for salt, (name, cols) in enumerate(HASH_COLUMNS.items(), start=1):
        h = input_hash(inputs[name], cols, salt).reindex(total.index).fillna(0).astype("uint64")
        total = total + h * np.uint64(2 * salt + 1)
    return total


def aggregate_partition(
    lake: Lake, part: int, as_of: pd.Timestamp, full: bool, currency: str | None = None
) -> pd.DataFrame:
    """Pass 1: build the changed customers of one partition into `_staging/built/`; RFM inputs of all.

    Money is the facts' `amount_rc`, in the reporting `currency` (recorded on every built profile)."""
    golden = read_part(lake, "golden", part)
    inputs = {name: read_part(lake, name, part) for name in HASH_COLUMNS}
    digest = customer_digests(golden, inputs)
    previous = read_previous(
        lake, part, ["customer_id", "input_hash", "last_purchase", "total_purchases", "total_spend"]
    )
    if previous is None or full:
        changed = digest.index.to_numpy()
    else:
        before = previous.set_index("customer_id")["input_hash"].astype("uint64")
        same = before.reindex(digest.index) == digest
        changed = digest.index[~same.fillna(False).to_numpy()].to_numpy()
    keep = set(changed)
    pick = {name: df[df["customer_id"].isin(keep)] for name, df in inputs.items()}
    g = golden[golden["customer_id"].isin(keep)].reset_index(drop=True)
    tx = pick["transaction"].rename(columns={"amount_rc": "amount"})
    inter = pick["interaction"]
    tx_sum = transaction_summary(tx, as_of)
    in_sum = interaction_summary(inter, as_of)
    known = inter[inter["ts"] <= as_of]
    sent = support_sentiment(known, known["sentiment"])
    eng = engagement_score(tx_sum, in_sum, as_of)
    consent = consent_documents(pick["consent"][pick["consent"]["ts"] <= as_of])
    built = assemble(g, tx_sum, in_sum, sent, eng, consent, as_of, currency=currency)
    built["input_hash"] = digest.reindex(built["customer_id"]).to_numpy(dtype="uint64")
    path = built_path(lake, part)
    lake.write_table(pa.Table.from_pandas(built, preserve_index=False), path)

    status = [rfm_inputs(built, as_of).assign(status="changed")]
    if previous is not None:
        current = set(digest.index)
        unchanged = previous[previous["customer_id"].isin(current - keep)]
        status.append(rfm_inputs(unchanged, as_of).assign(status="unchanged"))
        removed = previous.loc[~previous["customer_id"].isin(current), ["customer_id"]]
        status.append(removed.assign(status="removed", recency=np.nan, frequency=np.nan, monetary=np.nan))
    out = pd.concat(status, ignore_index=True)[RFM_STATUS_COLUMNS]
    return out.assign(part=part)


def encoded_profiles(built: pd.DataFrame) -> list[EncodedProfile]:
    """Store-ready profiles of rendered rows: the document column and the index keys of the identities."""
    columns = [built[c].to_numpy() for c in ("customer_id", "document", *IDENTITY_COLUMNS.values())]
    return [
        EncodedProfile(
            cid,
            doc,
            frozenset(profile_identifier_keys({"identities": {
                field: list(v) for field, v in zip(IDENTITY_COLUMNS, values, strict=True)
            }})),
        )
        for cid, doc, *values in zip(*columns, strict=True)
    ]  # fmt: skip


def latest_ml_scores(lake: Lake, customers: pd.Series) -> pd.DataFrame:
    """customer_id + ML_COLUMNS of `customers` from the newest `c360 score` run (it scores every customer
    and writes `features/ml_scores/part-<run>.parquet`); no rows when nothing was scored yet, so a profile
    rebuild keeps the scores its document had instead of clearing them."""
    files = sorted(lake.glob("features/ml_scores/part-*.parquet"))
    empty = pd.DataFrame({c: pd.Series(dtype=object) for c in ("customer_id", *ML_COLUMNS)})
    if not files:
        return empty
    ids = pa.array(customers.astype(str).tolist(), pa.string())
    table = pq.read_table(files[-1], filesystem=lake.arrow_fs, filters=pc.field("customer_id").isin(ids))
    present = [c for c in ML_COLUMNS if c in table.column_names]
    frame = table.select(["customer_id", *present]).to_pandas()
    return frame.drop_duplicates("customer_id", keep="last")


def finish_partition(
    lake: Lake,
    part: int,
    thresholds: dict[str, list[float]],
    run_id: str,
    removed: set[str],
    upsert: Callable[[list[EncodedProfile]], int] | None = None,
) -> pd.DataFrame:
    """Pass 2: RFM scores, documents (upserted when `upsert` is given: a store's `upsert_encoded`), the
    profiles file, feature rows."""
    built = pq.read_table(built_path(lake, part), filesystem=lake.arrow_fs).to_pandas()
    as_of = pd.Timestamp(built["as_of"].iloc[0]) if len(built) else None
    if len(built):
        scores = rfm_scores_global(rfm_inputs(built, as_of), thresholds)
        built = built.merge(scores, on="customer_id", how="left")
        scored = built.merge(latest_ml_scores(lake, built["customer_id"]), on="customer_id", how="left")
        built["document"] = render_documents(scored)  # left merge: the rows keep their order
        if upsert is not None:  # the store write overlaps the other partitions' work
            encoded = encoded_profiles(built)
            for i in range(0, len(encoded), UPSERT_BATCH):
                upsert(encoded[i : i + UPSERT_BATCH])
    # Feature rows before the profile file: the file is what marks these customers done (a run killed
    # after it and resumed finds them unchanged), so everything else of theirs is written first.
    if len(built):
        for view, frame in feature_frames(built).items():
            path = lake.path("features", view, f"part-{part:05d}-{run_id}.parquet")
            lake.write_table(feature_table(view, frame), path)  # one schema per view, whoever writes
    previous = read_previous(lake, part)
    if previous is not None:
        kept = previous[~previous["customer_id"].isin(set(built["customer_id"]) | removed)]
        merged = pd.concat([kept, built], ignore_index=True) if len(built) else kept
    else:
        merged = built
    if previous is not None or len(built):
        table = pa.Table.from_pandas(
            merged.sort_values("customer_id").reset_index(drop=True), preserve_index=False
        )
        lake.write_table(table, profile_path(lake, part))
    return pd.DataFrame({"customer_id": built["customer_id"].to_numpy() if len(built) else [], "part": part})
