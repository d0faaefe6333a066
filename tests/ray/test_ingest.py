"""`c360 ingest` on Ray: exact counts, quarantine with reasons and rows, incremental re-runs, broken files,
and the same run on an `abfs://` lake (azurite)."""

from __future__ import annotations

import codecs
import json

import pytest

from c360.sources.ingest import IngestReport, ingest
from c360.sources.layout import read_quarantine, read_standardized
from c360.workspace import Workspace
from tests.ingest_data import (
    SOURCES,
    Written,
    settings_for,
    write_all,
    write_customers,
    write_events,
    write_orders,
)

pytestmark = pytest.mark.ray

RECORDS = {
    ("crm", "customers"): "identity",
    ("shop", "orders"): "transaction",
    ("web", "events"): "interaction",
    ("marketing", "consents"): "consent",
}


def assert_matches_fixture(ws: Workspace, report: IngestReport, written: Written) -> None:
    lake = ws.lake
    assert report.failed_files == []
    for (source, file_set), record in RECORDS.items():
        rep = report.file_set(source, file_set)
        key = (source, file_set)
        assert rep.rows_read == written.rows[key]
        assert rep.rows_accepted == written.accepted(key)
        assert rep.rows_quarantined == written.rejected[key]
        std = read_standardized(lake, record, source)
        assert std.num_rows == written.accepted(key)
        lineage = list(zip(std.column("_file").to_pylist(), std.column("_row").to_pylist(), strict=True))
        assert len(set(lineage)) == len(lineage), "a row was written twice"
        rejected = {(p.file, p.row) for p in written.expected if p.action == "row_rejected"}
        assert not rejected & set(lineage), "a rejected row reached standardized/"
    quarantine = read_quarantine(lake)
    got = sorted(
        (r["file"], r["row"], r["field"] or "", r["reason"], r["action"])
        for r in quarantine.select(["file", "row", "field", "reason", "action"]).to_pylist()
    )
    expected = sorted((p.file, p.row, p.field or "", p.reason, p.action) for p in written.expected)
    assert got == expected


def test_ingest_local_lake_exact_counts_and_quarantine(ray_session, tmp_path):
    ws = Workspace.from_settings(settings_for("lake"), tmp_path)
    written = write_all(ws.lake, parts=2, n=120)
    report = ingest(ws, progress=False)
    assert_matches_fixture(ws, report, written)
    assert report.rows_read == sum(written.rows.values())
    assert report.rows_accepted + report.rows_quarantined == report.rows_read
    names = sorted(ws.lake.relative(p) for p in ws.lake.glob("standardized/transaction/*/*/*.parquet"))
    assert len(names) == 2
    assert all(n.startswith("standardized/transaction/source=shop/load_date=") for n in names)
    assert all(n.split("/")[-1].startswith("orders-") for n in names)
    quarantine = read_quarantine(ws.lake)
    assert all(
        m and "@" not in m for m in quarantine.column("message").to_pylist()
    )  # no addresses in messages


def test_rerun_ingests_nothing_and_new_files_are_picked_up(ray_session, tmp_path):
    ws = Workspace.from_settings(settings_for("lake"), tmp_path)
    written = write_all(ws.lake, parts=1, n=60)
    first = ingest(ws, progress=False)
    assert first.rows_read == sum(written.rows.values())

    again = ingest(ws, progress=False)
    assert again.rows_read == 0 and again.files_ingested == 0
    assert sum(f.files_skipped for f in again.file_sets) == 4
    assert_matches_fixture(ws, first, written)  # nothing duplicated by the second run

    write_customers(ws.lake, written, part=7, n=30)
    write_events(ws.lake, written, part=7, n=30)
    third = ingest(ws, progress=False)
    assert third.files_ingested == 2
    assert third.file_set("crm", "customers").rows_read == 30
    assert third.file_set("web", "events").rows_read == 30
    assert read_standardized(ws.lake, "identity").num_rows == written.accepted(("crm", "customers"))
    assert read_standardized(ws.lake, "interaction").num_rows == written.accepted(("web", "events"))


