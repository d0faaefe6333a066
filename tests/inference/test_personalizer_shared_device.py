"""`Personalizer` for an anonymous visitor on a device several customers share (a family's tablet): the
profile store answers AmbiguousIdentifierError, so the visitor is nobody in particular and gets the anonymous
fallback, never one family member's profile, consent and recommendations."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from c360.inference.clients import LocalModels
from c360.inference.nba import NextBestActionPolicy
from c360.inference.parts import NBA, PROFILE, RECS, SCORES, Part
from c360.inference.personalizer import Personalizer
from c360.inference.recommender import Recommender
from c360.inference.scorer import Scorer
from c360.profile.store import identifier_key
from c360.profile.store.sqlite import SqliteProfileStore
from tests.inference.workspace import ROOMY, cookie_of, profile_of

pytestmark = [pytest.mark.feast, pytest.mark.filterwarnings("ignore::DeprecationWarning")]
TABLET = "tablet-family-7"


def no_signals(customer_id: str | None) -> Part:
    return Part(None)


def answer_for(personalizer: Personalizer, anonymous_id: str) -> dict[str, Any]:
    async def go() -> dict[str, Any]:
        await personalizer.warm()
        return await personalizer.personalize(None, anonymous_id, {})

    return asyncio.run(go())


def test_an_anonymous_visitor_on_a_shared_device_gets_the_anonymous_fallback(trained, tmp_path):
    family = [profile_of("c0004"), profile_of("c0006")]
    for doc in family:
        doc["identities"]["deviceIds"] = [TABLET]
    models = LocalModels(
        lambda: Recommender.for_workspace(trained.ws),
        lambda: NextBestActionPolicy.for_workspace(trained.ws),
        lambda: Scorer.for_workspace(trained.ws),
    )
    models.load()
    with SqliteProfileStore(tmp_path / "profiles.db") as store:
        store.upsert_many(family)  # c0006 wrote last: its claim holds the tablet's index entry
        store.replace_shared_identifiers({identifier_key("device", TABLET)})
        personalizer = Personalizer(models, lambda: store, no_signals, ROOMY)
        try:
            shared = answer_for(personalizer, TABLET)
            own = answer_for(personalizer, cookie_of("c0004"))
        finally:
            models.close()
    assert shared["customerId"] is None and shared["nextBestAction"]["decisionId"] is None
    assert {f["part"] for f in shared["fallbacks"]} == {PROFILE, RECS, NBA, SCORES}
    assert {f["reason"] for f in shared["fallbacks"]} == {"unknown_customer"}
    assert shared["recommendations"] and {i["reason"] for i in shared["recommendations"]} == {"popular"}
    assert shared["scores"] is None
    # What one family member alone holds still names them.
    assert own["customerId"] == "c0004" and own["nextBestAction"]["decisionId"]
