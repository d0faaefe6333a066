"""The action catalogue and eligibility: validation errors, consent, caps, cooldown, margin, no_action."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from c360.errors import ConfigError, ValidationError
from c360.nba.catalog import (
    NO_ACTION,
    CatalogError,
    Contact,
    UnknownChannelError,
    catalog_from_dict,
    eligible_actions,
    load_catalog,
    permitted_channels,
)

pytestmark = pytest.mark.unit
NOW = datetime(2026, 12, 1, 12, tzinfo=UTC)


def _catalog(**over):
    data = {
        "frequency_caps": {"email": {"max_contacts": 2, "days": 7}},
        "total_cap": {"max_contacts": 3, "days": 7},
        "cooldown_days": 3,
        "min_margin": 0.1,
        "actions": [
            {"id": "a_email", "offer": "discount_10", "channel": "email", "discount": 0.1, "margin": 0.3},
            {"id": "b_email", "offer": "bundle", "channel": "email", "discount": 0.05, "margin": 0.2},
            {"id": "c_sms", "offer": "discount_25", "channel": "sms", "discount": 0.25, "margin": 0.12},
            {"id": "thin_push", "offer": "discount_25", "channel": "push", "discount": 0.25, "margin": 0.05},
        ],
    }
    data.update(over)
    return catalog_from_dict(data)


def _ids(elig):
    return [a.id for a in elig.actions]


def test_default_catalogue_loads_with_no_action_last():
    cat = load_catalog()
    assert 6 <= len(cat.actions) - 1 <= 10
    assert cat.actions[-1].id == NO_ACTION
    assert {a.channel for a in cat.actions if a.channel} >= {"email", "sms", "push", "web"}


def test_unknown_channel_is_a_named_error():
    with pytest.raises(UnknownChannelError, match="fax"):
        _catalog(actions=[{"id": "x", "offer": "o", "channel": "fax", "discount": 0, "margin": 0.2}])
    with pytest.raises(UnknownChannelError):
        _catalog(frequency_caps={"pigeon": {"max_contacts": 1, "days": 1}})
    assert issubclass(UnknownChannelError, ConfigError)


@pytest.mark.parametrize(
    ("change", "fragment"),
    [
        (
            {"actions": [{"id": "x", "offer": "o", "channel": "email", "discount": 1.5, "margin": 0.2}]},
            "discount",
        ),
        (
            {
                "actions": [
                    {"id": "x", "offer": "o", "channel": "email", "discount": 0, "margin": 0.2, "colour": 1}
                ]
            },
            "colour",
        ),
        ({"purpose": "spam"}, "purpose"),
        ({"frequency_cap": {}}, "frequency_cap"),
    ],
)
def test_invalid_catalogue_names_the_field(change, fragment):
    with pytest.raises(CatalogError, match=fragment):
        _catalog(**change)


def test_duplicate_ids_refused():
    a = {"id": "x", "offer": "o", "channel": "email", "discount": 0, "margin": 0.2}
    with pytest.raises(CatalogError, match="duplicate"):
        _catalog(actions=[a, a])


def test_consent_per_channel_and_margin_limit():
    cat = _catalog()
    consents = {
        "marketing": {"email": {"granted": True}, "sms": {"granted": False}, "push": {"granted": True}},
        "analytics": {"sms": {"granted": True}},
    }
    channels = permitted_channels(consents)
    assert channels == {"email", "push"}
    elig = eligible_actions(cat, channels)
    assert _ids(elig) == ["a_email", "b_email", NO_ACTION]
    assert elig.refused == {"c_sms": "consent", "thin_push": "margin"}


def test_customer_without_any_consent_gets_only_no_action():
    cat = _catalog()
    assert permitted_channels(None) == frozenset()
    assert _ids(eligible_actions(cat, permitted_channels({}))) == [NO_ACTION]
    assert _ids(eligible_actions(cat, [], [], NOW)) == [NO_ACTION]


def test_unknown_consent_channel_raises():
    with pytest.raises(ValidationError):
        eligible_actions(_catalog(), {"fax"})


def test_frequency_cap_cooldown_and_total_cap():
    cat = _catalog()
    chans = {"email", "sms"}
    # a_email 4 days ago (outside the 3-day cooldown), b_email 1 day ago (inside): email cap 2/7d is hit.
    hist = [
        Contact(NOW - timedelta(days=4), "a_email", "email"),
        Contact(NOW - timedelta(days=1), "b_email", "email"),
    ]
    elig = eligible_actions(cat, chans, hist, NOW)
    assert _ids(elig) == ["c_sms", NO_ACTION]
    assert elig.refused["a_email"] == "frequency_cap"
    # one email contact only: cooldown refuses the same action, the other email action is allowed
    elig = eligible_actions(cat, chans, hist[1:], NOW)
    assert _ids(elig) == ["a_email", "c_sms", NO_ACTION]
    assert elig.refused["b_email"] == "cooldown"
    # contacts older than the cap window do not count
    old = [Contact(NOW - timedelta(days=8 + i), "a_email", "email") for i in range(5)]
    assert _ids(eligible_actions(cat, chans, old, NOW)) == ["a_email", "b_email", "c_sms", NO_ACTION]
    # three contacts in 7 days on any channels: total cap
    busy = [Contact(NOW - timedelta(days=5, hours=i), "c_sms", "sms") for i in range(3)]
    elig = eligible_actions(cat, chans, busy, NOW)
    assert _ids(elig) == [NO_ACTION]
    assert elig.refused["a_email"] == "total_cap"
