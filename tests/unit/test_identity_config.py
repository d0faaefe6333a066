"""Identity settings fail before a run: unknown fields, bad functions, bad thresholds."""

from __future__ import annotations

import pytest

from c360.errors import ConfigError
from c360.identity.config import IdentitySettings, parse_blocking_key
from c360.settings import parse_settings
from c360.workspace import default_config_text

pytestmark = pytest.mark.unit


def test_defaults_and_template_validate() -> None:
    s = parse_settings(default_config_text())
    assert s.identity == IdentitySettings()  # the template spells out exactly the embedded defaults


@pytest.mark.parametrize(
    "snippet, message",
    [
        ("blocking_rules: [{keys: [first_name, shoe_size]}]", "unknown identity field 'shoe_size'"),
        ("blocking_rules: [{keys: ['rot13(last_name)']}]", "unknown blocking function 'rot13'"),
        ("comparisons: [{field: favourite_colour}]", "unknown identity field 'favourite_colour'"),
        ("comparisons: [{field: first_name, thresholds: [0.8, 0.9]}]", "highest to lowest"),
        ("identifiers: [{field: first_name}]", "not a strong identifier"),
        ("match_threshold: 1.5", "strictly between 0 and 1"),
        ("survivorship: {nickname: {rule: most_recent}}", "unknown identity field 'nickname'"),
        ("comparisons: [{field: city, mthod: exact}]", "unknown key 'mthod'"),
    ],
)
def test_config_errors_name_the_problem(snippet: str, message: str) -> None:
    text = "identity:\n  " + snippet + "\n"
    with pytest.raises(ConfigError) as err:
        parse_settings(text)
    assert message in err.value.message


def test_blocking_key_parsing() -> None:
    assert parse_blocking_key("soundex(last_name)") == ("soundex", "last_name")
    assert parse_blocking_key("postcode") == (None, "postcode")
    with pytest.raises(ValueError):
        parse_blocking_key("soundex(last_name")
