"""Identity records: which people each source knows, how many records it holds for each, and their ids.

Behaviour rows point at these records (`customer_ref` = the record id), never at people. A person can hold
several records in one source (a guest checkout next to an account, two newsletter subscriptions, three
browser cookies); behaviour picks one of them, preferring the first, and never one created after the event.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from c360.demo import vec
from c360.demo.people import SOURCES, People
from c360.demo.world import World


@dataclass
class SourceRecords:
    source: str
    person: np.ndarray  # local person index per record, sorted
    copy: np.ndarray  # 0 for a person's first record in the source
    record_id: pa.Array
    created: np.ndarray  # epoch seconds
    observed: np.ndarray  # the timestamp the source reports the record at (created or last update)
    first_of: np.ndarray  # per person: index of the first record, -1 if none
    count_of: np.ndarray
    device: np.ndarray | None = None  # iot: device key per registration (shared devices repeat it)
    shared: np.ndarray | None = None  # iot: a second household member registering a device already known

    def __len__(self) -> int:
        return len(self.person)

    def pick(
        self, persons: np.ndarray, ts: np.ndarray, rng: np.random.Generator, p_first: float = 0.75
    ) -> np.ndarray:
        """Record index for each behaviour row of `persons` at `ts`; every person must hold a record."""
        first = self.first_of[persons]
        if np.any(first < 0):
            raise ValueError(f"{self.source}: behaviour for a person without a record")
        count = self.count_of[persons]
        other = first + (rng.random(len(persons)) * count).astype(np.int64)
        choice = np.where(rng.random(len(persons)) < p_first, first, other)
        return np.where(self.created[choice] <= ts, choice, first)

    def ref(
        self, persons: np.ndarray, ts: np.ndarray, rng: np.random.Generator, p_first: float = 0.75
    ) -> pa.Array:
        return vec.take(self.record_id, self.pick(persons, ts, rng, p_first))


_ID_FORMATS = {
    "crm": ("C", 9),
    "ecommerce": ("7", 9),
    "support": ("ZD", 9),
    "marketing": ("SUB", 9),
    "iot": ("REG-", 9),
    "social": ("SP", 10),
    "thirdparty": ("TP", 10),
}


def build_records(
    source: str,
    world: World,
    people: People,
    persons: np.ndarray,
    copies: np.ndarray,
    created: np.ndarray,
    rng: np.random.Generator,
) -> SourceRecords:
    """Records for `persons` (sorted, unique) with `copies` records each; `created` is each person's first."""
    copies = np.asarray(copies, dtype=np.int64)
    owner = vec.expand(copies)
    person = persons[owner]
    copy = vec.rank_within(owner)
    first_created = created[owner]
    later = first_created + (rng.random(len(person)) * np.maximum(world.end - first_created, 0)).astype(
        np.int64
    )
    rec_created = np.where(copy == 0, first_created, later)
    key = vec.key_of(source, world.seed)
    x = people.gid[person] * 8 + np.minimum(copy, 7)
    if source == "web":
        record_id = vec.join("GA1.2.", vec.codes(vec.scramble(x, 10**10, key), 10), ".", vec.num(rec_created))
    else:
        prefix, width = _ID_FORMATS[source]
        record_id = vec.join(prefix, vec.codes(vec.scramble(x, 10**width, key), width))
    first_of = np.full(people.n, -1, dtype=np.int64)
    count_of = np.zeros(people.n, dtype=np.int64)
    starts = np.cumsum(copies) - copies
    first_of[persons] = starts
    count_of[persons] = copies
    return SourceRecords(source, person, copy, record_id, rec_created, rec_created.copy(), first_of, count_of)


def members(people: People, source: str) -> np.ndarray:
    return np.flatnonzero(people.in_source[:, SOURCES.index(source)])


