"""Who is being erased, and the small interface through which stages take part in an erasure.

`privacy` is the lower layer: it defines what a person to forget is (`Subject`), how a stage erases them from
what it owns (`ErasureStep`), and how they are found (`SubjectFinder`). Each stage implements its step in its
own `erasure.py` (`c360/sources`, `identity`, `profile`, `features`); `c360/erasure_plan.py` puts them in
order. So privacy imports no stage, and a stage's storage details stay in the stage.

A `Subject` is plain data that round-trips through JSON: the erasure journal keeps it, so an interrupted
erasure can be finished after the identity graph (how the person was found) has already forgotten them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from c360.privacy.rewrite import StoreCounts
from c360.workspace import Workspace


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

    def to_dict(self) -> dict[str, Any]:
        """Sorted lists instead of sets: stable JSON for the journal."""

        def lists(d: dict[str, set[str]]) -> dict[str, list[str]]:
            return {k: sorted(v) for k, v in sorted(d.items())}

        return {
            "customer_id": self.customer_id,
            "customer_ids": sorted(self.customer_ids),
            "records": lists(self.records),
            "identifiers": lists(self.identifiers),
            "attributes": lists(self.attributes),
        }

    @classmethod
    def from_dict(cls, doc: dict[str, Any]) -> Subject:
        def sets(d: dict[str, list[str]]) -> dict[str, set[str]]:
            return {k: {str(x) for x in v} for k, v in d.items()}

        return cls(
            customer_id=str(doc["customer_id"]),
            customer_ids={str(c) for c in doc.get("customer_ids", [])},
            records=sets(doc.get("records", {})),
            identifiers=sets(doc.get("identifiers", {})),
            attributes=sets(doc.get("attributes", {})),
        )


class ErasureStep(Protocol):
    """One store or lake area a stage owns. `run` must be idempotent: an interrupted erasure runs it again,
    possibly on files it already rewrote, and it must then remove whatever is left and nothing else."""

    @property
    def name(self) -> str:
        """Unique within a plan: the journal, the audit's per-store counts and `C360_KILL_AT` use it."""
        ...

    def run(self, ws: Workspace, subject: Subject) -> StoreCounts: ...


class SubjectFinder(Protocol):
    """Looks a customer id up (current or merged away); raises NotFoundError for an unknown one."""

    def __call__(self, ws: Workspace, customer_id: str) -> Subject: ...


@dataclass(frozen=True)
class FunctionStep:
    """An `ErasureStep` made of a plain function, which is all most stages need."""

    name: str
    fn: Callable[[Workspace, Subject], StoreCounts]

    def run(self, ws: Workspace, subject: Subject) -> StoreCounts:
        return self.fn(ws, subject)


@dataclass(frozen=True)
class ErasurePlan:
    """The steps of an erasure in the order they run, and how the subject is found. Built by the
    composition root (`c360.erasure_plan`), which alone knows every stage."""

    find_subject: SubjectFinder
    steps: tuple[ErasureStep, ...]

    def __post_init__(self) -> None:
        names = [s.name for s in self.steps]
        if len(set(names)) != len(names):
            raise ValueError(f"erasure step names must be unique: {names}")
