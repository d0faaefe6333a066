"""The erasure job without Ray: journal, resume after a crash, audit once, reason codes, the import rule.

The orchestrator (`c360.privacy.erase`) runs a plan of steps; here the steps are small fakes over a real
workspace lake, so a crash can be placed exactly (a step that raises, or `C360_KILL_AT` in a subprocess) and
what the journal and the audit hold can be read back.
"""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from c360.errors import NotFoundError, ValidationError
from c360.faults import KILL_ENV, LOG_ENV, boundaries_seen
from c360.privacy.audit import read_audit
from c360.privacy.erase import erase_customers, erase_or_resume, resume_open_erasures
from c360.privacy.journal import JOURNAL_DIR, open_journals
from c360.privacy.rewrite import StoreCounts
from c360.privacy.subject import ErasurePlan, Subject
from c360.privacy.suppression import SuppressionList
from c360.workspace import Workspace, init_workspace

pytestmark = pytest.mark.unit

PRIVACY = Path(__file__).resolve().parents[2] / "c360" / "privacy"
STAGES = ("c360.sources", "c360.identity", "c360.profile", "c360.features", "c360.erasure_plan")
NOTE = "Ticket 4711: Zephyrine Quaxworth asked by phone"


@dataclass
class Graph:
    """A stand-in identity graph: forgets the person when the `identity` step runs (as the real one does)."""

    people: dict[str, Subject] = field(default_factory=dict)

    def find(self, ws: Workspace, customer_id: str) -> Subject:
        if customer_id not in self.people:
            raise NotFoundError(f"no customer {customer_id!r} in the identity graph")
        return self.people[customer_id]


@dataclass
class Step:
    name: str
    calls: list[str]
    graph: Graph | None = None
    crash: bool = False

    def run(self, ws: Workspace, subject: Subject) -> StoreCounts:
        self.calls.append(self.name)
        if self.graph is not None:  # the identity step: the person can no longer be looked up
            for cid in subject.customer_ids:
                self.graph.people.pop(cid, None)
        if self.crash:
            raise RuntimeError(f"killed during {self.name}")
        return StoreCounts(rows=1, files_scanned=1)


def _person() -> Subject:
    return Subject(
        customer_id="cus_a",
        customer_ids={"cus_a", "cus_old"},
        records={"crm": {"C1"}},
        identifiers={"email": {"zq@example.org"}},
        attributes={"last_name": {"quaxworth"}},
    )


def _plan(graph: Graph, calls: list[str], crash_in: str | None = None) -> ErasurePlan:
    names = ["profile_store", "identity", "raw"]
    steps = tuple(Step(n, calls, graph if n == "identity" else None, crash=(n == crash_in)) for n in names)
    return ErasurePlan(find_subject=graph.find, steps=steps)


@pytest.fixture
def ws(tmp_path: Path) -> Workspace:
    init_workspace(tmp_path)
    return Workspace.load(tmp_path)


def test_a_crash_after_the_graph_forgot_the_person_is_finished_from_the_journal(ws: Workspace) -> None:
    graph, calls = Graph({"cus_a": _person(), "cus_old": _person()}), list[str]()
    with pytest.raises(RuntimeError):
        erase_customers(ws, _plan(graph, calls, crash_in="raw"), ["cus_a"], note=NOTE)
    assert [j.erasure_id for j in open_journals(ws.lake)], "the journal survives the crash"
    assert read_audit(ws.lake) == []
    assert SuppressionList.load(ws.lake).contains("email", "zq@example.org"), "suppressed before any step"
    with pytest.raises(NotFoundError):  # the defect: the graph alone can no longer find the person
        graph.find(ws, "cus_a")

    calls.clear()
    report = erase_customers(ws, _plan(graph, calls), ["cus_old"])  # any id of the subject resumes

    assert calls == ["raw"], "finished steps are not run again"
    assert report.resumed and set(report.stores) == {"profile_store", "identity", "raw"}
    audits = read_audit(ws.lake)
    assert len(audits) == 1 and audits[0]["runs"] == 2 and audits[0]["rows_removed"] == 3
    assert open_journals(ws.lake) == []
    assert list(Path(ws.lake.path(*JOURNAL_DIR)).iterdir()) == [], "no journal, no temp file"
    assert resume_open_erasures(ws, _plan(graph, calls)) == []
    with pytest.raises(NotFoundError):  # nothing open, unknown id: today's answer
        erase_customers(ws, _plan(graph, calls), ["cus_a"])


def test_the_audit_keeps_a_reason_code_and_a_hash_of_the_note_never_the_text(ws: Workspace) -> None:
    graph = Graph({"cus_a": _person()})
    with pytest.raises(ValidationError) as err:
        erase_customers(ws, _plan(graph, []), ["cus_a"], reason=NOTE)
    assert "data-subject-request" in err.value.message and "Quaxworth" not in err.value.message
    assert open_journals(ws.lake) == [] and not SuppressionList.load(ws.lake)

    erase_customers(ws, _plan(graph, []), ["cus_a"], reason="legal-order", note=NOTE)

    (audit,) = read_audit(ws.lake)
    text = json.dumps(audit).casefold()
    assert audit["reason"] == "legal-order" and len(audit["note_hash"]) == 64
    for secret in ("quaxworth", "4711", "zq@example.org", "cus_a"):
        assert secret not in text


