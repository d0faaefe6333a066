"""Deterministic links on strong identifiers, with hygiene.

Records with the same normalized email (phone, device, ...) link, except for placeholder values (the block
list, too-short values, one repeated digit) and values carried by more than K different people (the
cardinality guard): a shared family email or a call-centre phone number must not glue strangers together.
Refused values are returned so the run can report them.

Identifiers shared by nature (a family tablet's device id, a cookie) are judged pair by pair afterwards
(`c360.identity.shared`).
"""

from __future__ import annotations

import jellyfish
import numpy as np
import pandas as pd

from c360.identity.config import IdentitySettings

DETERMINISTIC_WEIGHT = 100.0
"""Deterministic links outrank any probabilistic score when clusters are built (strongest first)."""


def person_signature(df: pd.DataFrame) -> pd.Series:
    """A coarse "who is this" key (first initial + surname sound): counts people, tolerant to small typos."""
    first = df["first_name"].astype("string").str.slice(0, 1)
    last = df["last_name"].astype(object)
    uniq = last.dropna().unique()
    sounds = {u: jellyfish.soundex(u) for u in uniq}
    sound = last.map(sounds, na_action="ignore")
    sig = first.astype(object) + "|" + sound.astype(object)
    ok = first.notna().to_numpy() & sound.notna().to_numpy()
    return sig.where(ok, None)


def _join_rules(links: pd.DataFrame) -> pd.DataFrame:
    """One row per pair, the identifiers it shares joined by '+' (arrow group-by, no Python per pair)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    t = pa.Table.from_pandas(links[["rid_l", "rid_r", "rule"]], preserve_index=False)
    t = t.sort_by([("rid_l", "ascending"), ("rid_r", "ascending"), ("rule", "ascending")])
    g = t.group_by(["rid_l", "rid_r"], use_threads=False).aggregate([("rule", "distinct")])
    g = g.append_column("joined", pc.binary_join(g["rule_distinct"], "+")).sort_by(
        [("rid_l", "ascending"), ("rid_r", "ascending")]
    )
    return pd.DataFrame(
        {
            "rid_l": g["rid_l"].to_numpy(),
            "rid_r": g["rid_r"].to_numpy(),
            "rule": sorted_rules(g["joined"].to_numpy(zero_copy_only=False)),
        }
    )


def sorted_rules(rules: np.ndarray) -> np.ndarray:
    """'+'-joined identifier lists in sorted order: Arrow's distinct aggregation does not promise the order
    of a group's values, and a full and an incremental run must name a link alike."""
    out = np.asarray(rules, dtype=object).copy()
    joined = pd.Series(out, dtype=object).str.contains("+", regex=False).fillna(False)
    multi = np.flatnonzero(joined.to_numpy(dtype=bool))
    out[multi] = ["+".join(sorted(str(r).split("+"))) for r in out[multi]]
    return out


def deterministic_links(df: pd.DataFrame, settings: IdentitySettings) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Links (rid_l, rid_r, rule) as a star per shared value, and the refused values with their reason."""
    links = []
    refused = []
    signature = person_signature(df)
    for ident in settings.identifiers:
        col = f"{ident.field}__id"
        if not ident.enabled or col not in df:
            continue
        vals = df[col]
        ok = vals.notna().to_numpy()
        if not ok.any():
            continue
        sub = pd.DataFrame(
            {
                "rid": df["rid"].to_numpy()[ok],
                "value": vals[ok].astype(str).to_numpy(),
                "sig": signature[ok].to_numpy(),
            }
        )
        blocked = settings.blocked_values(ident)
        uniq = pd.Series(sub["value"].unique(), dtype=object)
        reason = pd.Series(None, index=uniq.index, dtype=object)
        reason[uniq.str.fullmatch(r"\+?(.)\1*").to_numpy(dtype=bool)] = "placeholder"
        reason[(uniq.str.len() < ident.min_length).to_numpy()] = "too_short"
        reason[uniq.isin(blocked).to_numpy()] = "block_list"
        bad = reason.notna().to_numpy()
        bad_reason: dict[str, str] = dict(zip(uniq[bad], reason[bad], strict=True))
        shared = sub[sub.duplicated("value", keep=False)]
        if shared.empty and not bad_reason:
            continue
        k = ident.max_people or settings.max_people_per_identifier
        people = shared.groupby("value")["sig"].nunique()
        records = shared.groupby("value")["rid"].size()
        for v in people.index[people.to_numpy() > k]:
            bad_reason.setdefault(v, "cardinality")
        for v, reason in bad_reason.items():
            refused.append(
                {
                    "field": ident.field,
                    "value": v,
                    "reason": reason,
                    "records": int(records.get(v, (sub["value"] == v).sum())),
                    "people": int(people.get(v, 0)),
                }
            )
        use = shared[~shared["value"].isin(bad_reason.keys())]
        if use.empty:
            continue
        hub = use.groupby("value")["rid"].transform("min")
        spokes = use[use["rid"].to_numpy() != hub.to_numpy()]
        links.append(
            pd.DataFrame(
                {
                    "rid_l": hub[spokes.index].to_numpy(np.int64),
                    "rid_r": spokes["rid"].to_numpy(np.int64),
                    "rule": ident.field,
                }
            )
        )
    if links:
        all_links = pd.concat(links, ignore_index=True)
        all_links = _join_rules(all_links)
    else:
        all_links = pd.DataFrame(
            {
                "rid_l": pd.Series([], dtype=np.int64),
                "rid_r": pd.Series([], dtype=np.int64),
                "rule": pd.Series([], dtype=object),
            }
        )
    refused_df = pd.DataFrame(refused, columns=["field", "value", "reason", "records", "people"])
    return all_links, refused_df.sort_values(["field", "value"]).reset_index(drop=True)
