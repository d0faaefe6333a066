"""Free text with a known sentiment: support tickets and social mentions.

Each text is opener + core + closer, the core naming a product the customer actually cares about. The pools
are large enough that texts vary, and they include the hard cases a sentiment model meets in real data:
sarcasm labelled negative ("Great, another delayed delivery...") and positive texts that mention a problem
("...had an issue but your team fixed it").
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from c360.demo import vec

SENTIMENTS: tuple[str, ...] = ("negative", "neutral", "positive")
BRAND = "@NorthwindShop"

Pools = dict[str, tuple[tuple[str, ...], tuple[tuple[str, str], ...], tuple[str, ...]]]

SUPPORT: Pools = {
    "negative": (
        (
            "Hi,",
            "Hello,",
            "To whom it may concern,",
            "",
            "This is unacceptable.",
            "Really disappointed.",
            "I am fed up.",
            "Not happy at all.",
        ),
        (
            ("My ", " arrived damaged and the box was soaked."),
            ("The ", " stopped working after two days."),
            ("I returned the ", " three weeks ago and still have not been refunded."),
            ("I was charged twice for the ", " and nobody has explained why."),
            ("The ", " I ordered never arrived and the tracking has not updated in ten days."),
            ("You sent me the wrong ", " and the replacement is wrong as well."),
            ("This is the third time I have chased the refund for my ", "."),
            ("The ", " is nothing like the photos, very poor quality."),
            ("Your courier left my ", " in the rain outside the door."),
            ("I have been on hold for over an hour about my ", " order."),
            ("The discount code did not apply to my ", " order and the chat agent just closed the chat."),
            ("Great, another delayed delivery for my ", ". Fantastic service as always."),
            ("My ", " order was cancelled without any warning."),
            ("I still cannot log in to track my ", " order, the reset link never arrives."),
        ),
        (
            "I want a full refund.",
            "Please sort this out today.",
            "I will be taking my business elsewhere.",
            "Thinking of closing my account.",
            "Very disappointed.",
            "Nobody seems to care.",
            "",
            "Please escalate this to a manager.",
        ),
    ),
    "neutral": (
        ("Hi,", "Hello,", "Good morning,", "Hi there,", "", "Quick question."),
        (
            ("Can you tell me when the ", " will be back in stock?"),
            ("How do I change the delivery address for my ", " order?"),
            ("Is the ", " covered by the two-year guarantee?"),
            ("What are the dimensions of the ", "?"),
            ("Do you deliver the ", " to Ireland?"),
            ("Could you send me a VAT invoice for my ", " order?"),
            ("I need to return the ", ", which option is cheapest?"),
            ("Does the ", " come with batteries?"),
            ("Please confirm whether my ", " order has been dispatched."),
            ("Is there a larger size of the ", " available?"),
            ("Can I collect the ", " from a store instead?"),
        ),
        ("Thanks.", "Thank you.", "Kind regards.", "Cheers.", "", "Many thanks in advance."),
    ),
    "positive": (
        ("Hi,", "Hello,", "", "Hi team,"),
        (
            ("Just wanted to say the ", " is brilliant, thank you."),
            ("The ", " arrived a day early and works perfectly."),
            ("Your agent sorted out my ", " refund in minutes, great service."),
            ("Really impressed with the quality of the ", "."),
            ("The replacement ", " arrived quickly, problem solved."),
            ("Love my new ", ", I have already recommended you to friends."),
            ("Thanks for the quick help with my ", " order."),
            ("Best ", " I have bought in years."),
            ("I had an issue with my ", " but your team fixed it straight away, thank you."),
        ),
        (
            "Keep up the good work!",
            "Thanks again.",
            "Great service.",
            "",
            "Will definitely order again.",
            "Much appreciated.",
        ),
    ),
}

SOCIAL: Pools = {
    "negative": (
        ("", "", "Ugh.", "Seriously?"),
        (
            ("Still waiting on my ", f" from {BRAND}... two weeks and counting #fail"),
            (f"{BRAND} the ", " I bought broke on day one. Never again."),
            (f"Avoid {BRAND}. My ", " refund has been 'processing' for a month"),
            (f"Worst customer service ever {BRAND}, my ", " order just vanished 😡"),
            (f"{BRAND} charged me twice for a ", " and won't answer my DMs"),
            (f"Closed my {BRAND} account today after the ", " fiasco"),
            (f"Oh brilliant, {BRAND} lost my ", " again. Love that for me 🙃"),
            ("The ", f" from {BRAND} fell apart after a week. Cheap rubbish"),
        ),
        ("", "", "#neveragain", "Done with them."),
    ),
    "neutral": (
        ("", "", "Question:"),
        (
            ("Anyone tried the ", f" from {BRAND}? Worth it?"),
            (f"{BRAND} do you ship the ", " to Spain?"),
            ("Looking at the ", f" on {BRAND}, any other colours coming?"),
            (f"{BRAND} when does the sale on the ", " start?"),
            ("Picked up a ", f" from {BRAND} today, we'll see how it goes"),
            ("Comparing the ", f" at {BRAND} with a couple of other shops"),
        ),
        ("", "", "Thoughts?"),
    ),
    "positive": (
        ("", "", "Honestly,", "Wow."),
        (
            ("Loving my new ", f" from {BRAND} 😍"),
            (f"Shout out to {BRAND}, the ", " arrived next day! 🙌"),
            (f"{BRAND} customer service sorted my ", " issue in five minutes, legends"),
            ("Best ", f" I've ever owned, thanks {BRAND} ⭐⭐⭐⭐⭐"),
            ("Can't stop using my ", f" from {BRAND}. Highly recommend"),
            ("Great deal on a ", f" at {BRAND} today #happy"),
        ),
        ("", "", "#happycustomer", "Recommend!"),
    ),
}


def compose(pools: Pools, sentiment: np.ndarray, item: pa.Array, rng: np.random.Generator) -> pa.Array:
    """One text per row for sentiment codes (0 negative, 1 neutral, 2 positive) about `item`."""
    n = len(sentiment)
    out = pa.nulls(n, pa.string())
    for code, label in enumerate(SENTIMENTS):
        rows = np.flatnonzero(sentiment == code)
        if rows.size == 0:
            continue
        openers, cores, closers = pools[label]
        core = rng.integers(0, len(cores), rows.size)
        text = vec.join(
            vec.take(pa.array(openers), rng.integers(0, len(openers), rows.size)),
            " ",
            vec.take(pa.array([c[0] for c in cores]), core),
            vec.take(item, rows),
            vec.take(pa.array([c[1] for c in cores]), core),
            " ",
            vec.take(pa.array(closers), rng.integers(0, len(closers), rows.size)),
        )
        mask = np.zeros(n, dtype=bool)
        mask[rows] = True
        out = pc.replace_with_mask(out, pa.array(mask), pc.utf8_trim_whitespace(text))
    return out