def _between(rng: np.random.Generator, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    return lo + (rng.random(len(lo)) * np.maximum(hi - lo, 0)).astype(np.int64)


def standard_records(world: World, people: People, rng: np.random.Generator) -> dict[str, SourceRecords]:
    """Records of every source whose creation does not depend on behaviour (support is built from tickets)."""
    day = vec.DAY
    out: dict[str, SourceRecords] = {}
    end = world.end

    p = members(people, "crm")
    created = np.minimum(people.acq_ts[p] + rng.integers(0, 30 * day, len(p)), end - day)
    out["crm"] = build_records("crm", world, people, p, 1 + (rng.random(len(p)) < 0.05), created, rng)

    p = members(people, "ecommerce")
    created = np.minimum(people.acq_ts[p], end - day)
    out["ecommerce"] = build_records(
        "ecommerce", world, people, p, 1 + (rng.random(len(p)) < 0.08), created, rng
    )

    p = members(people, "marketing")
    signup = people.acq_ts[p] + rng.integers(-30 * day, 200 * day, len(p))
    signup = np.clip(signup, world.start - 3 * 365 * day, end - 7 * day)
    second = (rng.random(len(p)) < 0.5) & np.asarray(people.emails["personal2"].is_valid())[p]
    out["marketing"] = build_records("marketing", world, people, p, 1 + second, signup, rng)

    p = members(people, "web")
    first_seen = np.minimum(people.acq_ts[p] - rng.integers(0, 30 * day, len(p)), end - day)
    first_seen = np.maximum(first_seen, world.start - 365 * day)
    cookies = np.minimum(1 + rng.poisson(0.6, len(p)), 4)
    out["web"] = build_records("web", world, people, p, cookies, first_seen, rng)

    out["iot"] = _iot_records(world, people, rng)

    p = members(people, "social")
    joined = people.acq_ts[p] - rng.integers(0, 3 * 365 * day, len(p))
    out["social"] = build_records("social", world, people, p, 1 + (rng.random(len(p)) < 0.1), joined, rng)

    p = members(people, "thirdparty")
    verified = rng.integers(world.start - 2 * 365 * day, end - day, len(p))
    tp = build_records("thirdparty", world, people, p, 1 + (rng.random(len(p)) < 0.15), verified, rng)
    tp.observed = np.minimum(tp.created, end - day)
    out["thirdparty"] = tp

    crm = out["crm"]  # a CRM reports when a record was last updated (a move updates the address)
    crm.observed = _between(rng, crm.created, np.full(len(crm), end - day))
    return out


def _iot_records(world: World, people: People, rng: np.random.Generator) -> SourceRecords:
    """Device registrations: 1-2 devices each; household members often register the same device too."""
    p = members(people, "iot")
    start, stop = people.active_start[p], people.active_end(world.end)[p]
    registered = _between(rng, start, start + (0.6 * (stop - start)).astype(np.int64))
    own = 1 + (rng.random(len(p)) < 0.35)
    _, first_idx = np.unique(people.household[p], return_index=True)
    head = np.zeros(len(p), dtype=np.int64)
    head[first_idx] = first_idx
    head = np.maximum.accumulate(head)  # position (in p) of the household's first iot member
    shared = (head != np.arange(len(p))) & (rng.random(len(p)) < 0.6)
    rec = build_records("iot", world, people, p, own + shared, registered, rng)
    owner = vec.expand(own + shared)
    is_shared = rec.copy >= own[owner]
    device = np.where(is_shared, people.gid[p[head[owner]]] * 2, people.gid[rec.person] * 2 + rec.copy)
    shared_since = np.maximum(rec.created, registered[head[owner]])
    rec.created = np.where(is_shared, shared_since, rec.created)
    rec.observed = rec.created.copy()
    rec.device, rec.shared = device, is_shared
    return rec


def support_records(
    world: World, people: People, first_ticket: np.ndarray, rng: np.random.Generator
) -> SourceRecords:
    """Support contacts are created by a person's first ticket."""
    p = members(people, "support")
    created = first_ticket[p] - rng.integers(60, 3600, len(p))
    return build_records("support", world, people, p, 1 + (rng.random(len(p)) < 0.06), created, rng)