def test_crash_before_the_watermark_then_rerun_overwrites(ray_session, tmp_path):
    ws = Workspace.from_settings(settings_for("lake"), tmp_path)
    written = write_all(ws.lake, parts=1, n=50)
    ingest(ws, progress=False)
    ws.lake.rm(ws.lake.path("_state"), recursive=True)  # as if the run died after writing outputs
    rerun = ingest(ws, progress=False)
    assert rerun.files_ingested == 4
    for key, record in RECORDS.items():
        assert read_standardized(ws.lake, record, key[0]).num_rows == written.accepted(key)
    assert read_quarantine(ws.lake).num_rows == len(written.expected)


def test_redelivered_file_replaces_its_rows(ray_session, tmp_path):
    ws = Workspace.from_settings(settings_for("lake"), tmp_path)
    written = Written()
    ws.lake.makedirs("raw/crm/customers")
    write_customers(ws.lake, written, part=0, n=40)
    ingest(ws, progress=False, sources=["crm"])
    smaller = Written()
    write_customers(ws.lake, smaller, part=0, n=20)  # same path, new content
    report = ingest(ws, progress=False, sources=["crm"])
    assert report.files_ingested == 1
    assert read_standardized(ws.lake, "identity").num_rows == smaller.accepted(("crm", "customers"))


def test_broken_files_are_named_and_the_rest_is_ingested(ray_session, tmp_path):
    ws = Workspace.from_settings(settings_for("lake"), tmp_path)
    written = write_all(ws.lake, parts=1, n=40)
    lake = ws.lake
    header = "customer_id,Email,Phone,First Name,Last Name,DOB,Country,Updated"
    row = "C9,a@example.com,020 7946 0958,Zoë,Brown,01/02/1990,GB,2024-01-01 10:00:00"
    lake.write_text(lake.path("raw/crm/customers/part-semicolon.csv"), f"{header}\n{row}\n".replace(",", ";"))
    lake.write_bytes(lake.path("raw/crm/customers/part-latin1.csv"), f"{header}\n{row}\n".encode("latin-1"))
    lake.write_bytes(
        lake.path("raw/crm/customers/part-utf16.csv"),
        codecs.BOM_UTF16_LE + f"{header}\n{row}\n".encode("utf-16-le"),
    )
    lake.write_text(
        lake.path("raw/shop/orders/part-comma.csv"), "order,customer,placed_at\nO1,C1,2024-01-01\n"
    )
    lake.write_text(lake.path("raw/marketing/consents/part-corrupt.parquet"), "this is not parquet")
    report = ingest(ws, progress=False)

    failed = dict(report.failed_files)
    assert set(failed) == {
        "raw/crm/customers/part-semicolon.csv",
        "raw/crm/customers/part-latin1.csv",
        "raw/crm/customers/part-utf16.csv",
        "raw/shop/orders/part-comma.csv",
        "raw/marketing/consents/part-corrupt.parquet",
    }
    semicolon = failed["raw/crm/customers/part-semicolon.csv"]
    assert semicolon.startswith(
        "raw/crm/customers/part-semicolon.csv: mapped columns missing from the header"
    )
    assert "Email" in semicolon and "';'" in semicolon  # names the missing columns and the likely delimiter
    assert "cannot be decoded as utf-8" in failed["raw/crm/customers/part-latin1.csv"]
    assert "line 2" in failed["raw/crm/customers/part-latin1.csv"]
    assert "utf-16" in failed["raw/crm/customers/part-utf16.csv"]
    assert "sku, qty, price, type" in failed["raw/shop/orders/part-comma.csv"]
    assert "not a readable parquet file" in failed["raw/marketing/consents/part-corrupt.parquet"]
    assert "C9" not in " ".join(failed.values()) and "Zoë" not in " ".join(failed.values())

    # every good file, including the one with a truncated JSON line, is in
    assert report.file_set("crm", "customers").files_failed == 3
    assert report.file_set("crm", "customers").files_ingested == 1
    for key, record in RECORDS.items():
        assert report.file_set(*key).rows_accepted == written.accepted(key)
        assert read_standardized(lake, record, key[0]).num_rows == written.accepted(key)
    truncated = read_quarantine(lake, "web").to_pylist()
    assert {"row": 17, "reason": "malformed_row"} in [
        {"row": r["row"], "reason": r["reason"]} for r in truncated
    ]

    # failed files are retried next time (they are not in the watermark), good ones are not
    again = ingest(ws, progress=False)
    assert len(again.failed_files) == 5 and again.rows_read == 0


