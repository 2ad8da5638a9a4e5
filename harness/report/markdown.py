"""The report as GitHub-flavoured Markdown: the same sections and tables, no plots.

Cells are escaped so that text from the data stays text wherever the Markdown is shown:
`&`, `<` and `>` become entities (no HTML runs in a wiki that renders raw HTML), `|` and
Markdown punctuation are backslash-escaped, and newlines become spaces.
"""

from __future__ import annotations

import re
from typing import Any

from harness.report.views import Heading, Table, Text, build_sections, settings_text

LONG_CELL = 200
"""Characters of a free-text cell (input, response) kept in Markdown."""
_SPECIAL = re.compile(r"([\\`*|~])|(?<![0-9A-Za-z])(_)|(_)(?![0-9A-Za-z])|(\])(?=[(\[:])|^(#)")


def escape(text: str) -> str:
    """Plain text as inline Markdown that renders as the same text."""
    text = " ".join(str(text).split())
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return _SPECIAL.sub(lambda m: "\\" + m.group(0), text)


def _shorten(text: str, limit: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def table(block: Table) -> list[str]:
    lines = []
    if block.caption:
        lines += [f"*{escape(block.caption)}*", ""]
    lines.append("| " + " | ".join(escape(c) for c in block.columns) + " |")
    lines.append("|" + "---|" * len(block.columns))
    for row in block.rows:
        cells = [
            escape(_shorten(cell, LONG_CELL) if i in block.long else cell)
            for i, cell in enumerate(row)
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return [*lines, ""]


def render_markdown(report: dict[str, Any]) -> str:
    """The Markdown summary of a report dict from `gather_report`."""
    lines = [f"# {escape(report['title'])}", ""]
    if report["warnings"]:
        lines += ["**Warnings**", ""]
        lines += [f"- {escape(w)}" for w in report["warnings"]]
        lines.append("")
    for section in build_sections(report):
        body: list[str] = []
        for block in section.blocks:
            if isinstance(block, Heading):
                body += [f"### {escape(block.text)}", ""]
            elif isinstance(block, Text):
                body += [escape(block.text), ""]
            elif isinstance(block, Table) and block.rows:
                body += table(block)
        if any(isinstance(block, Table) and block.rows for block in section.blocks):
            lines += [f"## {escape(section.title)}", "", *body]
    lines.append(f"<sub>{escape(settings_text(report))}</sub>")
    return "\n".join(lines) + "\n"
