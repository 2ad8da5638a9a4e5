"""Text from the data as inline GitHub-flavoured Markdown that shows as the same text.

`&`, `<` and `>` become entities (no HTML runs where raw HTML is rendered), `|` and
Markdown punctuation are backslash-escaped, and newlines become spaces. Used by the report's
and the comparison's Markdown.
"""

from __future__ import annotations

import re

LONG_CELL = 200
"""Characters of a free-text cell (input, response) kept in a Markdown table."""
_SPECIAL = re.compile(r"([\\`*|~])|(?<![0-9A-Za-z])(_)|(_)(?![0-9A-Za-z])|(\])(?=[(\[:])|^(#)")


def escape(text: str) -> str:
    """Plain text as inline Markdown that renders as the same text."""
    text = " ".join(str(text).split())
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return _SPECIAL.sub(lambda m: "\\" + m.group(0), text)


def escape_html(text: str) -> str:
    """Text inside a raw HTML block (`<summary>`, `<sub>`), where Markdown does not apply."""
    text = " ".join(str(text).split())
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def shorten(text: str, limit: int = LONG_CELL) -> str:
    """At most `limit` characters, whitespace collapsed, an ellipsis where cut."""
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"