def test_quarantine_ceiling_fails_the_file(ray_session, tmp_path):
    settings = settings_for("lake")
    settings.ingest.max_quarantine_fraction = 0.2
    ws = Workspace.from_settings(settings, tmp_path)
    written = Written()
    ws.lake.makedirs("raw/web/events")
    write_events(ws.lake, written, part=0, n=45)  # 2 of every 9 rows rejected: above 20%
    report = ingest(ws, progress=False, sources=["web"])
    (rel, message), *_ = report.failed_files
    assert rel == "raw/web/events/part-0000.jsonl"
    assert "max_quarantine_fraction=0.2" in message
    assert read_standardized(ws.lake, "interaction").num_rows == 0


@pytest.mark.azure
def test_ingest_on_abfs_lake_matches_local(ray_session, azurite_lake, tmp_path):
    ws = Workspace.from_settings(settings_for(azurite_lake.uri, azurite_lake.storage_options), tmp_path)
    assert not ws.lake.is_local
    written = write_all(ws.lake, parts=2, n=80)
    report = ingest(ws, progress=False)
    assert_matches_fixture(ws, report, written)
    again = ingest(ws, progress=False)
    assert again.rows_read == 0 and again.files_ingested == 0


def test_baseline_does_the_same_work_as_ray(ray_session, tmp_path):
    from c360.bench.ingest import bench_workspace

    ws = Workspace.from_settings(settings_for("lake"), tmp_path)
    written = write_all(ws.lake, parts=2, n=60)
    row = bench_workspace(ws, customers=120)  # raises when the two engines disagree on any count
    assert row.source_rows == sum(written.rows.values())
    assert row.accepted == sum(written.accepted(k) for k in written.rows)
    assert row.files == 8 and row.ray_seconds > 0 and row.baseline_seconds > 0


def _cli_workspace(tmp_path):
    import yaml

    from tests.ingest_data import SOURCES

    tmp_path.mkdir(parents=True, exist_ok=True)
    (tmp_path / "c360.yaml").write_text(yaml.safe_dump({"lake": {"uri": "lake"}, "sources": SOURCES}))
    return Workspace.load(tmp_path)


def test_cli_ingest_exit_codes(ray_session, tmp_path):
    from typer.testing import CliRunner

    from c360.cli import app

    broken = tmp_path / "broken"
    ws = _cli_workspace(broken)
    ws.lake.write_text(ws.lake.path("raw/shop/orders/part-0.csv"), "order,customer\nO1,C1\n")
    result = CliRunner().invoke(app, ["ingest", "--workspace", str(broken)])
    assert result.exit_code == 5  # nothing ingested and a file failed (EXIT_CODES: ingest or data)
    assert "part-0.csv" in result.output

    good = tmp_path / "good"
    ws = _cli_workspace(good)
    write_all(ws.lake, parts=1, n=20)
    result = CliRunner().invoke(app, ["ingest", "--workspace", str(good), "--source", "crm"])
    assert result.exit_code == 0, result.output
    assert "customers" in result.output and "orders" not in result.output
    assert "matches no file" not in result.output

    # One file failed, the others were ingested: an error (the rest kept), unless --allow-partial.
    for name, extra in (("partial", []), ("accepted", ["--allow-partial"])):
        ws = _cli_workspace(tmp_path / name)
        write_all(ws.lake, parts=1, n=20)
        ws.lake.write_text(ws.lake.path("raw/shop/orders/part-9.csv"), "order,customer\nO1,C1\n")
        result = CliRunner().invoke(app, ["ingest", "--workspace", str(ws.root), *extra])
        assert "part-9.csv" in result.output
        assert result.exit_code == (0 if extra else 5), result.output
        assert len(list((ws.root / "lake" / "standardized").rglob("*.parquet"))) > 0, "the rest were kept"

    # A file set whose path matches nothing: a warning naming it, an error with --strict.
    empty = _cli_workspace(tmp_path / "empty")
    write_all(empty.lake, parts=1, n=20)
    empty.lake.rm(empty.lake.path("raw/shop"), recursive=True)
    result = CliRunner().invoke(app, ["ingest", "--workspace", str(empty.root)])
    assert result.exit_code == 0, result.output
    assert "warning: shop.orders: path raw/shop/orders/" in " ".join(result.output.split())
    result = CliRunner().invoke(app, ["ingest", "--workspace", str(empty.root), "--strict"])
    assert result.exit_code == 5 and "match no file" in result.output


