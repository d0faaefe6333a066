"""Small arrow helpers shared by the normalizers: text cleaning, masks, and per-distinct-value mapping."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc


def as_array(values: pa.Array | pa.ChunkedArray) -> pa.Array:
    if isinstance(values, pa.ChunkedArray):
        return values.combine_chunks() if values.num_chunks != 1 else values.chunk(0)
    return values


def _to_json_text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, default=str, sort_keys=True)


def clean_text(values: pa.Array | pa.ChunkedArray) -> pa.Array:
    """Any array as trimmed strings, with empty strings as null (absent and blank are the same to us)."""
    arr = as_array(values)
    t = arr.type
    if pa.types.is_null(t):
        return pa.nulls(len(arr), pa.string())
    if pa.types.is_dictionary(t):
        arr = arr.cast(t.value_type)
        t = arr.type
    if pa.types.is_large_string(t) or pa.types.is_string_view(t):
        arr = arr.cast(pa.string())
    elif pa.types.is_nested(t):
        arr = pa.array([_to_json_text(v) for v in arr.to_pylist()], pa.string())
    elif pa.types.is_binary(t) or pa.types.is_large_binary(t):
        arr = pa.array(
            [None if v is None else v.decode("utf-8", "replace") for v in arr.to_pylist()], pa.string()
        )
    elif pa.types.is_boolean(t):
        arr = pc.if_else(arr, "true", "false")
    elif not pa.types.is_string(t):
        arr = arr.cast(pa.string())
    arr = pc.utf8_trim_whitespace(arr)
    return pc.if_else(pc.equal(arr, ""), pa.scalar(None, pa.string()), arr)


def present_mask(values: pa.Array | pa.ChunkedArray) -> np.ndarray:
    """True where a value was delivered (not null, not blank)."""
    arr = as_array(values)
    if pa.types.is_string(arr.type) or pa.types.is_large_string(arr.type):
        arr = clean_text(arr)
    return np.asarray(arr.is_valid().to_numpy(zero_copy_only=False), dtype=bool)


def map_unique(text: pa.Array, fn: Callable[[str], Any], out_type: pa.DataType) -> pa.Array:
    """Apply a slow per-value function once per distinct value, then spread the results back."""
    if text.null_count == len(text):
        return pa.nulls(len(text), out_type)
    uniq = pc.unique(text.drop_null())
    results = pa.array([fn(v) for v in uniq.to_pylist()], out_type)
    return results.take(pc.index_in(text, value_set=uniq))


def fill_where(base: pa.Array, mask: pa.Array | np.ndarray, values: pa.Array) -> pa.Array:
    """`values` where `mask` and `base` is still null, else `base`."""
    chosen = pc.if_else(mask, values, pa.scalar(None, values.type))
    return pc.coalesce(base, chosen)


def only_where(text: pa.Array, mask: pa.Array) -> pa.Array:
    return pc.if_else(mask, text, pa.scalar(None, pa.string()))


def true_mask(mask: pa.Array) -> pa.Array:
    return pc.fill_null(mask, False)
