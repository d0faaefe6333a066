"""Right to be forgotten, end to end: plant one person in every source, run the pipeline, erase, scan.

The scan reads every file under the workspace (parquet decoded to text, everything else as bytes, SQLite
databases included) and every profile store key, looking for any of the planted person's identifiers in raw
and normalized forms. Other people's row counts must be unchanged, and re-delivering the original files must
bring nothing of the person back.
"""

from __future__ import annotations

import csv
import io
import json
from datetime import date
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from rich.console import Console

from c360.identity.store import IdentityStore
from c360.pipeline import run_pipeline
from c360.privacy.audit import read_audit
from c360.privacy.erase import erase_customer
from c360.privacy.suppression import exclude_suppressed, is_suppressed_customer
from c360.profile.store import open_profile_store
from c360.settings import FileSetSettings
from c360.sources.demo import generate_demo_data
from c360.sources.ingest import ingest
from c360.workspace import Workspace, init_workspace

pytestmark = [pytest.mark.ray, pytest.mark.slow]

PERSON = {
    "email": "Zephyrine.Quaxworth@Example.org",
    "phone": "+1 646 273 9182",
    "first_name": "Zephyrine",
    "last_name": "Quaxworth",
    "birth_date": date(1979, 3, 14),
    "device_id": "ZQ-DEV-7731X9",
    "cookie_id": "zqcookie-7731-erase",
    "social_handle": "@zquaxworth7731",
    "loyalty_id": "LC777000111",
    "street": "1 Forgetme Lane",
}
NEEDLES = [
    "zephyrine.quaxworth@example.org",
    "+16462739182",
    "646 273 9182",
    "6462739182",
    "quaxworth",
    "zq-dev-7731x9",
    "zqcookie-7731-erase",
    "zquaxworth7731",
    "lc777000111",
    "forgetme lane",
]
PLANT = "part-99999"


def _fmt(fs: FileSetSettings, field: str, template: object) -> object:
    value = PERSON[field]
    if isinstance(value, date):
        if isinstance(template, date):
            return value
        return value.strftime(fs.date_format) if fs.date_format else value.isoformat()
    return value


def _row(fs: FileSetSettings, template: dict, source: str, ids: dict[str, str], n: int) -> dict:
    row = dict(template)
    if fs.record == "identity":
        for field, column in fs.mapping.items():
            if field in PERSON:
                row[column] = _fmt(fs, field, template.get(column))
        row[fs.id_column] = ids[source]
    else:
        row[fs.id_column] = f"ZQREC{source.upper()}{fs.record[:3].upper()}{n}"
        row[fs.mapping["customer_ref"]] = ids[source]
    return row


def _read_rows(ws: Workspace, fs: FileSetSettings, path: Path) -> list[dict]:
    if fs.format == "csv":
        text = path.read_text(encoding=fs.csv.encoding)
        return list(csv.DictReader(io.StringIO(text, newline=""), delimiter=fs.csv.delimiter))
    if fs.format == "jsonl":
        return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    return pq.read_table(path).to_pylist()


def _write_rows(fs: FileSetSettings, path: Path, rows: list[dict], schema: pa.Schema | None) -> None:
    if fs.format == "csv":
        buf = io.StringIO(newline="")
        writer = csv.DictWriter(
            buf, fieldnames=list(rows[0]), delimiter=fs.csv.delimiter, lineterminator="\n"
        )
        writer.writeheader()
        writer.writerows(rows)
        path.write_text(buf.getvalue(), encoding=fs.csv.encoding)
    elif fs.format == "jsonl":
        path.write_text("".join(json.dumps(r, default=str) + "\n" for r in rows), encoding="utf-8")
    else:
        pq.write_table(pa.Table.from_pylist(rows, schema=schema), path)


def _clean_rows(ws: Workspace, fs: FileSetSettings, rel: str) -> list[int]:
    """Data rows of a file that were loaded without any quarantine entry (good templates)."""
    loaded: set[int] = set()
    for f in ws.lake.glob(f"standardized/{fs.record}/**/*.parquet"):
        t = pq.read_table(f, columns=["_file", "_row"]).to_pydict()
        loaded |= {r for f_, r in zip(t["_file"], t["_row"], strict=True) if f_ == rel}
    for f in ws.lake.glob("quarantine/**/*.parquet"):
        t = pq.read_table(f, columns=["file", "row"]).to_pydict()
        loaded -= {r for f_, r in zip(t["file"], t["row"], strict=True) if f_ == rel}
    return sorted(loaded)


def plant_person(ws: Workspace) -> dict[str, bytes]:
    """One new file per file set holding the person's rows (identity record + 3 behaviour rows each)."""
    lake_root = Path(ws.lake.root)
    ids = {s: (PERSON["cookie_id"] if s == "web" else f"ZQ{s.upper()}7731") for s in ws.settings.sources}
    written: dict[str, bytes] = {}
    for source, src in ws.settings.sources.items():
        for fs in src.files.values():
            if fs.record == "product":
                continue
            template_path = sorted(lake_root.glob(fs.path))[0]
            template = _read_rows(ws, fs, template_path)
            schema = pq.read_schema(template_path) if fs.format == "parquet" else None
            count = 1 if fs.record == "identity" else 3
            clean = _clean_rows(ws, fs, ws.lake.relative(str(template_path)))[:count]
            rows = [_row(fs, template[r - 1], source, ids, i) for i, r in enumerate(clean)]
            target = template_path.with_name(f"{PLANT}{template_path.suffix}")
            _write_rows(fs, target, rows, schema)
            written[str(target)] = target.read_bytes()
    return written


