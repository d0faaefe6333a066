"""Row-level resilience of one file's ingest, without Ray: duplicate ids, oversized values and rows, and the
line-by-line reader agreeing with the fast one. (The Ray path runs the same `process_file`.)"""

from __future__ import annotations

import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from c360.bench.ingest_baseline import ingest_baseline
from c360.sources.layout import read_quarantine, read_standardized
from c360.sources.oversize import read_csv_lines
from c360.sources.rawfile import RowLimits
from c360.sources.readers import csv_header, read_file
from c360.workspace import Workspace
from tests.ingest_data import Written, settings_for, write_customers

pytestmark = pytest.mark.unit

HEADER = "customer_id,Email,Phone,First Name,Last Name,DOB,Country,Updated"


def workspace(tmp_path, **ingest) -> Workspace:
    settings = settings_for("lake")
    for key, value in ingest.items():
        setattr(settings.ingest, key, value)
    return Workspace.from_settings(settings, tmp_path)


def customer(cid: str, first: str = "Ann", email: str | None = None) -> str:
    email = email or f"{cid.lower()}@example.com"
    return f"{cid},{email},020 7946 0958,{first},Lee,01/02/1990,GB,2024-01-01 10:00:00"


def write_csv(ws: Workspace, rows: list[str], name: str = "part-0.csv") -> str:
    rel = f"raw/crm/customers/{name}"
    ws.lake.write_text(ws.lake.path(rel), "\n".join([HEADER, *rows]) + "\n")
    return rel


def assert_counts_add_up(report) -> None:
    for f in report.file_sets:
        explained = f.rows_accepted + f.rows_quarantined + f.rows_suppressed + f.rows_collapsed
        assert f.rows_read == explained, (f.source, f.file_set)


DUPLICATES = [
    customer("A", "First"),  # row 1
    customer("B"),  # row 2
    customer("A", "Second"),  # row 3: same id, other contents
    customer("C"),  # row 4
    customer("C"),  # row 5: an identical copy
]


@pytest.mark.parametrize(
    ("policy", "kept_a", "quarantined_rows"),
    [("last", ["Second"], [1]), ("first", ["First"], [3]), ("reject", [], [1, 3])],
)
def test_duplicate_ids_follow_the_policy_and_every_version_is_accounted_for(
    tmp_path, policy, kept_a, quarantined_rows
):
    ws = workspace(tmp_path, duplicate_ids=policy)
    write_csv(ws, DUPLICATES)
    report = ingest_baseline(ws, ["crm"])
    std = read_standardized(ws.lake, "identity")
    names = dict.fromkeys(std.column("source_record_id").to_pylist())
    assert sorted(names) == sorted(["B", "C", *(["A"] if kept_a else [])])  # one row per id
    firsts = [r["first_name"] for r in std.to_pylist() if r["source_record_id"] == "A"]
    assert firsts == kept_a
    q = read_quarantine(ws.lake).to_pylist()
    assert [(r["row"], r["reason"], r["action"]) for r in q] == [
        (row, "duplicate_id", "row_rejected") for row in quarantined_rows
    ]
    assert all(f"duplicate_ids={policy}" in r["message"] and "A" not in r["message"].split() for r in q)
    assert all(json.loads(r["raw"])["customer_id"] == "A" for r in q)  # the losing version is kept whole
    rep = report.file_set("crm", "customers")
    assert (rep.rows_read, rep.rows_collapsed, rep.rows_quarantined) == (5, 1, len(quarantined_rows))
    assert rep.duplicates_quarantined == len(quarantined_rows)
    assert_counts_add_up(report)


def test_a_value_over_the_field_limit_quarantines_its_row_only(tmp_path):
    ws = workspace(tmp_path, max_field_bytes=2048)
    rows = [customer(f"C{i}") for i in range(1, 7)]
    rows[3] = customer("C4", first="x" * 5000)
    write_csv(ws, rows)
    report = ingest_baseline(ws, ["crm"])
    assert report.failed_files == []
    assert read_standardized(ws.lake, "identity").num_rows == 5
    (q,) = read_quarantine(ws.lake).to_pylist()
    assert (q["row"], q["field"], q["reason"]) == (4, "first_name", "field_too_large")
    assert "5,000 bytes" in q["message"] and "max_field_bytes=2,048" in q["message"]
    raw = json.loads(q["raw"])
    assert raw["customer_id"] == "C4" and raw["First Name"] == "<5000 bytes not kept>"
    assert_counts_add_up(report)


