"""`recs` as a registered model on a small workspace (tests/recs/workspace.py): trained on the purchases
before a held-out window and measured on it beside popularity, registered with item-side state only,
scored into `recommendations/` with the consent rule, erased by key."""

from __future__ import annotations

import dataclasses
import re
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from c360.errors import ValidationError
from c360.models.base import ModelError
from c360.privacy.subject import Subject
from c360.recs.config import load_recs_config
from c360.recs.rules import NO_CONSENT_REASON
from tests.recs.workspace import consent_of, recs_workspace

pytestmark = [pytest.mark.feast, pytest.mark.filterwarnings("ignore::DeprecationWarning")]
CONFIG = {"ray": False, "holdout_days": 28}


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory):
    from c360.recs.train import train_recs

    ws, lines = recs_workspace(tmp_path_factory.mktemp("recs") / "ws", customers=240, seed=1)
    first = train_recs(ws, CONFIG)
    return ws, lines, first


@pytest.fixture(scope="module")
def scored(trained):
    from c360.recs.score import score_recs

    ws, _, _ = trained
    return score_recs(ws)


def test_held_out_ndcg_beats_popularity_and_the_first_version_is_champion(trained):
    from c360.models import registry

    ws, _, first = trained
    m = first.metrics
    assert first.method == "ease" and first.version == "1" and first.champion
    assert m["customers_evaluated"] > 50
    assert m["ndcg"] > 0.3 and m["ndcg"] > 2 * m["popularity_ndcg"], m  # the planted home categories
    shown = registry.show(ws, "recs")
    assert shown.metrics["ndcg"] == pytest.approx(m["ndcg"]) and shown.champion


def test_the_registered_artifact_holds_no_customer(trained):
    ws, lines, first = trained
    n_items = lines["product_id"].nunique()
    with np.load(ws.lake.path("models", "recs", first.version, "recs.npz"), allow_pickle=False) as state:
        assert set(state.files) == {
            "items", "category", "has_category", "popularity", "sim_data", "sim_indices", "sim_indptr",
            "item_state",
        }  # fmt: skip
        assert state["item_state"].shape == (n_items, n_items)  # EASE's item x item weights
        assert state["popularity"].shape == (n_items,) and state["sim_indptr"].shape == (n_items + 1,)
        assert set(state["items"].tolist()) == set(lines["product_id"])
    named = re.compile(r"\bc\d{4}\b")  # a customer id of the test shop
    texts = [p for p in ws.lake.glob("models/**/*") if p.endswith((".json", ".txt", ".yaml", "MLmodel"))]
    assert texts and not [p for p in texts if named.search(ws.lake.read_text(p))]


def test_a_later_version_can_be_promoted_and_rolled_back(trained):
    from c360.models import registry
    from c360.recs.train import train_recs

    ws, _, _ = trained
    second = train_recs(ws, {**CONFIG, "params": {"method": "als", "factors": 8, "iterations": 8}})
    assert second.method == "als" and not second.champion
    registry.promote(ws, "recs", int(second.version))
    assert registry.champion(ws, "recs").version == int(second.version)
    assert registry.load_champion(ws, "recs").method_ == "als"
    registry.rollback(ws, "recs")
    assert registry.champion(ws, "recs").version == 1


def test_scores_follow_consent_and_name_a_reason(trained, scored):
    ws, lines, _ = trained
    from c360.recs.store import read_lists

    lists = read_lists(ws)
    assert scored.customers == lines["customer_id"].nunique() and len(lists) == 10 * scored.customers
    for customer, rows in lists.groupby("customer_id"):
        allowed = consent_of(customer)["personalization"]["web"]["granted"]
        assert rows["personalized"].all() == allowed
        if allowed:
            bought = set(lines.loc[lines["customer_id"] == customer, "product_id"])
            assert bought.isdisjoint(rows["product_id"])  # already-bought items are left out
            assert rows["reason"].str.startswith(("because you bought", "popular")).all()
        else:
            assert (rows["reason"] == NO_CONSENT_REASON).all()
    popular = lists[~lists["personalized"]]
    assert popular.groupby("customer_id")["product_id"].apply(tuple).nunique() == 1  # one list for all


def test_next_product_propensity_is_a_probability_that_ranks_buyers(trained, scored):
    _, lines, _ = trained
    p = scored.propensity.set_index("customer_id")
    assert p["next_product_propensity"].between(0, 1).all()
    personal = [c for c in p.index if consent_of(c)["personalization"]["web"]["granted"]]
    # the no-consent customers all get the popular list's hit rate: one number, no personal signal
    assert p.drop(index=personal)["next_product_propensity"].nunique() == 1
    assert p.loc[personal, "next_product_propensity"].nunique() > 1


def test_a_score_run_gets_next_product_propensity_from_the_champion(trained, scored):
    """`c360 score`'s ml_scores table: the recs champion fills next_product_propensity (c360.models.score
    calls fill_next_product), the other columns stay as they were."""
    import pyarrow as pa

    from c360.models.score import ScoreReport, conform
    from c360.recs.score import fill_next_product

    ws, _, _ = trained
    ids = [*scored.propensity["customer_id"], "nobody"]
    risk = np.linspace(0, 1, len(ids))
    table = conform(pa.table({"customer_id": ids, "churn_risk": risk}))
    report = ScoreReport(run_id="t", unscored=["clv", "nextProductPropensity"])
    out = fill_next_product(ws, table, datetime.now(UTC), report)
    expected = scored.propensity.set_index("customer_id")["next_product_propensity"]
    got = out.column("next_product_propensity").to_pylist()
    assert got[:-1] == pytest.approx(expected.loc[ids[:-1]].tolist())
    assert got[-1] == pytest.approx(expected.loc["c0000"])  # no history: the popular list's rate, as c0000's
    assert out.column("churn_risk").to_pylist() == pytest.approx(risk)
    assert report.models["nextProductPropensity"] == "recs v1" and report.unscored == ["clv"]
    assert report.recommendations_path.startswith("recommendations/")


