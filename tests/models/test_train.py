"""`train_model` on a workspace whose churn is learnable (tests/models/churn_world.py): the last cutoff is
held out, no training label reaches into it, the held-out AUC beats chance by far, the first version becomes
champion and later or refused trainings leave it where it was."""

from __future__ import annotations

import pandas as pd
import pytest

from c360.cli import run_cli
from c360.errors import ValidationError
from c360.features.labels import horizon_end
from c360.models.base import ModelError
from c360.models.train import time_split, train_model
from c360.models.train_config import load_config
from c360.settings import LabelSettings
from tests.models.churn_world import churn_workspace

pytestmark = [pytest.mark.feast, pytest.mark.filterwarnings("ignore::DeprecationWarning")]
CONFIG = {"model": "churn", "ray": False, "metric": "auc", "params": {"n_estimators": 150, "nthread": 1}}


@pytest.fixture(scope="module")
def ws(tmp_path_factory: pytest.TempPathFactory):
    return churn_workspace(tmp_path_factory.mktemp("train") / "ws", customers=300, seed=5)


@pytest.fixture(scope="module")
def first(ws):
    return train_model(ws, "churn", CONFIG)


def test_the_last_cutoff_is_held_out_and_no_training_label_reaches_into_it(first):
    held = pd.Timestamp(first.holdout_cutoffs[0])
    assert len(first.holdout_cutoffs) == 1 and len(first.train_cutoffs) == 3
    for cutoff in first.train_cutoffs:
        assert horizon_end(pd.Timestamp(cutoff), days=90) <= held
    assert first.rows_train > 3 * first.rows_holdout / 2 > 0


def test_held_out_auc_beats_chance_and_the_first_version_is_champion(ws, first):
    from c360.models import registry

    assert first.metrics["auc"] > 0.85  # the planted signal, measured on the held-out cutoff only
    assert first.version == "1" and first.champion
    champion = registry.load_champion(ws, "churn")
    assert champion.card.training_set["set_id"] == first.training_set
    assert champion.card.training_set["holdout_cutoffs"] == first.holdout_cutoffs
    assert ws.lake.exists("models", "churn", "1", "card.json")


def test_a_later_version_is_not_champion_unless_promoted(ws, first):
    from c360.models import registry

    second = train_model(ws, "churn", CONFIG)
    assert second.version == "2" and not second.champion
    assert registry.champion(ws, "churn").version == 1


@pytest.mark.parametrize(
    ("change", "error", "message"),
    [
        ({"params": {"max_dept": 3}}, ModelError, "unknown hyper-parameter(s) max_dept"),
        ({"features": "no_such_service"}, ValidationError, "no feature service 'no_such_service'"),
        ({"cutoffs": ["2026-03-01"]}, ModelError, "needs at least one more for training"),
        ({"label": "nope"}, ValidationError, "unknown label 'nope'"),
    ],
)
def test_a_refused_training_names_the_problem_and_the_champion_stays(ws, first, change, error, message):
    from c360.models import registry

    before = [v.version for v in registry.list_versions(ws, "churn")]
    with pytest.raises(error, match=message.replace("(", r"\(").replace(")", r"\)")):
        train_model(ws, "churn", {**CONFIG, **change})
    assert [v.version for v in registry.list_versions(ws, "churn")] == before
    assert registry.champion(ws, "churn").version == 1


def test_the_cli_refuses_an_unknown_config_key_with_exit_2(ws, tmp_path, capsys):
    bad = tmp_path / "churn.yaml"
    bad.write_text("model: churn\nlearning_rate: 0.1\n")
    assert run_cli(["train", "churn", "--config", str(bad), "-w", str(ws.root)]) == 2
    assert "learning_rate: Extra inputs are not permitted" in capsys.readouterr().err


def test_the_shipped_configs_load():
    from pathlib import Path

    for path in sorted(Path("training/configs").glob("*.yaml")):
        config = load_config(path)
        assert config.model == path.stem and config.tune is not None


def test_time_split_drops_training_rows_whose_label_window_reaches_the_holdout():
    label = LabelSettings(kind="churn", days=90)
    cuts = pd.to_datetime(["2025-01-01", "2025-04-01", "2025-06-01"], utc=True)
    frame = pd.DataFrame(
        {"customer_id": ["a", "b", "c"] * 3, "event_timestamp": cuts.repeat(3), "label": [0, 1, 0] * 3}
    )
    split = time_split(frame, label, 1, 0.2, 0)
    assert split.holdout_cutoffs == ["2025-06-01T00:00:00+00:00"]
    assert split.train_cutoffs == ["2025-01-01T00:00:00+00:00"]  # 2025-04-01 + 90 days passes 2025-06-01
    assert split.dropped_rows == 3 and len(split.train) == 3 and len(split.holdout) == 3


def test_the_training_entrypoint_trains_from_a_config_file(ws, first, tmp_path, capsys):
    import yaml

    from c360.models import registry
    from training import main

    path = tmp_path / "churn.yaml"
    path.write_text(yaml.safe_dump({**CONFIG, "promote": "never"}))
    before = len(registry.list_versions(ws, "churn"))
    assert main("churn", ["--config", str(path), "-w", str(ws.root)]) == 0
    assert "held-out auc" in capsys.readouterr().out
    assert len(registry.list_versions(ws, "churn")) == before + 1
    assert registry.champion(ws, "churn").version == 1
    path.write_text(yaml.safe_dump({**CONFIG, "params": {"depth": 3}}))
    assert main("churn", ["--config", str(path), "-w", str(ws.root)]) == 2
    assert "unknown hyper-parameter(s) depth" in capsys.readouterr().err


def test_promote_better_keeps_a_champion_the_new_version_does_not_beat(ws, first):
    from c360.models import registry

    worse = {**CONFIG, "promote": "better", "params": {"n_estimators": 2, "max_depth": 1, "nthread": 1}}
    result = train_model(ws, "churn", worse)
    assert result.metrics["auc"] < first.metrics["auc"] and not result.champion
    assert registry.champion(ws, "churn").version == 1
