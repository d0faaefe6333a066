"""Right to be forgotten, end to end: plant one person in every source, run the pipeline, erase, scan.

The scan reads every file under the workspace (parquet decoded to text, everything else as bytes, SQLite
databases included) and every profile store key, looking for any of the planted person's identifiers in raw
and normalized forms. Other people's row counts must be unchanged, and re-delivering the original files must
bring nothing of the person back.

The same runs with the profile store and the Feast online store on each backend: SQLite (the default), Redis
(this machine) and Cosmos DB (the stand-in). The backend itself is scanned too, every row, key and document
of this test's workspace, for the person's values, their customer id and the hashed keys that stood for
them (identifier index keys, the Cosmos partition key of their Feast rows). The demo data is generated and the
person planted once; each backend's workspace copies those raw files and runs the whole pipeline on them.
"""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml
from rich.console import Console

from c360.bench.lakediff import scan
from c360.demo import generate_demo_data
from c360.erasure_plan import erase_customer, erasure_plan
from c360.errors import AmbiguousIdentifierError, NotFoundError
from c360.faults import KILL_ENV
from c360.features.store import ONLINE_DB, open_feature_store, project_name
from c360.identity.erasure import find_subject
from c360.identity.store import IdentityStore
from c360.pipeline import run_pipeline
from c360.privacy import erase as orchestrator
from c360.privacy.audit import read_audit
from c360.privacy.journal import JOURNAL_DIR
from c360.privacy.rewrite import StoreCounts, filter_parquet
from c360.privacy.subject import ErasurePlan, FunctionStep, Subject
from c360.privacy.suppression import exclude_suppressed, is_suppressed_customer
from c360.profile.store import open_profile_store
from c360.profile.store.base import profile_identifier_keys
from c360.settings import FileSetSettings
from c360.sources.ingest import ingest
from c360.workspace import Workspace, init_workspace

pytestmark = [pytest.mark.ray, pytest.mark.slow]

REDIS_URL = "redis://127.0.0.1:6379/0"

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
    "full_name": "Zephyrine Quaxworth",
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
        fmt = fs.date_format if isinstance(fs.date_format, str) else (fs.date_format or [None])[0]
        return value.strftime(fmt) if fmt else value.isoformat()
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
            if fs.record in ("product", "fx_rate"):  # the catalogue and FX rates are nobody's personal data
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


def standardized_counts(ws: Workspace) -> dict[str, int]:
    out = {}
    for record in ("identity", "transaction", "interaction", "consent"):
        files = ws.lake.glob(f"standardized/{record}/**/*.parquet")
        out[record] = sum(pq.read_metadata(f).num_rows for f in files)
    return out


def resolved_person(ws: Workspace) -> str:
    id_map = IdentityStore(ws.lake).read("id_map")
    mine = id_map[
        id_map["source_record_id"].str.startswith("ZQ") | (id_map["source_record_id"] == PERSON["cookie_id"])
    ]
    people_sources = [
        s for s, src in ws.settings.sources.items() if any(f.record == "identity" for f in src.files.values())
    ]  # the fx reference source holds no person
    assert len(mine) == len(people_sources), "every source's planted record is resolved"
    assert mine["customer_id"].nunique() == 1, "the planted records resolve to one person"
    return str(mine["customer_id"].iloc[0])


@dataclass
class Planted:
    ws: Workspace
    written: dict[str, bytes]
    """Planted files (path -> bytes), for re-delivery."""
    raw: Path
    """A copy of raw/ (demo data and planted files) taken before anything was erased."""


@pytest.fixture(scope="module")
def planted_raw(tmp_path_factory: pytest.TempPathFactory, ray_session) -> Planted:
    """Demo data, one pipeline run (planting copies rows that loaded cleanly), then the person planted."""
    root = tmp_path_factory.mktemp("erase")
    init_workspace(root)
    ws = Workspace.load(root)
    console = Console(quiet=True)
    generate_demo_data(ws, customers=250, seed=11, console=console)
    run_pipeline(ws, console)
    written = plant_person(ws)
    raw = tmp_path_factory.mktemp("erase-raw") / "raw"
    shutil.copytree(Path(ws.lake.root) / "raw", raw)
    return Planted(ws, written, raw)


# ---------------------------------------------------------------------------------- backends


