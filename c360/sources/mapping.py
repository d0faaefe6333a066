"""Mapping and validation: one parsed batch of delivered rows -> canonical rows + quarantine entries.

Rules, in order, per canonical field: take the mapped column (or the constant), apply the file set's value
map, normalize by the field's kind, then judge. A typed field (timestamp, date, number, bool) or enum that is
present but unreadable rejects the row; so does a required field that ends up empty. An optional
identifier (email, phone) that cannot be normalized is nulled and logged while the row is kept. Messages never
quote a value: the `raw` column of the quarantine holds the row as delivered, for the people whose job is to
look at it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from c360.schemas import (
    DERIVED_FIELDS,
    ENUM_FIELDS,
    MAPPING_ONLY_FIELDS,
    MONEY,
    QUARANTINE_SCHEMA,
    RECORD_FIELDS,
    REQUIRED_FIELDS,
    TS,
    standardized_schema,
)
from c360.settings import FileSetSettings
from c360.sources.arrowkit import true_mask
from c360.sources.identity_fields import finish_identity
from c360.sources.normalize import (
    INVALID_REASON,
    NormalizeOptions,
    apply_value_map,
    clean_text,
    normalize,
    strip_controls,
)
from c360.sources.rawfile import MALFORMED, MalformedRow

# Kinds that are not implied by the arrow type of the canonical field.
FIELD_KINDS: dict[str, str] = {
    "email": "email",
    "phone": "phone",
    "first_name": "name",
    "last_name": "name",
    "name_suffix": "name",
    "text": "free_text",
    "description": "free_text",
    "attributes": "json",
    "currency": "currency",
    "base": "currency",  # fx_rate
    "rate": "rate",  # fx_rate
    "country": "code",
    "postcode": "code",
}
# Optional identifiers: an unreadable value is dropped, the row kept.
NULLABLE_KINDS = frozenset({"email", "phone"})
# Kinds read as text: their delivered values lose control and bidi-override characters first.
TEXT_KINDS = frozenset({"text", "name", "free_text", "code", "currency", "json", "email", "phone", "enum"})
# Transaction kinds whose quantity, price and amount may be negative.
SIGNED_KINDS = ("return", "cancel")
MONEY_FIELDS = ("quantity", "unit_price", "amount")

ROW_REJECTED = "row_rejected"
FIELD_NULLED = "field_nulled"


def field_kind(record: str, name: str, dtype: pa.DataType) -> str:
    if name in ENUM_FIELDS.get(record, {}):
        return "enum"
    if name in FIELD_KINDS:
        return FIELD_KINDS[name]
    if dtype == TS:
        return "timestamp"
    if pa.types.is_date(dtype):
        return "date"
    if dtype == MONEY:
        return "money"
    if pa.types.is_integer(dtype):
        return "int"
    if pa.types.is_boolean(dtype):
        return "bool"
    return "text"


def describe_problem(reason: str, name: str, fs: FileSetSettings, record: str) -> str:
    """A message for people that names the field and the expected form, never the value."""
    column = fs.mapping.get(name)
    where = f"{name} (column {column!r})" if column else name
    if reason == "missing_required":
        return f"{where} is required but empty or absent"
    if reason == "invalid_timestamp":
        fmt = f", or {fs.timestamp_format!r}" if fs.timestamp_format else ""
        return f"{where} is not a timestamp (ISO 8601, epoch seconds or milliseconds{fmt})"
    if reason == "invalid_date":
        fmts = [fs.date_format] if isinstance(fs.date_format, str) else (fs.date_format or [])
        fmt = "".join(f" or {f!r}" for f in fmts)
        return f"{where} is not a date (YYYY-MM-DD{fmt})"
    if reason == "invalid_number":
        what = "a whole number" if name == "quantity" else "an amount of money"
        return f"{where} is not {what}"
    if reason == "invalid_bool":
        return f"{where} is not a boolean (true/false, yes/no, y/n, 1/0)"
    if reason == "invalid_currency":
        return f"{where} is not an ISO 4217 currency code in use (like USD, EUR, GBP)"
    if reason == "invalid_rate":
        return f"{where} is not an exchange rate (a number above zero: units of currency per one base)"
    if reason == "invalid_enum":
        vocab = ENUM_FIELDS.get(record, {}).get(name, ())
        return f"{where} is not one of: {', '.join(vocab)} (add a value_maps entry to map it)"
    if reason == "invalid_email":
        return f"{where} is not a valid email address; the field was nulled and the row kept"
    if reason.startswith("negative_"):
        return f"{where} is negative on a purchase; only a {' or '.join(SIGNED_KINDS)} may be negative"
    if reason == "invalid_phone":
        return (
            f"{where} is not a valid phone number (read with default_region {fs.default_region}); "
            "the field was nulled and the row kept"
        )
    return f"{where}: {reason}"


@dataclass(frozen=True)
class BatchContext:
    source: str
    file_set: str
    file: str
    """Relative to the lake root."""
    ingested_at: datetime


@dataclass
class Issues:
    """Quarantine entries collected while a batch is judged: table indices plus what was wrong."""

    index: list[np.ndarray] = dataclasses.field(default_factory=list)
    fields: list[str | None] = dataclasses.field(default_factory=list)
    reason: list[str] = dataclasses.field(default_factory=list)
    action: list[str] = dataclasses.field(default_factory=list)
    message: list[str] = dataclasses.field(default_factory=list)

    def add(self, where: np.ndarray, name: str, reason: str, action: str, message: str) -> None:
        idx = np.flatnonzero(where)
        if len(idx):
            self.index.append(idx)
            self.fields.append(name)
            self.reason.append(reason)
            self.action.append(action)
            self.message.append(message)

    def without(self, rows: np.ndarray) -> None:
        """Forget every entry of the rows set in the mask `rows`."""
        for k, idx in enumerate(self.index):
            self.index[k] = idx[~rows[idx]]
        kept = [k for k, idx in enumerate(self.index) if len(idx)]
        for name in ("index", "fields", "reason", "action", "message"):
            setattr(self, name, [getattr(self, name)[k] for k in kept])


@dataclass
class StandardizeResult:
    standardized: pa.Table
    quarantine: pa.Table
    rows_read: int
    rows_accepted: int
    rows_rejected: int
    fields_nulled: int
    fields_cleaned: int = 0
    """Values that lost control, bidi-override or invisible characters (`strip_controls`)."""
    rows_outside: int = 0
    """Rows whose timestamp falls outside the file set's `period`: neither loaded nor quarantined."""


