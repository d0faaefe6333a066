"""Column-at-a-time building blocks: fixed-width codes, string joins, timestamps, typos, sampling.

The generator writes tens of millions of rows, so every helper here takes whole columns (numpy in, pyarrow
string arrays out) and costs one Python call per column, never one per row.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

DIGITS = b"0123456789"
UPPER = b"ABCDEFGHJKLMNPQRSTUVWXYZ"
DAY = 86_400

StrArray = pa.Array
Part = str | pa.Array


# ----------------------------------------------------------------------------------------- identifiers


def key_of(*parts: object) -> int:
    """A stable 64-bit key from names (Python's hash() is salted per process, so never use it here)."""
    digest = hashlib.blake2b("/".join(map(str, parts)).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little")


def _permute_bits(v: np.ndarray, bits: int, key: int) -> np.ndarray:
    """An invertible mix of `bits`-bit integers: odd multiplications and xor-shifts, all mod 2**bits."""
    mask = np.uint64((1 << bits) - 1)
    shift = np.uint64(max(1, bits // 2))
    for r in range(3):
        mult = np.uint64(((key >> (r * 16)) & 0xFFFFFFFF) | 1)
        v = ((v ^ np.uint64((key >> (r * 7)) & ((1 << bits) - 1))) * mult) & mask
        v ^= v >> shift
    return v


def scramble(x: np.ndarray, modulus: int, key: int) -> np.ndarray:
    """A keyed pseudo-random bijection on [0, modulus): ids that look random, never collide and do not reveal
    neighbours (cycle-walking over a bit-mixing permutation of the next power of two)."""
    if modulus < 2 or modulus > 2**62:
        raise ValueError(f"modulus {modulus} out of range")
    bits = int(modulus - 1).bit_length()
    v = np.asarray(x).astype(np.uint64) % np.uint64(modulus)
    v = _permute_bits(v, bits, key)
    out_of_range = np.flatnonzero(v >= modulus)
    while out_of_range.size:
        v[out_of_range] = _permute_bits(v[out_of_range], bits, key)
        out_of_range = out_of_range[v[out_of_range] >= modulus]
    return v


def _digit_matrix(values: np.ndarray, width: int, alphabet: bytes = DIGITS) -> np.ndarray:
    v = np.asarray(values).astype(np.uint64, copy=True)
    lut = np.frombuffer(alphabet, dtype=np.uint8)
    base = np.uint64(len(alphabet))
    mat = np.empty((len(v), width), dtype=np.uint8)
    for j in range(width - 1, -1, -1):
        mat[:, j] = lut[(v % base).astype(np.intp)]
        v //= base
    return mat


def from_matrix(mat: np.ndarray) -> StrArray:
    """Rows of a uint8 matrix as a string array (zero copy)."""
    n, w = mat.shape
    offsets = np.arange(n + 1, dtype=np.int32) * np.int32(w)
    data = np.ascontiguousarray(mat)
    return pa.StringArray.from_buffers(n, pa.py_buffer(offsets), pa.py_buffer(data))


def codes(values: np.ndarray, width: int, alphabet: bytes = DIGITS) -> StrArray:
    """Fixed-width, zero-padded rendering of non-negative integers in the alphabet's base."""
    return from_matrix(_digit_matrix(values, width, alphabet))


ROWS_PER_CHUNK = 100_000_000
MAX_CHUNKS = 10_000


def row_ids(prefix: str, chunk: int, n: int, key: int, width: int = 12) -> StrArray:
    """Unique ids for the rows of one chunk of one file set (unique across chunks too)."""
    if n > ROWS_PER_CHUNK or chunk >= MAX_CHUNKS or 10**width < ROWS_PER_CHUNK * MAX_CHUNKS:
        raise ValueError(f"row ids: chunk {chunk} with {n} rows does not fit {width} digits")
    x = np.uint64(chunk) * np.uint64(ROWS_PER_CHUNK) + np.arange(n, dtype=np.uint64)
    return join(prefix, codes(scramble(x, 10**width, key), width))


def num(values: np.ndarray) -> StrArray:
    """Integers as variable-width decimal strings."""
    return pc.cast(pa.array(np.asarray(values, dtype=np.int64)), pa.string())


def money(cents: np.ndarray) -> StrArray:
    """Cents as '19.99' (money travels as text in most exports)."""
    c = np.asarray(cents, dtype=np.int64)
    return join(num(c // 100), ".", codes(c % 100, 2))


def decimal1(tenths: np.ndarray) -> StrArray:
    t = np.asarray(tenths, dtype=np.int64)
    sign = np.where(t < 0, "-", "")
    a = np.abs(t)
    return join(pa.array(sign), num(a // 10), ".", codes(a % 10, 1))


# ----------------------------------------------------------------------------------------- strings


def join(*parts: Part, sep: str = "") -> StrArray:
    """Element-wise concatenation of arrays and literals; a null part makes the result null."""
    arrays = [p for p in parts if isinstance(p, pa.Array | pa.ChunkedArray)]
    if not arrays:
        raise ValueError("join needs at least one array")
    return pc.binary_join_element_wise(*parts, sep)


def take(pool: StrArray, idx: np.ndarray) -> StrArray:
    return pool.take(pa.array(np.asarray(idx, dtype=np.int64)))


def pick(mask: np.ndarray, if_true: Part, if_false: Part) -> StrArray:
    return pc.if_else(pa.array(np.asarray(mask, dtype=bool)), if_true, if_false)


def null_where(mask: np.ndarray, values: pa.Array) -> pa.Array:
    return pc.if_else(pa.array(np.asarray(mask, dtype=bool)), pa.scalar(None, values.type), values)


def choose(rng: np.random.Generator, options: Sequence[str], weights: Sequence[float], n: int) -> StrArray:
    p = np.asarray(weights, dtype=float)
    return take(pa.array(list(options)), rng.choice(len(options), size=n, p=p / p.sum()))


_FOLD = {"ß": "ss", "æ": "ae", "Æ": "AE", "ø": "o", "Ø": "O", "œ": "oe", "Œ": "OE", "ł": "l", "Ł": "L"}


def fold(values: StrArray) -> StrArray:
    """Strip accents (José -> Jose): what a system without unicode support stores."""
    out = pc.utf8_normalize(values, form="NFKD")
    out = pc.replace_substring_regex(out, r"\p{Mn}", "")
    for src, dst in _FOLD.items():
        out = pc.replace_substring(out, src, dst)
    return out


def slug(values: StrArray) -> StrArray:
    """Lowercase ASCII letters only: the part of a name that survives into an email address."""
    return pc.replace_substring_regex(pc.utf8_lower(fold(values)), r"[^a-z]", "")


def typo(values: StrArray, mask: np.ndarray, rng: np.random.Generator) -> StrArray:
    """One character edit (delete, substitute, swap, double) in the rows where `mask` is set."""
    mask = np.asarray(mask, dtype=bool) & ~np.asarray(pc.is_null(values), dtype=bool)
    rows = np.flatnonzero(mask)
    if rows.size == 0:
        return values
    sub = np.asarray(take(values, rows).to_numpy(zero_copy_only=False), dtype=np.dtypes.StringDType())
    length = np.strings.str_len(sub)
    ok = length >= 3
    pos = 1 + (rng.random(rows.size) * np.maximum(length - 2, 1)).astype(np.int64)
    pos = np.minimum(pos, np.maximum(length - 2, 1))
    kind = rng.integers(0, 4, rows.size)
    head = np.strings.slice(sub, 0, pos)
    here = np.strings.slice(sub, pos, pos + 1)
    nxt = np.strings.slice(sub, pos + 1, pos + 2)
    tail1 = np.strings.slice(sub, pos + 1, length)
    tail2 = np.strings.slice(sub, pos + 2, length)
    letters = np.array(list("aeiourstnlmdhc"), dtype=np.dtypes.StringDType())
    letter = letters[rng.integers(0, len(letters), rows.size)]
    edited = np.where(
        kind == 0,
        head + tail1,  # deletion
        np.where(
            kind == 1,
            head + letter + tail1,  # substitution
            np.where(kind == 2, head + nxt + here + tail2, head + here + here + tail1),  # swap, double
        ),
    )
    edited = np.where(ok, edited, sub)
    full = np.zeros(len(values), dtype=bool)
    full[rows] = True
    return pc.replace_with_mask(values, pa.array(full), pa.array(edited, type=pa.string()))


# ----------------------------------------------------------------------------------------- time


def civil(epoch_s: np.ndarray) -> tuple[np.ndarray, ...]:
    """(year, month, day, hour, minute, second) of epoch seconds, UTC."""
    s = np.asarray(epoch_s, dtype=np.int64)
    days = s // DAY
    secs = s - days * DAY
    d = days.astype("datetime64[D]")
    month_start = d.astype("datetime64[M]")
    year = d.astype("datetime64[Y]").astype(np.int64) + 1970
    month = month_start.astype(np.int64) % 12 + 1
    day = (d - month_start).astype(np.int64) + 1
    return year, month, day, secs // 3600, (secs // 60) % 60, secs % 60


def strftime(epoch_s: np.ndarray, fmt: str) -> StrArray:
    """Vectorised strftime for %Y %y %m %d %H %M %S and literal text (pyarrow's is ~20x slower)."""
    year, month, day, hour, minute, second = civil(epoch_s)
    fields = {"Y": (year, 4), "y": (year % 100, 2), "m": (month, 2), "d": (day, 2), "H": (hour, 2)}
    fields |= {"M": (minute, 2), "S": (second, 2)}
    n = len(year)
    blocks: list[np.ndarray] = []
    i = 0
    while i < len(fmt):
        if fmt[i] == "%" and i + 1 < len(fmt):
            values, width = fields[fmt[i + 1]]
            blocks.append(_digit_matrix(values, width))
            i += 2
        else:
            literal = np.frombuffer(fmt[i].encode(), dtype=np.uint8)
            blocks.append(np.broadcast_to(literal, (n, len(literal))))
            i += 1
    return from_matrix(np.hstack(blocks) if blocks else np.empty((n, 0), np.uint8))


def epoch(date: str) -> int:
    return int(np.datetime64(date, "s").astype(np.int64))


def month_of(epoch_s: np.ndarray) -> np.ndarray:
    """Calendar month 1..12."""
    return (
        np.asarray(epoch_s, dtype=np.int64).astype("datetime64[s]").astype("datetime64[M]").astype(np.int64)
        % 12
        + 1
    )


def timestamps(epoch_s: np.ndarray) -> pa.Array:
    return pa.array(np.asarray(epoch_s, dtype=np.int64).astype("datetime64[s]")).cast(
        pa.timestamp("s", "UTC")
    )


# ----------------------------------------------------------------------------------------- sampling


class GroupedSampler:
    """Weighted draws from many small pools at once: one searchsorted over all pools' cumulative weights."""

    def __init__(self, weights: Sequence[np.ndarray]):
        self.offsets = np.zeros(len(weights) + 1, dtype=np.int64)
        cums = []
        for g, w in enumerate(weights):
            w = np.asarray(w, dtype=float)
            if w.size == 0 or w.sum() <= 0:
                raise ValueError(f"pool {g} is empty")
            c = np.cumsum(w) / w.sum()
            c[-1] = 1.0
            cums.append(g + c)
            self.offsets[g + 1] = self.offsets[g] + w.size
        self.cum = np.concatenate(cums)

    def sample(self, groups: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Global indices (into the concatenated pools) of one draw per entry of `groups`."""
        g = np.asarray(groups, dtype=np.int64)
        u = np.minimum(rng.random(g.size), 1 - 1e-12)
        idx = np.searchsorted(self.cum, g + u, side="right")
        return np.clip(idx, self.offsets[g], self.offsets[g + 1] - 1)


def categorical_rows(probs: np.ndarray, rows: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """One draw per entry of `rows` from the categorical distribution in `probs[row]`."""
    cum = np.cumsum(probs[rows], axis=1)
    u = rng.random(len(rows)) * cum[:, -1]
    return np.minimum((cum < u[:, None]).sum(axis=1), probs.shape[1] - 1)


def expand(counts: np.ndarray) -> np.ndarray:
    """Owner index of each of `sum(counts)` generated events."""
    return np.repeat(np.arange(len(counts), dtype=np.int64), np.asarray(counts, dtype=np.int64))


def rank_within(owner: np.ndarray) -> np.ndarray:
    """0, 1, 2, ... within each run of equal owners (owner must be sorted)."""
    n = len(owner)
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    starts = np.r_[0, np.flatnonzero(np.diff(owner)) + 1]
    first = np.repeat(starts, np.diff(np.r_[starts, n]))
    return np.arange(n, dtype=np.int64) - first


def poisson_events(
    rate_per_day: np.ndarray, t0: np.ndarray, t1: np.ndarray, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """A homogeneous Poisson process per entity on [t0, t1): (owner, ts) sorted by owner."""
    span = np.maximum(np.asarray(t1, dtype=np.int64) - t0, 0)
    k = rng.poisson(np.maximum(rate_per_day, 0) * span / DAY)
    owner = expand(k)
    ts = t0[owner] + (rng.random(owner.size) * span[owner]).astype(np.int64)
    return owner, ts
