"""Reading raw files into arrow tables of delivered values, with file-level problems named clearly.

A reader never gives up on a whole file because of one bad row: a CSV row with the wrong number of columns or
a broken JSON line becomes a `MalformedRow` (quarantined as `malformed_row`) and the rest of the file is kept.
What does stop a file (wrong encoding, a header without the mapped columns, an unreadable path) raises
`FileFailed` with a message that names the file and says what to change.
"""

from __future__ import annotations

import codecs
import csv
import io
import json
from collections.abc import Callable

import numpy as np
import pyarrow as pa
import pyarrow.csv as pcsv
import pyarrow.json as pjson
import pyarrow.parquet as pq

from c360.io.lake import Lake
from c360.settings import FileSetSettings
from c360.sources.oversize import read_csv_lines, split_oversized, table_rows_json, too_large, utf8_len
from c360.sources.rawfile import FileFailed, MalformedRow, RawFile, RowLimits

__all__ = ["FileFailed", "MalformedRow", "RawFile", "RowLimits", "check_columns", "read_file"]

HEAD_BYTES = 1 << 16
JSONL_PROBE_LINES = 50
CANDIDATE_DELIMITERS = (",", ";", "\t", "|")


def required_columns(fs: FileSetSettings) -> list[str]:
    """Source columns a file of this set must carry: every mapped column and the id column."""
    cols = list(dict.fromkeys([*fs.mapping.values(), *(vp.column for vp in fs.value_patterns.values())]))
    if fs.id_column and fs.id_column not in cols:
        cols.append(fs.id_column)
    return cols


def _encoding_message(rel: str, encoding: str, data: bytes, exc: UnicodeDecodeError | None = None) -> str:
    if exc is None:
        try:
            data.decode(encoding)
        except UnicodeDecodeError as err:
            exc = err
    where = ""
    if exc is not None:
        line = data.count(b"\n", 0, exc.start) + 1
        where = f" (first undecodable byte at line {line}, byte offset {exc.start})"
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        guess = "utf-16"
    else:
        guess = "latin-1 or cp1252" if encoding.replace("-", "").lower() == "utf8" else "utf-8"
    return (
        f"{rel}: cannot be decoded as {encoding}{where}; it looks like {guess}. "
        f"Set csv.encoding for this file set, or re-export the file as {encoding}."
    )


def _open_failed(rel: str, exc: Exception) -> FileFailed:
    return FileFailed(f"{rel}: cannot be read ({type(exc).__name__}: {exc})")


def _read_head(lake: Lake, path: str, rel: str) -> bytes:
    try:
        with lake.open(path, "rb") as fh:
            return fh.read(HEAD_BYTES)
    except Exception as exc:  # noqa: BLE001 - local and Azure raise different kinds; the message names the file
        raise _open_failed(rel, exc) from exc


def _read_all(lake: Lake, path: str, rel: str) -> bytes:
    try:
        return lake.read_bytes(path)
    except Exception as exc:  # noqa: BLE001
        raise _open_failed(rel, exc) from exc


def _decode_head(head: bytes, rel: str, encoding: str) -> str:
    decoder = codecs.getincrementaldecoder(encoding)()
    try:
        return decoder.decode(head, final=len(head) < HEAD_BYTES).lstrip("\ufeff")
    except UnicodeDecodeError as exc:
        raise FileFailed(_encoding_message(rel, encoding, head, exc)) from None


def csv_header(lake: Lake, path: str, rel: str, fs: FileSetSettings) -> list[str]:
    """The header of a CSV file as the configured dialect reads it."""
    text = _decode_head(_read_head(lake, path, rel), rel, fs.csv.encoding)
    first = next(csv.reader(io.StringIO(text), delimiter=fs.csv.delimiter, quotechar=fs.csv.quote_char), [])
    if not fs.csv.header:
        return [f"f{i}" for i in range(len(first))]
    return [c.strip() for c in first]