@dataclass
class Backend:
    """Where one workspace keeps profiles and Feast online rows, and how to read all of it back."""

    name: str
    ws: Workspace
    cid: str
    written: dict[str, bytes]
    dump: Callable[[], Iterator[tuple[str, str]]]
    """(where, text) for every row, key or document this workspace holds in the backend."""
    is_feast: Callable[[str], bool]
    """Whether a `where` of `dump` is a Feast online row (the rest is the profile store)."""

    def scan(self, needles: list[str]) -> list[tuple[str, str]]:
        return [(where, n) for where, text in self.dump() for n in needles if n in text]


def _sqlite_dump(ws: Workspace) -> Iterator[tuple[str, str]]:
    for path in (
        ws.resolve_path(ws.settings.stores.profile.sqlite_path),
        ws.resolve_path(ws.settings.stores.feast.registry_path).parent / ONLINE_DB,
    ):
        conn = sqlite3.connect(path)
        conn.text_factory = bytes
        try:
            tables = [
                t.decode() for (t,) in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")
            ]
            for table in tables:
                for row in conn.execute(f'SELECT * FROM "{table}"'):
                    text = b"|".join(v if isinstance(v, bytes) else str(v).encode() for v in row)
                    yield f"{path.name}:{table}", text.decode("utf-8", "replace").casefold()
        finally:
            conn.close()


def _redis_patterns(ws: Workspace) -> list[str]:
    # Profile store keys carry the workspace prefix; Feast's end with the project name.
    return [f"c360:{ws.settings.workspace}:*", f"*{project_name(ws)}"]


def _redis_dump(ws: Workspace) -> Iterator[tuple[str, str]]:
    import redis

    client = redis.Redis.from_url(REDIS_URL)
    try:
        keys = {k for pattern in _redis_patterns(ws) for k in client.scan_iter(match=pattern, count=1000)}
        for key in sorted(keys):
            kind = client.type(key).decode()
            if kind == "string":
                parts = [client.get(key) or b""]
            elif kind == "set":
                parts = sorted(client.smembers(key))
            elif kind == "hash":
                parts = [b for kv in client.hgetall(key).items() for b in kv]
            else:
                raise AssertionError(f"unexpected redis {kind} at {key!r}")
            text = b"|".join([key, *parts]).decode("utf-8", "replace").casefold()
            yield key.decode("utf-8", "replace"), text
    finally:
        client.close()


def _cosmos_dump(ws: Workspace) -> Iterator[tuple[str, str]]:
    from c360.io.cosmos import cosmos_client

    profile = ws.settings.stores.profile
    client = cosmos_client(profile.cosmos_endpoint, profile.cosmos_key.get_secret_value(), verify_tls=False)
    try:
        db = client.get_database_client(profile.cosmos_database)
        for spec in db.list_containers():
            container = db.get_container_client(spec["id"])
            for doc in container.query_items("SELECT * FROM c", enable_cross_partition_query=True):
                yield f"{spec['id']}/{doc['id']}", json.dumps(doc).casefold()
    finally:
        client.close()


def _backend_workspace(
    tmp_path_factory: pytest.TempPathFactory, planted: Planted, backend: str, stores: dict
) -> tuple[Workspace, dict[str, bytes]]:
    """A new workspace on `backend` holding the planted raw files, after one pipeline run."""
    root = tmp_path_factory.mktemp(f"erase-{backend}")
    init_workspace(root)
    config = root / "c360.yaml"
    tree = yaml.safe_load(config.read_text(encoding="utf-8"))
    tree["workspace"] = f"erase_{backend}_{uuid.uuid4().hex[:10]}"  # its own Redis prefix and Feast project
    tree["stores"]["profile"].update(backend=backend, **stores)
    tree["stores"]["feast"]["online_store"] = backend
    config.write_text(yaml.safe_dump(tree, sort_keys=False), encoding="utf-8")
    ws = Workspace.load(root)
    shutil.copytree(planted.raw, Path(ws.lake.root) / "raw")
    run_pipeline(ws, Console(quiet=True))
    old_root = Path(planted.ws.lake.root)
    written = {str(Path(ws.lake.root) / Path(p).relative_to(old_root)): b for p, b in planted.written.items()}
    return ws, written


