"""Evaluation reports: one self-contained HTML file with plots, or Markdown tables.

`gather_report` reads everything from the store into a plain dict; `render_html` and
`render_markdown` only format that dict.
"""

from harness.report.data import ReportOptions, gather_report
from harness.report.html import render_html
from harness.report.markdown import render_markdown

__all__ = ["ReportOptions", "gather_report", "render_html", "render_markdown"]