def _source_column(table: pa.Table, fs: FileSetSettings, name: str, n: int) -> pa.Array | None:
    if name in fs.mapping:
        column = fs.mapping[name]
        if column in table.column_names:
            col = table.column(column)
            return col.combine_chunks() if col.num_chunks != 1 else col.chunk(0)
        return pa.nulls(n, pa.string())  # a JSON key no line of this batch carries
    if name in fs.constants:
        return pa.repeat(pa.scalar(fs.constants[name]), n)
    if name in fs.value_patterns:
        vp = fs.value_patterns[name]
        if vp.column not in table.column_names:
            return pa.nulls(n, pa.string())
        return derive_by_pattern(table.column(vp.column), vp.patterns, vp.default)
    return None


def derive_by_pattern(
    column: pa.Array | pa.ChunkedArray, patterns: dict[str, str], default: str | None
) -> pa.Array:
    """The value of the first regex found in each (text of the) column value; `default` where none is, null
    where the column is empty."""
    text = clean_text(strip_controls(column)[0])
    out = pa.nulls(len(text), pa.string())
    undecided = np.asarray(text.is_valid().to_numpy(zero_copy_only=False), dtype=bool)
    for pattern, value in patterns.items():
        hit = undecided & np.asarray(true_mask(pc.match_substring_regex(text, pattern)), dtype=bool)
        if hit.any():
            out = pc.if_else(pa.array(hit), pa.scalar(value, pa.string()), out)
            undecided &= ~hit
    if default is not None and undecided.any():
        out = pc.if_else(pa.array(undecided), pa.scalar(default, pa.string()), out)
    return out


