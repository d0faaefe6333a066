"""Stable customer ids: new clusters are matched to the previous run's customers.

Rules: every previous customer claims the new cluster that received most of its records (ties: the cluster
with the smallest label). A cluster claimed by several customers is a merge: the one with the most history
(records, then the earliest first_seen, then the smallest id) keeps its id, the others become aliases. Parts
of a previous customer that it did not claim split off under a new id. A cluster nobody claims gets a new
id derived from its smallest record key, so the same data always yields the same ids.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime

import numpy as np
import pandas as pd

CHANGE_COLUMNS = ["run_id", "at", "kind", "customer_id", "other_customer_id", "records", "reason"]


@dataclass
class IdAssignment:
    customer_of_label: dict[int, str]
    changes: pd.DataFrame
    """kind new / merge / split, customer_id, other_customer_id (the alias, or the customer split from)."""
    new_aliases: pd.DataFrame
    """alias_id -> customer_id for this run's merges."""


def new_customer_id(seed_key: str, taken: set[str]) -> str:
    salt = 0
    while True:
        digest = hashlib.blake2b(f"{seed_key}#{salt}".encode(), digest_size=8).hexdigest()
        cid = f"cus_{digest}"
        if cid not in taken:
            return cid
        salt += 1


def assign_ids(
    record_keys: np.ndarray,
    labels: np.ndarray,
    previous: pd.DataFrame,
    history: pd.DataFrame,
    taken: set[str],
    run_id: str,
    at: datetime,
    reasons: dict[int, str] | None = None,
) -> IdAssignment:
    """Map this run's cluster labels to customer ids.

    `previous` holds (record_key, customer_id) from the last run; `history` (customer_id, n_records,
    first_seen) ranks customers in a merge; `taken` is every id ever issued (current and aliases), never reused.
    """
    reasons = reasons or {}
    cur = pd.DataFrame({"record_key": record_keys, "label": labels})
    first_key = cur.groupby("label")["record_key"].min()
    size = cur.groupby("label").size()
    joined = cur.merge(previous[["record_key", "customer_id"]], on="record_key", how="left")
    old = joined.dropna(subset=["customer_id"])
    parts = old.groupby(["customer_id", "label"]).size().rename("n").reset_index()
    # Each previous customer claims its largest part; ties go to the smallest label.
    parts = parts.sort_values(["customer_id", "n", "label"], ascending=[True, False, True], kind="stable")
    claims = parts.drop_duplicates("customer_id", keep="first")
    hist = (
        history.set_index("customer_id")
        if len(history)
        else pd.DataFrame(columns=["n_records", "first_seen"])
    )
    claims = claims.assign(
        hist_n=claims["customer_id"].map(hist["n_records"]).fillna(0).to_numpy(),
        hist_first=claims["customer_id"]
        .map(hist["first_seen"])
        .fillna(pd.Timestamp.max.tz_localize("UTC"))
        .to_numpy(),
    )
    claims = claims.sort_values(
        ["label", "hist_n", "hist_first", "customer_id"], ascending=[True, False, True, True], kind="stable"
    )

    customer_of_label: dict[int, str] = {}
    changes: list[dict] = []
    aliases: list[dict] = []
    taken = set(taken)
    for label, grp in claims.groupby("label", sort=True):
        winner = grp["customer_id"].iloc[0]
        customer_of_label[int(label)] = winner
        for loser in grp["customer_id"].iloc[1:]:
            aliases.append({"alias_id": loser, "customer_id": winner, "created_at": at, "run_id": run_id})
            changes.append(
                _change(
                    run_id, at, "merge", winner, loser, int(size[label]), reasons.get(int(label), "linked")
                )
            )
    # Clusters nobody claimed: brand new customers, or parts split from a previous customer.
    split_from = parts[
        ~parts.set_index(["customer_id", "label"]).index.isin(
            claims.set_index(["customer_id", "label"]).index
        )
    ]
    split_src = split_from.sort_values(
        ["label", "n", "customer_id"], ascending=[True, False, True]
    ).drop_duplicates("label")
    src_of = dict(zip(split_src["label"].astype(int), split_src["customer_id"], strict=True))
    for label in sorted(set(size.index.astype(int)) - set(customer_of_label)):
        cid = new_customer_id(str(first_key[label]), taken)
        taken.add(cid)
        customer_of_label[label] = cid
        if label in src_of:
            reason = reasons.get(label, "link no longer accepted")
            changes.append(_change(run_id, at, "split", cid, src_of[label], int(size[label]), reason))
        else:
            changes.append(_change(run_id, at, "new", cid, None, int(size[label]), "new records"))
    # A winner that lost records to a split part is recorded on the split row; nothing else to do here.
    changes_df = pd.DataFrame(changes, columns=CHANGE_COLUMNS)
    aliases_df = pd.DataFrame(aliases, columns=["alias_id", "customer_id", "created_at", "run_id"])
    return IdAssignment(customer_of_label=customer_of_label, changes=changes_df, new_aliases=aliases_df)


def _change(
    run_id: str, at: datetime, kind: str, cid: str, other: str | None, records: int, reason: str
) -> dict:
    return {
        "run_id": run_id,
        "at": at,
        "kind": kind,
        "customer_id": cid,
        "other_customer_id": other,
        "records": records,
        "reason": reason,
    }


def merge_aliases(existing: pd.DataFrame, new: pd.DataFrame) -> pd.DataFrame:
    """All aliases, each pointing at the id that is current now (chains a -> b -> c collapse to a -> c)."""
    cols = ["alias_id", "customer_id", "created_at", "run_id"]
    frames = [f for f in (existing, new) if len(f)]
    allx = pd.concat(frames, ignore_index=True)[cols] if frames else pd.DataFrame(columns=cols)
    target = dict(zip(allx["alias_id"], allx["customer_id"], strict=True))

    def final(cid: str) -> str:
        seen = set()
        while cid in target and cid not in seen:
            seen.add(cid)
            cid = target[cid]
        return cid

    allx["customer_id"] = allx["customer_id"].map(final)
    return allx.drop_duplicates("alias_id", keep="last").reset_index(drop=True)
