"""Normalizers, table-driven over formats seen in real exports."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

import pyarrow as pa
import pytest

from c360.sources.normalize import (
    NormalizeOptions,
    apply_value_map,
    normalize,
    normalize_bool,
    normalize_currency,
    normalize_date,
    normalize_email,
    normalize_enum,
    normalize_int,
    normalize_money,
    normalize_name,
    normalize_phone,
    normalize_rate,
    normalize_timestamp,
    strip_controls,
)

pytestmark = pytest.mark.unit


def one(fn, value, *args):
    return fn(pa.array([value]), *args).to_pylist()[0]


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (" Jane.Doe@Example.COM ", "jane.doe@example.com"),
        ("ｊａｎｅ＠ｅｘａｍｐｌｅ．ｃｏｍ", "jane@example.com"),  # full-width, NFKC
        ("mailto:bob@shop.co.uk", "bob@shop.co.uk"),
        ("o'brien+news@mail.example.ie", "o'brien+news@mail.example.ie"),
        ("josé@exämple.de", "josé@exämple.de"),
        ("not-an-email", None),
        ("jane@localhost", None),
        ("jane..doe@example.com", None),
        ("jane doe@example.com", None),
        ("@example.com", None),
        ("", None),
        (None, None),
    ],
)
def test_email(raw, expected):
    assert one(normalize_email, raw) == expected


@pytest.mark.parametrize(
    ("raw", "region", "expected"),
    [
        ("+44 20 7946 0958", "US", "+442079460958"),
        ("020 7946 0958", "GB", "+442079460958"),
        ("0044 20 7946 0958", "GB", "+442079460958"),
        ("0044 20 7946 0958", "US", "+442079460958"),  # 00 read as the international prefix anywhere
        ("(212) 555-0142", "US", "+12125550142"),
        ("212.555.0142", "US", "+12125550142"),
        ("+1 212-555-0142 ext. 12", "GB", "+12125550142"),  # extension dropped
        ("212-555-0142 x123", "US", "+12125550142"),
        ("+49 30 901820", "US", "+4930901820"),
        ("0000000000", "US", None),
        ("0000000000", "GB", None),
        ("12345", "US", None),
        ("call me", "US", None),
        # Well-formed for Britain though no 0212 area code is assigned: kept (flagged possible-only, like an
        # unassigned US area code), so two records carrying it still meet.
        ("(212) 555-0142", "GB", "+442125550142"),
        ("(999) 555-0142", "US", "+19995550142"),  # unassigned area code: kept, flagged
        ("0212 345 678", "US", None),  # no US number starts with 0, whatever its length
        ("", "US", None),
    ],
)
def test_phone(raw, region, expected):
    assert one(normalize_phone, raw, region) == expected


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("  José   María ", "José María"),
        ("Zoe\u0308", "Zoë"),  # decomposed -> composed (NFC), accent kept
        ("Anne\t\nMarie", "Anne Marie"),
        ("O'Brien", "O'Brien"),
        ("   ", None),
    ],
)
def test_name(raw, expected):
    assert one(normalize_name, raw) == expected


def utc(*args):
    return datetime(*args, tzinfo=UTC)


@pytest.mark.parametrize(
    ("raw", "fmt", "tz", "expected"),
    [
        ("2024-01-02T03:04:05Z", None, "UTC", utc(2024, 1, 2, 3, 4, 5)),
        ("2024-01-02T03:04:05+01:00", None, "UTC", utc(2024, 1, 2, 2, 4, 5)),
        ("2024-01-02 03:04:05.250-0500", None, "UTC", utc(2024, 1, 2, 8, 4, 5, 250000)),
        ("2024-01-02T03:04:05", None, "UTC", utc(2024, 1, 2, 3, 4, 5)),
        ("2024-07-02 09:00:00", None, "Europe/Paris", utc(2024, 7, 2, 7, 0, 0)),  # naive: the file set's zone
        ("2024-01-02 09:00:00", None, "America/New_York", utc(2024, 1, 2, 14, 0, 0)),
        ("2024-07-02T09:00:00Z", None, "Europe/Paris", utc(2024, 7, 2, 9, 0, 0)),  # explicit offset wins
        ("2024-01-02", None, "UTC", utc(2024, 1, 2)),
        ("1704164645", None, "UTC", utc(2024, 1, 2, 3, 4, 5)),  # epoch seconds
        ("1704164645123", None, "UTC", utc(2024, 1, 2, 3, 4, 5, 123000)),  # epoch millis
        ("02/01/2024 10:30", "%d/%m/%Y %H:%M", "Europe/London", utc(2024, 1, 2, 10, 30)),
        ("07/02/2024 10:30", "%m/%d/%Y %H:%M", "UTC", utc(2024, 7, 2, 10, 30)),
        ("31/02/2024 10:30", "%d/%m/%Y %H:%M", "UTC", None),  # impossible date, not rolled into March
        ("2024-02-30 10:00:00", None, "UTC", None),
        ("yesterday", None, "UTC", None),
        ("2024", None, "UTC", None),
    ],
)
def test_timestamp(raw, fmt, tz, expected):
    assert one(normalize_timestamp, raw, fmt, tz) == expected


def test_timestamp_typed_inputs():
    naive = pa.array([datetime(2024, 7, 2, 9, 0)], pa.timestamp("ms"))
    assert normalize_timestamp(naive, None, "Europe/Paris").to_pylist() == [utc(2024, 7, 2, 7, 0)]
    aware = pa.array([datetime(2024, 7, 2, 9, 0)], pa.timestamp("s", tz="+02:00"))
    assert normalize_timestamp(aware).type == pa.timestamp("us", tz="UTC")
    assert normalize_timestamp(pa.array([1704164645, 1704164645123])).to_pylist() == [
        utc(2024, 1, 2, 3, 4, 5),
        utc(2024, 1, 2, 3, 4, 5, 123000),
    ]


def test_timestamp_mixed_column_flags_only_the_bad_values():
    out = normalize(
        "timestamp", pa.array(["2024-01-02T03:04:05Z", "soon", None, "1704164645"]), NormalizeOptions()
    )
    assert out.values.to_pylist() == [utc(2024, 1, 2, 3, 4, 5), None, None, utc(2024, 1, 2, 3, 4, 5)]
    assert out.invalid.tolist() == [False, True, False, False]


@pytest.mark.parametrize(
    ("raw", "fmt", "expected"),
    [
        ("1985-05-17", None, date(1985, 5, 17)),
        ("1985-05-17T00:00:00", None, date(1985, 5, 17)),
        ("17/05/1985", "%d/%m/%Y", date(1985, 5, 17)),
        ("1/2/1985", "%d/%m/%Y", date(1985, 2, 1)),
        ("1985-05-17", "%d/%m/%Y", date(1985, 5, 17)),  # ISO is always understood
        ("29/02/1984", "%d/%m/%Y", date(1984, 2, 29)),
        ("29/02/1985", "%d/%m/%Y", None),
        ("1985-02-30", None, None),
        ("17.05.1985", None, None),
    ],
)
def test_date(raw, fmt, expected):
    assert one(normalize_date, raw, fmt) == expected


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("12.5", Decimal("12.5")),
        ("$1,234.50", Decimal("1234.5")),
        ("1.234,56 €", Decimal("1234.56")),
        ("EUR 9.99", Decimal("9.99")),
        ("(3.00)", Decimal("-3")),
        ("-0.5", Decimal("-0.5")),
        ("12,50", Decimal("12.5")),
        ("1,000", Decimal("1000")),
        ("12.34567", Decimal("12.3457")),
        (12.5, Decimal("12.5")),
        (7, Decimal("7")),
        ("abc", None),
        ("1.2.3", None),
        ("", None),
    ],
)
def test_money(raw, expected):
    out = normalize_money(pa.array([raw]))
    assert out.type == pa.decimal128(18, 4)
    assert out.to_pylist()[0] == expected


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("3", 3),
        ("3.0", 3),
        (" 12 ", 12),
        ("1,000", 1000),
        (4.0, 4),
        (2, 2),
        ("3.5", None),
        ("two", None),
        (2.5, None),
    ],
)
def test_int(raw, expected):
    assert one(normalize_int, raw) == expected


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("true", True),
        ("FALSE", False),
        ("Yes", True),
        ("no", False),
        ("y", True),
        ("N", False),
        ("1", True),
        ("0", False),
        (1, True),
        (0, False),
        (True, True),
        ("maybe", None),
        (2, None),
    ],
)
def test_bool(raw, expected):
    assert one(normalize_bool, raw) == expected


def test_enum_and_value_map():
    vocab = ("purchase", "return", "cancel")
    assert normalize_enum(pa.array(["Purchase", " RETURN ", "refund"]), vocab).to_pylist() == [
        "purchase",
        "return",
        None,
    ]
    assert normalize_enum(pa.array(["Third Party", "third-party"]), ("third_party",)).to_pylist() == [
        "third_party",
        "third_party",
    ]
    mapped = apply_value_map(pa.array(["P", "r", "x", None]), {"P": "purchase", "R": "return"})
    assert mapped.to_pylist() == ["purchase", "return", "x", None]


def test_currency():
    # ISO 4217 codes in use only: three letters are not enough (ABC, XXX are not currencies)
    got = normalize_currency(pa.array(["eur", " usd", "€", "EURO", "ABC", "XXX", "gbp ", None]))
    assert got.to_pylist() == ["EUR", "USD", None, None, None, None, "GBP", None]


def test_rate():
    raw = pa.array(["1.0876", " 0,8581 ", "6.5e-3", "0", "-1.2", "abc", "1.2.3", "", None, "1e999"])
    assert normalize_rate(raw).to_pylist() == [1.0876, 0.8581, 0.0065] + [None] * 7
    floats = pa.array([1.5, -2.0, 0.0, float("nan"), None])
    assert normalize_rate(floats).to_pylist() == [1.5, None, None, None, None]
    assert normalize_rate(pa.array([150, 0], pa.int64())).to_pylist() == [150.0, None]
    out = normalize("rate", pa.array(["1.1", "-1", "", None]), NormalizeOptions())
    assert out.invalid.tolist() == [False, True, False, False]


def test_normalize_tells_absent_from_invalid():
    out = normalize("email", pa.array(["a@example.com", "", None, "bad"]), NormalizeOptions())
    assert out.values.to_pylist() == ["a@example.com", None, None, None]
    assert out.invalid.tolist() == [False, False, False, True]


@pytest.mark.parametrize(
    ("raw", "free_text", "expected", "changed"),
    [
        ("Zo\x00ë", False, "Zoë", True),
        ("abc\u202edef", False, "abcdef", True),  # right-to-left override
        ("a\u2066b\u2069", False, "ab", True),  # isolates
        ("zero\u200bwidth\ufeff", False, "zerowidth", True),
        ("c1\x85\x9bx", False, "c1x", True),  # C1 controls
        ("two\r\nlines", False, "two lines", True),  # not free text: a line break is a space
        ("two\r\nlines\tok", True, "two\r\nlines\tok", False),  # free text keeps them
        ("over\rwrite", True, "overwrite", True),  # a lone CR rewrites a terminal line
        ("می\u200cخواهم", False, "می\u200cخواهم", False),  # Persian needs the zero-width non-joiner
        ("€5 – “quoted”", False, "€5 – “quoted”", False),
        (None, False, None, False),
    ],
)
def test_strip_controls(raw, free_text, expected, changed):
    values, mask = strip_controls(pa.array(["plain", raw]), free_text=free_text)
    assert values.to_pylist() == ["plain", expected]
    assert mask.tolist() == [False, changed]
