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
    first_seen) ranks customers in a merge; `taken` is every id ever issued (current and aliases): never
    reused.
    """
    reasons = reasons or {}
    cur = pd.DataFrame({"record_key": record_keys, "label": labels})
    first_key = (
        cur.sort_values("record_key", kind="stable").drop_duplicates("label").set_index("label")["record_key"]
    )
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

    taken = set(taken)
    first_of_label = claims.drop_duplicates("label", keep="first")
    customer_of_label: dict[int, str] = dict(
        zip(first_of_label["label"].astype(int).tolist(), first_of_label["customer_id"].tolist(), strict=True)
    )
    losers = claims[claims.duplicated("label", keep="first")]
    winner_of = losers["label"].map(customer_of_label)
    aliases = pd.DataFrame(
        {
            "alias_id": losers["customer_id"].to_numpy(),
            "customer_id": winner_of.to_numpy(),
            "created_at": at,
            "run_id": run_id,
        }
    )
    merges = pd.DataFrame(
        {
            "run_id": run_id,
            "at": at,
            "kind": "merge",
            "customer_id": winner_of.to_numpy(),
            "other_customer_id": losers["customer_id"].to_numpy(),
            "records": size.reindex(losers["label"]).to_numpy(),
            "reason": [reasons.get(int(lab), "linked") for lab in losers["label"]],
        }
    )
    # Clusters nobody claimed: brand new customers, or parts split from a previous customer.
    claimed = pd.MultiIndex.from_frame(claims[["customer_id", "label"]])
    split_from = parts[~pd.MultiIndex.from_frame(parts[["customer_id", "label"]]).isin(claimed)]
    split_src = split_from.sort_values(
        ["label", "n", "customer_id"], ascending=[True, False, True]
    ).drop_duplicates("label")
    src_of = dict(zip(split_src["label"].astype(int), split_src["customer_id"], strict=True))
    fresh = np.setdiff1d(
        size.index.to_numpy().astype(np.int64), np.fromiter(customer_of_label, dtype=np.int64)
    )
    rows: list[dict] = []
    first_of, size_of = first_key.to_dict(), size.to_dict()
    for label in fresh.tolist():
        cid = new_customer_id(str(first_of[label]), taken)
        taken.add(cid)
        customer_of_label[label] = cid
        if label in src_of:
            reason = reasons.get(label, "link no longer accepted")
            rows.append(_change(run_id, at, "split", cid, src_of[label], int(size_of[label]), reason))
        else:
            rows.append(_change(run_id, at, "new", cid, None, int(size_of[label]), "new records"))
    changes_df = pd.concat(
        [f for f in (merges, pd.DataFrame(rows, columns=CHANGE_COLUMNS)) if len(f)]
        or [pd.DataFrame(columns=CHANGE_COLUMNS)],
        ignore_index=True,
    )[CHANGE_COLUMNS]
    return IdAssignment(customer_of_label=customer_of_label, changes=changes_df, new_aliases=aliases)


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
