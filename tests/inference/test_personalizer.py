"""`Personalizer` over `LocalModels` on the trained workspace: every part answered at once, an anonymous
id resolved through the profile store's index, and each degradation (a slow model, a profile store that
is down, no profile) answered within the budget with the documented fallback, flagged."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping, Sequence
from typing import Any

import pytest

from c360.errors import StoreUnavailableError
from c360.inference.clients import LocalModels
from c360.inference.nba import NextBestActionPolicy
from c360.inference.parts import NBA, PROFILE, RECS, SCORES, SIGNALS, Part
from c360.inference.personalizer import Budget, Personalizer
from c360.inference.recommender import Recommender
from c360.inference.scorer import Scorer
from c360.profile.store import open_profile_store
from tests.inference.workspace import ROOMY, cookie_of

pytestmark = [pytest.mark.feast, pytest.mark.filterwarnings("ignore::DeprecationWarning")]
SLOW_SECONDS = 0.3
CUT_SHORT = SLOW_SECONDS / 2
"""An answer faster than this did not wait for the slow part: the 50 ms budget cut it, with room for a busy
2-core CI machine's scheduling (20 ms of slack was not always enough)."""


class SlowRecommender(Recommender):
    """The real recommender, deliberately slow: every personal list takes SLOW_SECONDS more."""

    def recommend(
        self,
        customer_id: str | None,
        n: int = 10,
        category: str | None = None,
        exclude: Sequence[str] = (),
        consent: Mapping[str, Any] | None = None,
    ) -> Part:
        time.sleep(SLOW_SECONDS)
        return super().recommend(customer_id, n, category, exclude, consent)


def no_signals(customer_id: str | None) -> Part:
    return Part({"cart_items": 2, "cart_value": 30.0, "session_page_views": 4})


@pytest.fixture(scope="module")
def store(trained):
    with open_profile_store(trained.ws) as opened:
        yield opened


@pytest.fixture(scope="module")
def models(trained):
    built = LocalModels(
        lambda: Recommender.for_workspace(trained.ws),
        lambda: NextBestActionPolicy.for_workspace(trained.ws),
        lambda: Scorer.for_workspace(trained.ws),
    )
    built.load()
    yield built
    built.close()


def run(personalizer: Personalizer, *args: Any, **kwargs: Any) -> tuple[dict[str, Any], float]:
    async def go() -> tuple[dict[str, Any], float]:
        await personalizer.warm()
        started = time.perf_counter()
        answer = await personalizer.personalize(*args, **kwargs)
        return answer, time.perf_counter() - started

    return asyncio.run(go())


def test_every_part_answers_for_a_known_customer(trained, models, store):
    personalizer = Personalizer(models, lambda: store, no_signals, ROOMY)
    answer, _ = run(personalizer, "c0002", None, {"cart": ["p2_03"], "device": "desktop"}, n=5)
    assert answer["fallbacks"] == [] and answer["customerId"] == "c0002"
    items = [i["productId"] for i in answer["recommendations"]]
    bought = set(trained.lines.loc[trained.lines["customer_id"] == "c0002", "product_id"])
    assert len(items) == 5 and not set(items) & (bought | {"p2_03"})
    decision = answer["nextBestAction"]
    assert decision["decisionId"] and decision["channel"] in {"email", "web", None}
    assert answer["scores"] == {"churnRisk": 0.2, "clv": 2.0, "nextProductPropensity": 0.25}
    assert answer["segment"] == "at_risk" and answer["signals"]["cart_items"] == 2
    assert answer["modelVersions"][RECS] == "1" and answer["modelVersions"][SCORES] == "recs:1"


def test_an_anonymous_id_is_resolved_through_the_identifier_index(models, store):
    personalizer = Personalizer(models, lambda: store, no_signals, ROOMY)
    answer, _ = run(personalizer, None, cookie_of("c0004"), {})
    assert answer["customerId"] == "c0004" and answer["fallbacks"] == []
    unknown, _ = run(personalizer, None, "ck-nobody", {})
    assert unknown["customerId"] is None and unknown["nextBestAction"]["decisionId"] is None
    assert {f["part"] for f in unknown["fallbacks"]} == {PROFILE, RECS, NBA, SCORES}
    assert {f["reason"] for f in unknown["fallbacks"]} == {"unknown_customer"}
    assert unknown["recommendations"] and unknown["scores"] is None


def test_a_slow_recommender_gives_the_popular_list_flagged_within_the_budget(trained, store):
    slow = LocalModels(
        lambda: SlowRecommender.for_workspace(trained.ws),
        lambda: NextBestActionPolicy.for_workspace(trained.ws),
        lambda: Scorer.for_workspace(trained.ws),
    )
    slow.load()
    try:
        budget = Budget(route=0.05, profile=0.01, part=0.03)
        answer, seconds = run(Personalizer(slow, lambda: store, no_signals, budget), "c0002", None, {}, n=4)
    finally:
        slow.close()
    assert seconds < CUT_SHORT
    assert answer["fallbacks"] == [{"part": RECS, "reason": "timeout"}]
    popular = Recommender.for_workspace(trained.ws).popular(4)
    assert [i["productId"] for i in answer["recommendations"]] == [i["productId"] for i in popular.value]
    assert answer["nextBestAction"]["decisionId"]  # the other parts were not held up


class DownStore:
    """A profile store whose backend does not answer (what the SQLite, Redis and Cosmos stores raise)."""

    def get(self, customer_id: str) -> dict[str, Any]:
        raise StoreUnavailableError("the profile store does not answer")

    def lookup(self, kind: str, value: str) -> str:
        raise StoreUnavailableError("the profile store does not answer")


def test_a_profile_store_that_is_down_gives_non_personal_answers_flagged(models):
    answer, seconds = run(Personalizer(models, DownStore, no_signals), "c0002", None, {})
    assert answer["fallbacks"][0] == {"part": PROFILE, "reason": "store_unavailable"}
    assert answer["recommendations"] and {i["reason"] for i in answer["recommendations"]} == {"popular"}
    assert answer["nextBestAction"]["decisionId"] is None and answer["scores"] is None
    assert seconds < CUT_SHORT


def test_the_signals_part_times_out_like_any_other(models, store):
    def stuck(customer_id: str | None) -> Part:
        time.sleep(SLOW_SECONDS)
        return no_signals(customer_id)

    answer, seconds = run(Personalizer(models, lambda: store, stuck), "c0002", None, {})
    assert answer["fallbacks"] == [{"part": SIGNALS, "reason": "timeout"}] and answer["signals"] is None
    assert seconds < CUT_SHORT


def test_a_model_that_cannot_load_is_flagged_and_not_retried_at_every_request(trained, store):
    attempts = []

    def registry_down() -> Recommender:
        attempts.append(1)
        raise StoreUnavailableError("the model registry does not answer")

    models = LocalModels(
        registry_down,
        lambda: NextBestActionPolicy.for_workspace(trained.ws),
        lambda: Scorer.for_workspace(trained.ws),
    )
    personalizer = Personalizer(models, lambda: store, no_signals, ROOMY)
    try:
        run(personalizer, "c0002", None, {})  # the other models load meanwhile (their parts may time out)
        time.sleep(1.0)
        for _ in range(3):
            answer, _ = run(personalizer, "c0002", None, {})
            assert answer["fallbacks"] == [{"part": RECS, "reason": "store_unavailable"}]
            assert answer["nextBestAction"]["decisionId"] and answer["recommendations"] == []
    finally:
        models.close()
    assert len(attempts) == 1
