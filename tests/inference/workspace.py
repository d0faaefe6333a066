"""A small trained workspace for online inference: the recommendation shop of `tests.recs.workspace` with
a registered `recs` champion, a bandit checkpoint as `current`, a profile store holding every customer (their
consent as the recommendation tests grant it, marketing consent on email for even ids, scores, a cookie id)
and API keys."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import yaml

from c360.api.keys import KeyStore
from c360.inference.personalizer import Budget
from c360.nba.bandit import Bandit
from c360.nba.workspace import current_checkpoint
from c360.profile.store import open_profile_store
from c360.settings import CONFIG_FILE
from c360.workspace import Workspace
from tests.recs.workspace import consent_of, recs_workspace

GRANTED = {"granted": True, "ts": "2011-01-01T00:00:00+00:00", "source": "t"}
ROOMY = Budget(route=20.0, profile=5.0, part=10.0)
"""The tests over this workspace check what each part answers, not how fast: on a busy 2-core CI machine the
default 10 and 30 ms can pass, and turn an answer into a `timeout` fallback. The budgets' own tests use the
default, or set theirs."""


@dataclass(frozen=True)
class TrainedWorkspace:
    ws: Workspace
    lines: pd.DataFrame
    decide_key: str
    read_key: str


def cookie_of(customer_id: str) -> str:
    return f"ck-{customer_id}"


def profile_of(customer_id: str) -> dict:
    consent = consent_of(customer_id)
    if int(customer_id[1:]) % 2 == 0:
        consent["marketing"] = {"email": GRANTED, "web": GRANTED}
    number = int(customer_id[1:])
    return {
        "customerId": customer_id,
        "identities": {"cookieIds": [cookie_of(customer_id)]},
        "demographics": {"age": 20 + number % 50},
        "engagement": {"preferredChannel": "email", "engagementScore": 0.5},
        "mlScores": {
            "churnRisk": round((number % 10) / 10, 1),
            "clv": float(number),
            "nextProductPropensity": 0.25,
            "segment": "champions" if number % 3 == 0 else "at_risk",
        },
        "consent": consent,
    }


def _with_serving(ws: Workspace, serving: dict[str, float]) -> Workspace:
    config = ws.root / CONFIG_FILE
    settings = yaml.safe_load(config.read_text())
    settings["serving"].update(serving)
    config.write_text(yaml.safe_dump(settings, sort_keys=False))
    return Workspace.load(ws.root)


def trained_workspace(root: Path, customers: int = 240) -> TrainedWorkspace:
    from c360.recs.train import train_recs

    ws, lines = recs_workspace(root, customers=customers, seed=1)
    ws = _with_serving(
        ws,
        {
            "profile_budget_ms": ROOMY.profile * 1000,
            "part_budget_ms": ROOMY.part * 1000,
            "route_budget_ms": ROOMY.route * 1000,
        },
    )
    train_recs(ws, {"ray": False, "holdout_days": 28})
    bandit = Bandit(seed=0)
    try:
        bandit.save(current_checkpoint(ws))
    finally:
        bandit.close()
    with open_profile_store(ws) as store:
        store.upsert_many([profile_of(c) for c in sorted(lines["customer_id"].unique())])
    keys = KeyStore.for_workspace(ws)
    _, decide_key = keys.create(["decide"], name="storefront")
    _, read_key = keys.create(["profiles:read"], name="reader")
    return TrainedWorkspace(ws, lines, decide_key, read_key)
