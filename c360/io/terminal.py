"""Text bound for a terminal: values from customer data shown, never obeyed.

A profile value, a file name or a CLI argument can hold characters a terminal acts on instead of showing:
a NUL, an escape sequence that rewrites the screen, a carriage return that overwrites a line, a bidi override
(U+202E) that prints a value backwards, zero-width characters that make two different ids look equal.
Everything printed from data goes through `safe_text`, which makes them visible escapes (`\\x00`, `\\u202e`).
Rich markup (`[bold]`) and emoji codes (`:100:`) in data are a second, separate hazard: `plain` turns a value
into a `Text` that Rich never parses, and `SafeConsole` escapes control characters in every string it renders.
"""

from __future__ import annotations

import json
import re
import unicodedata
from typing import Any

from rich.console import Console
from rich.highlighter import JSONHighlighter
from rich.markup import escape
from rich.text import Text

# Categories a terminal does not display as a glyph: controls (C0, DEL, C1), format characters (bidi
# overrides and isolates, zero-width space/joiners, BOM, soft hyphen), line and paragraph separators,
# surrogates and unassigned code points left by a bad decode.
_HIDDEN_CATEGORIES = frozenset({"Cc", "Cf", "Zl", "Zp", "Cs"})
_MAYBE_HIDDEN = re.compile(r"[^\x20-\x7e]")
_JSON_INDENT = 2


def _escape(ch: str) -> str:
    code = ord(ch)
    if code < 0x100:
        return f"\\x{code:02x}"
    if code <= 0xFFFF:
        return f"\\u{code:04x}"
    return f"\\U{code:08x}"


def _json_escape(ch: str) -> str:
    """The JSON form of a hidden character, so escaped JSON stays valid JSON."""
    code = ord(ch)
    if code <= 0xFFFF:
        return f"\\u{code:04x}"
    high, low = divmod(code - 0x10000, 0x400)
    return f"\\u{0xD800 + high:04x}\\u{0xDC00 + low:04x}"


def is_hidden(ch: str) -> bool:
    """True for a character a terminal would act on or not show (see the module docstring)."""
    return unicodedata.category(ch) in _HIDDEN_CATEGORIES


def safe_text(value: object, *, allow_newlines: bool = False) -> str:
    """`value` as a string with every hidden character made visible as a Python-style escape.

    `allow_newlines` keeps `\\n` (and only it) for messages that are multi-line by design; a value printed in
    a table cell or on one line keeps none. Printable text, accents and non-Latin scripts pass unchanged.
    """
    text = value if isinstance(value, str) else str(value)
    if not _MAYBE_HIDDEN.search(text):
        return text  # the common case: plain ASCII
    return "".join(
        _escape(ch) if is_hidden(ch) and not (allow_newlines and ch == "\n") else ch for ch in text
    )


def plain(value: object, style: str = "") -> Text:
    """A Rich `Text` of `value`, escaped: Rich prints it literally (no markup, no emoji codes)."""
    return Text(safe_text(value), style=style)


def safe_json(data: Any) -> str:
    """Indented JSON of `data` with hidden characters escaped as `\\uXXXX` (still valid JSON).

    `json.dumps(ensure_ascii=False)` keeps names readable (`é`, `李`) but lets U+202E or U+2028 through raw,
    and `ensure_ascii=True` would escape every accent; this escapes exactly the hidden characters.
    """
    text = json.dumps(data, indent=_JSON_INDENT, ensure_ascii=False, default=str)
    return "".join(_json_escape(ch) if is_hidden(ch) and ch != "\n" else ch for ch in text)


def json_text(data: Any) -> Text:
    """`safe_json` highlighted like `Console.print_json`, as a Text Rich does not parse again."""
    return JSONHighlighter()(Text(safe_json(data)))


class SafeConsole(Console):
    """A Console that escapes hidden characters in every string it renders (table cells included).

    Markup written by c360 itself (`[bold]`) still works, since brackets are not hidden characters; values
    that may hold brackets must still be passed through `plain` or `rich.markup.escape` at the print site.
    Emoji codes are off: no c360 message uses them, and `:100:` in a value must print as typed.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("emoji", False)
        super().__init__(*args, **kwargs)

    def render_str(self, text: str, **kwargs: Any) -> Text:  # type: ignore[override]
        return super().render_str(safe_text(text, allow_newlines=True), **kwargs)


def markup_safe(value: object) -> str:
    """`value` escaped for a Rich markup string.

    `f"customer [bold]{markup_safe(cid)}[/bold]"` prints the id as typed even when it holds `[/x]` (which
    would raise MarkupError) or `[bold red]` (which would style it).
    """
    return escape(safe_text(value))