def check_columns(lake: Lake, path: str, rel: str, fs: FileSetSettings) -> None:
    """Fail a file before any data is read when a mapped column is missing (wrong delimiter, wrong export)."""
    needed = required_columns(fs)
    if fs.format == "csv":
        header = csv_header(lake, path, rel, fs)
        missing = [c for c in needed if c not in header]
        if not missing:
            return
        hint = ""
        text = _decode_head(_read_head(lake, path, rel), rel, fs.csv.encoding).splitlines()[:1]
        for delim in CANDIDATE_DELIMITERS:
            if delim != fs.csv.delimiter and text:
                alt = next(csv.reader(io.StringIO(text[0]), delimiter=delim, quotechar=fs.csv.quote_char), [])
                if all(c in [a.strip() for a in alt] for c in needed):
                    hint = f"; the header splits on {delim!r}, not {fs.csv.delimiter!r}: set csv.delimiter"
                    break
        raise FileFailed(
            f"{rel}: mapped columns missing from the header: {', '.join(missing)} "
            f"(header has {len(header)} column(s) with delimiter {fs.csv.delimiter!r}){hint}"
        )
    if fs.format == "parquet":
        try:
            names = pq.read_schema(path, filesystem=lake.arrow_fs).names
        except Exception as exc:  # noqa: BLE001
            raise FileFailed(f"{rel}: not a readable parquet file ({type(exc).__name__}: {exc})") from exc
        missing = [c for c in needed if c not in names]
        if missing:
            raise FileFailed(f"{rel}: mapped columns missing from the parquet schema: {', '.join(missing)}")
        return
    # jsonl: keys may be omitted per line, so only columns no probed line carries are reported
    text = _decode_head(_read_head(lake, path, rel), rel, fs.csv.encoding)
    seen: set[str] = set()
    parsed = 0
    for line in text.splitlines()[:JSONL_PROBE_LINES]:
        try:
            obj = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(obj, dict):
            seen.update(obj)
            parsed += 1
    missing = [c for c in needed if c not in seen]
    if parsed and len(missing) == len(needed):
        raise FileFailed(
            f"{rel}: none of the mapped keys appear in the first {parsed} JSON lines: {', '.join(missing)}"
        )


# --------------------------------------------------------------------------------------------- csv


def read_csv(lake: Lake, path: str, rel: str, fs: FileSetSettings, limits: RowLimits) -> RawFile:
    header = csv_header(lake, path, rel, fs)
    data = _read_all(lake, path, rel)
    bad: list[tuple[int, str, int, int]] = []

    def on_invalid(row: pcsv.InvalidRow) -> str:
        bad.append((row.number or -1, row.text, row.expected_columns, row.actual_columns))
        return "skip"

    opts = fs.csv
    try:
        table = pcsv.read_csv(
            io.BytesIO(data),
            read_options=pcsv.ReadOptions(
                use_threads=False,  # row numbers of invalid rows are only known when parsing serially
                encoding=opts.encoding,
                column_names=header,
                skip_rows=1 if opts.header else 0,
                block_size=1 << 22,
            ),
            parse_options=pcsv.ParseOptions(
                delimiter=opts.delimiter,
                quote_char=opts.quote_char,
                newlines_in_values=True,
                invalid_row_handler=on_invalid,
            ),
            convert_options=pcsv.ConvertOptions(
                column_types={c: pa.string() for c in header},
                strings_can_be_null=False,
                quoted_strings_can_be_null=False,
            ),
        )
    except pa.ArrowInvalid as exc:
        if "UTF8" in str(exc) or "utf-8" in str(exc).lower():
            raise FileFailed(_encoding_message(rel, opts.encoding, data)) from None
        # most often one row larger than a parse block: read record by record, judging each row's size
        return _read_csv_slowly(data, rel, header, fs, limits, exc)
    # InvalidRow.number counts records from the first line of the file (header included).
    offset = 1 if opts.header else 0
    malformed = [
        MalformedRow(
            row=number - offset if number > 0 else -1,
            message=f"expected {expected} columns, found {actual}",
            raw=json.dumps(text, ensure_ascii=False),
        )
        for number, text, expected, actual in bad
    ]
    total = table.num_rows + len(malformed)
    skipped = {m.row for m in malformed}
    rows = (
        np.array([r for r in range(1, total + 1) if r not in skipped], dtype=np.int64)
        if skipped
        else (np.arange(1, total + 1, dtype=np.int64))
    )
    raw = RawFile(table, rows[: table.num_rows], malformed, table_rows_json(table))
    return split_oversized(raw, fs, limits) if len(data) > limits.smallest else raw


def _read_csv_slowly(
    data: bytes, rel: str, header: list[str], fs: FileSetSettings, limits: RowLimits, exc: Exception
) -> RawFile:
    try:
        text = data.decode(fs.csv.encoding).lstrip("\ufeff")
    except UnicodeDecodeError as err:
        raise FileFailed(_encoding_message(rel, fs.csv.encoding, data, err)) from None
    try:
        return read_csv_lines(text, header, fs, limits)
    except csv.Error:
        raise FileFailed(f"{rel}: not readable as CSV ({exc})") from None


# --------------------------------------------------------------------------------------------- jsonl