def test_demo_generator_ground_truth_is_reproduced(ray_session, tmp_path):
    demo = pytest.importorskip("c360.demo")
    if not hasattr(demo, "generate_demo_data"):
        pytest.skip("the demo-data generator has not landed yet")
    from rich.console import Console

    from c360.workspace import init_workspace

    init_workspace(tmp_path)
    ws = Workspace.load(tmp_path)
    demo.generate_demo_data(ws, customers=300, seed=7, console=Console(quiet=True))
    report = ingest(ws, progress=False)
    counts = ws.lake.read_table(ws.lake.path("ground_truth/counts.parquet")).to_pylist()
    bad = ws.lake.read_table(ws.lake.path("ground_truth/bad_rows.parquet")).to_pylist()
    for c in counts:
        rep = report.file_set(c["source"], c["file_set"])
        assert rep.rows_read == c["rows_written"], (c["source"], c["file_set"])
        rejected = {
            (b["file"], b["row"])
            for b in bad
            if (b["source"], b["file_set"]) == (c["source"], c["file_set"])
            and b["reason"] not in ("invalid_email", "invalid_phone")
        }
        assert rep.rows_quarantined == len(rejected), (c["source"], c["file_set"])
        assert rep.rows_accepted == c["rows_written"] - len(rejected)
    got = {(q["file"], q["row"], q["reason"]) for q in read_quarantine(ws.lake).to_pylist()}
    assert {(b["file"], b["row"], b["reason"]) for b in bad} <= got


def test_a_50mb_field_between_valid_rows_costs_that_row_only(ray_session, tmp_path):
    ws = Workspace.from_settings(settings_for("lake"), tmp_path)
    lake = ws.lake
    huge = "x" * (50 << 20)
    header = "customer_id,Email,Phone,First Name,Last Name,DOB,Country,Updated"
    rows = [
        f"C{i},c{i}@example.com,020 7946 0958,Ann,Lee,01/02/1990,GB,2024-01-01 10:00:00" for i in range(1, 8)
    ]
    rows[3] = rows[3].replace(",Ann,", f",{huge},")
    lake.write_text(lake.path("raw/crm/customers/part-0.csv"), "\n".join([header, *rows]) + "\n")
    events = [
        {"uid": f"U{i}", "time": 1714564800, "event": "pageview", "props": {"p": "/"}} for i in range(1, 6)
    ]
    events[2]["props"] = {"blob": huge}
    lake.write_text(lake.path("raw/web/events/part-0.jsonl"), "\n".join(json.dumps(e) for e in events) + "\n")
    report = ingest(ws, progress=False, sources=["crm", "web"])
    assert report.failed_files == []
    assert report.file_set("crm", "customers").rows_accepted == 6
    assert report.file_set("web", "events").rows_accepted == 4
    assert read_standardized(lake, "identity").num_rows == 6
    got = sorted((q["file"], q["row"], q["field"], q["reason"]) for q in read_quarantine(lake).to_pylist())
    assert got == [
        ("raw/crm/customers/part-0.csv", 4, "first_name", "field_too_large"),
        ("raw/web/events/part-0.jsonl", 3, "attributes", "field_too_large"),
    ]
    assert (
        max(len(r) for r in read_quarantine(lake).column("raw").to_pylist()) < 2000
    )  # the value is not kept


