"""The report as GitHub-flavoured Markdown: the same sections and tables, no plots.

Every cell is escaped (`harness.markdown_text.escape`) so that text from the data stays
text wherever the Markdown is shown.
"""

from __future__ import annotations

from typing import Any

from harness.markdown_text import LONG_CELL, escape, shorten
from harness.report.views import (
    Grid,
    Heading,
    Plot,
    Section,
    Table,
    Text,
    build_sections,
    settings_text,
)


def table(block: Table) -> list[str]:
    lines = []
    if block.caption:
        lines += [f"*{escape(block.caption)}*", ""]
    lines.append("| " + " | ".join(escape(c) for c in block.columns) + " |")
    lines.append("|" + "---|" * len(block.columns))
    for row in block.rows:
        cells = [
            escape(shorten(cell, LONG_CELL) if i in block.long else cell)
            for i, cell in enumerate(row)
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return [*lines, ""]


def _has_text(section: Section) -> bool:
    """Whether the section says anything without its plots (Markdown draws none): a table,
    or text in a section that is more than plots with a caption."""
    blocks = section.blocks
    if any(isinstance(b, Table) for b in blocks):
        return True
    plots = any(isinstance(b, Plot | Grid) for b in blocks)
    return not plots and any(isinstance(b, Text) for b in blocks)


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
            elif isinstance(block, Table):
                body += table(block)
        if _has_text(section):
            lines += [f"## {escape(section.title)}", "", *body]
    lines.append(f"<sub>{escape(settings_text(report))}</sub>")
    return "\n".join(lines) + "\n"
