"""The real-time identify look-up keys an event's identifiers exactly as the batch run keyed the records:
the identifier's own settings (prefixes, zeros) and the mailbox key of `identity.email`."""

from __future__ import annotations

import pytest

from c360.identity.config import IdentifierSettings
from c360.identity.emails import EmailSettings
from c360.identity.realtime import IdentityIndex

pytestmark = pytest.mark.unit


def index(email: EmailSettings | None = None) -> IdentityIndex:
    identifiers = {
        "email": IdentifierSettings(field="email", normalize="email"),
        "loyalty_id": IdentifierSettings(
            field="loyalty_id", normalize="alnum", strip_prefixes=["LY"], strip_leading_zeros=True
        ),
        "device_id": IdentifierSettings(field="device_id", normalize="lower"),
    }
    keys = {
        ("email", "janedoe@gmail.com"): "C-JANE",
        ("loyalty_id", "123"): "C-LOYAL",
        ("device_id", "dev-9"): "C-DEV",
    }
    return IdentityIndex(keys, {"C-LOYAL": "C-LOYAL-NOW"}, identifiers, email)


@pytest.mark.parametrize(
    "given", ["Jane.Doe+shop@gmail.com", "jane.doe@gmial.com", " JANEDOE@googlemail.com"]
)
def test_an_email_variant_finds_the_customer_its_mailbox_key_names(given):
    hit = index().resolve_identify(email=given)
    assert (hit.customer_id, hit.matched_on, hit.provisional) == ("C-JANE", "email", False)


@pytest.mark.parametrize("user_id", ["LY00123", "00123", "ly-123"])
def test_a_loyalty_id_with_its_prefix_or_zeros_finds_the_customer_through_the_alias(user_id):
    assert index().resolve_identify(user_id=user_id).customer_id == "C-LOYAL-NOW"


def test_an_unknown_value_stays_provisional_and_a_device_is_found_by_anonymous_id():
    idx = index()
    assert idx.resolve_identify(email="someone.else@gmail.com").provisional
    assert idx.resolve_identify(anonymous_id="DEV-9").customer_id == "C-DEV"


def test_custom_email_tables_reach_the_look_up():
    custom = EmailSettings(domain_fixes={"janemail.test": "gmail.com"})
    assert index(custom).resolve_identify(email="jane.doe@janemail.test").customer_id == "C-JANE"


def test_a_value_several_customers_hold_names_none_of_them(tmp_path):
    """A family's tablet and a couple's email: the look-up goes on to the event's next identifier, as the
    profile store's index answers too, instead of stitching to whichever record came first."""
    import pandas as pd

    from c360.identity.store import IdentityStore
    from c360.workspace import Workspace

    (tmp_path / "c360.yaml").write_text("workspace: shared\n", encoding="utf-8")
    ws = Workspace.load(tmp_path)
    store = IdentityStore(ws.lake)
    keys = ["crm:1", "crm:2", "web:3", "web:4", "shop:5"]
    owners = ["C1", "C2", "C1", "C2", "C1"]
    store.write("id_map", pd.DataFrame({"record_key": keys, "customer_id": owners}), "r1")
    emails = ["ann@example.com", "bob@example.com", "home@example.com", "home@example.com", "ann@example.com"]
    devices = ["tablet-1", "tablet-1", "phone-ann", None, None]
    prepared = pd.DataFrame({"record_key": keys, "email__id": emails, "device_id__id": devices})
    store.write("prepared", prepared, "r1")
    idx = IdentityIndex.load(ws)
    assert idx.resolve_identify(anonymous_id="tablet-1").provisional
    assert idx.resolve_identify(email="home@example.com").provisional
    assert idx.resolve_identify(anonymous_id="phone-ann").customer_id == "C1"
    # Ann's email is on two of her records: one customer, so it names her.
    assert idx.resolve_identify(email="ann@example.com").customer_id == "C1"
    assert idx.resolve_identify(email="bob@example.com").customer_id == "C2"