@pytest.fixture
def sqlite_backend(planted_raw: Planted) -> Backend:
    """The embedded defaults, in the workspace the person was planted in (its second, incremental run)."""
    ws = planted_raw.ws
    run_pipeline(ws, Console(quiet=True))
    return Backend(
        "sqlite",
        ws,
        resolved_person(ws),
        planted_raw.written,
        lambda: _sqlite_dump(ws),
        lambda where: where.startswith(ONLINE_DB),
    )


@pytest.fixture(params=["redis", pytest.param("cosmos", marks=pytest.mark.azure)])
def backend(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Backend]:
    """Profile store and Feast online store both on Redis, or both on Cosmos DB, after a full pipeline run."""
    planted: Planted = request.getfixturevalue("planted_raw")
    if request.param == "redis":
        ws, written = _backend_workspace(tmp_path_factory, planted, "redis", {"redis_url": REDIS_URL})
        try:
            yield Backend(
                "redis",
                ws,
                resolved_person(ws),
                written,
                lambda: _redis_dump(ws),
                lambda where: not where.startswith("c360:"),
            )
        finally:
            import redis

            client = redis.Redis.from_url(REDIS_URL)
            for pattern in _redis_patterns(ws):
                keys = list(client.scan_iter(match=pattern, count=1000))
                if keys:
                    client.delete(*keys)
            client.close()
        return
    stand_in = request.getfixturevalue("cosmos_endpoint")
    stores = {
        "cosmos_endpoint": stand_in.endpoint,
        "cosmos_key": stand_in.key,
        "cosmos_database": f"erase{uuid.uuid4().hex[:10]}",
        "cosmos_verify_tls": False,
    }
    ws, written = _backend_workspace(tmp_path_factory, planted, "cosmos", stores)
    try:
        yield Backend(
            "cosmos",
            ws,
            resolved_person(ws),
            written,
            lambda: _cosmos_dump(ws),
            lambda where: where.startswith(f"feast_{project_name(ws)}/"),
        )
    finally:
        from c360.io.cosmos import cosmos_client

        client = cosmos_client(stand_in.endpoint, stand_in.key, verify_tls=False)
        client.delete_database(stores["cosmos_database"])  # the stand-in keeps everything in memory
        client.close()


# ---------------------------------------------------------------------------------- the test

ONLINE = ["profile:country", "transactions:total_spend", "engagement_rfm:rfm_score"]
ALIAS = "cus_zq_retired_alias"


def online_rows(ws: Workspace, ids: list[str]) -> list[dict]:
    store = open_feature_store(ws)
    got = store.get_online_features(features=ONLINE, entity_rows=[{"customer_id": c} for c in ids]).to_dict()
    return [{f: got[f.split(":")[1]][i] for f in ONLINE} for i in range(len(ids))]


PLANTED_ROWS = {"identity": 8, "transaction": 3, "interaction": 3 * 5, "consent": 3 * 2}


def erase_through_api(ws: Workspace, cid: str) -> None:
    """`DELETE /v1/customers/{id}` on the HTTP API, then its status until the worker is done."""
    from fastapi.testclient import TestClient

    from c360.api.app import create_api
    from c360.api.keys import KeyStore

    _, key = KeyStore.for_workspace(ws).create(["admin:erase"], name="dpo")
    headers = {"X-API-Key": key}
    with TestClient(create_api(ws)) as client:
        accepted = client.delete(f"/v1/customers/{cid}", headers=headers)
        assert accepted.status_code == 202, accepted.text
        status_url = accepted.json()["status_url"]
        deadline = time.monotonic() + 300
        while (status := client.get(status_url, headers=headers).json())["status"] in ("queued", "running"):
            assert time.monotonic() < deadline, status
            time.sleep(0.2)
    assert status["status"] == "done" and status["error"] is None, status
    assert status["erasure_id"] == read_audit(ws.lake)[-1]["id"]
    assert cid not in json.dumps(status)