def _record_ids(
    table: pa.Table, rows: np.ndarray, fs: FileSetSettings, file: str
) -> tuple[pa.Array, np.ndarray]:
    def fallback(where: np.ndarray) -> pa.Array:
        return pa.array(
            [f"{file}:{r}" if w else None for r, w in zip(rows.tolist(), where.tolist(), strict=True)]
        )

    if not fs.id_column or fs.id_column not in table.column_names:
        return fallback(np.ones(len(rows), dtype=bool)), np.zeros(len(rows), dtype=bool)
    delivered, cleaned = strip_controls(table.column(fs.id_column))
    ids = clean_text(delivered)
    if ids.null_count == 0:
        return ids, cleaned
    missing = ~np.asarray(ids.is_valid().to_numpy(zero_copy_only=False), dtype=bool)
    return pc.coalesce(ids, fallback(missing)), cleaned


def _quarantine_table(
    issues: Issues, rows: np.ndarray, raw_json: Callable[[Sequence[int]], list[str]], ctx: BatchContext
) -> pa.Table:
    if not issues.index:
        return QUARANTINE_SCHEMA.empty_table()
    lengths = [len(i) for i in issues.index]
    idx = np.concatenate(issues.index)
    order = np.lexsort((np.repeat(np.arange(len(lengths)), lengths), idx))  # by row, then by field order
    idx = idx[order]

    def spread(values: list[str | None]) -> pa.Array:
        return pa.array(np.repeat(np.array(values, dtype=object), lengths)[order].tolist(), pa.string())

    n = len(idx)
    unique_idx, inverse = np.unique(idx, return_inverse=True)
    raws = raw_json(unique_idx.tolist())
    return pa.table(
        {
            "source": pa.repeat(pa.scalar(ctx.source), n),
            "file_set": pa.repeat(pa.scalar(ctx.file_set), n),
            "file": pa.repeat(pa.scalar(ctx.file), n),
            "row": pa.array(rows[idx], pa.int64()),
            "field": spread(issues.fields),
            "reason": spread(issues.reason),
            "message": spread(issues.message),
            "action": spread(issues.action),
            "raw": pa.array([raws[i] for i in inverse.tolist()], pa.string()),
            "_ingested_at": pa.repeat(pa.scalar(ctx.ingested_at, TS), n),
        },
        schema=QUARANTINE_SCHEMA,
    )


def malformed_quarantine(malformed: list[MalformedRow], ctx: BatchContext) -> pa.Table:
    """Quarantine entries for rows that never reached standardization (unparseable, or too large)."""
    n = len(malformed)
    if not n:
        return QUARANTINE_SCHEMA.empty_table()
    return pa.table(
        {
            "source": pa.repeat(pa.scalar(ctx.source), n),
            "file_set": pa.repeat(pa.scalar(ctx.file_set), n),
            "file": pa.repeat(pa.scalar(ctx.file), n),
            "row": pa.array([m.row for m in malformed], pa.int64()),
            "field": pa.array([m.field for m in malformed], pa.string()),
            "reason": pa.array([m.reason for m in malformed], pa.string()),
            "message": pa.array(
                [
                    f"row cannot be parsed: {m.message}" if m.reason == MALFORMED else m.message
                    for m in malformed
                ],
                pa.string(),
            ),
            "action": pa.repeat(pa.scalar(ROW_REJECTED), n),
            "raw": pa.array([m.raw for m in malformed], pa.string()),
            "_ingested_at": pa.repeat(pa.scalar(ctx.ingested_at, TS), n),
        },
        schema=QUARANTINE_SCHEMA,
    )


def derive_amount(quantity: pa.Array, unit_price: pa.Array) -> tuple[pa.Array, np.ndarray]:
    """amount = quantity x unit_price, null where either is null; flags products beyond decimal(18, 4)."""
    product = pc.multiply(unit_price.cast(MONEY), quantity.cast(pa.decimal128(19, 0)))
    too_large = pc.fill_null(pc.greater_equal(pc.abs(product.cast(pa.float64())), 1e14), False)
    product = pc.if_else(too_large, pa.scalar(None, product.type), product)
    return product.cast(MONEY), np.asarray(too_large.to_numpy(zero_copy_only=False), dtype=bool)


