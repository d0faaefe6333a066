"""A model-ready lake written directly, fast: standardized records and an identity store for N customers.

Going through `demo-data`, `ingest` and `resolve` costs far more than the stages the facts benchmark times,
so this writes what those stages would leave behind, vectorised with numpy and Arrow:

- `standardized/transaction/` (source `shop`): orders over two years, ~1.75 lines each, ~7.5 lines per
  customer; kinds purchase 91% / return 7.5% / cancel 1.5%; GBP, USD and EUR customers; a campaign on ~2%;
- `standardized/interaction/` (~11 per customer, the demo generator's mix): web visits and app sessions with
  cart attributes, email sends with opens, clicks and responses that follow a send of the same campaign,
  IoT readings, and support tickets and social mentions with text (positive, neutral or negative);
- `standardized/product/` (a catalogue with titles, descriptions, categories, prices, attributes) and
  `standardized/fx_rate/` (EUR-based daily rates for GBP and USD, business days);
- the identity store's `id_map`, `golden`, `clusters` and `aliases` through `IdentityStore.write`: every
  customer has a shop, web and marketing record, some also a support, social or IoT one (~3.7 records each).

Activity is heterogeneous (a gamma-distributed multiplier per customer shared by every kind of event), so
some customers never buy and a few buy a lot. Files are written per block of customers, as ingest writes
one file per raw file. `add_increment` writes new standardized files holding a fraction of new rows for
existing customers, dated after the lake's end, as a new delivery would.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from c360.identity.golden import GOLDEN_FIELDS, LIST_FIELDS
from c360.identity.schemas import column_type
from c360.identity.store import IdentityStore
from c360.io.lake import Lake
from c360.schemas import MONEY, TS, standardized_schema

DAYS = 730
BLOCK = 100_000
"""Customers per written file."""
LOAD_DATE = "2026-12-01"
INCREMENT_DATE = "2026-12-08"
RUN_ID = "20261201T000000000000Z"

# Per-customer means (the demo generator's, measured on 2,000 customers).
ORDERS_PER_CUSTOMER = 4.27
EXTRA_LINES_PER_ORDER = 0.75
RATES = {"web_visit": 3.81, "app_session": 1.28, "email_send": 2.42}
OPEN_RATE, CLICK_RATE, RESPONSE_RATE = 0.28, 0.30, 0.36
# (share of customers holding a record in the source, events per such customer)
MEMBER_SOURCES = {"support": (0.30, 0.35 / 0.30), "social": (0.20, 0.41 / 0.20), "iot": (0.25, 1.93 / 0.25)}
CURRENCIES = np.array(["GBP", "USD", "EUR"])
CURRENCY_SHARE = [0.44, 0.41, 0.15]
COUNTRY_OF = {"GBP": "GB", "USD": "US", "EUR": "DE"}
TO_CURRENCY = np.array([1.0, 1.27, 1.17])  # rough units per GBP, for prices
CATEGORIES = np.array(
    ["grocery", "beauty", "electronics", "home", "fashion_women", "fashion_men", "sports", "toys", "books"]
)
BRANDS = np.array(["Lumen", "Northwind", "Acme", "Verde", "Oakridge", "Solace", "Kestrel", "Tidal"])
NOUNS = np.array(
    [
        "phone charger",
        "olive oil",
        "moisturiser",
        "running shoes",
        "desk lamp",
        "kettle",
        "jacket",
        "board game",
    ]
)
CHANNELS = np.array(["web", "app", "store"])
TICKET_TEXT = {
    "positive": ["Thanks for the quick help with my {} order.", "Great service, the {} arrived early!"],
    "neutral": ["Can you tell me when my {} will ship?", "I would like to change the address for my {}."],
    "negative": [
        "My {} arrived broken and nobody answers. Terrible.",
        "Still waiting for a refund on the {}, this is awful.",
    ],
}
MENTION_TEXT = {
    "positive": ["Loving my new {} from @NorthwindShop", "Best {} I have bought in years, highly recommend"],
    "neutral": ["Just ordered a {} from @NorthwindShop", "Anyone tried the {} from @NorthwindShop?"],
    "negative": ["Worst {} ever, @NorthwindShop please fix this", "Really disappointed with the {}, avoid"],
}
TOPICS = np.array(["delivery", "refund", "product", "account", "compliment"])


def default_end() -> datetime:
    """The lake's last day: two weeks before today (UTC midnight), so a week of new rows and a cutoff
    after them are still in the past (a backfill refuses to read the future)."""
    today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    return today - timedelta(days=14)


@dataclass
class LakeCounts:
    customers: int = 0
    end: datetime | None = None
    identity_records: int = 0
    transaction_lines: int = 0
    interactions: int = 0
    texts: int = 0
    products: int = 0
    fx_rates: int = 0
    files: int = 0
    by_type: dict[str, int] = field(default_factory=dict)

    def add(self, other: LakeCounts) -> None:
        for name in ("transaction_lines", "interactions", "texts", "files"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        for k, v in other.by_type.items():
            self.by_type[k] = self.by_type.get(k, 0) + v


# --------------------------------------------------------------------------------------------- helpers


def _s(values: np.ndarray | pa.Array) -> pa.Array:
    arr = values if isinstance(values, pa.Array) else pa.array(values)
    return arr if pa.types.is_string(arr.type) else arr.cast(pa.string())


def _join(*parts: object) -> pa.Array:
    """Element-wise concatenation of string arrays and literals."""
    arrays = [p if isinstance(p, pa.Array) else pa.scalar(str(p)) for p in parts]
    return pc.binary_join_element_wise(*arrays, "")


def _fmt(prefix: str, numbers: np.ndarray, width: int) -> pa.Array:
    return _join(prefix, pc.utf8_lpad(_s(numbers.astype(np.int64)), width, "0"))


def customer_ids(index: np.ndarray) -> pa.Array:
    """`cus_` + 16 hex digits, a bijection of the customer index (distinct, not in index order)."""
    mixed = (
        index.astype(np.uint64) * np.uint64(0x9E3779B97F4A7C15) + np.uint64(0x632BE59BD9B4E019)
    ) & np.uint64((1 << 64) - 1)
    return pa.array(np.char.mod("cus_%016x", mixed))


def member(index: np.ndarray, source: str) -> np.ndarray:
    """Whether customer `index` has a record in a source only some customers use (deterministic)."""
    share = MEMBER_SOURCES[source][0]
    salt = {"support": 11, "social": 23, "iot": 37}[source]
    h = (index.astype(np.uint64) * np.uint64(2654435761) + np.uint64(salt * 7919)) % np.uint64(10_000)
    return h < np.uint64(int(share * 10_000))


def record_id(source: str, index: np.ndarray) -> pa.Array:
    return _fmt(source[:2].upper(), index, 9)


def _money(values: np.ndarray) -> pa.Array:
    return pa.array(np.round(values, 2)).cast(MONEY, safe=False)


def _ts(seconds: np.ndarray) -> pa.Array:
    return pa.array((seconds * 1_000_000).astype(np.int64), pa.int64()).cast(TS)


def _currency_of(index: np.ndarray) -> np.ndarray:
    h = (index.astype(np.uint64) * np.uint64(40503) + np.uint64(17)) % np.uint64(100)
    return np.where(h < 44, 0, np.where(h < 85, 1, 2))


def _activity(index: np.ndarray) -> np.ndarray:
    """A per-customer activity multiplier (mean 1): the same for a block of customers in the lake and in
    its increments (they are cut into the same blocks)."""
    rng = np.random.default_rng([999, int(index[0]) if len(index) else 0, len(index)])
    return rng.gamma(1.2, 1 / 1.2, len(index))


def _table(record: str, columns: dict[str, pa.Array], source: str, ids: pa.Array, raw: str) -> pa.Table:
    n = len(ids)
    schema = standardized_schema(record)
    data = {
        "source": pa.repeat(pa.scalar(source), n),
        "source_record_id": ids,
        "_file": pa.repeat(pa.scalar(raw), n),
        "_row": pa.array(np.arange(1, n + 1, dtype=np.int64)),
        "_ingested_at": pa.repeat(pa.scalar(datetime(2026, 12, 1, 1, tzinfo=UTC), TS), n),
    }
    for f in schema:
        if f.name not in data:
            col = columns.get(f.name)
            data[f.name] = pa.nulls(n, f.type) if col is None else col.cast(f.type)
    return pa.table(data, schema=schema)


def _write(lake: Lake, record: str, source: str, file_set: str, name: str, table: pa.Table, day: str) -> None:
    path = lake.path(
        "standardized", record, f"source={source}", f"load_date={day}", f"{file_set}-{name}.parquet"
    )
    lake.write_table(table, path)


def _events(owners: np.ndarray, rate: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    return np.repeat(owners, rng.poisson(rate))


# --------------------------------------------------------------------------------------------- records


def transactions(
    index: np.ndarray,
    act: np.ndarray,
    products: int,
    t0: float,
    t1: float,
    rng: np.random.Generator,
    tag: str,
) -> pa.Table:
    """Order lines of customers `index` between epoch seconds t0 and t1."""
    o_owner = _events(index, ORDERS_PER_CUSTOMER * act * (t1 - t0) / (DAYS * 86400), rng)
    n_orders = len(o_owner)
    order_no = rng.integers(0, 10**12, n_orders)
    o_ts = rng.uniform(t0, t1, n_orders)
    o_kind = rng.choice(np.array(["purchase", "return", "cancel"]), n_orders, p=[0.91, 0.075, 0.015])
    o_channel = rng.choice(CHANNELS, n_orders, p=[0.46, 0.33, 0.21])
    o_campaign = np.where(rng.random(n_orders) < 0.02, rng.integers(0, 24, n_orders), -1)
    lines = 1 + rng.poisson(EXTRA_LINES_PER_ORDER, n_orders)
    at = np.repeat(np.arange(n_orders), lines)
    n = len(at)
    owner = o_owner[at]
    product = (products * rng.random(n) ** 1.5).astype(np.int64)  # a long tail: low codes sell most
    cur = _currency_of(owner)
    base = 3 + (product * 7919 % 9700) / 100
    price = np.round(base * TO_CURRENCY[cur], 2)
    qty = 1 + rng.poisson(0.4, n)
    campaign = o_campaign[at]
    campaign_ids = pc.if_else(pa.array(campaign >= 0), _campaign_name(np.maximum(campaign, 0), t1), None)
    cols = {
        "order_id": _fmt(f"ORD{tag}", order_no[at], 12),
        "customer_ref": record_id("shop", owner),
        "ts": _ts(o_ts[at]),
        "product_id": _fmt("SKU-", product, 6),
        "category": pa.array(CATEGORIES[product % len(CATEGORIES)]),
        "quantity": pa.array(qty),
        "unit_price": _money(price),
        "amount": _money(price * qty),
        "currency": pa.array(CURRENCIES[cur]),
        "kind": pa.array(o_kind[at]),
        "channel": pa.array(o_channel[at]),
        "campaign_id": campaign_ids,
    }
    ids = _fmt(f"L{tag}-", np.arange(n), 9)
    return _table("transaction", cols, "shop", ids, f"raw/shop/orders/{tag}.parquet")


def _campaign_name(k: np.ndarray, t1: float) -> pa.Array:
    months = np.datetime64(datetime.fromtimestamp(t1, UTC).replace(tzinfo=None), "M") - k.astype(
        "timedelta64[M]"
    )
    return _join("CMP-", pa.array(np.datetime_as_string(months, unit="M")), "-monthly")


def _texts(templates: dict[str, list[str]], n: int, rng: np.random.Generator) -> tuple[pa.Array, np.ndarray]:
    polarity = rng.choice(np.array(list(templates)), n, p=[0.45, 0.30, 0.25])
    which = rng.integers(0, 2, n)
    flat = np.array([t for p in templates for t in templates[p]])
    offset = {p: 2 * i for i, p in enumerate(templates)}
    tmpl = flat[np.vectorize(offset.get)(polarity) + which] if n else np.array([], dtype=str)
    pre = np.char.partition(tmpl.astype(str), "{}") if n else np.empty((0, 3), dtype=str)
    noun = NOUNS[rng.integers(0, len(NOUNS), n)]
    head, tail = (pre[:, 0], pre[:, 2]) if n else ([], [])
    text = _join(pa.array(head, pa.string()), pa.array(noun, pa.string()), pa.array(tail, pa.string()))
    return text, polarity


def interactions(
    index: np.ndarray, act: np.ndarray, t0: float, t1: float, rng: np.random.Generator, tag: str
) -> dict[str, pa.Table]:
    """Interactions of customers `index` between t0 and t1, one table per source."""
    span = (t1 - t0) / (DAYS * 86400)
    out: dict[str, pa.Table] = {}

    # web visits and app sessions: pages, the category browsed, a cart
    owners = [_events(index, RATES[t] * act * span, rng) for t in ("web_visit", "app_session")]
    owner = np.concatenate(owners)
    n = len(owner)
    kind = np.repeat(np.array(["web_visit", "app_session"]), [len(o) for o in owners])
    items = np.where(rng.random(n) < 0.3, 1 + rng.poisson(0.5, n), 0)
    cur = CURRENCIES[_currency_of(owner)]
    value = np.round(items * rng.uniform(5, 60, n), 2)
    attrs = _join(
        '{"pages":',
        _s(1 + rng.poisson(3.0, n)),
        ',"category":"',
        pa.array(CATEGORIES[rng.integers(0, len(CATEGORIES), n)]),
        '","cart_items":',
        _s(items),
        ',"cart_value":"',
        _s(pa.array(value).cast(pa.decimal128(12, 2))),
        '","currency":"',
        pa.array(cur),
        '","purchased":',
        pa.array(np.where((items > 0) & (rng.random(n) < 0.4), "true", "false")),
        "}",
    )
    cols = {
        "customer_ref": record_id("web", owner),
        "ts": _ts(rng.uniform(t0, t1, n)),
        "type": pa.array(kind),
        "channel": pa.array(rng.choice(np.array(["desktop", "mobile", "tablet"]), n)),
        "attributes": attrs,
    }
    out["web"] = _table(
        "interaction", cols, "web", _fmt(f"SE{tag}", np.arange(n), 10), f"raw/web/{tag}.jsonl"
    )

    # email: sends of monthly campaigns; opens, clicks and responses follow their send
    s_owner = _events(index, RATES["email_send"] * act * span, rng)
    ns = len(s_owner)
    s_ts = rng.uniform(t0, t1, ns)
    month = np.floor((t1 - s_ts) / (30.44 * 86400)).astype(np.int64)
    opened = rng.random(ns) < OPEN_RATE
    clicked = opened & (rng.random(ns) < CLICK_RATE)
    responded = clicked & (rng.random(ns) < RESPONSE_RATE)
    pick = [np.arange(ns), np.flatnonzero(opened), np.flatnonzero(clicked), np.flatnonzero(responded)]
    delay = [np.zeros(ns), rng.exponential(0.5, ns), rng.exponential(1.0, ns), rng.exponential(2.0, ns)]
    types = ["email_send", "email_open", "email_click", "campaign_response"]
    at = np.concatenate(pick)
    e_type = np.repeat(np.array(types), [len(p) for p in pick])
    e_ts = np.concatenate([s_ts[p] + delay[i][p] * 86400 for i, p in enumerate(pick)])
    offer = np.array(["new_arrivals", "free_shipping", "ten_percent"])[month[at] % 3]
    campaign = _campaign_name(month[at], t1)
    attrs = _join(
        '{"campaign_id":"',
        campaign,
        '","offer":"',
        pa.array(offer),
        '","subject":"Monthly: ',
        pa.array(offer),
        '"}',
    )
    cols = {
        "customer_ref": record_id("marketing", s_owner[at]),
        "ts": _ts(e_ts),
        "type": pa.array(e_type),
        "channel": pa.repeat(pa.scalar("email"), len(at)),
        "attributes": attrs,
    }
    ids = _fmt(f"EV{tag}", np.arange(len(at)), 10)
    out["marketing"] = _table("interaction", cols, "marketing", ids, f"raw/marketing/{tag}.jsonl")

    # support tickets and social mentions with text; IoT readings
    for source, itype in (
        ("support", "support_ticket"),
        ("social", "social_mention"),
        ("iot", "iot_reading"),
    ):
        who = index[member(index, source)]
        rate = MEMBER_SOURCES[source][1] * act[member(index, source)] * span
        owner = _events(who, rate, rng)
        n = len(owner)
        cols = {
            "customer_ref": record_id(source, owner),
            "ts": _ts(rng.uniform(t0, t1, n)),
            "type": pa.repeat(pa.scalar(itype), n),
        }
        if source == "support":
            text, polarity = _texts(TICKET_TEXT, n, rng)
            csat = np.where(polarity == "positive", 5, np.where(polarity == "negative", 1, 3))
            cols["text"] = text
            cols["channel"] = pa.array(rng.choice(np.array(["email", "phone", "chat"]), n))
            cols["attributes"] = _join(
                '{"topic":"',
                pa.array(TOPICS[rng.integers(0, len(TOPICS), n)]),
                '","priority":"',
                pa.array(rng.choice(np.array(["low", "normal", "high"]), n)),
                '","status":"',
                pa.array(rng.choice(np.array(["open", "pending", "solved"]), n, p=[0.15, 0.1, 0.75])),
                '","csat":',
                _s(csat),
                "}",
            )
        elif source == "social":
            cols["text"], _ = _texts(MENTION_TEXT, n, rng)
            cols["channel"] = pa.array(rng.choice(np.array(["twitter", "instagram", "facebook"]), n))
            cols["attributes"] = _join(
                '{"likes":', _s(rng.poisson(3, n)), ',"shares":', _s(rng.poisson(0.5, n)), ',"lang":"en"}'
            )
        else:
            cols["channel"] = pa.repeat(pa.scalar("device"), n)
            cols["attributes"] = _join(
                '{"metric":"temperature","value":', _s(np.round(rng.normal(20, 2, n), 1)), ',"unit":"C"}'
            )
        ids = _fmt(f"{source[:2].upper()}{tag}", np.arange(n), 10)
        out[source] = _table("interaction", cols, source, ids, f"raw/{source}/{tag}.jsonl")
    return out


def catalogue(products: int, rng: np.random.Generator) -> pa.Table:
    k = np.arange(products)
    brand = BRANDS[k % len(BRANDS)]
    noun = NOUNS[(k // len(BRANDS)) % len(NOUNS)]
    category = CATEGORIES[k % len(CATEGORIES)]
    colour = np.array(["Black", "White", "Red", "Blue", "Green"])[(k // 64) % 5]
    title = _join(pa.array(brand), " ", pa.array(noun), " ", _s(k), " - ", pa.array(colour))
    desc = _join(
        "Designed for everyday use, this ",
        pa.array(noun),
        " from ",
        pa.array(brand),
        " brings quality at a fair price.",
    )
    cols = {
        "product_id": _fmt("SKU-", k, 6),
        "title": title,
        "description": desc,
        "category": pa.array(category),
        "price": _money(3 + (k * 7919 % 9700) / 100),
        "currency": pa.repeat(pa.scalar("GBP"), products),
        "attributes": _join('{"brand":"', pa.array(brand), '","colour":"', pa.array(colour), '"}'),
    }
    return _table("product", cols, "shop", cols["product_id"], "raw/shop/products.jsonl")


def fx_rates(start: datetime, end: datetime, rng: np.random.Generator) -> pa.Table:
    days = np.arange(np.datetime64(start.date()), np.datetime64(end.date()) + 1)
    days = days[np.is_busday(days)]
    n = len(days)
    gbp = 0.86 * np.exp(np.cumsum(rng.normal(0, 0.003, n)))
    usd = 1.09 * np.exp(np.cumsum(rng.normal(0, 0.004, n)))
    cols = {
        "date": pa.array(np.concatenate([days, days])),
        "base": pa.repeat(pa.scalar("EUR"), 2 * n),
        "currency": pa.array(np.repeat(np.array(["GBP", "USD"]), n)),
        "rate": pa.array(np.round(np.concatenate([gbp, usd]), 5)),
    }
    ids = _fmt("FX", np.arange(2 * n), 6)
    return _table("fx_rate", cols, "fx", ids, "raw/fx/rates.csv")


def identity_tables(customers: int, rng: np.random.Generator, end: datetime) -> dict[str, pa.Table]:
    """id_map, golden, clusters and aliases as resolve would leave them (one customer per person)."""
    index = np.arange(customers)
    cid = customer_ids(index)
    parts = []
    for source in ("shop", "web", "marketing", "support", "social", "iot"):
        who = index if source in ("shop", "web", "marketing") else index[member(index, source)]
        srid = record_id(source, who)
        parts.append(
            pa.table(
                {
                    "source": pa.repeat(pa.scalar(source), len(who)),
                    "source_record_id": srid,
                    "record_key": _join(f"{source}:", srid),
                    "customer_id": cid.take(pa.array(who)),
                    "component": pa.array(who.astype(np.int64)),
                }
            )
        )
    id_map = pa.concat_tables(parts)
    n_records = np.bincount(id_map["component"].to_numpy(), minlength=customers)
    first = end.timestamp() - DAYS * 86400 - rng.uniform(0, 3 * 365 * 86400, customers)
    cur = _currency_of(index)
    golden: dict[str, pa.Array] = {
        "customer_id": cid,
        "n_records": pa.array(n_records.astype(np.int64)),
        "sources": pa.array([["marketing", "shop", "web"]] * customers, pa.list_(pa.string())),
        "first_observed": _ts(first),
        "last_observed": _ts(np.full(customers, end.timestamp())),
        "gender": pa.array(rng.choice(np.array(["female", "male", "other"]), customers, p=[0.5, 0.47, 0.03])),
        "country": pa.array(np.vectorize(COUNTRY_OF.get)(CURRENCIES[cur])),
        "birth_date": pa.array(
            (
                np.datetime64("1950-01-01") + rng.integers(0, 55 * 365, customers).astype("timedelta64[D]")
            ).astype("datetime64[us]")
        ),
    }
    names = [
        "customer_id", "n_records", "sources", "first_observed", "last_observed",
        *GOLDEN_FIELDS, *(f"{f}__from" for f in GOLDEN_FIELDS), *LIST_FIELDS,
    ]  # fmt: skip
    table = pa.table(
        {
            name: golden[name].cast(column_type("golden", name))
            if name in golden
            else pa.nulls(customers, column_type("golden", name))
            for name in names
        }
    )
    clusters = pa.table(
        {
            "customer_id": cid,
            "n_records": golden["n_records"],
            "first_seen": _ts(first).cast(pa.timestamp("ns", tz="UTC")),
            "updated_at": pa.repeat(pa.scalar(datetime(2026, 12, 1, tzinfo=UTC), TS), customers),
        }
    )
    aliases = pa.table(
        {
            k: pa.array([], column_type("aliases", k))
            for k in ("alias_id", "customer_id", "created_at", "run_id")
        }
    )
    return {"id_map": id_map, "golden": table, "clusters": clusters, "aliases": aliases}


# --------------------------------------------------------------------------------------------- lakes


def products_for(customers: int) -> int:
    return int(min(max(2_000, customers // 20), 50_000))


def write_lake(
    lake: Lake, customers: int, seed: int = 42, block: int = BLOCK, end: datetime | None = None
) -> LakeCounts:
    """Write the standardized records and identity tables of `customers` customers into `lake`: two years
    of activity up to `end` (default: `default_end()`)."""
    end = end or default_end()
    rng = np.random.default_rng(seed)
    t1 = end.timestamp()
    t0 = t1 - DAYS * 86400
    counts = LakeCounts(customers=customers, end=end, products=products_for(customers))
    store = IdentityStore(lake)
    for name, table in identity_tables(customers, rng, end).items():
        store.write(name, table, RUN_ID)
        if name == "id_map":
            counts.identity_records = table.num_rows
    _write(lake, "product", "shop", "products", "00000", catalogue(counts.products, rng), LOAD_DATE)
    fx = fx_rates(end - timedelta(days=DAYS + 30), end + timedelta(days=60), rng)
    _write(lake, "fx_rate", "fx", "rates", "00000", fx, LOAD_DATE)
    counts.fx_rates = fx.num_rows
    counts.files = 2
    for b, lo in enumerate(range(0, customers, block)):
        index = np.arange(lo, min(lo + block, customers))
        counts.add(_write_block(lake, index, counts.products, t0, t1, rng, f"{b:05d}", LOAD_DATE))
    return counts


def _write_block(
    lake: Lake,
    index: np.ndarray,
    products: int,
    t0: float,
    t1: float,
    rng: np.random.Generator,
    tag: str,
    day: str,
) -> LakeCounts:
    act = _activity(index)
    out = LakeCounts()
    tx = transactions(index, act, products, t0, t1, rng, tag)
    _write(lake, "transaction", "shop", "orders", tag, tx, day)
    out.transaction_lines = tx.num_rows
    out.files = 1
    for source, table in interactions(index, act, t0, t1, rng, tag).items():
        _write(lake, "interaction", source, "events", tag, table, day)
        out.interactions += table.num_rows
        out.texts += table.num_rows - table["text"].null_count
        out.files += 1
        for v in pc.value_counts(table["type"]).to_pylist():
            out.by_type[v["values"]] = out.by_type.get(v["values"], 0) + v["counts"]
    return out


def add_increment(
    lake: Lake, customers: int, end: datetime, fraction: float = 0.01, seed: int = 7, block: int = BLOCK
) -> LakeCounts:
    """New standardized files (a later load date) for the existing customers: their activity in the
    `fraction x 730` days after the lake's `end` (a week of new data is ~1% of two years)."""
    rng = np.random.default_rng(seed)
    t0 = end.timestamp()
    t1 = t0 + fraction * DAYS * 86400
    counts = LakeCounts(customers=customers, end=datetime.fromtimestamp(t1, UTC))
    for b, lo in enumerate(range(0, customers, block)):
        index = np.arange(lo, min(lo + block, customers))
        tag = f"i{seed:03d}x{b:04d}"
        counts.add(_write_block(lake, index, products_for(customers), t0, t1, rng, tag, INCREMENT_DATE))
    return counts
