"""`c360 nba simulate | evaluate` through `run_cli` on small workspaces: the demo flow, the named errors."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import yaml

from c360.cli import run_cli
from c360.nba.catalog import DEFAULT_CATALOG, load_catalog
from c360.nba.decisions import DecisionLog
from c360.nba.ope import evaluate_checkpoint
from c360.workspace import Workspace, init_workspace

pytestmark = pytest.mark.unit
SMALL = ["--customers", "2000"]


def _ws(path: Path) -> Workspace:
    init_workspace(path)
    return Workspace.load(path)


def test_simulate_then_evaluate_a_candidate_on_an_honest_log(tmp_path, capsys):
    lab, prod = _ws(tmp_path / "lab"), _ws(tmp_path / "prod")
    candidate = tmp_path / "candidate" / "nba.vw"
    # the candidate learns in its own workspace; production serves a frozen policy into its log
    args = [
        "nba",
        "simulate",
        "--decisions",
        "1500",
        *SMALL,
        "--save-as",
        str(candidate),
        "-w",
        str(lab.root),
    ]
    assert run_cli(args) == 0
    assert "1,500 decisions logged" in capsys.readouterr().out
    assert not (Path(lab.lake.path("models", "nba", "current"))).exists()  # --save-as leaves current alone
    assert run_cli(["nba", "simulate", "--decisions", "400", *SMALL, "-w", str(prod.root)]) == 0
    capsys.readouterr()
    first = [d.ts for d in DecisionLog(prod.lake).decisions()]
    frozen = ["nba", "simulate", "--frozen", "--decisions", "800", *SMALL, "-w", str(prod.root), "--json"]
    assert run_cli(frozen) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["checkpoint"] is None and not report["learned"] and report["decisions"] == 800
    log = DecisionLog(prod.lake)
    decisions = list(log.decisions())
    assert len(decisions) == 1_200 and len(log.rewards()) == 1_200
    assert min(d.ts for d in decisions[400:]) > max(first)  # the second run continues the log's clock

    w = ["-w", str(prod.root), "--n-boot", "100"]
    assert (
        run_cli(["nba", "evaluate", "--policy", str(candidate), "--baseline", "current", *w, "--json"]) == 0
    )
    doc = json.loads(capsys.readouterr().out)
    assert doc["decisions"] == 1_200 and doc["log"] == log.uri
    rewards = [r.reward for r in log.rewards()]
    (served,) = doc["logged"]["estimates"]
    assert served["value"] == pytest.approx(np.mean(rewards)) and served["ess"] == pytest.approx(1_200)
    direct = evaluate_checkpoint(log, load_catalog(), candidate, n_boot=100)
    got = {e["estimator"]: e for e in doc["candidate"]["estimates"]}
    assert set(got) == {"IPS", "SNIPS", "DR"} and doc["baseline"]["name"] == "current"
    for e in direct:
        assert got[e.estimator]["value"] == pytest.approx(e.value)
        assert got[e.estimator]["low"] <= e.value <= got[e.estimator]["high"]
        assert 1 < got[e.estimator]["ess"] < 1_200
    assert run_cli(["nba", "evaluate", "--policy", str(candidate.parent), *w]) == 0  # a folder works too
    out = capsys.readouterr().out
    assert "SNIPS" in out and "95% CI" in out and "1,200 logged decisions" in out


def test_bad_input_gets_named_errors(tmp_path, capsys):
    ws = _ws(tmp_path / "ws")
    w = ["-w", str(ws.root)]
    assert run_cli(["nba", "evaluate", "--policy", "current", *w]) == 3
    assert "no bandit checkpoint" in capsys.readouterr().err
    assert run_cli(["nba", "evaluate", "--policy", str(tmp_path / "nope.vw"), *w]) == 3
    assert "nope.vw" in capsys.readouterr().err
    assert run_cli(["nba", "simulate", "--decisions", "0", *w]) == 2
    capsys.readouterr()

    other = _ws(tmp_path / "other")  # a checkpoint, but a workspace whose log is empty
    assert run_cli(["nba", "simulate", "--decisions", "50", *SMALL, "-w", str(other.root)]) == 0
    current = Path(other.lake.path("models", "nba", "current", "nba.vw"))
    assert run_cli(["nba", "evaluate", "--policy", str(current), *w]) == 3
    assert "holds no decisions" in capsys.readouterr().err

    judge_current = ["nba", "evaluate", "--policy", "current", "-w", str(other.root)]
    data = yaml.safe_load(DEFAULT_CATALOG.read_text())
    data["actions"][0]["channel"] = "fax"
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(data))
    assert run_cli([*judge_current, "--catalog", str(bad)]) == 2
    assert "unknown channel 'fax'" in capsys.readouterr().err
    data["actions"] = data["actions"][1:]  # a catalogue without an action the log holds
    bad.write_text(yaml.safe_dump(data))
    assert run_cli([*judge_current, "--catalog", str(bad)]) == 2
    assert "does not hold" in capsys.readouterr().err


def test_warm_start_from_the_exposures_table(tmp_path, capsys):
    import pyarrow as pa

    from c360.facts.schemas import EXPOSURES, SCHEMAS
    from c360.nba.bandit import Bandit
    from c360.nba.simulator import Simulator

    ws = _ws(tmp_path / "ws")
    w = ["-w", str(ws.root)]
    assert run_cli(["nba", "warm-start", *w]) == 3  # no facts yet
    assert "no exposures" in capsys.readouterr().err
    catalog = load_catalog()
    sim = Simulator(catalog, 42, 2000)
    emails = [a for a in catalog.actions if a.channel == "email"]
    rng = np.random.default_rng(0)
    rows = []
    for i in range(3_000):  # a uniformly random email campaign history
        v = sim.visit()
        a = emails[i % len(emails)]
        conv = bool(rng.random() < sim.expected_reward(v.customer, "desktop", "morning", a))
        rows.append(
            {"customer_id": v.customer_id, "channel": "email", "offer_id": a.offer, "variant": a.variant}
        )
        rows[-1].update(clicked=conv, converted=conv, revenue_rc=0.0)
    rows.append({"customer_id": "C1", "channel": "fax", "offer_id": "x", "clicked": True, "converted": True})
    table = pa.Table.from_pylist(rows, schema=SCHEMAS[EXPOSURES])
    ws.lake.write_table(table, ws.lake.path("facts", EXPOSURES, "part-00000.parquet"))

    assert run_cli(["nba", "warm-start", "--passes", "2", *w, "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert (report["exposures"], report["examples"], report["skipped"], report["updates"]) == (
        3001,
        3000,
        1,
        6000,
    )
    current = Path(ws.lake.path("models", "nba", "current", "nba.vw"))
    assert report["checkpoint"] == str(current)
    bandit = Bandit.load(current)
    truth = {
        a.id: np.mean([sim.expected_reward(c, "desktop", "morning", a) for c in range(2000)]) for a in emails
    }
    ctx = {"seg": "vip", "dev": "desktop"}
    pick = emails[int(np.argmax(bandit.pmf(ctx, emails)))]
    assert pick.id == max(truth, key=truth.__getitem__), (pick.id, truth)  # untrained, it picks d10_email
    assert bandit.rewards_learned_ == 0  # exposures are not log rewards: restore relearns the whole log
    bandit.close()
    assert run_cli(["nba", "warm-start", *w]) == 2  # a checkpoint exists
    assert "--force" in capsys.readouterr().err
    assert run_cli(["nba", "warm-start", "--force", *w]) == 0
