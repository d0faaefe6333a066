"""The fourth stage of a run: the rows of every identity table for the records it clustered.

`id_map` (record -> customer, and its component), `clusters` (each customer's size and history), `links`
(every link with whether it was accepted and why not), `golden` (one survivor row per customer), the aliases
and the change log. `c360.identity.outputs.write_tables` writes them.
"""

from __future__ import annotations

from datetime import datetime

import numpy as np
import pandas as pd
import pyarrow as pa

from c360.identity.assign import CustomerIds
from c360.identity.clustering import Clustering, LinkedRecords
from c360.identity.compare import NAMES_SWAPPED
from c360.identity.config import IdentitySettings
from c360.identity.golden import golden_records
from c360.identity.ids import merge_aliases
from c360.identity.outputs import IdentityTables, Previous, RunStamp

LINK_COLUMNS = ["record_key_l", "record_key_r", "kind", "rule", "weight", "probability", "accepted", "reason"]


def identity_tables(
    records: LinkedRecords,
    clustering: Clustering,
    ids: CustomerIds,
    previous: Previous,
    settings: IdentitySettings,
    run: RunStamp,
) -> IdentityTables:
    """This run's rows, and what they replace: the customers its records belonged to last run, the links
    of its records' components."""
    keys = records.keys
    id_map = pd.DataFrame(
        {
            "source": records.raw["source"].to_numpy(),
            "source_record_id": records.raw["source_record_id"].to_numpy(),
            "record_key": keys,
            "customer_id": ids.customer,
            "component": clustering.components,
        }
    )
    return IdentityTables(
        id_map=id_map,
        clusters=cluster_rows(id_map, previous.clusters, run.at),
        golden=golden_records(records.raw, ids.customer, settings),
        links=link_rows(clustering),
        aliases=merge_aliases(previous.aliases, ids.assignment.new_aliases),
        changes=ids.assignment.changes,
        replaced_customers=pa.array(sorted(set(ids.previous["customer_id"])), pa.string()),
        record_keys=pa.array(keys, pa.string()),
    )


def cluster_rows(id_map: pd.DataFrame, history: pd.DataFrame, at: datetime) -> pd.DataFrame:
    """customer_id, n_records, first_seen (kept from `history`, last run's clusters; `at` for a new
    customer), updated_at."""
    counts = id_map.groupby("customer_id").size()
    first_seen = pd.Series(
        pd.to_datetime(history["first_seen"], utc=True).array, index=history["customer_id"].to_numpy()
    )
    clusters = pd.DataFrame({"customer_id": counts.index, "n_records": counts.to_numpy()})
    seen_before = pd.Series(first_seen.reindex(counts.index).array, index=clusters.index)
    clusters["first_seen"] = seen_before.where(seen_before.notna(), pd.Timestamp(at))
    clusters["updated_at"] = pd.Timestamp(at)
    return clusters


def link_rows(clustering: Clustering) -> pd.DataFrame:
    """Every link with its probability, whether it was accepted and, if not, why: an evidence pair's own
    refusal, or the reason the clustering refused the pair (under every kind of link the pair has)."""
    links, refused = clustering.links, clustering.refused
    # Pairs encoded as one integer (rid_l * n + rid_r): a hash lookup, no Python tuple per link.
    n = np.int64(len(clustering.labels))
    reason_of = (
        pd.DataFrame(
            {
                "pair": refused["rid_l"].to_numpy(np.int64) * n + refused["rid_r"].to_numpy(np.int64),
                "reason": refused["reason"].to_numpy(object),
            }
        )
        .drop_duplicates("pair")
        .set_index("pair")["reason"]
    )
    link_pairs = links["rid_l"].to_numpy(np.int64) * n + links["rid_r"].to_numpy(np.int64)
    pair_reason = pd.Series(reason_of.reindex(link_pairs).to_numpy(), index=links.index)
    refusal = clustering.evidence_refusal
    pair_reason = pair_reason.where(refusal == "", refusal)
    both = links.assign(accepted=pair_reason.isna().to_numpy(), reason=pair_reason.fillna("").to_numpy())
    both["probability"] = 1.0 / (1.0 + np.power(2.0, -both["weight"].to_numpy(dtype=float)))
    gcols = [c for c in both.columns if c.startswith("g_") or c.startswith("tf_")]
    if NAMES_SWAPPED in both:  # links kept from a run before names were compared swapped have none
        both[NAMES_SWAPPED] = both[NAMES_SWAPPED].fillna(False).astype(bool)
        gcols.append(NAMES_SWAPPED)
    # Record keys sort like rids (records are numbered in key order), so this orders by key pair and kind
    # without a string sort.
    rows = both.sort_values(["rid_l", "rid_r", "kind"], kind="stable")[LINK_COLUMNS + gcols]
    rows = rows.reset_index(drop=True)
    for g in (c for c in gcols if c.startswith("g_")):
        rows[g] = rows[g].astype("int8")
    return rows
