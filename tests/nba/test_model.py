"""`NbaPolicy`: a checkpoint and its catalogue as a c360 model folder (what a registered version holds)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pandas as pd
import pytest

from c360.io.lake import Lake
from c360.models.base import Model, ModelError
from c360.nba.bandit import Bandit
from c360.nba.catalog import load_catalog
from c360.nba.decisions import DecisionLog
from c360.nba.engine import NextBestAction
from c360.nba.model import NbaPolicy

pytestmark = pytest.mark.unit
T0 = datetime(2026, 12, 1, 9, tzinfo=UTC)


def test_a_checkpoint_saved_as_a_model_folder_loads_and_predicts_the_same(tmp_path):
    catalog = load_catalog()
    engine = NextBestAction(catalog, Bandit(seed=0), DecisionLog(Lake(str(tmp_path)), now=T0))
    for i in range(300):  # push converts on mobile, nothing else does
        now = T0 + timedelta(minutes=i)
        context = {"dev": ["mobile", "desktop"][i % 2]}
        d = engine.decide(f"cus_zq4711_{i}", context, {"push", "email", "web"}, now=now)
        win = d.action_id.endswith("_push") and i % 2 == 0
        engine.reward(d.decision_id, conversion=win, ts=now + timedelta(minutes=1))
    checkpoint = tmp_path / "cand.vw"
    version = engine.checkpoint(checkpoint)
    folder = NbaPolicy.from_checkpoint(checkpoint, catalog).save(tmp_path / "model")
    loaded = Model.load(folder)
    assert isinstance(loaded, NbaPolicy) and loaded.card.extra["checkpoint_version"] == version
    assert loaded.catalog_ == catalog
    frame = pd.DataFrame({"customer_id": ["a", "b"], "dev": ["mobile", "desktop"]})
    got = loaded.predict(frame)
    assert list(got.columns) == ["action", "probability"] and got.loc[0, "action"].endswith("_push")
    pmf = engine.bandit.pmf({"dev": "mobile"}, catalog.actions)
    assert got.loc[0, "probability"] == pytest.approx(max(pmf))  # the same model as the live one
    assert not any(b"cus_zq4711" in p.read_bytes() for p in folder.iterdir())  # no customer rows
    with pytest.raises(ModelError, match="learns online"):
        loaded.fit(frame, ["dev"])
