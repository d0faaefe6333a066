"""Identifier keys: one mailbox or one loyalty card gets one key, however each system wrote it."""

from __future__ import annotations

import pandas as pd
import pyarrow as pa
import pytest

from c360.identity.config import IdentifierSettings, IdentitySettings
from c360.identity.deterministic import deterministic_links
from c360.identity.emails import EmailSettings, canonical_email, canonical_emails
from c360.identity.normalize import identifier_keys, normalize_identifier_value, prepare_records

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("jane.doe+shop@gmail.com", "janedoe@gmail.com"),
        ("janedoe@gmail.com", "janedoe@gmail.com"),
        ("jane.doe@gmial.com", "janedoe@gmail.com"),  # a typo of the domain
        ("Jane.Doe@GoogleMail.com", "janedoe@gmail.com"),  # one provider, two domains
        ("jane.doe+news@outlook.com", "jane.doe@outlook.com"),  # tags cut, dots kept outside Gmail
        ("jane.doe@hotmial.com", "jane.doe@hotmail.com"),
        ("jane-promo@yahoo.com", "jane@yahoo.com"),  # Yahoo's tag starts at a hyphen
        ("jane+promo@yahoo.com", "jane+promo@yahoo.com"),
        ("jane.doe+x@acme.com", "jane.doe+x@acme.com"),  # an unknown domain keeps its local part
        ("+shop@gmail.com", "+shop@gmail.com"),  # all tag: nothing would remain
        ("not-an-email", "not-an-email"),
    ],
)
def test_canonical_email(raw, expected):
    assert canonical_email(raw) == expected


def test_canonical_emails_keeps_nulls_and_can_be_switched_off():
    arr = pa.array(["a.b+c@gmail.com", None])
    assert canonical_emails(arr).to_pylist() == ["ab@gmail.com", None]
    assert canonical_emails(arr, EmailSettings(canonicalize=False)).to_pylist() == ["a.b+c@gmail.com", None]


def test_email_settings_extend_the_built_in_tables():
    s = EmailSettings(
        domain_fixes={"Acme.co": "acme.com", "gmial.com": "gmial.com"},
        subaddress={"acme.com": "+", "outlook.com": ""},
        dotless_domains=["acme.com"],
    )
    assert canonical_email("j.d+x@acme.co", s) == "jd@acme.com"
    assert canonical_email("j.d@gmial.com", s) == "j.d@gmial.com"  # a built-in fix undone
    assert canonical_email("j+x@outlook.com", s) == "j+x@outlook.com"  # a built-in separator undone
    with pytest.raises(ValueError, match="one character"):
        EmailSettings(subaddress={"acme.com": "++"})


def test_identity_email_settings_are_validated_strictly():
    with pytest.raises(ValueError):
        IdentitySettings.model_validate({"email": {"typos": {}}})
    s = IdentitySettings.model_validate({"email": {"domain_fixes": {"gmaik.com": "gmail.com"}}})
    assert normalize_identifier_value("x@gmaik.com", "email", None, s.email) == "x@gmail.com"


def test_prefixes_and_zeros_make_one_loyalty_id():
    ident = IdentifierSettings(
        field="loyalty_id", normalize="alnum", strip_prefixes=["LY"], strip_leading_zeros=True
    )
    keys = identifier_keys(pd.Series(["LY00123", "00123", "ly-123", "123", "LY", None, 123]), "alnum", ident)
    assert keys.tolist() == ["123", "123", "123", "123", "ly", None, "123"]
    padded = IdentifierSettings(field="loyalty_id", normalize="alnum", strip_prefixes=["LY"], zero_pad=7)
    assert identifier_keys(pd.Series(["LY00123", "123", "A12"]), "alnum", padded).tolist() == [
        "0000123",
        "0000123",
        "a12",
    ]
    # Without the settings, the two ids stay apart (the default: prefixes are a property of one's sources).
    assert identifier_keys(pd.Series(["LY00123", "00123"]), "alnum").tolist() == ["ly00123", "00123"]


def test_the_longest_prefix_is_cut_first():
    ident = IdentifierSettings(field="loyalty_id", normalize="alnum", strip_prefixes=["L", "LY"])
    assert identifier_keys(pd.Series(["LY55", "L55"]), "alnum", ident).tolist() == ["55", "55"]


def _records(**cols):
    n = len(next(iter(cols.values())))
    base = {
        "source": ["crm"] * n,
        "source_record_id": [str(i) for i in range(n)],
        "first_name": ["Jane"] * n,
        "last_name": ["Doe"] * n,
    }
    return pa.Table.from_pandas(pd.DataFrame({**base, **cols}), preserve_index=False)


def test_three_ways_of_writing_one_gmail_address_link_and_the_address_given_is_kept():
    df = _records(email=["jane.doe+shop@gmail.com", "janedoe@gmail.com", "Jane.Doe@gmial.com"])
    prepared = prepare_records(df, IdentitySettings())
    assert prepared["email__id"].tolist() == ["janedoe@gmail.com"] * 3
    assert prepared["email"].tolist()[0] == "jane.doe+shop@gmail.com"  # what the golden record shows
    links, refused = deterministic_links(prepared, IdentitySettings())
    assert len(links) == 2 and set(links["rule"]) == {"email"} and refused.empty


def test_block_list_applies_to_the_canonical_form():
    settings = IdentitySettings(block_list=["test@gmail.com"])
    df = _records(email=["t.e.s.t+1@gmail.com", "test@gmial.com"])
    links, refused = deterministic_links(prepare_records(df, settings), settings)
    assert links.empty and refused["reason"].tolist() == ["block_list"]


def test_loyalty_prefix_from_config_links():
    settings = IdentitySettings.model_validate(
        {
            "identifiers": [
                {
                    "field": "loyalty_id",
                    "normalize": "alnum",
                    "strip_prefixes": ["LY"],
                    "strip_leading_zeros": True,
                }
            ]
        }
    )
    df = _records(loyalty_id=["LY00123", "00123", "124"])
    links, _ = deterministic_links(prepare_records(df, settings), settings)
    assert links[["rid_l", "rid_r"]].values.tolist() == [[0, 1]]


SAMPLES = [
    " Jane.Doe+Shop@GMAIL.com ", "jane.doe@gmial.com", "+x@gmail.com", "a-b@yahoo.com", "-a@yahoo.com",
    "no-at-sign", "j.d+x@acme.com", "x@y@gmail.com", "LY00123", "ly-0", "00123", "LY", "L", "0000",
    "(212) 555-0142", "+1 212 555 0142", "Ünïcode-Ⅳ", "", "  ", "٣٤٥",
]  # fmt: skip


@pytest.mark.parametrize("mode", ["lower", "digits", "alnum", "email", "none"])
def test_one_value_and_a_column_give_the_same_key(mode):
    """The real-time look-up (one value, plain Python) and the batch (a column, arrow) must agree."""
    ident = IdentifierSettings(
        field="loyalty_id", strip_prefixes=["LY", "L"], strip_leading_zeros=True, zero_pad=4
    )
    email = EmailSettings(domain_fixes={"acme.com": "acme.org"})
    for settings in (None, ident):
        column = identifier_keys(pd.Series(SAMPLES, dtype=object), mode, settings, email).tolist()
        one = [normalize_identifier_value(v, mode, settings, email) for v in SAMPLES]
        assert column == one, (mode, settings)
