"""Identity rows at ingest: phones kept when well-formed, full names split, suffixes apart, postcodes padded,
dates read in each file's own day/month order."""

from __future__ import annotations

import json
import logging
from datetime import UTC, date, datetime

import numpy as np
import pyarrow as pa
import pytest

from c360.identity.names import parse_full_name, split_suffixes, strip_titles
from c360.settings import FileSetSettings
from c360.sources.dates import date_formats, day_first, order_for_file
from c360.sources.identity_fields import pad_postcodes
from c360.sources.mapping import BatchContext, standardize_batch
from c360.sources.phones import parse_phone, phone_possible_only
from c360.sources.tasks import _dates_ordered_for_file
from c360.sources.temporal import normalize_date

pytestmark = pytest.mark.unit

NOW = datetime(2025, 1, 1, tzinfo=UTC)


def run(rows: list[dict], **settings):
    fs = FileSetSettings.model_validate(
        {"path": "raw/x/*.csv", "format": "csv", "record": "identity", **settings}
    )
    names = list(dict.fromkeys(k for r in rows for k in r))
    table = pa.table({n: pa.array([r.get(n) for r in rows], pa.string()) for n in names})
    numbers = np.arange(1, len(rows) + 1, dtype=np.int64)
    ctx = BatchContext("crm", "people", "raw/x/a.csv", NOW)
    return standardize_batch(table, numbers, lambda idx: [json.dumps(rows[i]) for i in idx], fs, ctx)


# ------------------------------------------------------------------------------------------------ phones


@pytest.mark.parametrize(
    ("raw", "region", "expected"),
    [
        ("+1 212-555-0142", "US", ("+12125550142", False)),  # valid
        ("(999) 555-0142", "US", ("+19995550142", True)),  # unassigned area code: well-formed, kept
        ("+1 311 555 0142", "GB", ("+13115550142", True)),
        ("0000000000", "US", (None, False)),  # a placeholder is not a number
        ("0212345678", "US", (None, False)),  # no US number starts with 0
        ("555-0142", "US", (None, False)),  # too short for the US
        ("call me", "US", (None, False)),
    ],
)
def test_parse_phone_keeps_well_formed_numbers_flagged(raw, region, expected):
    assert parse_phone(raw, region) == expected


def test_possible_phones_are_kept_flagged_and_not_quarantined():
    out = run(
        [
            {"id": "1", "tel": "(999) 555-0142"},
            {"id": "2", "tel": "212 555 0142"},
            {"id": "3", "tel": "12"},
            {"id": "4"},
        ],
        id_column="id",
        mapping={"phone": "tel"},
    )
    t = out.standardized
    assert t.column("phone").to_pylist() == ["+19995550142", "+12125550142", None, None]
    assert t.column("phone_possible_only").to_pylist() == [True, False, None, None]
    assert out.quarantine.column("reason").to_pylist() == ["invalid_phone"]  # only the unreadable one
    assert phone_possible_only(pa.array(["(999) 555-0142", None]), "US").to_pylist() == [True, None]


def test_phone_possible_only_is_not_a_mapping_target():
    with pytest.raises(ValueError, match="unknown canonical field 'phone_possible_only'"):
        FileSetSettings.model_validate(
            {
                "path": "raw/x/*.csv",
                "format": "csv",
                "record": "identity",
                "mapping": {"phone_possible_only": "x"},
            }
        )


# ------------------------------------------------------------------------------------------------- names


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("Jane Doe", ("Jane", "Doe", None)),
        ("Doe, Jane", ("Jane", "Doe", None)),
        ("DOE, JANE M", ("JANE", "DOE", None)),
        ("Dr. Jane Q. Doe Jr.", ("Jane", "Doe", "Jr")),
        ("Jane Doe, Jr.", ("Jane", "Doe", "Jr")),
        ("Doe Jr., Jane", ("Jane", "Doe", "Jr")),
        ("Doe, Jane, III", ("Jane", "Doe", "III")),
        ("John Smith 3rd", ("John", "Smith", "III")),
        ("Prof. Ada Lovelace PhD", ("Ada", "Lovelace", None)),
        ("Ludwig van Beethoven", ("Ludwig", "van Beethoven", None)),
        ("Mrs Smith", (None, "Smith", None)),  # a title before one word: a last name
        ("Madonna", ("Madonna", None, None)),
        ("Jr.", (None, None, "Jr")),
    ],
)
def test_parse_full_name(raw, expected):
    assert parse_full_name(raw) == expected


def test_suffixes_and_titles_come_off_names_that_carry_them():
    last, suffix = split_suffixes(pa.array(["Drake Jr.", "Drake, Sr", "Jr", "Smithjr", "Doe III", None]))
    assert last.to_pylist() == ["Drake", "Drake", "Jr", "Smithjr", "Doe", None]
    assert suffix.to_pylist() == ["Jr", "Sr", None, None, "III", None]
    assert strip_titles(pa.array(["Dr. Jane", "Dr", "Drew", "mrs  Ann", None])).to_pylist() == [
        "Jane",
        "Dr",
        "Drew",
        "Ann",
        None,
    ]


def test_a_full_name_column_fills_first_and_last_name():
    rows = [
        {"id": "1", "name": "Jane Doe"},
        {"id": "2", "name": "Doe, Jane"},
        {"id": "3", "name": "Aubrey Drake Graham Jr.", "fn": "Aubrey"},  # a mapped first name wins
        {"id": "4"},
    ]
    t = run(rows, id_column="id", mapping={"full_name": "name", "first_name": "fn"}).standardized
    assert t.column("first_name").to_pylist() == ["Jane", "Jane", "Aubrey", None]
    assert t.column("last_name").to_pylist() == ["Doe", "Doe", "Graham", None]
    assert t.column("name_suffix").to_pylist() == [None, None, "Jr", None]
    assert "full_name" not in t.column_names