def test_the_cli_trains_from_the_shipped_config_and_lists_the_versions(trained, capsys):
    from c360.cli import run_cli

    ws, _, _ = trained
    assert run_cli(["train", "recs", "-c", "training/configs/recs.yaml", "-w", str(ws.root)]) == 0
    out = capsys.readouterr().out
    assert "recs version" in out and "NDCG@k" in out and "(popularity" in out
    assert run_cli(["models", "list", "recs", "-w", str(ws.root)]) == 0
    assert "recs" in capsys.readouterr().out


def test_an_incremental_update_writes_the_customers_new_list(trained, scored):
    from c360.recs.incremental import update_customer
    from c360.recs.store import read_history, read_lists

    ws, _, _ = trained
    customer = "c0002"  # shops in category 2, consented
    before = read_lists(ws, [customer])
    fresh = pd.DataFrame(
        {
            "customer_id": customer,
            "order_id": ["fresh-1", "fresh-2"],
            "ts": pd.Timestamp("2011-07-02", tz="UTC"),
            "product_id": ["p5_00", "p5_01"],
            "quantity": 1,
            "kind": "purchase",
        }
    )
    written = update_customer(ws, customer, fresh)
    after = read_lists(ws, [customer])
    assert list(after["product_id"]) == list(written["product_id"]) != list(before["product_id"])
    assert after["personalized"].all() and (after["model_version"] == "1").all()
    assert after["product_id"].str.startswith("p5_").sum() > before["product_id"].str.startswith("p5_").sum()
    assert {"fresh-1", "fresh-2"} <= set(read_history(ws, [customer])["order_id"])


def _names(ws, customer_id: str) -> list[str]:
    """Every lake file whose text or string columns hold `customer_id`."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    found = []
    for path in Path(ws.lake.path()).rglob("*"):
        if not path.is_file():
            continue
        if path.suffix == ".parquet":
            table = pq.read_table(path)
            text = " ".join(
                str(v) for c in table.columns if pa.types.is_string(c.type) for v in c.to_pylist()
            )
        else:
            text = path.read_bytes().decode("utf-8", errors="ignore")
        if re.search(rf"\b{customer_id}\b", text):
            found.append(str(path.relative_to(ws.lake.path())))
    return found


def test_an_erasure_leaves_nothing_in_the_lake_that_names_the_customer(trained, scored):
    """Train, score, erase through the real erasure plan (this workspace has no identity graph: the subject
    is the customer id alone), then no file of the lake names them."""
    from c360.erasure_plan import erasure_plan
    from c360.privacy import erase as orchestrator
    from c360.recs.store import read_history, read_lists

    ws, _, _ = trained
    victim = "c0007"
    lists, own = len(read_lists(ws)), len(read_lists(ws, [victim]))
    assert len(read_history(ws, [victim])) and own == 10
    assert {"recs", "recommendations", "facts", "profiles"} <= {p.split("/")[0] for p in _names(ws, victim)}
    plan = dataclasses.replace(erasure_plan(), find_subject=lambda ws, c: Subject(c, {c}))
    assert "recs" in [s.name for s in plan.steps]
    report = orchestrator.erase_customers(ws, plan, [victim], reason="test")
    assert report.stores["recs"].rows > 10  # its history lines and its list
    assert _names(ws, victim) == []
    assert read_history(ws, [victim]).empty and read_lists(ws, [victim]).empty
    assert len(read_lists(ws)) == lists - own  # everyone else's list is still there


def test_the_config_refuses_unknown_keys_and_hyper_parameters(tmp_path):
    with pytest.raises(ValidationError, match="holdout_dayz"):
        load_recs_config({"holdout_dayz": 3})
    with pytest.raises(ModelError, match="lambda"):
        load_recs_config({"params": {"lambda": 3}})
    with pytest.raises(ValidationError, match="consent_channel"):
        load_recs_config({"consent_channel": "fax"})
    shipped = load_recs_config("training/configs/recs.yaml")
    assert shipped.tune is not None and shipped.metric == "ndcg"


def test_a_window_with_no_history_before_it_is_refused(trained):
    from c360.recs.train import NoPurchasesError, holdout_start

    _, lines, _ = trained
    with pytest.raises(ModelError, match="holdout_days"):
        holdout_start(lines, days=400)
    with pytest.raises(NoPurchasesError):  # `c360 train all` skips recs on such a workspace
        holdout_start(lines.iloc[:0], days=28)
    assert holdout_start(lines, 28)[1] - holdout_start(lines, 28)[0] == pd.Timedelta(days=28)


def test_the_training_entrypoint_trains_recs_and_names_a_bad_config(trained, tmp_path, capsys):
    from c360.models import registry
    from training import main

    ws, _, _ = trained
    before = len(registry.list_versions(ws, "recs"))
    assert main("recs", ["--config", "training/configs/recs.yaml", "-w", str(ws.root)]) == 0
    assert "recs version" in capsys.readouterr().out
    assert len(registry.list_versions(ws, "recs")) == before + 1
    bad = tmp_path / "recs.yaml"
    bad.write_text("model: recs\nparams: {lambda: 3}\n")
    assert main("recs", ["--config", str(bad), "-w", str(ws.root)]) == 2
    assert "lambda" in capsys.readouterr().err