def test_an_unknown_id_changes_nothing_and_an_open_journal_is_left_alone(ws: Workspace) -> None:
    graph, calls = Graph({"cus_a": _person()}), list[str]()
    with pytest.raises(RuntimeError):
        erase_customers(ws, _plan(graph, calls, crash_in="profile_store"), ["cus_a"])
    calls.clear()
    with pytest.raises(NotFoundError):
        erase_or_resume(ws, _plan(graph, calls), ["cus_nobody"])
    assert calls == [] and len(open_journals(ws.lake)) == 1
    reports = erase_or_resume(ws, _plan(graph, calls), [], resume_all=True)
    assert [r.resumed for r in reports] == [True] and calls == ["profile_store", "identity", "raw"]


KILL_SCRIPT = """
import sys
from c360.privacy.erase import erase_customers
from c360.privacy.rewrite import StoreCounts
from c360.privacy.subject import ErasurePlan, FunctionStep, Subject
from c360.workspace import Workspace

person = Subject("cus_a", {"cus_a"}, {"crm": {"C1"}}, {"email": {"zq@example.org"}})
steps = tuple(FunctionStep(n, lambda ws, s: StoreCounts(rows=1)) for n in ("profile_store", "identity"))
erase_customers(Workspace.load(sys.argv[1]), ErasurePlan(lambda ws, cid: person, steps), ["cus_a"])
"""


def test_a_kill_at_each_boundary_leaves_a_journal_the_next_run_finishes(
    ws: Workspace, tmp_path: Path
) -> None:
    """C360_KILL_AT=erase:<step> SIGKILLs the job (no finally, no flush); the journal still lets it finish."""
    log = tmp_path / "boundaries.log"
    env = {**os.environ, LOG_ENV: str(log)}
    subprocess.run([sys.executable, "-c", KILL_SCRIPT, str(ws.root)], env=env, check=True)
    seen = boundaries_seen(str(log))
    assert seen == [
        "erase:journal",
        "erase:suppression",
        "erase:profile_store",
        "erase:identity",
        "erase:audit",
    ]
    assert len(read_audit(ws.lake)) == 1
    graph = Graph()  # the graph has forgotten the person: only the journal can finish the job
    plan = ErasurePlan(graph.find, (Step("profile_store", []), Step("identity", [])))
    for n, boundary in enumerate(seen, start=2):
        env = {**os.environ, KILL_ENV: boundary}
        done = subprocess.run([sys.executable, "-c", KILL_SCRIPT, str(ws.root)], env=env, check=False)
        assert done.returncode == -9, boundary
        assert len(open_journals(ws.lake)) == 1, boundary
        (report,) = resume_open_erasures(ws, plan)
        assert report.resumed and open_journals(ws.lake) == []
        assert len(read_audit(ws.lake)) == n, f"{boundary}: one audit per erasure, however often resumed"


def _imports(path: Path) -> set[str]:
    """Every module a source file imports, at any depth (lazy imports inside functions included)."""
    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            out.add(node.module)
            out |= {f"{node.module}.{a.name}" for a in node.names}
    return out


def test_privacy_imports_no_stage() -> None:
    """The lower layer defines the interface; stages implement it. Parsed, so a lazy import cannot hide."""
    files = sorted(PRIVACY.glob("*.py"))
    assert len(files) >= 8
    found = {
        (f.name, m)
        for f in files
        for m in _imports(f)
        if any(m == s or m.startswith(s + ".") for s in STAGES)
    }
    assert found == set()
    # and the parser sees lazy imports at all: a function-level import elsewhere is found
    assert "c360.privacy.journal" in _imports(Path(__file__).resolve().parents[2] / "c360" / "pipeline.py")


def test_cli_erase_resume_finishes_open_erasures_with_the_real_plan(ws: Workspace) -> None:
    """`c360 erase --resume` runs every stage's real step from the journal (on an empty lake)."""
    from typer.testing import CliRunner

    from c360.cli import app

    graph = Graph({"cus_a": _person()})
    with pytest.raises(RuntimeError):
        erase_customers(ws, _plan(graph, [], crash_in="identity"), ["cus_a"])
    runner = CliRunner()

    bad = runner.invoke(app, ["erase", "cus_b", "--reason", NOTE, "-w", str(ws.root)])
    assert bad.exit_code != 0 and isinstance(bad.exception, ValidationError)
    assert len(open_journals(ws.lake)) == 1, "a refused request touches nothing"

    done = runner.invoke(app, ["erase", "--resume", "-w", str(ws.root)])
    assert done.exit_code == 0, done.output
    assert "(resumed)" in done.output and "cus_a" not in done.output
    assert open_journals(ws.lake) == [] and len(read_audit(ws.lake)) == 1
    again = runner.invoke(app, ["erase", "--resume", "-w", str(ws.root)])
    assert again.exit_code == 0 and "no interrupted erasure" in again.output
