"""Real-time identity: one identify event (anonymous id or cookie, plus email or user id) in microseconds.

`IdentityIndex.load(ws)` builds an in-memory map from every usable normalized identifier to its customer,
from the batch run's `identity/` tables (identifiers refused by the hygiene rules are left out, so a
placeholder email never resolves). `resolve_identify` looks the event's identifiers up strongest first,
stitches the anonymous id to the customer it found, and never merges customers: a conflict is reported
and left to the next batch run, which sees the same evidence.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

import pandas as pd

from c360.identity.config import IdentifierSettings
from c360.identity.emails import EmailSettings
from c360.identity.normalize import normalize_identifier_value
from c360.identity.store import IdentityStore
from c360.workspace import Workspace

# Strongest first: the first identifier that resolves decides the customer.
LOOKUP_ORDER = (
    "user_id",
    "loyalty_id",
    "email",
    "phone",
    "social_handle",
    "device_id",
    "cookie_id",
    "anonymous_id",
)


@dataclass
class IdentifyResult:
    customer_id: str
    matched_on: str | None
    """The identifier that decided, or None for a provisional customer (nothing known yet)."""
    provisional: bool
    conflicts: list[str] = field(default_factory=list)
    """Other customers the event's identifiers point to (left for the batch run to decide)."""


class IdentityIndex:
    """identifier (field, normalized value) -> customer id, plus aliases and stitched anonymous ids."""

    def __init__(
        self,
        index: dict[tuple[str, str], str],
        aliases: dict[str, str],
        identifiers: dict[str, IdentifierSettings],
        email: EmailSettings | None = None,
    ) -> None:
        """`identifiers`: field -> its settings (normalization, prefixes, zeros), so a value is keyed here
        exactly as the batch run keyed it; `email`: the mailbox-key tables of `identity.email`."""
        self.index = index
        self.aliases = aliases
        self.identifiers = identifiers
        self.email = email

    def _key(self, fld: str, value: str, default_mode: str) -> str:
        ident = self.identifiers.get(fld)
        mode = ident.normalize if ident is not None else default_mode
        return normalize_identifier_value(value, mode, ident, self.email) or ""

    @classmethod
    def load(cls, ws: Workspace) -> IdentityIndex:
        store = IdentityStore(ws.lake)
        id_map = store.read("id_map")
        prepared = store.read("prepared")
        index: dict[tuple[str, str], str] = {}
        identifiers = {i.field: i for i in ws.settings.identity.identifiers}
        if id_map is not None and prepared is not None:
            cust = prepared["record_key"].map(
                dict(zip(id_map["record_key"], id_map["customer_id"], strict=True))
            )
            refused = store.read("refused_identifiers")
            bad = set(zip(refused["field"], refused["value"], strict=True)) if refused is not None else set()
            for fld in identifiers:
                col = f"{fld}__id"
                if col not in prepared:
                    continue
                vals = prepared[col]
                ok = vals.notna() & cust.notna()
                held = pd.DataFrame({"value": vals[ok], "customer": cust[ok]}).drop_duplicates()
                # A value several customers hold (a family's tablet, a couple's email) names none of them:
                # the event is looked up by its next identifier, as the profile store's index answers too.
                single = held[~held["value"].duplicated(keep=False)]
                for v, c in zip(single["value"], single["customer"], strict=True):
                    if (fld, v) not in bad:
                        index[(fld, v)] = c
            # A user id may be a source's own record id: "<source>:<id>" resolves to that record's customer.
            for k, c in zip(id_map["record_key"], id_map["customer_id"], strict=True):
                index[("record_key", k)] = c
        aliases_df = store.read("aliases")
        aliases = (
            dict(zip(aliases_df["alias_id"], aliases_df["customer_id"], strict=True))
            if aliases_df is not None
            else {}
        )
        return cls(index, aliases, identifiers, ws.settings.identity.email)

    def _lookup(self, kind: str, value: str) -> str | None:
        if kind == "user_id":
            hit = self.index.get(("record_key", value)) or self.index.get(
                ("loyalty_id", self._key("loyalty_id", value, "alnum"))
            )
        elif kind == "anonymous_id":
            hit = self.index.get(("anonymous_id", value))
            for fld in ("cookie_id", "device_id"):
                hit = hit or self.index.get((fld, self._key(fld, value, "lower")))
        else:
            norm = self._key(kind, value, "lower")
            hit = self.index.get((kind, norm)) if norm else None
        return self.aliases.get(hit, hit) if hit else None

    def resolve_identify(
        self,
        anonymous_id: str | None = None,
        user_id: str | None = None,
        email: str | None = None,
        phone: str | None = None,
        **identifiers: str | None,
    ) -> IdentifyResult:
        """The customer of one identify event; the anonymous id is stitched to it for later events."""
        given = {
            "anonymous_id": anonymous_id,
            "user_id": user_id,
            "email": email,
            "phone": phone,
            **identifiers,
        }
        found: list[tuple[str, str]] = []
        for kind in LOOKUP_ORDER:
            value = given.get(kind)
            if value:
                cid = self._lookup(kind, str(value))
                if cid:
                    found.append((kind, cid))
        if found:
            kind, cid = found[0]
            conflicts = sorted({c for _, c in found if c != cid})
            provisional = False
        else:
            seed = next((f"{k}={given[k]}" for k in LOOKUP_ORDER if given.get(k)), None)
            if seed is None:
                raise ValueError("an identify event needs at least one identifier")
            cid = "anon_" + hashlib.blake2b(seed.encode(), digest_size=8).hexdigest()
            kind, conflicts, provisional = None, [], True
        if anonymous_id:
            self.index[("anonymous_id", anonymous_id)] = cid
        return IdentifyResult(customer_id=cid, matched_on=kind, provisional=provisional, conflicts=conflicts)


def resolve_identify(index: IdentityIndex, **event: str | None) -> IdentifyResult:
    """Function form for the serving layer: `resolve_identify(index, anonymous_id=..., email=...)`."""
    return index.resolve_identify(**event)


def identifiers_frame(index: IdentityIndex) -> pd.DataFrame:
    """The index as a table (field, value, customer_id), for tests and inspection."""
    rows = [(f, v, c) for (f, v), c in index.index.items()]
    return pd.DataFrame(rows, columns=["field", "value", "customer_id"])