def test_mapped_last_names_give_up_their_suffix():
    rows = [
        {"id": "1", "fn": "Dr. Aubrey", "ln": "Drake Jr."},
        {"id": "2", "fn": "Aubrey", "ln": "Drake Sr."},
    ]
    t = run(rows, id_column="id", mapping={"first_name": "fn", "last_name": "ln"}).standardized
    assert t.column("first_name").to_pylist() == ["Aubrey", "Aubrey"]
    assert t.column("last_name").to_pylist() == ["Drake", "Drake"]
    assert t.column("name_suffix").to_pylist() == ["Jr", "Sr"]


# --------------------------------------------------------------------------------------------- postcodes


def test_postcodes_get_their_leading_zeros_back_per_country():
    post = pa.array(["2134", "2134", "501", "800", "2134.0", "SW1A 1AA", "12345", "2134", None])
    country = pa.array(["US", "United States", "USA", "AU", "DE", "GB", "US", None, "US"])
    out = pad_postcodes(post, country, {"US": 5, "DE": 5, "AU": 4})
    assert out.to_pylist() == ["02134", "02134", "00501", "0800", "02134", "SW1A 1AA", "12345", "2134", None]


def test_postcode_padding_at_ingest_uses_the_row_country_or_a_constant_and_config():
    rows = [
        {"id": "1", "zip": "2134", "c": "US"},
        {"id": "2", "zip": "2134", "c": "CH"},
        {"id": "3", "zip": "2134"},
    ]
    t = run(rows, id_column="id", mapping={"postcode": "zip", "country": "c"}).standardized
    assert t.column("postcode").to_pylist() == [
        "02134",
        "2134",
        "2134",
    ]  # CH is 4 digits; no country, no guess
    t = run(rows, id_column="id", mapping={"postcode": "zip"}, constants={"country": "DE"}).standardized
    assert t.column("postcode").to_pylist() == ["02134"] * 3
    t = run(
        rows, id_column="id", mapping={"postcode": "zip", "country": "c"}, postcode_digits={"US": 0, "CH": 6}
    )
    assert t.standardized.column("postcode").to_pylist() == ["2134", "002134", "2134"]


# ------------------------------------------------------------------------------------------------- dates


def test_date_formats_accept_a_string_or_a_list():
    assert date_formats("%d/%m/%Y") == ["%d/%m/%Y"]
    assert date_formats(["%m/%d/%Y", "%d.%m.%Y"]) == ["%m/%d/%Y", "%d.%m.%Y"]
    assert date_formats(None) == []
    assert (day_first("%d/%m/%Y"), day_first("%m/%d/%Y"), day_first("%Y%m%d"), day_first("%Y")) == (
        True,
        False,
        False,
        None,
    )


def test_several_formats_are_tried_in_order_after_none_fits():
    values = pa.array(["1980-04-03", "03.04.1980", "04/03/1980", "19800403", "31/02/1980", None])
    out = normalize_date(values, ["%d.%m.%Y", "%m/%d/%Y", "%Y%m%d"]).to_pylist()
    assert out == [date(1980, 4, 3)] * 4 + [None, None]


@pytest.mark.parametrize(
    ("values", "decision", "first"),
    [
        (["03/04/1980", "25/03/1980", "1980-04-03"], "day_first", date(1980, 4, 3)),
        (["03/04/1980", "03/25/1980"], "month_first", date(1980, 3, 4)),
        (["03/04/1980", "05/06/1981"], None, date(1980, 3, 4)),  # nothing decides: the configured order
        (["03/04/1980", "25/03/1980", "03/25/1980"], None, date(1980, 3, 4)),  # both: the configured order
    ],
)
def test_day_month_order_is_decided_per_file_by_its_unambiguous_rows(values, decision, first):
    order = order_for_file([pa.array(values)], ["%m/%d/%Y", "%d/%m/%Y"])
    assert order.decision == decision
    assert normalize_date(pa.array(values), order.formats).to_pylist()[0] == first


def test_a_file_is_read_day_first_when_its_rows_say_so_and_the_log_says_why(caplog):
    fs = FileSetSettings.model_validate(
        {
            "path": "raw/x/*.csv",
            "format": "csv",
            "record": "identity",
            "mapping": {"birth_date": "dob"},
            "date_format": ["%m/%d/%Y", "%d/%m/%Y"],
        }
    )
    table = pa.table({"dob": ["03/04/1980", "25/03/1980", "1980-04-03"]})
    with caplog.at_level(logging.INFO, logger="c360.sources.tasks"):
        ordered = _dates_ordered_for_file(table, fs, "raw/x/a.csv")
    assert ordered.date_format == ["%d/%m/%Y", "%m/%d/%Y"]
    assert "raw/x/a.csv: dates read day-first (1 values" in caplog.text
    assert "1980" not in caplog.text  # never a value
    ctx = BatchContext("crm", "people", "raw/x/a.csv", NOW)
    out = standardize_batch(table, np.arange(1, 4), lambda idx: ["{}"] * len(idx), ordered, ctx)
    assert out.standardized.column("birth_date").to_pylist() == [
        date(1980, 4, 3),
        date(1980, 3, 25),
        date(1980, 4, 3),
    ]
