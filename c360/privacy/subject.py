"""Who is being erased: a customer id -> every id, source record and identifier c360 holds for them.

The identity graph is the index: `identity/id_map` lists the person's source records across all sources,
`identity/aliases` the customer ids merged into them, and the record snapshot (`identity/state/records`) the
identifiers those records carried (as standardized: emails lower case, phones in E.164). Behaviour rows
(orders, tickets, sessions, readings, consent) point at a source record through `(source, customer_ref)`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pyarrow as pa
import pyarrow.compute as pc

from c360.errors import NotFoundError
from c360.identity.store import IdentityStore
from c360.privacy.suppression import IDENTIFIER_KINDS
from c360.workspace import Workspace

NAME_FIELDS = ("first_name", "last_name", "street", "city", "postcode")
MAX_ALIAS_HOPS = 8


@dataclass
class Subject:
    customer_id: str
    customer_ids: set[str] = field(default_factory=set)
    """The id asked for, the id it answers as now, and every id merged into it."""
    records: dict[str, set[str]] = field(default_factory=dict)
    """source -> source_record_ids."""
    identifiers: dict[str, set[str]] = field(default_factory=dict)
    """email, phone, device_id, ... -> values as standardized."""
    attributes: dict[str, set[str]] = field(default_factory=dict)
    """Names, address parts and birth dates as standardized (for term-frequency and golden clean-up)."""

    @property
    def record_keys(self) -> set[str]:
        return {f"{s}:{r}" for s, ids in self.records.items() for r in ids}

    @property
    def record_count(self) -> int:
        return sum(len(v) for v in self.records.values())

    def identifier_values(self) -> set[str]:
        return {v for vals in self.identifiers.values() for v in vals}

    def key_values(self) -> set[str]:
        """Values naming the person in key-like columns: customer ids, record keys, device and cookie ids."""
        out = set(self.customer_ids) | self.record_keys
        for kind in ("device_id", "cookie_id", "loyalty_id", "social_handle", "email", "phone"):
            out |= self.identifiers.get(kind, set())
        return out

    def absorb(self, other: Subject) -> None:
        """Add another person's ids, records, identifiers and attributes (a batch erasure is one pass)."""
        self.customer_ids |= other.customer_ids
        for mine, theirs in (
            (self.records, other.records),
            (self.identifiers, other.identifiers),
            (self.attributes, other.attributes),
        ):
            for name, values in theirs.items():
                mine.setdefault(name, set()).update(values)

    def suppression_entries(self) -> list[tuple[str, str]]:
        entries: list[tuple[str, str]] = [("customer_id", c) for c in self.customer_ids]
        entries += [("record", k) for k in self.record_keys]
        entries += [(kind, v) for kind, vals in self.identifiers.items() for v in vals]
        return entries


def _current_id(aliases: pa.Table | None, customer_id: str) -> str:
    if aliases is None or aliases.num_rows == 0:
        return customer_id
    forward = dict(
        zip(aliases.column("alias_id").to_pylist(), aliases.column("customer_id").to_pylist(), strict=True)
    )
    current = customer_id
    for _ in range(MAX_ALIAS_HOPS):
        nxt = forward.get(current)
        if nxt is None or nxt == current:
            break
        current = nxt
    return current


def _merged_into(aliases: pa.Table | None, current: str) -> set[str]:
    """Every id whose alias chain ends at `current`."""
    out = {current}
    if aliases is None or aliases.num_rows == 0:
        return out
    pairs = list(
        zip(aliases.column("alias_id").to_pylist(), aliases.column("customer_id").to_pylist(), strict=True)
    )
    grew = True
    while grew:
        grew = False
        for alias, target in pairs:
            if target in out and alias not in out:
                out.add(alias)
                grew = True
    return out


def _filtered(store: IdentityStore, name: str, column: str, values: set[str]) -> pa.Table | None:
    if not store.exists(name) or not values:
        return None
    table = store.read_arrow(name)
    assert table is not None
    mask = pc.is_in(table.column(column), value_set=pa.array(sorted(values), pa.string()))
    return table.filter(pc.fill_null(mask, False))


def find_subject(ws: Workspace, customer_id: str) -> Subject:
    """The person behind `customer_id` (current or merged away). Raises NotFoundError for an unknown id."""
    store = IdentityStore(ws.lake)
    aliases = store.read_arrow("aliases")
    current = _current_id(aliases, customer_id)
    subject = Subject(customer_id=current, customer_ids=_merged_into(aliases, current) | {customer_id})
    id_map = _filtered(store, "id_map", "customer_id", subject.customer_ids)
    if id_map is None or id_map.num_rows == 0:
        raise NotFoundError(f"no customer {customer_id!r} in the identity graph")
    for source, rid in zip(
        id_map.column("source").to_pylist(), id_map.column("source_record_id").to_pylist(), strict=True
    ):
        subject.records.setdefault(source, set()).add(str(rid))
    snapshot = _filtered(store, "records", "record_key", subject.record_keys)
    if snapshot is not None:
        for kind in IDENTIFIER_KINDS:
            if kind in snapshot.column_names:
                vals = {str(v) for v in snapshot.column(kind).to_pylist() if v not in (None, "")}
                if vals:
                    subject.identifiers[kind] = vals
        for name in (*NAME_FIELDS, "birth_date"):
            if name in snapshot.column_names:
                vals = {str(v) for v in snapshot.column(name).to_pylist() if v not in (None, "")}
                if vals:
                    subject.attributes[name] = vals
    return subject
