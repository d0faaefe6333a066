"""The fair Splink baseline and the threshold sweep: c360's cleaned identifiers only, the nickname level, the
oracle threshold. Splink runs in process on DuckDB (no Ray), on a FEBRL4 slice plus hand-made records."""

from __future__ import annotations

import pandas as pd
import pyarrow as pa
import pytest

from c360.bench.febrl import febrl_standardized
from c360.bench.identity_sweep import Curve, CurvePoint, with_threshold
from c360.bench.splink_baseline import cleaned_identifiers, fair_splink, splink_input
from c360.identity.config import IdentitySettings
from c360.identity.deterministic import deterministic_links
from c360.identity.normalize import prepare_records
from c360.settings import Settings
from c360.workspace import Workspace

pytestmark = pytest.mark.unit

PAIR = {"last_name": "smithers", "birth_date": "1961-03-04", "street": "12 kirkby st", "city": "thornbury",
        "postcode": "3071", "state": "vic"}  # fmt: skip


def _prepared(extra: list[dict], febrl_people: int = 0) -> pd.DataFrame:
    """Hand-made records (after the first `febrl_people` people of FEBRL4 and their matches, when asked)."""
    base = pd.DataFrame(extra).assign(
        source="hand", source_record_id=lambda d: [f"r{i}" for i in range(len(d))]
    )
    base["birth_date"] = pd.to_datetime(base["birth_date"]).dt.date
    parts = [pa.Table.from_pandas(base, preserve_index=False)]
    if febrl_people:
        for source, table in febrl_standardized(4, with_ssn=False).items():
            ids = [f"rec-{i}-{'org' if source == 'febrl_a' else 'dup-0'}" for i in range(febrl_people)]
            keep = pa.compute.is_in(table["source_record_id"], pa.array(ids))
            parts.append(table.filter(keep).select([c for c in table.column_names if not c.startswith("_")]))
    frames = [p.to_pandas() for p in parts]
    return prepare_records(pa.Table.from_pandas(pd.concat(frames, ignore_index=True)), IdentitySettings())


def test_identifiers_c360_refused_are_null_for_splink():
    people = [
        {"first_name": f"ann{i}", "last_name": f"lee{i}", "birth_date": "1990-01-01", "phone": "1111111"}
        for i in range(3)
    ] + [{"first_name": "tom", "last_name": "ray", "birth_date": "1980-01-01", "phone": "+61 3 9555 0142"}]
    prepared = _prepared(people)
    settings = IdentitySettings()
    _, refused = deterministic_links(prepared, settings)
    assert set(refused.loc[refused["field"] == "phone", "reason"]) == {"placeholder"}
    phone = splink_input(prepared, settings, refused).set_index("unique_id")["phone"]
    assert phone.isna().sum() == 3  # the placeholder, on three records
    assert phone.notna().sum() == 1 and phone.dropna().iloc[0] == prepared["phone__id"].dropna().iloc[-1]
    # without the refused table, the same placeholder reaches Splink
    assert cleaned_identifiers(prepared, None)["phone"].notna().all()


@pytest.mark.slow
def test_fair_splink_links_bob_and_robert_by_the_nickname_level():
    names = ["bob", "robert", "rupert"]  # Rupert: as far from Bob as Robert is, but no nickname of his
    hand = [{"first_name": n, **PAIR} for n in names]
    hand.append(
        {
            **PAIR,
            "first_name": "bob",
            "last_name": "quennell",
            "birth_date": "1975-08-09",
            "street": "3 ord pl",
            "postcode": "2000",
            "city": "sydney",
            "state": "nsw",
        }  # fmt: skip
    )
    prepared = _prepared(hand, febrl_people=40)
    run = fair_splink(prepared, IdentitySettings(), refused=None, with_gender=False)
    labels, _ = run.labels(0.5)
    assert labels["hand:r0"] == labels["hand:r1"]
    assert labels["hand:r3"] != labels["hand:r0"]
    pred = run.predictions.as_pandas_dataframe()
    weight = {frozenset((r.unique_id_l, r.unique_id_r)): r.match_weight for r in pred.itertuples()}
    nickname, other = weight[frozenset(("hand:r0", "hand:r1"))], weight[frozenset(("hand:r0", "hand:r2"))]
    assert nickname > other + 1.0  # only the first name differs, and the nickname level weighs it
    # FEBRL4's true pairs are linked too: the run is a trained Splink model, not an empty one
    febrl = labels[labels.index.str.startswith("febrl_a")]
    twins = [labels.get(k.replace("febrl_a:", "febrl_b:").replace("-org", "-dup-0")) for k in febrl.index]
    assert sum(t == v for t, v in zip(twins, febrl, strict=True)) >= 30


def test_oracle_threshold_is_the_best_f1_and_ties_go_to_the_shared_one():
    pts = [
        CurvePoint("t", th, 1.0, r, 2 * r / (1 + r))
        for th, r in [(0.1, 0.9), (0.5, 0.95), (0.9, 0.95), (0.99, 0.8)]
    ]
    curve = Curve("d", 0.9, pts)
    assert curve.best("t").threshold == 0.9
    assert Curve("d", 0.1, pts).best("t").threshold == 0.5
    assert curve.at("t", 0.99) is not None and curve.at("t", 0.3) is None


def test_with_threshold_changes_only_the_match_threshold(tmp_path):
    ws = Workspace.from_settings(Settings(), tmp_path)
    at = with_threshold(ws, 0.3)
    assert at.settings.identity.match_threshold == 0.3
    assert ws.settings.identity.match_threshold == IdentitySettings().match_threshold
    assert at.settings.identity.model_copy(update={"match_threshold": 0.99}) == ws.settings.identity
    assert at.root == ws.root


def test_splink_compares_the_address_as_c360_config_does():
    from c360.bench.febrl import febrl_identity_settings
    from c360.bench.splink_baseline import _comparisons

    def names(settings: IdentitySettings, address: str) -> list[str]:
        return [c.get_comparison("duckdb").output_column_name for c in _comparisons(settings, False, address)]

    default, febrl = IdentitySettings(), IdentitySettings.model_validate(febrl_identity_settings())
    assert "address" in names(default, "as_c360") and "street" not in names(default, "as_c360")
    for settings, address in ((default, "apart"), (febrl, "as_c360")):
        assert {"street", "city", "postcode"} <= set(names(settings, address))
        assert "address" not in names(settings, address)