def test_a_row_over_the_row_limit_is_quarantined_in_every_format(tmp_path):
    ws = workspace(tmp_path, max_field_bytes=4096, max_row_bytes=6000)
    big = "y" * 3000
    write_csv(ws, [customer("C1"), customer("C2", first=big, email=f"{big}@x.com"), customer("C3")])
    lines = [{"uid": "U1", "time": 1714564800, "event": "pageview", "props": {"p": "/"}}] * 3
    lines[1] = {**lines[1], "props": {"a": "z" * 3000}, "note": "z" * 3000}  # no value over 4096
    ws.lake.write_text(ws.lake.path("raw/web/events/part-0.jsonl"), "\n".join(json.dumps(x) for x in lines))
    cols = {"contact": ["K1", "K2"], "at": ["2024-01-01"] * 2, "purpose": ["marketing"] * 2,
            "channel": ["email"] * 2, "opt_in": ["yes", "n" * 5000]}  # fmt: skip
    ws.lake.makedirs("raw/marketing/consents")
    pq.write_table(pa.table(cols), ws.lake.path("raw/marketing/consents/part-0.parquet"))
    report = ingest_baseline(ws, ["crm", "web", "marketing"])
    assert report.failed_files == []
    got = {(r["file"].split("/")[1], r["row"], r["reason"]) for r in read_quarantine(ws.lake).to_pylist()}
    assert got == {
        ("crm", 2, "row_too_large"),
        ("web", 2, "row_too_large"),
        ("marketing", 2, "field_too_large"),
    }
    assert report.rows_accepted == 2 + 2 + 1
    assert_counts_add_up(report)


def test_the_line_by_line_csv_reader_agrees_with_the_fast_one(tmp_path):
    ws = workspace(tmp_path)
    ws.lake.makedirs("raw/crm/customers")
    rel = write_customers(ws.lake, Written(), part=0, n=60)  # holds a malformed row
    path = ws.lake.path(rel)
    fs = ws.settings.sources["crm"].files["customers"]
    fast = read_file(ws.lake, path, rel, fs, RowLimits())
    text = ws.lake.read_text(path)
    slow = read_csv_lines(text, csv_header(ws.lake, path, rel, fs), fs, RowLimits())
    assert slow.table.equals(fast.table)
    assert slow.rows.tolist() == fast.rows.tolist()
    assert [(m.row, m.reason, m.message) for m in slow.malformed] == [
        (m.row, m.reason, m.message) for m in fast.malformed
    ]
    assert [json.loads(m.raw) for m in slow.malformed] == [json.loads(m.raw) for m in fast.malformed]


def test_an_erased_persons_oversized_row_is_dropped_not_quarantined(tmp_path):
    from c360.privacy.suppression import add_to_suppression

    ws = workspace(tmp_path, max_field_bytes=2048)
    big = "x" * 5000
    # rows 2 and 3 are too large; row 2 is the erased person's (known by phone, in E.164), row 3 is not
    rows = [customer("C1"), customer("C2", first=big), customer("C3", first=big), customer("C4")]
    rows[1] = rows[1].replace("020 7946 0958", "020 7946 0000")
    write_csv(ws, rows)
    add_to_suppression(ws.lake, "e1", [("phone", "+442079460000")])
    report = ingest_baseline(ws, ["crm"])
    assert [(q["row"], q["reason"]) for q in read_quarantine(ws.lake).to_pylist()] == [(3, "field_too_large")]
    rep = report.file_set("crm", "customers")
    assert (rep.rows_read, rep.rows_accepted, rep.rows_quarantined, rep.rows_suppressed) == (4, 2, 1, 1)
