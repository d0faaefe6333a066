"""The behaviour file sets (transactions, interactions, consent) and the product catalogue as raw tables.

Every behaviour row carries `customer_ref` = the id of an identity record of the same source.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from c360.demo import layout, text, vec
from c360.demo.catalogue import CATEGORY_NAMES
from c360.demo.commerce import ORDER_CHANNELS
from c360.demo.engagement import Consents
from c360.demo.identity_tables import PLATFORMS, device_codes, platform_of
from c360.demo.sim import ChunkSim
from c360.demo.world import CURRENCIES, OFFERS

_CATEGORIES = pa.array(CATEGORY_NAMES)
_UNITS = ("C", "kWh", "min", "count")
_TOPICS = (
    ("delivery", "refund", "product_fault", "billing", "account"),
    ("stock", "delivery", "returns", "invoice", "product_question"),
    ("compliment", "product_feedback"),
)
_SUBJECTS = (
    ("Complaint", "Refund not received", "Item damaged", "Order not delivered", "Charged twice"),
    ("Question about my order", "Stock enquiry", "Delivery question", "Invoice request", "Product question"),
    ("Thank you", "Great service", "Feedback"),
)


def _ids(sim: ChunkSim, prefix: str, n: int) -> pa.Array:
    return vec.row_ids(prefix, sim.chunk, n, vec.key_of(prefix, sim.world.seed))


def _json_str(values: pa.Array) -> pa.Array:
    return vec.join('"', values, '"')


def _by_sentiment(
    sentiment: np.ndarray, pools: tuple[tuple[str, ...], ...], rng: np.random.Generator
) -> pa.Array:
    flat = [v for pool in pools for v in pool]
    offsets = np.cumsum([0] + [len(p) for p in pools])
    sizes = np.array([len(p) for p in pools])
    pick = offsets[sentiment] + (rng.random(len(sentiment)) * sizes[sentiment]).astype(np.int64)
    return vec.take(pa.array(flat), pick)


def _consent_table(
    sim: ChunkSim,
    c: Consents,
    source: str,
    id_col: str,
    ts_fmt: str,
    purposes: tuple[str, ...],
    channels: tuple[str, ...],
    granted: tuple[str, str],
    rng: np.random.Generator,
) -> dict[str, pa.Array]:
    rec = sim.records[source]
    return {
        "consent_id": _ids(sim, f"{source[:2].upper()}C", len(c.ts)),
        id_col: vec.take(rec.record_id, c.record),
        "ts": vec.strftime(c.ts, ts_fmt),
        "purpose": vec.take(pa.array(purposes), c.purpose),
        "channel": vec.take(pa.array(channels), c.channel),
        "granted": vec.take(pa.array(list(granted)), c.granted.astype(np.int64)),
    }


def activity_tables(sim: ChunkSim) -> tuple[dict[tuple[str, str], pa.Table], pa.Table]:
    """Behaviour tables of the chunk, and the sentiment ground truth of its texts."""
    rng = sim.rngs[1]
    w, people = sim.world, sim.people
    out: dict[tuple[str, str], pa.Table] = {}

    crm = _consent_table(
        sim,
        sim.crm_consent,
        "crm",
        "customer_no",
        layout.CRM_TS,
        layout.CRM_PURPOSES,
        layout.CRM_CHANNELS,
        layout.CRM_STATUS,
        rng,
    )
    out["crm", "consent"] = pa.table(
        {
            "consent_id": crm["consent_id"],
            "customer_no": crm["customer_no"],
            "recorded_at": crm["ts"],
            "purpose": crm["purpose"],
            "channel": crm["channel"],
            "status": crm["granted"],
            "source_system": vec.choose(
                rng, ("preference_centre", "store_pos", "call_centre"), (0.6, 0.25, 0.15), len(crm["ts"])
            ),
        }
    )

    o = sim.orders
    order_ref = sim.records["ecommerce"].ref(o.order_person, o.order_ts, rng)
    order_no = vec.row_ids("ORD", sim.chunk, len(o.order_ts), vec.key_of("order", w.seed))
    camp = vec.null_where(o.campaign < 0, vec.take(w.campaigns.campaign_id, np.maximum(o.campaign, 0)))
    out["ecommerce", "orders"] = pa.table(
        {
            "line_id": _ids(sim, "L", len(o)),
            "order_id": vec.take(order_no, o.order),
            "customer_id": vec.take(order_ref, o.order),
            "created_at": vec.strftime(o.ts, layout.ISO_Z),
            "sku": vec.take(w.catalogue.product_id, o.product),
            "category": vec.take(_CATEGORIES, o.category),
            "qty": vec.num(o.quantity),
            "unit_price": vec.money(o.unit_cents),
            "line_total": vec.money(o.amount_cents),
            "currency": vec.take(pa.array(CURRENCIES), o.country),
            "status": vec.take(pa.array(layout.ORDER_STATUS), o.kind),
            "channel": vec.take(pa.array(ORDER_CHANNELS), o.channel),
            "campaign_id": camp,
        }
    )
    if sim.chunk == 0:
        out["ecommerce", "products"] = w.catalogue.table()

    t = sim.tickets
    n = len(t.ts)
    ticket_id = _ids(sim, "T", n)
    topic = _by_sentiment(t.sentiment, _TOPICS, rng)
    csat_lo = np.array([1, 3, 4])[t.sentiment]
    csat = csat_lo + rng.integers(0, 2, n)
    csat_missing = rng.random(n) < np.array([0.4, 0.3, 0.2])[t.sentiment]
    status = _by_sentiment(
        t.sentiment,
        (("escalated", "open", "solved", "solved"), ("solved",) * 4 + ("pending",), ("solved",)),
        rng,
    )
    priority = _by_sentiment(
        t.sentiment, (("high", "urgent", "normal"), ("normal", "low"), ("low", "normal")), rng
    )
    csat_text = vec.null_where(csat_missing, vec.num(csat))
    out["support", "tickets"] = pa.table(
        {
            "ticket_id": ticket_id,
            "contact_id": sim.records["support"].ref(t.person, t.ts, rng),
            "opened_at": vec.strftime(t.ts, layout.SUPPORT_TS),
            "channel": vec.choose(rng, ("email", "phone", "chat", "web_form"), (0.4, 0.25, 0.25, 0.1), n),
            "subject": _by_sentiment(t.sentiment, _SUBJECTS, rng),
            "body": text.compose(text.SUPPORT, t.sentiment, t.noun, rng),
            "priority": priority,
            "status": status,
            "csat": csat_text,
            "meta": vec.join(
                '{"topic":"',
                topic,
                '","priority":"',
                priority,
                '","status":"',
                status,
                '","csat":',
                vec.pick(csat_missing, "null", csat_text),
                "}",
            ),
        }
    )

    e = sim.email_events
    mk = sim.records["marketing"]
    offer = w.campaigns.offer[e.campaign]
    out["marketing", "events"] = pa.table(
        {
            "event_id": _ids(sim, "E", len(e.ts)),
            "subscriber_id": vec.take(mk.record_id, e.record),
            "event_time": vec.strftime(e.ts, layout.ISO_OFFSET),
            "event": vec.take(pa.array(layout.EMAIL_EVENTS), e.kind),
            "channel": pa.array(["email"] * len(e.ts), pa.string()),
            "properties": vec.join(
                '{"campaign_id":"',
                vec.take(w.campaigns.campaign_id, e.campaign),
                '","offer":"',
                vec.take(pa.array(OFFERS), offer),
                '","subject":"',
                vec.take(w.campaigns.subject, e.campaign),
                '"}',
            ),
        }
    )
    mc = _consent_table(
        sim,
        sim.marketing_consent,
        "marketing",
        "subscriber_id",
        layout.ISO_Z,
        layout.MKT_PURPOSES,
        layout.MKT_CHANNELS,
        ("false", "true"),
        rng,
    )
    out["marketing", "consent"] = pa.table(
        {
            "consent_id": mc["consent_id"],
            "subscriber_id": mc["subscriber_id"],
            "updated_at": mc["ts"],
            "purpose": mc["purpose"],
            "channel": mc["channel"],
            "opted_in": mc["granted"],
        }
    )

    s = sim.sessions
    n = len(s.ts)
    currency = vec.take(pa.array(CURRENCIES), people.country[s.person])
    out["web", "sessions"] = pa.table(
        {
            "session_id": _ids(sim, "S", n),
            "visitor_id": sim.records["web"].ref(s.person, s.ts, rng),
            "started_at": vec.strftime(s.ts, layout.ISO_Z),
            "kind": vec.take(pa.array(layout.SESSION_KINDS), s.app.astype(np.int64)),
            "device": vec.take(pa.array(["desktop", "mobile", "tablet"]), s.device),
            "data": vec.join(
                '{"pages":',
                vec.num(s.pages),
                ',"category":"',
                vec.take(_CATEGORIES, s.category),
                '","cart_items":',
                vec.num(s.cart_items),
                ',"cart_value":"',
                vec.money(s.cart_cents),
                '","currency":"',
                currency,
                '","purchased":',
                vec.pick(s.purchased, "true", "false"),
                "}",
            ),
        }
    )

    r = sim.readings
    iot = sim.records["iot"]
    assert iot.device is not None
    metric = vec.take(pa.array(["temperature_c", "energy_kwh", "play_minutes", "motion_events"]), r.metric)
    value = vec.decimal1(r.value_tenths)
    out["iot", "readings"] = pa.table(
        {
            "reading_id": _ids(sim, "R", len(r.ts)),
            "registration_id": vec.take(iot.record_id, r.record),
            "device_id": device_codes(sim, iot.device[r.record]),
            "ts": pa.array(r.ts, pa.int64()),
            "metric": metric,
            "value": pa.array(r.value_tenths / 10.0),
            "battery": pa.array(r.battery, pa.int32()),
            "payload": vec.join(
                '{"metric":"',
                metric,
                '","value":',
                value,
                ',"unit":"',
                vec.take(pa.array(_UNITS), r.metric),
                '"}',
            ),
        }
    )

    m = sim.mentions
    n = len(m.ts)
    social = sim.records["social"]
    profile = social.pick(m.person, m.ts, rng)
    likes = rng.lognormal(1.0, 1.3, n).astype(np.int64)
    shares = (likes * rng.random(n) * 0.3).astype(np.int64)
    mention_id = _ids(sim, "M", n)
    out["social", "mentions"] = pa.table(
        {
            "mention_id": mention_id,
            "profile_id": vec.take(social.record_id, profile),
            "posted_at": vec.strftime(m.ts, layout.ISO_Z),
            "platform": vec.take(pa.array(PLATFORMS), platform_of(sim, profile)),
            "text": text.compose(text.SOCIAL, m.sentiment, m.noun, rng),
            "likes": vec.num(likes),
            "shares": vec.num(shares),
            "meta": vec.join('{"likes":', vec.num(likes), ',"shares":', vec.num(shares), ',"lang":"en"}'),
        }
    )

    labels = pa.array(text.SENTIMENTS)
    sentiment = pa.table(
        {
            "source": pa.array(["support"] * len(t.ts) + ["social"] * n, pa.string()),
            "file_set": pa.array(["tickets"] * len(t.ts) + ["mentions"] * n, pa.string()),
            "source_record_id": pa.concat_arrays([ticket_id, mention_id]),
            "label": pa.concat_arrays([vec.take(labels, t.sentiment), vec.take(labels, m.sentiment)]),
        }
    )
    return out, sentiment
