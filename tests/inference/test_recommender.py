"""`Recommender` online, on the trained shop: personal lists leave out what the customer bought and what
the caller excludes, follow the customer's home category, and fall back to the popular list, flagged, without
consent, without a customer or without a model."""

from __future__ import annotations

import pytest

from c360.errors import NotFoundError
from c360.inference.parts import NO_CONSENT, NOT_TRAINED, UNKNOWN_CUSTOMER
from c360.inference.recommender import Recommender
from c360.recs.rules import NO_CONSENT_REASON
from tests.inference.workspace import profile_of

pytestmark = [pytest.mark.feast, pytest.mark.filterwarnings("ignore::DeprecationWarning")]
CUSTOMER = "c0002"  # personalization consent (tests.recs.workspace: every id not divisible by 5)


@pytest.fixture(scope="module")
def rec(trained) -> Recommender:
    return Recommender.for_workspace(trained.ws)


def bought_by(trained, customer: str) -> set[str]:
    lines = trained.lines
    return set(lines.loc[(lines["customer_id"] == customer) & (lines["kind"] == "purchase"), "product_id"])


def test_a_personal_list_leaves_out_bought_items_and_follows_the_home_category(trained, rec):
    answer = rec.recommend(CUSTOMER, 10, consent=profile_of(CUSTOMER)["consent"])
    items = [i["productId"] for i in answer.value]
    assert answer.fallback is None and answer.version == "1" and len(items) == 10
    bought = bought_by(trained, CUSTOMER)
    assert bought and not bought & set(items)
    home = max({p[:2] for p in bought}, key=lambda c: sum(p.startswith(c) for p in bought))
    assert sum(p.startswith(home) for p in items[:3]) >= 2  # the planted home category leads the list
    assert all(i["reason"].startswith("because you bought") for i in answer.value[:3])


def test_excluded_items_are_never_shown(rec):
    consent = profile_of(CUSTOMER)["consent"]
    first = [i["productId"] for i in rec.recommend(CUSTOMER, 5, consent=consent).value]
    again = [i["productId"] for i in rec.recommend(CUSTOMER, 5, exclude=first[:2], consent=consent).value]
    assert not set(first[:2]) & set(again) and again[:3] == first[2:5]


def test_without_consent_or_customer_the_popular_list_is_flagged(trained, rec):
    no_consent = rec.recommend("c0005", 5, consent=profile_of("c0005")["consent"])  # divisible by 5: denied
    assert no_consent.fallback == NO_CONSENT
    assert {i["reason"] for i in no_consent.value} == {NO_CONSENT_REASON}
    popular = rec.popular(5)
    assert [i["productId"] for i in no_consent.value] == [i["productId"] for i in popular.value]
    # the popular list ignores the customer's history: it may hold what they bought
    counts = trained.lines[trained.lines["kind"] == "purchase"].groupby("product_id")["order_id"].nunique()
    assert popular.value[0]["productId"] in set(counts[counts == counts.max()].index)
    anonymous = rec.recommend(None, 5)
    assert anonymous.fallback == UNKNOWN_CUSTOMER and anonymous.value == popular.value


def test_similar_items_are_the_products_bought_together(rec):
    answer = rec.similar("p0_01", 5)
    items = [i["productId"] for i in answer.value]
    assert answer.fallback is None and len(items) == 5 and "p0_01" not in items
    assert sum(p.startswith("p0_") for p in items) >= 4  # customers of category 0 buy its items together
    assert [i["score"] for i in answer.value] == sorted((i["score"] for i in answer.value), reverse=True)
    with pytest.raises(NotFoundError):
        rec.similar("no-such-product")


def test_before_training_the_most_bought_products_are_served_flagged(trained):
    untrained = Recommender(None, trained.lines)
    answer = untrained.recommend(CUSTOMER, 3, consent=profile_of(CUSTOMER)["consent"])
    assert answer.fallback == NOT_TRAINED and answer.version is None
    counts = trained.lines.groupby("product_id")["order_id"].nunique().sort_values(ascending=False)
    assert [i["score"] for i in answer.value] == counts.iloc[:3].astype(float).tolist()
    assert untrained.similar("p0_01").fallback == NOT_TRAINED
