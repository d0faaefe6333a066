"""The bandit as a registered model: `nba` versions in the model registry (MLflow through Feast), so
`c360 models list` shows them next to churn and recs, and `c360 nba evaluate --policy nba:3` (or
`models:/nba/3`, `nba:champion`) judges a registered version on the decision log.

A version's folder holds the checkpoint exactly as `Bandit.save` wrote it (`nba.vw`, its metadata and the
VW model file: the checkpoint version names the version's state), and `catalog.json`, the catalogue it was
registered with, so `predict` can rank the same actions anywhere. No customer rows: see `c360.nba.erasure`.
The bandit learns online (`c360 nba simulate`, serving), never from a training set: `fit` refuses. It has
no Feast feature service; its context comes with each decision. Metrics are the off-policy estimates of
its greedy policy on the workspace's decision log when it holds decisions (`dr`, `snips`, `ips`, `ess`).
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from c360.models.base import Model, ModelError, register
from c360.nba.bandit import Bandit, Features
from c360.nba.catalog import Catalog, catalog_from_dict

CHECKPOINT = "nba.vw"
CATALOG_FILE = "catalog.json"


@register
class NbaPolicy(Model):
    """A bandit checkpoint with the catalogue it chooses from."""

    name = "nba"
    score = None
    defaults: dict = {}

    @classmethod
    def from_checkpoint(cls, checkpoint: Path, catalog: Catalog) -> NbaPolicy:
        meta = json.loads(checkpoint.with_name(checkpoint.name + ".meta.json").read_text(encoding="utf-8"))
        model = cls()
        model.checkpoint_ = checkpoint
        model.catalog_ = catalog
        model.card.extra = {
            "checkpoint_version": meta["version"],
            "rewards_learned": meta["rewards_learned"],
            "exploration": meta["exploration"],
            "floor": meta.get("floor"),
        }
        return model

    def fit(
        self, train: pd.DataFrame, features: Sequence[str], valid: pd.DataFrame | None = None
    ) -> dict[str, float]:
        raise ModelError("nba learns online (serving, `c360 nba simulate`): register a checkpoint instead")

    def predict(self, frame: pd.DataFrame) -> pd.DataFrame:
        """Per row of context features: the catalogue action the greedy policy picks (eligibility is the
        caller's: this ranks every action) and the probability the exploring policy gives it."""
        bandit = Bandit.load(self.checkpoint_)
        actions = self.catalog_.actions
        try:
            picks, probs = [], []
            for row in frame.to_dict("records"):
                context: Features = {k: v for k, v in row.items() if k != "customer_id" and pd.notna(v)}
                pmf = bandit.pmf(context, actions)
                best = max(range(len(pmf)), key=pmf.__getitem__)
                picks.append(actions[best].id)
                probs.append(pmf[best])
        finally:
            bandit.close()
        return pd.DataFrame({"action": picks, "probability": probs}, index=frame.index)

    def _save(self, folder: Path) -> None:
        meta_name = self.checkpoint_.name + ".meta.json"
        meta = json.loads(self.checkpoint_.with_name(meta_name).read_text(encoding="utf-8"))
        renamed = f"{CHECKPOINT}.{meta['version']}"
        shutil.copy2(self.checkpoint_.with_name(meta["model"]), folder / renamed)
        meta["model"] = renamed
        (folder / f"{CHECKPOINT}.meta.json").write_text(json.dumps(meta), encoding="utf-8")
        (folder / CATALOG_FILE).write_text(self.catalog_.model_dump_json(), encoding="utf-8")

    def _load(self, folder: Path) -> None:
        self.checkpoint_ = folder / CHECKPOINT
        Bandit.load(self.checkpoint_).close()  # a missing or broken checkpoint is refused here, by name
        self.catalog_ = catalog_from_dict(json.loads((folder / CATALOG_FILE).read_text(encoding="utf-8")))