def scan(root: Path, needles: list[str]) -> list[tuple[str, str]]:
    """(file, needle) for every file under root holding a needle (parquet decoded, the rest as bytes)."""
    hits = []
    for path in root.rglob("*"):
        if not path.is_file():
            continue
        blob = path.read_bytes().decode("utf-8", "replace").casefold()
        if path.suffix == ".parquet":
            blob += json.dumps(pq.read_table(path).to_pylist(), default=str).casefold()
        hits += [(str(path.relative_to(root)), n) for n in needles if n in blob]
    return hits


def standardized_counts(ws: Workspace) -> dict[str, int]:
    out = {}
    for record in ("identity", "transaction", "interaction", "consent"):
        files = ws.lake.glob(f"standardized/{record}/**/*.parquet")
        out[record] = sum(pq.read_metadata(f).num_rows for f in files)
    return out


@pytest.fixture(scope="module")
def planted(tmp_path_factory: pytest.TempPathFactory, ray_session) -> tuple[Workspace, dict[str, bytes], str]:
    root = tmp_path_factory.mktemp("erase")
    init_workspace(root)
    ws = Workspace.load(root)
    console = Console(quiet=True)
    generate_demo_data(ws, customers=250, seed=11, console=console)
    run_pipeline(ws, console)
    written = plant_person(ws)
    run_pipeline(ws, console)
    id_map = IdentityStore(ws.lake).read("id_map")
    mine = id_map[
        id_map["source_record_id"].str.startswith("ZQ") | (id_map["source_record_id"] == PERSON["cookie_id"])
    ]
    assert len(mine) == len(ws.settings.sources), "every source's planted record is resolved"
    assert mine["customer_id"].nunique() == 1, "the planted records resolve to one person"
    return ws, written, str(mine["customer_id"].iloc[0])


def test_erase_leaves_no_trace_and_keeps_everyone_else(planted) -> None:
    ws, written, cid = planted
    with open_profile_store(ws) as store:
        store.upsert_many(
            [
                {
                    "customerId": cid,
                    "identities": {"email": [PERSON["email"].lower()], "phone": ["+16462739182"]},
                    "demographics": {"firstName": PERSON["first_name"], "lastName": PERSON["last_name"]},
                },
                {"customerId": "cus_someone_else", "identities": {"email": ["other@example.net"]}},
            ]
        )
    events = Path(ws.lake.path("events", "date=2026-01-01"))
    events.mkdir(parents=True)
    pq.write_table(
        pa.table(
            {
                "message_id": ["m1", "m2"],
                "user_id": [cid, "cus_someone_else"],
                "anonymous_id": [PERSON["cookie_id"], "anon-x"],
                "properties": ['{"page": "/"}', "{}"],
            }
        ),
        events / "part-0.parquet",
    )
    decisions = Path(ws.lake.path("decisions"))
    decisions.mkdir(parents=True)
    (decisions / "log.jsonl").write_text(
        json.dumps({"customer_id": cid, "action": "offer_a"})
        + "\n"
        + json.dumps({"customer_id": "cus_someone_else", "action": "offer_b"})
        + "\n",
        encoding="utf-8",
    )
    needles = [*NEEDLES, cid.casefold(), "zqrec", *(f"zq{s}7731" for s in ws.settings.sources)]
    assert scan(ws.root, NEEDLES), "the planted person is visible before erasure"
    before = standardized_counts(ws)
    planted_rows = {"identity": 8, "transaction": 3, "interaction": 3 * 5, "consent": 3 * 2}

    report = erase_customer(ws, cid, reason="test")

    assert report.records == 8
    assert scan(ws.root, needles) == []
    after = standardized_counts(ws)
    assert after == {record: n - planted_rows[record] for record, n in before.items()}
    with open_profile_store(ws) as store:
        assert store.get("cus_someone_else")["customerId"] == "cus_someone_else"
    assert len(pq.read_table(events / "part-0.parquet")) == 1
    assert len((decisions / "log.jsonl").read_text(encoding="utf-8").splitlines()) == 1
    audit = read_audit(ws.lake)[-1]
    assert audit["kind"] == "erasure" and audit["rows_removed"] == report.rows
    assert cid not in json.dumps(audit)
    assert is_suppressed_customer(ws, cid)
    kept = exclude_suppressed(ws, pa.table({"customer_id": [cid, "cus_someone_else"]}))
    assert kept.column("customer_id").to_pylist() == ["cus_someone_else"]

    # Running the pipeline again changes nothing for the person, and re-delivered files bring nothing back.
    run_pipeline(ws, Console(quiet=True))
    for path, data in written.items():
        Path(path).with_name(f"redelivered{Path(path).suffix}").write_bytes(data)
    again = ingest(ws, progress=False)
    assert again.suppressed == sum(planted_rows.values())
    assert again.rows_accepted == again.rows_quarantined == 0
    run_pipeline(ws, Console(quiet=True))
    assert standardized_counts(ws) == after
    for folder in ("standardized", "identity", "quarantine", "privacy", "_state"):
        assert scan(Path(ws.lake.path(folder)), needles) == [], folder
