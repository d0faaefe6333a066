"""Why a customer is who it is: its records, and for each link the rule or the field-by-field match weights.

`explain(ws, customer_id)` is the library function (the API serves its result); `print_explanation` renders
it for `c360 identity explain`. Retired ids are followed to the customer that absorbed them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from rich.console import Console
from rich.table import Table

from c360.errors import NotFoundError
from c360.identity.compare import FULL_NAME, NAMES_SWAPPED
from c360.identity.estimate import HOUSEHOLD
from c360.identity.golden import GOLDEN_FIELDS
from c360.identity.model import FSModel
from c360.identity.store import IdentityStore
from c360.io.terminal import markup_safe as m
from c360.workspace import Workspace

RECORD_FIELDS = (
    "first_name",
    "last_name",
    "birth_date",
    "email",
    "phone",
    "loyalty_id",
    "street",
    "city",
    "postcode",
)


@dataclass
class LinkExplanation:
    record_key_l: str
    record_key_r: str
    kind: str
    """deterministic, probabilistic, evidence (two records of a shared identifier value, a device or a
    cookie, that did not link: scored like any pair), or correction."""
    rule: str
    """The identifier(s) shared, or the blocking rule that proposed the pair."""
    accepted: bool
    weight: float
    probability: float
    reason: str
    """Why a link was refused (conflict:<field>, do_not_link, max_cluster_size, ambiguous: it tied a record
    to one person no more strongly than a refused link to another, `c360.identity.ambiguity`; for evidence,
    what the pair's own comparison held against its shared identifier: "shared device_id: first_name and
    birth_date differ", "... weighs -7.2 bits", "... its other records show several people", or "phone:
    first_name differs" for a household landline); empty when accepted."""
    fields: dict[str, dict[str, Any]] = field(default_factory=dict)
    """field -> {level, weight}: the comparison level reached and the bits it contributed."""
    names_swapped: bool = False
    """The first and last names were compared crosswise (written in each other's fields on one record,
    `c360.identity.compare`): the name levels are those of the swapped names."""


@dataclass
class Explanation:
    customer_id: str
    requested_id: str
    records: list[dict[str, Any]]
    links: list[LinkExplanation]
    golden: dict[str, Any]
    changes: list[dict[str, Any]]
    aliases: list[str]
    corrections: list[dict[str, Any]]
    prior_weight: float


def current_id(store: IdentityStore, customer_id: str) -> str:
    aliases = store.read("aliases")
    if aliases is not None and len(aliases):
        hit = aliases.loc[aliases["alias_id"] == customer_id, "customer_id"]
        if len(hit):
            return str(hit.iloc[0])
    return customer_id


def _plain(v: Any) -> Any:
    if v is None or (isinstance(v, float) and np.isnan(v)):
        return None
    if isinstance(v, np.generic):
        return v.item()
    if isinstance(v, np.ndarray):
        return [_plain(x) for x in v.tolist()]
    if isinstance(v, pd.Timestamp):
        return v.isoformat()
    return v


CORRECTIONS = {
    HOUSEHOLD: "household look-alike",  # a household agrees on surname, address, landline (.estimate)
    FULL_NAME: "full name common together",  # first and last name go together in a country (.name_frequency)
}
"""Corrections `FSModel.field_weights` adds beside the comparisons, as explain names them."""


def _flag(v: Any) -> bool:
    """A boolean column's value; missing (a store written before the column) is false."""
    return bool(v) if v is not None and not pd.isna(v) else False


def explain(ws: Workspace, customer_id: str) -> Explanation:
    """The records, links (with evidence), golden record, changes and corrections of one customer."""
    store = IdentityStore(ws.lake)
    id_map = store.read("id_map")
    if id_map is None:
        raise NotFoundError("no identity graph yet: run `c360 resolve` first")
    cid = current_id(store, customer_id)
    keys = id_map.loc[id_map["customer_id"] == cid, "record_key"]
    if keys.empty:
        raise NotFoundError(f"unknown customer {customer_id!r}")
    key_set = set(keys)
    raw = store.read("records")
    recs = raw[raw["record_key"].isin(key_set)] if raw is not None else pd.DataFrame()
    records = [
        {"record_key": r["record_key"], "source": r["source"], **{f: _plain(r.get(f)) for f in RECORD_FIELDS}}
        for _, r in recs.iterrows()
    ]
    links = store.read("links")
    model_text = store.read_text_state("model")
    model = FSModel.from_json(model_text, store.read_arrow("tf")) if model_text else None
    out_links: list[LinkExplanation] = []
    if links is not None and len(links):
        mine = links[links["record_key_l"].isin(key_set) | links["record_key_r"].isin(key_set)].reset_index(
            drop=True
        )
        weights = (
            model.field_weights(mine) if model is not None and len(mine) else pd.DataFrame(index=mine.index)
        )
        for i, row in mine.iterrows():
            fields = {}
            if model is not None:
                for f in model.fields:
                    g = int(row.get(f"g_{f}", -1)) if pd.notna(row.get(f"g_{f}")) else -1
                    level = "missing" if g < 0 else model.levels[f][g]
                    fields[f] = {"level": level, "weight": round(float(weights.loc[i, f]), 2)}
                for name, level in CORRECTIONS.items():
                    if name in weights and weights.loc[i, name] != 0:
                        fields[name] = {"level": level, "weight": round(float(weights.loc[i, name]), 2)}
            out_links.append(
                LinkExplanation(
                    record_key_l=row["record_key_l"],
                    record_key_r=row["record_key_r"],
                    kind=row["kind"],
                    rule=str(row["rule"]),
                    accepted=bool(row["accepted"]),
                    weight=round(float(row["weight"]), 2),
                    probability=float(row["probability"]),
                    reason=str(row["reason"] or ""),
                    fields=fields,
                    names_swapped=_flag(row.get(NAMES_SWAPPED)),
                )
            )
    golden_df = store.read("golden")
    golden: dict[str, Any] = {}
    if golden_df is not None:
        g = golden_df[golden_df["customer_id"] == cid]
        if len(g):
            golden = {k: _plain(v) for k, v in g.iloc[0].to_dict().items()}
    changes = store.read_changes()
    mine_changes = changes[(changes["customer_id"] == cid) | (changes["other_customer_id"] == cid)]
    aliases = store.read("aliases")
    alias_ids = sorted(aliases.loc[aliases["customer_id"] == cid, "alias_id"]) if aliases is not None else []
    corr = store.read("corrections")
    corrections = []
    if corr is not None:
        for _, row in corr.iterrows():
            if key_set & set(row["left_keys"]) or key_set & set(row["right_keys"]):
                corrections.append(
                    {k: _plain(row[k]) for k in ("correction_id", "kind", "left_ref", "right_ref")}
                )
    return Explanation(
        customer_id=cid,
        requested_id=customer_id,
        records=records,
        links=out_links,
        golden=golden,
        changes=[{k: _plain(v) for k, v in r.items()} for r in mine_changes.to_dict("records")],
        aliases=list(alias_ids),
        corrections=corrections,
        prior_weight=model.prior_weight if model is not None else 0.0,
    )


def print_explanation(e: Explanation, console: Console) -> None:
    # Values come from source data and the command line: m() prints them as typed (no markup, no controls).
    head = f"customer [bold]{m(e.customer_id)}[/bold]"
    if e.requested_id != e.customer_id:
        head += f" (asked for {m(e.requested_id)}, merged into this one)"
    console.print(head)
    if e.aliases:
        console.print("aliases: " + ", ".join(m(a) for a in e.aliases))
    rt = Table(title=f"{len(e.records)} records")
    for col in ("record_key", *RECORD_FIELDS):
        rt.add_column(col)
    for r in e.records:
        rt.add_row(*(m(r.get(c) or "") for c in ("record_key", *RECORD_FIELDS)))
    console.print(rt)
    lt = Table(title=f"{len(e.links)} links (prior {e.prior_weight:.1f} bits)")
    for col in ("left", "right", "kind", "rule", "accepted", "bits", "p", "field weights / reason"):
        lt.add_column(col)
    for link in e.links:
        detail = ", ".join(
            f"{f} {v['level']} {v['weight']:+.1f}" for f, v in link.fields.items() if v["level"] != "missing"
        )
        if link.names_swapped:
            detail = f"names compared swapped (first with last); {detail}"
        if link.reason:
            detail = f"refused: {link.reason}; {detail}"
        lt.add_row(
            m(link.record_key_l),
            m(link.record_key_r),
            link.kind,
            m(link.rule),
            "yes" if link.accepted else "no",
            f"{link.weight:.1f}",
            f"{link.probability:.4f}",
            m(detail),
        )
    console.print(lt)
    if e.golden:
        gt = Table(title="golden record")
        gt.add_column("field")
        gt.add_column("value")
        gt.add_column("from record")
        for f in GOLDEN_FIELDS:
            gt.add_row(f, m(e.golden.get(f) or ""), m(e.golden.get(f"{f}__from") or ""))
        console.print(gt)
    for c in e.changes:
        console.print(
            f"{c['at']} {c['kind']} {m(c['customer_id'])} <- {m(c.get('other_customer_id') or '-')}: "
            f"{m(c['reason'])}"
        )
    for c in e.corrections:
        console.print(f"correction {c['correction_id']}: {c['kind']} {m(c['left_ref'])} {m(c['right_ref'])}")
