"""Bandit checkpoints as `nba` model versions: `c360 nba register`, `c360 models list`, evaluate a version."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from c360.cli import run_cli
from c360.workspace import Workspace, init_workspace

pytestmark = pytest.mark.feast


def test_register_a_checkpoint_and_evaluate_a_registered_version(tmp_path, capsys):
    init_workspace(tmp_path / "ws")
    ws = Workspace.load(tmp_path / "ws")
    w = ["-w", str(ws.root)]
    assert run_cli(["nba", "register", *w]) == 3  # no current checkpoint yet
    assert "no bandit checkpoint" in capsys.readouterr().err
    assert run_cli(["nba", "simulate", "--decisions", "600", "--customers", "2000", *w]) == 0
    capsys.readouterr()
    assert run_cli(["nba", "register", *w, "--json"]) == 0
    first = json.loads(capsys.readouterr().out)
    assert (first["name"], first["version"], first["champion"]) == ("nba", 1, True)
    assert {"ips", "snips", "dr", "ess"} <= set(first["metrics"])
    folder = Path(ws.lake.path(first["folder"]))
    assert sorted(p.name for p in folder.iterdir() if not p.name.startswith("nba.vw.nba-")) == [
        "card.json",
        "catalog.json",
        "nba.vw.meta.json",
    ]
    assert run_cli(["nba", "simulate", "--decisions", "300", "--customers", "2000", *w]) == 0
    assert run_cli(["nba", "register", "--no-promote", *w]) == 0
    assert "nba version 2 registered:" in capsys.readouterr().out

    assert run_cli(["models", "list", "nba", *w, "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [(r["version"], r["champion"]) for r in rows] == [(1, True), (2, False)]
    judge = ["nba", "evaluate", "--n-boot", "50", *w, "--json"]
    assert run_cli([*judge, "--policy", "nba:2", "--baseline", "models:/nba@champion"]) == 0
    doc = json.loads(capsys.readouterr().out)
    meta = json.loads((folder / "nba.vw.meta.json").read_text())
    assert doc["baseline"]["version"] == meta["version"] and doc["candidate"]["version"] != meta["version"]
    assert run_cli([*judge, "--policy", "nba:7"]) == 3
    assert "no version 7" in capsys.readouterr().err
