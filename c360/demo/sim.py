"""One chunk of customers simulated end to end, before anything is formatted as a file.

Each step draws from its own generator spawned from (seed, chunk), so a chunk's output depends only on the
seed, the chunk number and the chunk size, whichever process computes it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from c360.demo.care import Contacts, Readings, simulate_mentions, simulate_readings, simulate_tickets
from c360.demo.commerce import Orders, simulate_orders
from c360.demo.engagement import (
    CRM_COMBOS,
    CRM_GRANT,
    MARKETING_COMBOS,
    MARKETING_GRANT,
    Consents,
    EmailEvents,
    Sessions,
    consent_history,
    simulate_campaigns,
    simulate_sessions,
)
from c360.demo.people import NEVER, People, simulate_people
from c360.demo.records import SourceRecords, standard_records, support_records
from c360.demo.world import World


@dataclass
class ChunkSim:
    chunk: int
    world: World
    people: People
    records: dict[str, SourceRecords]
    orders: Orders
    crm_consent: Consents
    marketing_consent: Consents
    email_events: EmailEvents
    sessions: Sessions
    tickets: Contacts
    mentions: Contacts
    readings: Readings
    rngs: list[np.random.Generator]  # spare generators for formatting steps


def chunk_rngs(seed: int, chunk: int, count: int) -> list[np.random.Generator]:
    ss = np.random.SeedSequence(seed, spawn_key=(1, chunk))
    return [np.random.default_rng(s) for s in ss.spawn(count)]


def simulate_chunk(world: World, chunk: int, g0: int, n: int, total: int) -> ChunkSim:
    rngs = chunk_rngs(world.seed, chunk, 24)
    people = simulate_people(world, g0, n, total, rngs[0])
    records = standard_records(world, people, rngs[1])
    marketing_consent, email_window = consent_history(
        world, people, records["marketing"], MARKETING_COMBOS, MARKETING_GRANT, rngs[2]
    )
    crm_consent, _ = consent_history(world, people, records["crm"], CRM_COMBOS, CRM_GRANT, rngs[3])
    email_events, campaign_orders = simulate_campaigns(
        world, people, records["marketing"], email_window, rngs[4]
    )
    orders = simulate_orders(world, people, campaign_orders, rngs[5])
    sessions = simulate_sessions(world, people, records["web"], orders, rngs[6])
    tickets = simulate_tickets(world, people, rngs[7])
    first_ticket = np.full(people.n, NEVER, dtype=np.int64)
    np.minimum.at(first_ticket, tickets.person, tickets.ts)
    records["support"] = support_records(world, people, first_ticket, rngs[8])
    mentions = simulate_mentions(world, people, records["social"], rngs[9])
    readings = simulate_readings(world, people, records["iot"], rngs[10])
    return ChunkSim(
        chunk,
        world,
        people,
        records,
        orders,
        crm_consent,
        marketing_consent,
        email_events,
        sessions,
        tickets,
        mentions,
        readings,
        rngs[11:],
    )