def _column(values: list[object]) -> pa.Array:
    """A column of JSON values; mixed types are kept as text (the normalizers read text)."""
    try:
        return pa.array(values)
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        return pa.array(
            [
                None if v is None else v if isinstance(v, str) else json.dumps(v, ensure_ascii=False)
                for v in values
            ],
            pa.string(),
        )


def read_jsonl(lake: Lake, path: str, rel: str, fs: FileSetSettings, limits: RowLimits) -> RawFile:
    data = _read_all(lake, path, rel)
    encoding = fs.csv.encoding
    try:
        text = data.decode(encoding).lstrip("\ufeff")
    except UnicodeDecodeError as exc:
        raise FileFailed(_encoding_message(rel, encoding, data, exc)) from None
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    # A line longer than the smaller limit (in characters, so bytes may only be more) is judged line by line.
    big = bool(lines) and max(map(len, lines)) > limits.smallest // 4
    fast = encoding.replace("-", "").lower() in ("utf8", "utf8sig") and all(line.strip() for line in lines)
    if fast and not big:
        try:
            table = pjson.read_json(io.BytesIO(text.encode("utf-8")))
            if table.num_rows == len(lines):
                rows = np.arange(1, len(lines) + 1, dtype=np.int64)
                return RawFile(table, rows, [], lambda idx: [lines[i].rstrip("\r") for i in idx])
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            pass  # a broken line or mixed types: parse line by line below
    records: list[dict[str, object]] = []
    kept: list[int] = []
    malformed: list[MalformedRow] = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        if big and len(line) > limits.smallest // 4 and utf8_len(line) > limits.smallest:
            entry = _oversized_line(number, line.rstrip("\r"), fs, limits)
            if entry is not None:
                malformed.append(entry)
                continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            msg = f"not valid JSON ({exc.msg} at column {exc.colno})"
            malformed.append(MalformedRow(number, msg, json.dumps(line.rstrip("\r"), ensure_ascii=False)))
            continue
        if not isinstance(obj, dict):
            msg = f"a JSON {type(obj).__name__}, not an object"
            malformed.append(MalformedRow(number, msg, json.dumps(line.rstrip("\r"), ensure_ascii=False)))
            continue
        records.append(obj)
        kept.append(number)
    names = list(dict.fromkeys(k for r in records for k in r))
    if names:
        table = pa.table({n: _column([r.get(n) for r in records]) for n in names})
    else:  # no keys at all: keep the row count so every line is still accounted for
        table = pa.table({"__empty__": pa.nulls(len(records))})
    row_lines = [lines[n - 1].rstrip("\r") for n in kept]
    return RawFile(table, np.array(kept, dtype=np.int64), malformed, lambda idx: [row_lines[i] for i in idx])


def _oversized_line(number: int, line: str, fs: FileSetSettings, limits: RowLimits) -> MalformedRow | None:
    try:
        obj = json.loads(line)
    except json.JSONDecodeError:
        obj = None
    record = obj if isinstance(obj, dict) else None
    if record is not None:
        entry = too_large(number, record, None, fs, limits)
        if entry is not None or utf8_len(line) <= limits.max_row_bytes:
            return entry
    if utf8_len(line) > limits.max_row_bytes:  # unparseable, or large in keys and punctuation
        return too_large(number, None, line, fs, limits)
    return None  # small enough: a broken line is reported as malformed by the caller


# --------------------------------------------------------------------------------------------- parquet


def read_parquet(lake: Lake, path: str, rel: str, fs: FileSetSettings, limits: RowLimits) -> RawFile:
    try:
        table = pq.read_table(path, filesystem=lake.arrow_fs)
    except Exception as exc:  # noqa: BLE001
        raise FileFailed(f"{rel}: not a readable parquet file ({type(exc).__name__}: {exc})") from exc
    rows = np.arange(1, table.num_rows + 1, dtype=np.int64)
    return split_oversized(RawFile(table, rows, [], table_rows_json(table)), fs, limits)


READERS: dict[str, Callable[[Lake, str, str, FileSetSettings, RowLimits], RawFile]] = {
    "csv": read_csv,
    "jsonl": read_jsonl,
    "parquet": read_parquet,
}


def read_file(
    lake: Lake, path: str, rel: str, fs: FileSetSettings, limits: RowLimits | None = None
) -> RawFile:
    """Read one raw file of a file set; raises FileFailed when the file as a whole cannot be used.

    A row over `limits` is quarantined (`field_too_large`, `row_too_large`) and the rest of the file kept.
    """
    return READERS[fs.format](lake, path, rel, fs, limits or RowLimits())