def erase_and_check(
    backend: Backend,
    erase: Callable[[Workspace, str], object] = lambda ws, cid: erase_customer(ws, cid, "test"),
) -> tuple[dict[str, int], list[str]]:
    """Erase the planted person and check every file and the backend; (standardized counts, needles)."""
    ws, cid = backend.ws, backend.cid
    others = sorted(set(IdentityStore(ws.lake).read("clusters")["customer_id"]) - {cid})[::40][:5]
    with open_profile_store(ws) as store:
        doc = store.get(cid)
        assert doc["identities"]["email"] == [PERSON["email"].lower()]
        assert store.lookup("email", PERSON["email"]) == cid
        index_keys = profile_identifier_keys(doc)  # "<kind>:<sha256>", as every backend indexes them
        assert {k.split(":")[0] for k in index_keys} == {"email", "phone", "device", "cookie"}
        hashed = sorted(k.split(":", 1)[1] for k in index_keys)
        store.add_aliases({ALIAS: cid})  # an id retired by an earlier merge
        assert store.get(ALIAS)["customerId"] == cid
        store.upsert({"customerId": "cus_someone_else", "identities": {"email": ["other@example.net"]}})
        others_before = {c: store.get(c) for c in others}
    online_before = online_rows(ws, [cid, *others])
    assert any(v is not None for v in online_before[0].values()), "the person has online features"
    assert any(v is not None for row in online_before[1:] for v in row.values()), "and so do others"
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
    needles = [
        *NEEDLES,
        cid.casefold(),
        ALIAS,
        "zqrec",
        *(f"zq{s}7731" for s in ws.settings.sources),
        *hashed,
    ]
    feast_needle = cid.casefold()
    if backend.name == "cosmos":  # Feast rows are partitioned by a hash of the entity key
        from feast.protos.feast.types.EntityKey_pb2 import EntityKey
        from feast.protos.feast.types.Value_pb2 import Value

        from c360.features.cosmos_online_store import entity_partition_key

        key = EntityKey(join_keys=["customer_id"], entity_values=[Value(string_val=cid)])
        feast_needle = entity_partition_key(key, 3)
        needles.append(feast_needle)
    assert scan(ws.root, NEEDLES), "the planted person is visible before erasure"
    hits = backend.scan(needles)
    assert {cid.casefold(), ALIAS, *hashed} <= {n for _, n in hits}, (
        f"the {backend.name} scan sees the person"
    )
    assert any(backend.is_feast(w) and n == feast_needle for w, n in hits), "and their Feast online rows"
    before = standardized_counts(ws)

    erase(ws, cid)

    audit = read_audit(ws.lake)[-1]
    assert audit["kind"] == "erasure" and audit["records"] == 8
    assert scan(ws.root, needles) == []
    assert backend.scan(needles) == []
    after = standardized_counts(ws)
    assert after == {record: n - PLANTED_ROWS[record] for record, n in before.items()}
    with open_profile_store(ws) as store:
        assert store.get("cus_someone_else")["customerId"] == "cus_someone_else"
        assert {c: store.get(c) for c in others} == others_before
        answered = 0
        for d in others_before.values():
            for email in d["identities"]["email"]:
                try:
                    found = store.lookup("email", email)
                except AmbiguousIdentifierError:  # a couple's email names nobody, before and after
                    continue
                assert email in store.get(found)["identities"]["email"]
                answered += 1
        assert answered, "the other customers' own emails still answer"
        for gone in (cid, ALIAS):
            with pytest.raises(NotFoundError):
                store.get(gone)
        with pytest.raises(NotFoundError):
            store.lookup("email", PERSON["email"])
    online_after = online_rows(ws, [cid, *others])
    assert online_after[0] == dict.fromkeys(ONLINE)
    assert online_after[1:] == online_before[1:]
    assert len(pq.read_table(events / "part-0.parquet")) == 1
    assert len((decisions / "log.jsonl").read_text(encoding="utf-8").splitlines()) == 1
    assert audit["rows_removed"] >= sum(PLANTED_ROWS.values())
    assert cid not in json.dumps(audit)
    assert is_suppressed_customer(ws, cid)
    kept = exclude_suppressed(ws, pa.table({"customer_id": [cid, "cus_someone_else"]}))
    assert kept.column("customer_id").to_pylist() == ["cus_someone_else"]
    return after, needles


def test_erase_leaves_no_trace_and_keeps_everyone_else(sqlite_backend: Backend) -> None:
    backend, ws = sqlite_backend, sqlite_backend.ws
    after, needles = erase_and_check(backend)

    # Running the pipeline again changes nothing for the person, and re-delivered files bring nothing back.
    run_pipeline(ws, Console(quiet=True))
    for path, data in backend.written.items():
        Path(path).with_name(f"redelivered{Path(path).suffix}").write_bytes(data)
    again = ingest(ws, progress=False)
    assert again.suppressed == sum(PLANTED_ROWS.values())
    assert again.rows_accepted == again.rows_quarantined == 0
    run_pipeline(ws, Console(quiet=True))
    assert standardized_counts(ws) == after
    for folder in ("standardized", "identity", "quarantine", "privacy", "_state"):
        assert scan(Path(ws.lake.path(folder)), needles) == [], folder
    assert backend.scan(needles) == []


