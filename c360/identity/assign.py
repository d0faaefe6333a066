"""The third stage of a run: clusters get customer ids that last run's customers keep.

The rules are `c360.identity.ids`'; this stage finds what they need: last run's customer of every record
clustered again, every id ever issued (never reused), and why each changed cluster changed.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa

from c360.identity.clustering import Clustering
from c360.identity.ids import IdAssignment, assign_ids
from c360.identity.incremental import rows_with
from c360.identity.outputs import Previous, RunStamp


@dataclass(frozen=True)
class CustomerIds:
    customer: np.ndarray
    """Per rid: its customer id."""
    previous: pd.DataFrame
    """record_key, customer_id: last run's customer of each record that had one."""
    assignment: IdAssignment
    """This run's changes (new, merge, split) and new aliases."""


def customer_ids(
    keys: np.ndarray,
    clustering: Clustering,
    previous: Previous,
    touched: dict[int, str],
    run: RunStamp,
) -> CustomerIds:
    """Customer ids for the clusters of the records `keys` (in rid order); `touched`: rid -> the correction
    that names it, the reason given for its cluster's change."""
    last = _last_customers(keys, previous.id_map)
    # Every id ever issued: the current customers and the retired ones.
    taken = set(previous.clusters["customer_id"]) | set(previous.aliases["alias_id"])
    last_of_rid = pd.Series(keys).map(dict(zip(last["record_key"], last["customer_id"], strict=True)))
    reasons = change_reasons(
        clustering.labels,
        clustering.links.loc[clustering.clustered],
        clustering.refused,
        last_of_rid,
        touched,
    )
    ids = assign_ids(keys, clustering.labels, last, previous.clusters, taken, run.run_id, run.at, reasons)
    customer = pd.Series(clustering.labels).map(ids.customer_of_label).to_numpy(dtype=object)
    return CustomerIds(customer=customer, previous=last, assignment=ids)


def _last_customers(keys: np.ndarray, id_map: pa.Table | None) -> pd.DataFrame:
    if id_map is None or not id_map.num_rows:
        return pd.DataFrame(columns=["record_key", "customer_id"])
    mine = rows_with(id_map, "record_key", pa.array(keys, pa.string()))
    return mine.select(["record_key", "customer_id"]).to_pandas()


def change_reasons(
    labels: np.ndarray,
    links: pd.DataFrame,
    refused: pd.DataFrame,
    previous: pd.Series,
    touched: dict[int, str],
) -> dict[int, str]:
    """Per cluster label, why it changed: a correction, the strongest link joining two of last run's
    customers, or a refused link (`previous`: per rid, last run's customer or NaN)."""
    out: dict[int, str] = {}
    for rid, cid in touched.items():
        out.setdefault(int(labels[rid]), f"correction {cid}")
    if len(links):
        lab_l = labels[links["rid_l"].to_numpy()]
        prev_l = previous.to_numpy()[links["rid_l"].to_numpy()]
        prev_r = previous.to_numpy()[links["rid_r"].to_numpy()]
        crossing = (
            (lab_l == labels[links["rid_r"].to_numpy()])
            & pd.notna(prev_l)
            & pd.notna(prev_r)
            & (prev_l != prev_r)
        )
        x = links.loc[crossing].assign(label=lab_l[crossing]).sort_values("weight", ascending=False)
        for row in x.drop_duplicates("label").itertuples():
            out.setdefault(int(row.label), f"{row.kind} link ({row.rule})")
    for row in refused.itertuples():
        for rid in (row.rid_l, row.rid_r):
            out.setdefault(int(labels[rid]), f"link refused: {row.reason}")
    return out
