"""Text for the terminal: hidden characters become visible escapes, markup and emoji codes print as typed."""

from __future__ import annotations

import io
import json

import pytest
from rich.table import Table

from c360.io.terminal import SafeConsole, markup_safe, plain, safe_json, safe_text

pytestmark = pytest.mark.unit

HIDDEN = {
    "\x00": "\\x00",  # NUL
    "\x1b": "\\x1b",  # ESC: starts a terminal control sequence
    "\r": "\\x0d",  # carriage return: overwrites the line
    "\x7f": "\\x7f",
    "\x9b": "\\x9b",  # C1 CSI
    "\u202e": "\\u202e",  # right-to-left override
    "\u2066": "\\u2066",  # left-to-right isolate
    "\u200b": "\\u200b",  # zero-width space
    "\ufeff": "\\ufeff",  # BOM / zero-width no-break space
    "\u2028": "\\u2028",  # line separator
    "\n": "\\x0a",
}


@pytest.mark.parametrize(("char", "escape"), HIDDEN.items())
def test_safe_text_makes_hidden_characters_visible(char, escape):
    assert safe_text(f"a{char}b") == f"a{escape}b"


def test_safe_text_keeps_readable_text_and_newlines_when_asked():
    for text in ("Zürich", "李小龍", "Ólafsdóttir", "café ☕", "[bold]x[/bold] :100:"):
        assert safe_text(text) == text
    assert safe_text("line 1\nline 2", allow_newlines=True) == "line 1\nline 2"
    assert safe_text(42) == "42"


def test_safe_json_is_valid_json_with_the_same_values():
    doc = {"name": "Eve\x00\u202egnp.exe", "city": "Zürich", "n": [1, None]}
    text = safe_json(doc)
    assert "\x00" not in text and "\u202e" not in text and "Zürich" in text
    assert "\\u0000" in text and "\\u202e" in text
    assert json.loads(text) == doc


def _render(*objects) -> str:
    out = io.StringIO()
    console = SafeConsole(file=out, width=200, color_system=None)
    for obj in objects:
        console.print(obj)
    return out.getvalue()


def test_safe_console_escapes_table_cells_and_prints_values_literally():
    table = Table("field", "value")
    table.add_row("name", "Eve\x00\u202egnp.exe")
    out = _render(table, plain("[/x] :100: [bold red]y"), f"id {markup_safe('[/x]a')}", "ok :100:")
    assert "\x00" not in out and "\u202e" not in out and "Eve\\x00\\u202egnp.exe" in out
    assert "[/x] :100: [bold red]y" in out and "id [/x]a" in out
    assert "ok :100:" in out and "\U0001f4af" not in out  # emoji codes are off


def test_identity_explain_prints_source_values_as_typed():
    from c360.identity.explain import Explanation, LinkExplanation, print_explanation

    link = LinkExplanation("crm:[/x]1", "web:2", "probabilistic", "first_name", True, 12.0, 0.99, "")
    e = Explanation(
        customer_id="C[/x]1",
        requested_id="C[/x]1",
        records=[
            {"record_key": "crm:[/x]1", "first_name": "[bold red]Eve\u202e", "last_name": "Doe\x00:100:"}
        ],
        links=[link],
        golden={"first_name": "[bold red]Eve\u202e", "first_name__from": "crm:[/x]1"},
        changes=[],
        aliases=[],
        corrections=[{"correction_id": "k1", "kind": "link", "left_ref": "[/a]", "right_ref": "b"}],
        prior_weight=-10.0,
    )
    out = io.StringIO()
    print_explanation(e, SafeConsole(file=out, width=300, color_system=None))
    text = out.getvalue()
    assert "customer C[/x]1" in text and "[bold red]Eve\\u202e" in text and "Doe\\x00:100:" in text
    assert "correction k1: link [/a] b" in text
    assert "\u202e" not in text and "\x00" not in text and "\U0001f4af" not in text
