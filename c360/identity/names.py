"""Person names as sources write them -> first name, last name and generational suffix, apart.

A support system that keeps one name field writes "Jane Doe" or "Doe, Jane"; mapped as a first name, the
person would be called "Jane Doe". `split_full_names` reads both orders. Titles (Dr, Mrs, Prof) and
letters after a name (PhD, MD) say nothing about who someone is and are dropped; a generational suffix (Jr,
Sr, II, III, IV) is kept in a field of its own, because it does: "Drake Jr." and "Drake Sr." are two people,
and identity treats two different suffixes as a conflict. `split_suffixes` takes a suffix off a last name
that carries one ("Drake Jr."). Each distinct value is parsed once; a column without any suffix or title
costs one vectorised regex test.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

TITLES: frozenset[str] = frozenset(
    {"mr", "mrs", "ms", "miss", "mx", "dr", "prof", "professor", "sir", "dame", "rev", "fr", "lady", "lord"}
)
"""Forms of address, dropped wherever they stand in a full name (a leading title of a first name too)."""
POST_NOMINALS: frozenset[str] = frozenset({"phd", "md", "dds", "esq", "cpa", "mba", "rn", "jd", "dvm", "obe"})
"""Letters after a name (degrees, honours): dropped."""
SUFFIXES: dict[str, str] = {
    "jr": "Jr", "jnr": "Jr", "junior": "Jr", "sr": "Sr", "snr": "Sr", "senior": "Sr",
    "ii": "II", "2nd": "II", "iii": "III", "3rd": "III", "iv": "IV", "4th": "IV",
}  # fmt: skip
"""Generational suffix (lower case, no period) -> the form stored."""
PARTICLES: frozenset[str] = frozenset(
    {
        "van",
        "von",
        "der",
        "den",
        "de",
        "del",
        "della",
        "di",
        "da",
        "dos",
        "das",
        "du",
        "la",
        "le",
        "st",
        "ter",
    }
)
"""Lower-case words that belong to the last name that follows them ("van der Berg", "de la Cruz")."""

_WORDS = "|".join(sorted({*SUFFIXES, *TITLES, *POST_NOMINALS}, key=len, reverse=True))
_HAS_EXTRA = rf"(?i)(^|[\s,.])({_WORDS})\.?($|[\s,])"
_SUFFIX_AT_END = rf"(?i)[\s,]+(?P<s>{'|'.join(sorted(SUFFIXES, key=len, reverse=True))})\.?\s*$"


def _key(token: str) -> str:
    return token.strip(".").lower()


def _drop_titles(tokens: list[str]) -> tuple[list[str], str | None, bool]:
    """Tokens without titles and post-nominals, the last generational suffix found, and whether a title was
    dropped."""
    kept, suffix, titled = [], None, False
    for t in tokens:
        k = _key(t)
        if k in TITLES or k in POST_NOMINALS:
            titled = titled or k in TITLES
            continue
        # A suffix only after a name word ("Jr Smith" is odd but "II" could be an initial-like token first).
        if k in SUFFIXES and kept:
            suffix = SUFFIXES[k]
            continue
        kept.append(t)
    return kept, suffix, titled


def _last_name(tokens: list[str]) -> str:
    """The last word, with the particles before it ("Ludwig van Beethoven" -> "van Beethoven")."""
    i = len(tokens) - 1
    while i > 1 and _key(tokens[i - 1]) in PARTICLES:
        i -= 1
    return " ".join(tokens[i:])


def parse_full_name(raw: str) -> tuple[str | None, str | None, str | None]:
    """(first, last, suffix) of one full name, in "First [Middle] Last" or "Last, First [Middle]" order.

    Middle names and initials are dropped (the record has no field for them); one word is a first name,
    unless a title stood before it ("Mrs Smith").
    """
    suffix, titled = None, False
    named: list[list[str]] = []
    for p in (p.strip() for p in raw.split(",")):
        if _key(p) in SUFFIXES:  # "Doe, Jane, Jr."
            suffix = suffix or SUFFIXES[_key(p)]
            continue
        tokens, s, t = _drop_titles(p.split())
        suffix, titled = suffix or s, titled or t
        if tokens:
            named.append(tokens)
    if not named:
        return None, None, suffix
    if len(named) >= 2:  # "Doe, Jane" (and "Doe Jr., Jane": the suffix was taken above)
        last_tokens, first_tokens = named[0], named[1]
        return first_tokens[0], " ".join(last_tokens), suffix
    tokens = named[0]
    if len(tokens) == 1:
        return (None, tokens[0], suffix) if titled else (tokens[0], None, suffix)
    return tokens[0], _last_name(tokens), suffix


def _spread(text: pa.Array, uniq: list[str], results: list[str | None]) -> pa.Array:
    return pa.array(results, pa.string()).take(pc.index_in(text, value_set=pa.array(uniq, pa.string())))


def split_full_names(full: pa.Array) -> tuple[pa.Array, pa.Array, pa.Array]:
    """First names, last names and suffixes of a column of full names (null where a part is absent)."""
    text = full.cast(pa.string())
    uniq = pc.unique(text.drop_null()).to_pylist()
    parsed = [parse_full_name(u) for u in uniq]
    return tuple(_spread(text, uniq, [p[i] for p in parsed]) for i in range(3))  # type: ignore[return-value]


def split_suffixes(last: pa.Array) -> tuple[pa.Array, pa.Array]:
    """Last names without a trailing generational suffix, and the suffix ("Drake Jr." -> "Drake", "Jr")."""
    text = last.cast(pa.string())
    hit = np.asarray(pc.fill_null(pc.match_substring_regex(text, _SUFFIX_AT_END), False), dtype=bool)
    if not hit.any():
        return text, pa.nulls(len(text), pa.string())
    found = pc.extract_regex(pc.if_else(pa.array(hit), text, pa.scalar(None, pa.string())), _SUFFIX_AT_END)
    word = pc.utf8_lower(pc.struct_field(found, "s"))
    keys = pa.array(list(SUFFIXES), pa.string())
    suffix = pa.array(list(SUFFIXES.values()), pa.string()).take(pc.index_in(word, value_set=keys))
    stripped = pc.utf8_trim_whitespace(pc.replace_substring_regex(text, _SUFFIX_AT_END, ""))
    # A last name that is nothing but a suffix ("Jr") is left as it was.
    keep = pc.and_(pa.array(hit), pc.not_equal(stripped, ""))
    return pc.if_else(keep, stripped, text), pc.if_else(keep, suffix, pa.scalar(None, pa.string()))


def strip_titles(first: pa.Array) -> pa.Array:
    """First names without a leading title ("Dr. Jane" -> "Jane"); a name that is only a title stays."""
    text = first.cast(pa.string())
    titles = "|".join(sorted(TITLES, key=len, reverse=True))
    pattern = rf"(?i)^({titles})\.?\s+"
    stripped = pc.replace_substring_regex(text, pattern, "")
    return pc.if_else(pc.fill_null(pc.equal(stripped, ""), False), text, stripped)


def has_name_extras(values: pa.Array) -> bool:
    """Whether any value holds a title, post-nominal or suffix word (a cheap test before parsing)."""
    return bool(pc.any(pc.match_substring_regex(values.cast(pa.string()), _HAS_EXTRA)).as_py())
