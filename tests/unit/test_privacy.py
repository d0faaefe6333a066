"""Privacy without Ray: suppression hashes, byte-exact raw rewrites, retention, minimization."""

from __future__ import annotations

import ast
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from c360.io.lake import Lake
from c360.privacy.retention import expire_file
from c360.privacy.suppression import SuppressionList, add_to_suppression
from c360.settings import FileSetSettings
from c360.sources.erasure import rewrite_csv, rewrite_jsonl, rewrite_parquet

pytestmark = pytest.mark.unit

PII_COLUMNS = {
    "email",
    "phone",
    "first_name",
    "last_name",
    "name",
    "street",
    "birth_date",
    "postcode",
    "city",
}


def _fs(fmt: str, delimiter: str = ",", encoding: str = "utf-8") -> FileSetSettings:
    return FileSetSettings.model_validate(
        {
            "path": "raw/x/*",
            "format": fmt,
            "record": "identity",
            "id_column": "id",
            "mapping": {"email": "mail"},
            "csv": {"delimiter": delimiter, "encoding": encoding},
        }
    )


def test_suppression_list_holds_hashes_only_and_matches_normalized_values(tmp_path: Path) -> None:
    lake = Lake(str(tmp_path))
    add_to_suppression(lake, "era_1", [("email", "Ann@Example.org"), ("record", "crm:C1")])
    text = b"".join(p.read_bytes() for p in tmp_path.rglob("*.parquet"))
    assert b"ann@example.org" not in text.lower() and b"crm:C1" not in text
    lst = SuppressionList.load(lake)
    assert lst.contains("email", " ann@example.org ") and not lst.contains("email", "bob@example.org")
    assert lst.mask("record", ["crm:C1", "crm:C2", None]).tolist() == [True, False, False]


def test_csv_rewrite_keeps_other_rows_byte_for_byte(tmp_path: Path) -> None:
    lake = Lake(str(tmp_path))
    body = 'id;mail;note\r\nA1;a@x.org;"multi\r\nline; quoted"\r\nB2;b@x.org;é plain\r\nA10;c@x.org;x\r\n'
    path = tmp_path / "f.csv"
    path.write_bytes(body.encode("latin-1"))
    counts = rewrite_csv(lake, str(path), _fs("csv", ";", "latin-1"), "id", {"A1"})
    assert counts.rows == 1 and counts.files_rewritten == 1
    assert path.read_bytes() == "id;mail;note\r\nB2;b@x.org;é plain\r\nA10;c@x.org;x\r\n".encode("latin-1")
    assert rewrite_csv(lake, str(path), _fs("csv", ";", "latin-1"), "id", {"Z9"}).files_rewritten == 0


def test_jsonl_rewrite_drops_only_matching_lines(tmp_path: Path) -> None:
    lake = Lake(str(tmp_path))
    path = tmp_path / "f.jsonl"
    path.write_text('{"id": 7, "mail": "a"}\n{"id": 70, "mail": "b\\u2028"}\nnot json 7\n', encoding="utf-8")
    counts = rewrite_jsonl(lake, str(path), _fs("jsonl"), "id", {"7"})
    assert counts.rows == 1
    assert path.read_text(encoding="utf-8") == '{"id": 70, "mail": "b\\u2028"}\nnot json 7\n'


def test_retention_deletes_old_files_and_trims_straddling_ones(tmp_path: Path) -> None:
    lake = Lake(str(tmp_path))
    now = datetime(2026, 1, 1, tzinfo=UTC)
    ts = pa.timestamp("us", tz="UTC")
    old = tmp_path / "old.parquet"
    pq.write_table(pa.table({"ts": pa.array([now - timedelta(days=400)] * 2, ts)}), old)
    mixed = tmp_path / "mixed.parquet"
    pq.write_table(pa.table({"ts": pa.array([now - timedelta(days=400), now, None], ts)}), mixed)
    cutoff = now - timedelta(days=90)
    assert expire_file(lake, str(old), ("ts",), cutoff).files_deleted == 1 and not old.exists()
    assert expire_file(lake, str(mixed), ("ts",), cutoff).rows == 1
    assert pq.read_table(mixed).num_rows == 2
    assert expire_file(lake, str(mixed), ("ts",), cutoff).rows == 0


