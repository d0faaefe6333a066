"""The product catalogue: ~2,000 products in 12 categories, each split into budget / mid / premium tiers.

Built once per seed and shared by every customer chunk. Products are stored sorted by (category, tier) so a
`GroupedSampler` over those 36 groups returns catalogue row numbers directly.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from c360.demo import vec

# name, display nouns (also used in ticket and social texts), median price in USD, relative return rate
CATEGORIES: tuple[tuple[str, tuple[str, ...], float, float], ...] = (
    (
        "electronics",
        (
            "headphones",
            "bluetooth speaker",
            "phone charger",
            "smartwatch",
            "keyboard",
            "webcam",
            "power bank",
            "tablet case",
        ),
        55.0,
        1.2,
    ),
    (
        "home_kitchen",
        (
            "kettle",
            "toaster",
            "frying pan",
            "knife set",
            "coffee maker",
            "blender",
            "dinner set",
            "storage jars",
        ),
        40.0,
        0.8,
    ),
    (
        "fashion_women",
        ("dress", "blouse", "jeans", "ankle boots", "handbag", "cardigan", "scarf", "trench coat"),
        48.0,
        2.6,
    ),
    (
        "fashion_men",
        ("shirt", "chinos", "trainers", "jacket", "jumper", "belt", "polo shirt", "overcoat"),
        50.0,
        2.3,
    ),
    (
        "beauty",
        (
            "moisturiser",
            "perfume",
            "lipstick",
            "face serum",
            "shampoo",
            "hair dryer",
            "nail kit",
            "face mask",
        ),
        22.0,
        0.5,
    ),
    (
        "sports_outdoors",
        (
            "yoga mat",
            "running shoes",
            "tent",
            "water bottle",
            "dumbbells",
            "cycling helmet",
            "hiking backpack",
            "fitness tracker",
        ),
        42.0,
        1.3,
    ),
    (
        "toys_games",
        (
            "board game",
            "jigsaw puzzle",
            "building set",
            "doll",
            "remote control car",
            "plush toy",
            "card game",
            "science kit",
        ),
        28.0,
        0.7,
    ),
    (
        "books",
        (
            "novel",
            "cookbook",
            "biography",
            "travel guide",
            "picture book",
            "thriller",
            "notebook",
            "art book",
        ),
        14.0,
        0.3,
    ),
    (
        "grocery",
        (
            "coffee beans",
            "tea selection",
            "olive oil",
            "chocolate box",
            "granola",
            "hot sauce",
            "pasta set",
            "snack box",
        ),
        11.0,
        0.2,
    ),
    (
        "garden",
        (
            "garden hose",
            "planter",
            "pruning shears",
            "bird feeder",
            "lawn seed",
            "solar lights",
            "watering can",
            "hedge trimmer",
        ),
        32.0,
        0.7,
    ),
    (
        "pets",
        (
            "dog bed",
            "cat tree",
            "dog food",
            "dog lead",
            "chew toy",
            "litter tray",
            "pet carrier",
            "grooming kit",
        ),
        26.0,
        0.6,
    ),
    (
        "health",
        (
            "multivitamins",
            "thermometer",
            "massage gun",
            "first aid kit",
            "protein powder",
            "blood pressure monitor",
            "sleep mask",
            "electric toothbrush",
        ),
        30.0,
        0.6,
    ),
)
CATEGORY_NAMES: tuple[str, ...] = tuple(c[0] for c in CATEGORIES)
TIERS: tuple[str, ...] = ("budget", "mid", "premium")
N_CATEGORIES = len(CATEGORIES)

_BRANDS = (
    "Northwind",
    "Alder & Co",
    "Brightline",
    "Kestrel",
    "Lumen",
    "Oakridge",
    "Fenwick",
    "Harbour",
    "Marlow",
    "Ashby",
    "Corvo",
    "Tidewell",
    "Pemberton",
    "Solace",
    "Vantage",
    "Halcyon",
    "Birchwood",
    "Everly",
    "Quill",
    "Rowan",
    "Saltmarsh",
    "Thistle",
    "Umbra",
    "Wren",
    "Yardley Lane",
    "Zephyr",
    "Arden",
    "Bramble",
    "Cobalt",
    "Driftwood",
    "Ember",
    "Foxglove",
    "Granite",
    "Heron",
    "Ivy & Oak",
    "Juniper",
    "Kindred",
    "Larkspur",
)
_ADJECTIVES = (
    "Classic",
    "Premium",
    "Eco",
    "Compact",
    "Deluxe",
    "Essential",
    "Pro",
    "Ultra",
    "Everyday",
    "Signature",
    "Lightweight",
    "Vintage",
    "Smart",
    "Organic",
    "Cosy",
    "Sport",
    "Heritage",
    "Studio",
    "Travel",
    "Urban",
)
_COLOURS = ("Black", "White", "Navy", "Grey", "Red", "Sage", "Sand", "Blue", "Pink", "Olive", "Charcoal")
_OPENERS = (
    "Designed for everyday use, this",
    "Our best-selling",
    "Built to last, the",
    "A thoughtful upgrade: this",
    "Loved by customers, the",
    "Made with care, this",
    "Simple and reliable, the",
    "New for this season, the",
)
_MIDDLES = (
    " combines durability with a clean, modern look.",
    " is easy to use and even easier to love.",
    " brings quality you can feel at a fair price.",
    " is made from responsibly sourced materials.",
    " fits neatly into a busy routine.",
    " has been tested to our highest standards.",
)
_CLOSERS = (
    " Free returns within 30 days.",
    " Backed by a two-year guarantee.",
    " Ships in recyclable packaging.",
    " Pairs well with the rest of the range.",
    "",
)


@dataclass(frozen=True)
class Catalogue:
    product_id: pa.Array
    title: pa.Array
    description: pa.Array
    category: np.ndarray  # category code per product
    tier: np.ndarray
    price_cents: np.ndarray  # USD
    noun: pa.Array
    attributes: pa.Array  # JSON text
    sampler: vec.GroupedSampler  # groups = category * 3 + tier
    mean_price_cents: np.ndarray  # [category, tier]

    def __len__(self) -> int:
        return len(self.category)

    def table(self) -> pa.Table:
        return pa.table(
            {
                "sku": self.product_id,
                "title": self.title,
                "description": self.description,
                "category": vec.take(pa.array(CATEGORY_NAMES), self.category),
                "price": vec.money(self.price_cents),
                "currency": pa.array(["USD"] * len(self), pa.string()),
                "attributes": self.attributes,
            }
        )


def build_catalogue(rng: np.random.Generator, size: int = 2000) -> Catalogue:
    per_cat = np.full(N_CATEGORIES, size // N_CATEGORIES)
    per_cat[: size - per_cat.sum()] += 1
    category = np.repeat(np.arange(N_CATEGORIES), per_cat)
    n = category.size
    medians = np.array([c[2] for c in CATEGORIES])
    price = np.exp(rng.normal(np.log(medians[category]), 0.55))
    ending = rng.choice(np.array([99, 49, 0, 95]), n, p=[0.6, 0.15, 0.15, 0.1])
    price_cents = (
        np.maximum(np.floor(price).astype(np.int64), 1) * 100 + ending - np.where(ending > 0, 100, 0)
    )
    price_cents = np.maximum(price_cents, 99)
    tier = np.zeros(n, dtype=np.int64)
    for c in range(N_CATEGORIES):
        rows = np.flatnonzero(category == c)
        q1, q2 = np.quantile(price_cents[rows], [1 / 3, 2 / 3])
        tier[rows] = (price_cents[rows] > q1).astype(np.int64) + (price_cents[rows] > q2)
    order = np.lexsort((price_cents, tier, category))
    category, tier, price_cents = category[order], tier[order], price_cents[order]

    nouns_flat = [noun for c in CATEGORIES for noun in c[1]]
    noun_idx = category * 8 + rng.integers(0, 8, n)
    brands_per_cat = np.stack([rng.choice(len(_BRANDS), 6, replace=False) for _ in range(N_CATEGORIES)])
    brand_idx = brands_per_cat[category, rng.integers(0, 6, n)]
    adjective = vec.take(pa.array(_ADJECTIVES), rng.integers(0, len(_ADJECTIVES), n))
    brand = vec.take(pa.array(_BRANDS), brand_idx)
    noun = vec.take(pa.array(nouns_flat), noun_idx)
    colour = vec.take(pa.array(_COLOURS), rng.integers(0, len(_COLOURS), n))
    noun_title = vec.take(pa.array([w.title() if not w[0].isupper() else w for w in nouns_flat]), noun_idx)
    with_colour = rng.random(n) < 0.5
    title = vec.join(brand, " ", adjective, " ", noun_title)
    title = vec.pick(with_colour, vec.join(title, " - ", colour), title)
    description = vec.join(
        vec.take(pa.array(_OPENERS), rng.integers(0, len(_OPENERS), n)),
        " ",
        vec.take(pa.array([a.lower() for a in _ADJECTIVES]), rng.integers(0, len(_ADJECTIVES), n)),
        " ",
        noun,
        " from ",
        brand,
        vec.take(pa.array(_MIDDLES), rng.integers(0, len(_MIDDLES), n)),
        vec.take(pa.array(_CLOSERS), rng.integers(0, len(_CLOSERS), n)),
    )
    rating = np.clip(np.round(rng.normal(4.2, 0.45, n), 1), 1.0, 5.0)
    attributes = vec.join(
        '{"brand":',
        vec.take(pa.array([json.dumps(b) for b in _BRANDS]), brand_idx),
        ',"colour":"',
        colour,
        '","rating":',
        vec.decimal1(np.round(rating * 10).astype(np.int64)),
        ',"tier":"',
        vec.take(pa.array(TIERS), tier),
        '"}',
    )
    sku = vec.join("SKU-", vec.codes(vec.scramble(np.arange(n), 10**6, vec.key_of("sku", n)), 6))

    weights = []
    for g in range(N_CATEGORIES * len(TIERS)):
        k = int(np.sum(category * 3 + tier == g))
        ranks = rng.permutation(k)
        weights.append(1.0 / (ranks + 2.0) ** 0.9)
    mean_price = np.zeros((N_CATEGORIES, len(TIERS)))
    for c in range(N_CATEGORIES):
        for t in range(len(TIERS)):
            w = weights[c * 3 + t]
            rows = np.flatnonzero((category == c) & (tier == t))
            mean_price[c, t] = float(np.sum(price_cents[rows] * w) / w.sum())
    return Catalogue(
        product_id=sku,
        title=title,
        description=description,
        category=category,
        tier=tier,
        price_cents=price_cents,
        noun=noun,
        attributes=attributes,
        sampler=vec.GroupedSampler(weights),
        mean_price_cents=mean_price,
    )