def standardize_batch(
    table: pa.Table,
    rows: np.ndarray,
    raw_json: Callable[[Sequence[int]], list[str]],
    fs: FileSetSettings,
    ctx: BatchContext,
) -> StandardizeResult:
    """Map, normalize and validate one batch of delivered rows (`rows`: their 1-based data row numbers)."""
    record = fs.record
    n = table.num_rows
    schema = standardized_schema(record)
    enums = ENUM_FIELDS.get(record, {})
    issues = Issues()
    rejected = np.zeros(n, dtype=bool)
    values: dict[str, pa.Array] = {}
    bad: dict[str, np.ndarray] = {}
    nullable: list[str] = []  # fields whose unreadable values are nulled instead of rejecting the row
    record_ids, ids_cleaned = _record_ids(table, rows, fs, ctx.file)
    cleaned = int(ids_cleaned.sum())
    if fs.id_required and fs.id_column:
        if fs.id_column in table.column_names:
            no_id = ~np.asarray(clean_text(table.column(fs.id_column)).is_valid(), dtype=bool)
        else:  # a JSON key no line of this batch carries
            no_id = np.ones(n, dtype=bool)
        message = f"the record id (column {fs.id_column!r}) is empty and the file set sets id_required"
        issues.add(no_id, "source_record_id", "missing_required", ROW_REJECTED, message)
        rejected |= no_id

    delivered_text: dict[str, pa.Array] = {}  # identity: the phone and full name as delivered (cleaned)
    for name in MAPPING_ONLY_FIELDS.get(record, ()):
        if (column := _source_column(table, fs, name, n)) is not None:
            delivered_text[name] = apply_value_map(strip_controls(column)[0], fs.value_maps.get(name, {}))
    for f in RECORD_FIELDS[record]:
        if f.name in DERIVED_FIELDS.get(record, ()):
            continue  # set by finish_identity below
        delivered = _source_column(table, fs, f.name, n)
        if delivered is None:
            values[f.name] = pa.nulls(n, f.type)
            continue
        kind = field_kind(record, f.name, f.type)
        if kind in TEXT_KINDS:  # before the value map, so an invisible character cannot dodge a mapping
            delivered, changed = strip_controls(delivered, free_text=kind == "free_text")
            cleaned += int(changed.sum())
        if f.name in fs.value_maps:
            delivered = apply_value_map(delivered, fs.value_maps[f.name])
        if record == "identity" and f.name == "phone":
            delivered_text["phone"] = delivered
        options = NormalizeOptions(
            region=fs.default_region,
            timestamp_format=fs.timestamp_format,
            date_format=fs.date_format if isinstance(fs.date_format, str | None) else tuple(fs.date_format),
            timezone=fs.timezone,
            vocabulary=tuple(enums.get(f.name, ())),
        )
        result = normalize(kind, delivered, options)
        values[f.name] = result.values.cast(f.type)
        bad[f.name] = result.invalid
        if not result.invalid.any():
            continue
        reason = INVALID_REASON[kind]
        # Identity records have no required fields: an unreadable birth date or timestamp is dropped and the
        # record kept, so its identifiers still reach identity resolution (nothing is lost that was valid).
        if kind in NULLABLE_KINDS or record == "identity":
            nullable.append(f.name)
            continue  # logged below for the rows that are kept
        issues.add(result.invalid, f.name, reason, ROW_REJECTED, describe_problem(reason, f.name, fs, record))
        rejected |= result.invalid

    if record == "identity":
        values = finish_identity(values, fs, delivered_text.get("phone"), delivered_text.get("full_name"))
    if "currency" in values and record != "fx_rate":  # a rate names its currency; no default applies
        values["currency"] = pc.coalesce(values["currency"], pa.scalar(fs.default_currency.upper()))
    if record == "transaction" and "amount" not in fs.mapping and "amount" not in fs.constants:
        values["amount"], too_large = derive_amount(values["quantity"], values["unit_price"])
        if too_large.any():
            reason = "invalid_number"
            issues.add(
                too_large, "amount", reason, ROW_REJECTED, "amount (quantity x unit_price) is out of range"
            )
            rejected |= too_large
        # a row whose quantity or price was unreadable is already reported; do not report the amount again
        bad["amount"] = too_large | bad.get("quantity", False) | bad.get("unit_price", False)
    if record == "transaction":
        rejected |= _negative_purchases(values, fs, issues)

    for name in REQUIRED_FIELDS[record]:
        missing = ~np.asarray(values[name].is_valid().to_numpy(zero_copy_only=False), dtype=bool)
        missing &= ~bad.get(name, np.zeros(n, dtype=bool))  # already reported as unreadable
        if missing.any():
            issues.add(
                missing,
                name,
                "missing_required",
                ROW_REJECTED,
                describe_problem("missing_required", name, fs, record),
            )
            rejected |= missing

    outside = _outside_period(values, fs, n)
    if outside.any():  # another export's rows: whatever else is wrong with them is that export's to report
        issues.without(outside)
        rejected &= ~outside
    nulled = 0
    for name in nullable:
        if (kept_bad := bad[name] & ~rejected & ~outside).any():
            reason = INVALID_REASON[field_kind(record, name, schema.field(name).type)]
            issues.add(kept_bad, name, reason, FIELD_NULLED, describe_problem(reason, name, fs, record))
            nulled += int(kept_bad.sum())

    lineage = {
        "source": pa.repeat(pa.scalar(ctx.source), n),
        "source_record_id": record_ids,
        "_file": pa.repeat(pa.scalar(ctx.file), n),
        "_row": pa.array(rows, pa.int64()),
        "_ingested_at": pa.repeat(pa.scalar(ctx.ingested_at, TS), n),
    }
    full = pa.table({**lineage, **values}, schema=schema)
    keep = ~rejected & ~outside
    standardized = full if keep.all() else full.filter(pa.array(keep))
    return StandardizeResult(
        standardized=standardized,
        quarantine=_quarantine_table(issues, rows, raw_json, ctx),
        rows_read=n,
        rows_accepted=standardized.num_rows,
        rows_rejected=int(rejected.sum()),
        fields_nulled=nulled,
        fields_cleaned=cleaned,
        rows_outside=int(outside.sum()),
    )