def test_feature_views_carry_no_direct_identifiers() -> None:
    """Minimization: features feed models, which need no email, phone, name, address or birth date."""
    source = (Path(__file__).resolve().parents[2] / "feature_repo" / "feature_views.py").read_text()
    fields = {
        kw.value.value
        for node in ast.walk(ast.parse(source))
        if isinstance(node, ast.Call) and getattr(node.func, "id", "") == "Field"
        for kw in node.keywords
        if kw.arg == "name" and isinstance(kw.value, ast.Constant)
    }
    assert fields, "feature views declare fields"
    assert not fields & PII_COLUMNS


def test_an_undecodable_csv_is_scanned_as_bytes_and_loses_the_persons_row(tmp_path: Path) -> None:
    """A cp1252 export declared UTF-8 (ingest rejected it): the person's rows go, the rest stays as it was."""
    lake = Lake(str(tmp_path))
    body = 'id,mail,note\r\nA1,a@x.org,caf\xe9\r\nA10,b@x.org,na\xefve\r\nB2,"A1",x\r\n'
    path = tmp_path / "f.csv"
    path.write_bytes(body.encode("cp1252"))
    with pytest.raises(UnicodeDecodeError):
        path.read_bytes().decode("utf-8")
    counts = rewrite_csv(lake, str(path), _fs("csv"), "id", {"A1"})
    assert counts.rows == 2 and counts.files_rewritten == 1  # the quoted field counts as the id too
    assert path.read_bytes() == "id,mail,note\r\nA10,b@x.org,na\xefve\r\n".encode("cp1252")
    assert counts.notes == ["f.csv: not decodable as utf-8; scanned as bytes"]


def test_undecodable_json_lines_are_scanned_as_bytes_by_whole_token(tmp_path: Path) -> None:
    lake = Lake(str(tmp_path))
    path = tmp_path / "f.jsonl"
    path.write_bytes(b'{"id": "C1", "n": "\xe9"}\n{"id": "C10", "n": "\xff"}\n{"id": 7}\n')
    counts = rewrite_jsonl(lake, str(path), _fs("jsonl"), "id", {"C1"})
    assert counts.rows == 1 and counts.notes and "C1" not in " ".join(counts.notes)
    assert path.read_bytes() == b'{"id": "C10", "n": "\xff"}\n{"id": 7}\n'
    untouched = rewrite_jsonl(lake, str(path), _fs("jsonl"), "id", {"C2"})
    assert untouched.files_rewritten == 0 and not untouched.notes  # holds no id: not even decoded


def test_an_unreadable_raw_parquet_holding_the_person_is_removed_and_erasure_goes_on(tmp_path: Path) -> None:
    """A truncated parquet delivery (never ingested) cannot be rewritten row by row; raising would block every
    erasure of the workspace. Holding the person's id, it goes; holding none, it stays with a note."""
    lake = Lake(str(tmp_path))
    good = tmp_path / "good.parquet"
    pq.write_table(pa.table({"id": ["A1", "B2"], "n": ["x", "y"]}), good, compression="none")
    data = good.read_bytes()
    holding = tmp_path / "holding.parquet"
    holding.write_bytes(data[: len(data) // 2])
    counts = rewrite_parquet(lake, str(holding), "id", {"A1"})
    assert not holding.exists() and counts.files_deleted == 1
    assert counts.notes and "A1" not in " ".join(counts.notes)
    other = tmp_path / "other.parquet"
    other.write_bytes(data[: len(data) // 2])
    kept = rewrite_parquet(lake, str(other), "id", {"Z9"})
    assert other.exists() and kept.files_deleted == 0 and "left as it is" in kept.notes[0]
    readable = rewrite_parquet(lake, str(good), "id", {"A1"})  # the normal path still rewrites
    assert readable.rows == 1 and pq.read_table(good).column("id").to_pylist() == ["B2"]