def test_an_erased_persons_malformed_row_is_suppressed_and_the_summary_adds_up(ray_session, tmp_path):
    from rich.console import Console

    from c360.privacy.suppression import add_to_suppression
    from c360.sources.ingest import print_summary

    ws = Workspace.from_settings(settings_for("lake"), tmp_path)
    written = Written()
    ws.lake.makedirs("raw/crm/customers")
    ws.lake.makedirs("raw/web/events")
    write_customers(
        ws.lake, written, part=0, n=30
    )  # row 7 is malformed: id, email, phone and first name only
    write_events(ws.lake, written, part=0, n=30, truncate_at=17)  # line 17 (uid C0-17) is cut in half
    # the erased person of customers row 7 (known by email only) and the web visitor of line 17
    add_to_suppression(ws.lake, "e1", [("email", "person.0.7@example.com"), ("record", "web:C0-17")])
    report = ingest(ws, progress=False, sources=["crm", "web"])

    quarantine = read_quarantine(ws.lake)
    assert (("raw/crm/customers/part-0000.csv", 7)) not in {
        (q["file"], q["row"]) for q in quarantine.select(["file", "row"]).to_pylist()
    }
    assert ("raw/web/events/part-0000.jsonl", 17) not in {
        (q["file"], q["row"]) for q in quarantine.select(["file", "row"]).to_pylist()
    }
    assert not any("Person.0.7" in r or "C0-17" in r for r in quarantine.column("raw").to_pylist())
    customers = report.file_set("crm", "customers")
    assert customers.rows_suppressed == 1 and customers.rows_quarantined == 0
    events = report.file_set("web", "events")
    # the cut line 17 and every other event of visitor C0-17 (line 17 only: uids repeat every 40)
    assert events.rows_suppressed == 1
    for f in report.file_sets:
        assert f.rows_read == f.rows_accepted + f.rows_quarantined + f.rows_suppressed + f.rows_collapsed
    console = Console(record=True, width=250)
    print_summary(report, console)
    text = console.export_text()
    assert "suppressed" in text
    total = next(line for line in text.splitlines() if line.strip().startswith("│ total"))
    cells = [c.strip() for c in total.split("│") if c.strip()]
    read, accepted, quarantined, suppressed = (int(c.replace(",", "")) for c in cells[3:7])
    assert read == accepted + quarantined + suppressed == 60 and suppressed == 2


def test_resolve_over_an_empty_workspace_says_so(ray_session, tmp_path):
    from typer.testing import CliRunner

    from c360.cli import app

    ws = _cli_workspace(tmp_path / "nothing")
    result = CliRunner().invoke(app, ["resolve", "--workspace", str(ws.root)])
    assert "nothing to resolve" in " ".join(result.output.split()), result.output


def test_two_overlapping_exports_split_by_period_load_each_line_once(ray_session, tmp_path):
    """The same orders delivered by two exports (a later one and an earlier one that overlaps it), each file
    set keeping its period: every valid line is loaded once, and the summary's columns still add up."""
    from rich.console import Console

    from c360.settings import Settings
    from c360.sources.ingest import print_summary

    orders = SOURCES["shop"]["files"]["orders"]
    earlier = {**orders, "path": "raw/shop/earlier/*.csv", "period": {"end": "2024-05-05T00:00:00+00:00"}}
    later = {**orders, "period": {"start": "2024-05-05T00:00:00+00:00"}}
    shop = {"kind": "ecommerce", "files": {"orders": later, "earlier": earlier}}
    settings = Settings.model_validate({"lake": {"uri": "lake"}, "sources": {"shop": shop}})
    ws = Workspace.from_settings(settings, tmp_path)
    written = Written()
    rel = write_orders(ws.lake, written, part=0, n=120)
    ws.lake.makedirs("raw/shop/earlier")
    ws.lake.write_text(ws.lake.path("raw/shop/earlier/part-0000.csv"), ws.lake.read_text(ws.lake.path(rel)))
    report = ingest(ws, progress=False)

    std = read_standardized(ws.lake, "transaction", "shop")
    ids = std.column("order_id").to_pylist()
    assert len(ids) == len(set(ids)) == written.accepted(("shop", "orders"))  # every valid line, once
    for name in ("orders", "earlier"):
        f = report.file_set("shop", name)
        assert 0 < f.rows_accepted < written.accepted(("shop", "orders"))
        assert f.rows_read == f.rows_accepted + f.rows_quarantined + f.rows_outside == 120
    # a line without a readable time belongs to neither export: both quarantine it; any other bad line is
    # quarantined by the export whose period holds it
    quarantine = read_quarantine(ws.lake).to_pylist()
    by_reason: dict[str, int] = {}
    for q in quarantine:
        by_reason[q["reason"]] = by_reason.get(q["reason"], 0) + 1
    expected: dict[str, int] = {}
    for p in written.expected:
        expected[p.reason] = expected.get(p.reason, 0) + (2 if p.reason == "invalid_timestamp" else 1)
    assert by_reason == expected
    console = Console(record=True, width=250)
    print_summary(report, console)
    text = console.export_text()
    assert "outside period" in text
    total = next(line for line in text.splitlines() if line.strip().startswith("│ total"))
    cells = total.split("│")  # source, file set, record, new, skipped, failed, read, accepted, ... outside
    read, accepted, quarantined, outside = (int(cells[k].strip().replace(",", "")) for k in (7, 8, 9, 12))
    assert read == 240 and accepted + quarantined + outside == read