def test_erase_through_the_api_leaves_no_trace_on_redis_and_cosmos(backend: Backend) -> None:
    """The same erasure with the profile store and the Feast online store on another backend, asked for over
    HTTP (`DELETE /v1/customers/{id}`, then the request's status until done).

    Re-delivery is not repeated here: suppression happens at ingest, before any store is written.
    """
    erase_and_check(backend, erase_through_api)


def test_a_batch_erasure_forgets_each_customer_in_one_pass(
    planted_raw: Planted, tmp_path_factory: pytest.TempPathFactory, tmp_path: Path
) -> None:
    """`c360 erase A --from-file QUEUE`: every named customer goes in one pass; nobody else is touched."""
    from typer.testing import CliRunner

    from c360.cli import app
    from c360.erasure_plan import erase_customers

    ws, _ = _backend_workspace(tmp_path_factory, planted_raw, "sqlite", {})
    store = IdentityStore(ws.lake)
    id_map = store.read("id_map")
    spread = id_map.groupby("customer_id")["source"].nunique().sort_index()
    a, b, keep = spread[spread >= 2].index[:3]
    before = len(id_map)

    with pytest.raises(NotFoundError):  # an unknown id stops the batch before anything changes
        erase_customers(ws, [a, "cus_nobody_at_all"])
    assert len(store.read("id_map")) == before

    queue = tmp_path / "queue.txt"
    queue.write_text(f"# erasure requests\n{b}\n\n", encoding="utf-8")
    result = CliRunner().invoke(app, ["erase", a, "--from-file", str(queue), "--workspace", str(ws.root)])
    assert result.exit_code == 0, result.output
    assert "2 customer(s)" in result.output

    after = store.read("id_map")
    gone = id_map["customer_id"].isin([a, b])
    assert len(after) == before - int(gone.sum()) and not after["customer_id"].isin([a, b]).any()
    assert (after["customer_id"] == keep).sum() == (id_map["customer_id"] == keep).sum()
    assert not store.read("golden")["customer_id"].isin([a, b]).any()
    with open_profile_store(ws) as profiles:
        for cid in (a, b):
            with pytest.raises(NotFoundError):
                profiles.get(cid)
        assert profiles.get(keep)["customerId"] == keep
    audit = read_audit(ws.lake)[-1]
    assert audit["kind"] == "erasure" and audit["customers"] == 2 and len(set(audit["customer_hashes"])) == 2
    assert a not in json.dumps(audit) and b not in json.dumps(audit)
    assert is_suppressed_customer(ws, a) and is_suppressed_customer(ws, b)
    assert not is_suppressed_customer(ws, keep)


# ---------------------------------------------------------------------------------- erasure always finishes


def _person_needles(ws: Workspace, cid: str) -> list[str]:
    return [*NEEDLES, cid.casefold(), "zqrec", *(f"zq{s}7731" for s in ws.settings.sources)]


def _journal_files(ws: Workspace) -> list[Path]:
    folder = Path(ws.lake.path(*JOURNAL_DIR))
    return sorted(folder.iterdir()) if folder.exists() else []


def _erasure_audits(ws: Workspace) -> list[dict]:
    return [a for a in read_audit(ws.lake) if a["kind"] == "erasure"]