def _outside_period(values: dict[str, pa.Array], fs: FileSetSettings, n: int) -> np.ndarray:
    """Rows whose (readable) `ts` falls outside the file set's period; all False without one."""
    if fs.period is None or "ts" not in values:
        return np.zeros(n, dtype=bool)
    from zoneinfo import ZoneInfo

    zone = ZoneInfo(fs.timezone)
    ts = values["ts"]
    outside = pa.array(np.zeros(n, dtype=bool))
    for bound, compare in ((fs.period.start, pc.less), (fs.period.end, pc.greater_equal)):
        if bound is not None:
            at = bound if bound.tzinfo is not None else bound.replace(tzinfo=zone)
            outside = pc.or_(outside, pc.fill_null(compare(ts, pa.scalar(at, ts.type)), False))
    return np.asarray(outside, dtype=bool)


def _negative_purchases(values: dict[str, pa.Array], fs: FileSetSettings, issues: Issues) -> np.ndarray:
    """Rows of a purchase with a negative quantity, unit price or amount (they would count toward spend).

    A return or cancel may carry negative values; a row whose kind is unknown is already rejected for it.
    A derived amount is negative only when quantity or price is, which is reported already.
    """
    kind = values["kind"]
    purchase = np.asarray(
        pc.and_(kind.is_valid(), pc.invert(true_mask(pc.is_in(kind, pa.array(SIGNED_KINDS))))), dtype=bool
    )
    derived = "amount" not in fs.mapping and "amount" not in fs.constants
    out = np.zeros(len(kind), dtype=bool)
    for name in MONEY_FIELDS:
        if name == "amount" and derived:
            continue
        negative = purchase & np.asarray(true_mask(pc.less(values[name].cast(pa.float64()), 0.0)), dtype=bool)
        if negative.any():
            reason = f"negative_{name}"
            issues.add(
                negative, name, reason, ROW_REJECTED, describe_problem(reason, name, fs, "transaction")
            )
            out |= negative
    return out
