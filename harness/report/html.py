"""The report as one self-contained HTML file: styles, script and plots inline.

Every text from the store (inputs, responses, metadata, run names, errors) reaches the
page through Jinja2 with autoescape on, so `<script>` in a response is shown as text.
A Content-Security-Policy allows only the report's own style and script (by hash) and
`data:` images: even markup that slipped through could not run or fetch anything, and the
file opens with no network.
"""

from __future__ import annotations

import base64
import hashlib
from functools import cache
from importlib import resources
from typing import TYPE_CHECKING, Any

from harness.errors import ConfigError
from harness.report.views import Grid, Plot, Section, build_sections, settings_text

if TYPE_CHECKING:
    from jinja2 import Environment


@cache
def resource(name: str) -> str:
    return resources.files("harness.report").joinpath("templates", name).read_text("utf-8")


@cache
def environment() -> Environment:
    from jinja2 import Environment, PackageLoader, StrictUndefined

    return Environment(
        loader=PackageLoader("harness.report", "templates"),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def source_hash(text: str) -> str:
    """A CSP source expression allowing exactly this inline script or style."""
    digest = hashlib.sha256(text.encode("utf-8")).digest()
    return "'sha256-" + base64.b64encode(digest).decode("ascii") + "'"


def content_security_policy(style: str, script: str) -> str:
    return (
        f"default-src 'none'; img-src data:; style-src {source_hash(style)}; "
        f"script-src {source_hash(script)}; base-uri 'none'; form-action 'none'"
    )


def draw_plots(sections: list[Section]) -> None:
    """Render every plot block to its SVG data URI."""
    try:
        from harness.report import plots
    except ImportError as exc:  # pragma: no cover - matplotlib is a dependency
        raise ConfigError(
            f"the HTML report draws its plots with matplotlib ({exc}): `pip install "
            "matplotlib`, or write --format markdown"
        ) from exc
    for section in sections:
        for block in section.blocks:
            targets = block.plots if isinstance(block, Grid) else [block]
            for plot in targets:
                if isinstance(plot, Plot):
                    plot.uri = getattr(plots, plot.plot)(*plot.args)


def render_html(report: dict[str, Any]) -> str:
    """The HTML page of a report dict from `gather_report`."""
    from markupsafe import Markup

    sections = build_sections(report)
    draw_plots(sections)
    style, script = resource("report.css"), resource("filter.js")
    template = environment().get_template("report.html.j2")
    return template.render(
        report=report,
        sections=sections,
        style=Markup(style),
        script=Markup(script),
        csp=content_security_policy(style, script),
        footer=settings_text(report),
    )