def test_an_erasure_killed_after_id_map_was_rewritten_is_finished_by_the_next_erase(
    planted_raw: Planted, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """Issue 11, defect 1: the graph's id_map forgets the person first, the process dies, the graph can no
    longer find them. The journal finishes the job: every trace gone, one audit, no journal left."""
    ws, _ = _backend_workspace(tmp_path_factory, planted_raw, "sqlite", {})
    cid = resolved_person(ws)
    plan = erasure_plan()

    def id_map_then_die(ws: Workspace, subject: Subject) -> StoreCounts:
        for path in IdentityStore(ws.lake).files("id_map"):
            filter_parquet(ws.lake, path, {"customer_id": subject.customer_ids})
        raise KeyboardInterrupt  # Ctrl-C, after id_map and before golden, links, clusters, records...

    steps = tuple(
        FunctionStep("identity", id_map_then_die) if s.name == "identity" else s for s in plan.steps
    )
    note = f"request from {PERSON['email']} by phone"
    with pytest.raises(KeyboardInterrupt):
        orchestrator.erase_customers(ws, ErasurePlan(plan.find_subject, steps), [cid], "test", note)

    with pytest.raises(NotFoundError):  # the graph alone no longer knows the person...
        find_subject(ws, cid)
    assert cid in set(IdentityStore(ws.lake).read("golden")["customer_id"]), "...but golden still holds them"
    assert len(_journal_files(ws)) == 1 and _erasure_audits(ws) == []

    report = erase_customer(ws, cid, reason="test")

    assert report.resumed and report.stores["identity"].rows > 0
    assert scan(ws.root, _person_needles(ws, cid)) == []
    assert _journal_files(ws) == []
    (audit,) = _erasure_audits(ws)
    assert audit["reason"] == "test" and audit["runs"] == 2 and len(audit["note_hash"]) == 64
    assert "request from" not in json.dumps(audit) and "by phone" not in json.dumps(audit)


def test_an_undecodable_raw_file_holding_the_person_is_scanned_as_bytes(
    planted_raw: Planted, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """Issue 11, defect 2: a cp1252 export (ingest rejected it) holds the person's row; erasure used to die
    on it with UnicodeDecodeError, every time. Now its bytes go, the other row stays, the audit tells."""
    ws, _ = _backend_workspace(tmp_path_factory, planted_raw, "sqlite", {})
    cid = resolved_person(ws)
    folder = Path(ws.lake.path("raw", "crm", "customers"))
    planted = (folder / f"{PLANT}.csv").read_text(encoding="utf-8").splitlines(keepends=True)
    other = sorted(folder.glob("*.csv"))[0].read_text(encoding="utf-8").splitlines(keepends=True)[1]
    theirs = other.replace(";", ";Ré;", 1).encode("cp1252")
    mine = planted[1].replace(PERSON["first_name"], "Zéphyrine").encode("cp1252")
    export = folder / "export-cp1252.csv"
    export.write_bytes(planted[0].encode("cp1252") + mine + theirs)
    with pytest.raises(UnicodeDecodeError):
        export.read_bytes().decode("utf-8")

    report = erase_customer(ws, cid, reason="test")

    data = export.read_bytes()
    assert b"ZQCRM7731" not in data and mine not in data and data.endswith(theirs)
    assert "raw/crm/customers/export-cp1252.csv: not decodable as utf-8; scanned as bytes" in (
        report.stores["raw"].notes
    )
    assert scan(ws.root, _person_needles(ws, cid)) == []
    (audit,) = _erasure_audits(ws)
    assert any("scanned as bytes" in n for n in audit["stores"]["raw"]["notes"])
    assert "zqcrm7731" not in json.dumps(audit).casefold()


def test_a_run_after_a_killed_erasure_finishes_it_first_and_brings_nobody_back(
    planted_raw: Planted, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """`c360 erase` SIGKILLed midway (C360_KILL_AT), then `c360 run` before anyone resumes: the run finishes
    the erasure before resolve and profiles could rebuild the person from what it had not reached."""
    ws, _ = _backend_workspace(tmp_path_factory, planted_raw, "sqlite", {})
    cid = resolved_person(ws)
    cli = Path(sys.executable).parent / "c360"
    env = {**os.environ, KILL_ENV: "erase:standardized"}
    killed = subprocess.run(
        [str(cli), "erase", cid, "--reason", "test", "-w", str(ws.root)], env=env, capture_output=True
    )
    assert killed.returncode == -9, killed.stderr.decode()[-2000:]
    assert len(_journal_files(ws)) == 1
    assert cid in set(IdentityStore(ws.lake).read("golden")["customer_id"]), "identity was not reached"

    run_pipeline(ws, Console(quiet=True))

    assert _journal_files(ws) == [] and len(_erasure_audits(ws)) == 1
    assert scan(ws.root, _person_needles(ws, cid)) == []
    with open_profile_store(ws) as store, pytest.raises(NotFoundError):
        store.get(cid)
