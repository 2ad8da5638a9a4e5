"""Report plots with matplotlib, as SVG data URIs for `<img>` tags.

matplotlib is imported on first use, and only its object API is used (`Figure`, never
`pyplot`): no GUI backend, no global figure state. SVG keeps plots sharp at any zoom and
small; text is drawn as paths, so the file needs no font, and an SVG shown through `<img>`
runs no script, so a label taken from the data cannot do anything but be drawn.

matplotlib lays text out left to right, glyph by glyph: Arabic or Hebrew would come out
reversed and, for Arabic, unjoined. A figure with such text keeps its text as SVG text
instead, which the browser orders and shapes (with a font of its own).
"""

from __future__ import annotations

import base64
import io
import re
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

COLORS = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442")
"""Okabe-Ito: distinguishable with every common colour-vision deficiency."""
BETTER, WORSE, NEUTRAL = "#009E73", "#D55E00", "#7f7f7f"
LABEL_LIMIT = 40
HISTOGRAM_MARGINS = {"left": 0.15, "right": 0.97, "bottom": 0.19, "top": 0.96}
"""Histograms have short tick labels: fixed margins halve their drawing time."""
RC: dict[Any, Any] = {
    "svg.fonttype": "path",
    "svg.hashsalt": "harness-report",
    "font.size": 9,
    "axes.spines.top": False,
    "axes.spines.right": False,
}


RIGHT_TO_LEFT = re.compile(
    "[\u0590-\u08ff\ufb1d-\ufdff\ufe70-\ufeff\U00010800-\U00010fff\U0001e800-\U0001efff]"
)
"""Hebrew, Arabic, Syriac, Thaana, N'Ko and the other right-to-left scripts' blocks."""


def text(value: Any, limit: int = LABEL_LIMIT) -> str:
    """A label as matplotlib draws it literally: `$` would start mathtext."""
    label = " ".join(str(value).split())
    if len(label) > limit:
        label = label[: limit - 1] + "…"
    return label.replace("$", r"\$")


def color(index: int) -> str:
    return COLORS[index % len(COLORS)]


def _figure(width: float, height: float, margins: dict[str, float] | None) -> Figure:
    """A figure with fixed margins, or (labels of unknown width) a constrained layout,
    which costs a second drawing pass."""
    from matplotlib.figure import Figure

    if margins is None:
        return Figure(figsize=(width, height), dpi=100, layout="constrained")
    figure = Figure(figsize=(width, height), dpi=100)
    figure.subplots_adjust(**margins)
    return figure


def to_uri(fig: Figure) -> str:
    """The figure as an SVG data URI (reproducible: no date, fixed ids)."""
    import matplotlib
    from matplotlib.text import Text

    buffer = io.BytesIO()
    style = RC
    labels = (t.get_text() for t in fig.findobj(Text) if isinstance(t, Text))
    if any(RIGHT_TO_LEFT.search(label) for label in labels):
        style = {**RC, "svg.fonttype": "none"}  # the browser orders and joins the letters
    with matplotlib.rc_context(style):
        fig.savefig(buffer, format="svg", metadata={"Date": None})
    return "data:image/svg+xml;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def _styled(
    width: float, height: float, margins: dict[str, float] | None = None
) -> tuple[Figure, Axes]:
    import matplotlib

    with matplotlib.rc_context(RC):
        fig = _figure(width, height, margins)
        ax = fig.subplots()
    ax.grid(axis="y", color="#dddddd", linewidth=0.6)
    ax.set_axisbelow(True)
    return fig, ax


def histogram(dist: dict[str, Any], xlabel: str | None = None) -> str:
    """Bars per point (binary, discrete) or outlined steps (continuous), one colour per run.

    With several runs the y axis is the share of each run's items, so runs of different
    sizes compare.
    """
    import numpy as np

    edges = np.asarray(dist["edges"], dtype=float)
    runs: Sequence[str] = dist["runs"]
    several = len(runs) > 1
    fig, ax = _styled(4.6, 2.6, HISTOGRAM_MARGINS)
    centers = (edges[:-1] + edges[1:]) / 2
    for i, (name, counts, n) in enumerate(zip(runs, dist["counts"], dist["n"], strict=True)):
        heights = np.asarray(counts, dtype=float)
        if several:
            heights = heights / n if n else heights
        label = f"{text(name)} (n={n})"
        if dist["kind"] == "continuous":
            ax.stairs(heights, edges, fill=True, alpha=0.25 if several else 0.6, color=color(i))
            ax.stairs(heights, edges, color=color(i), linewidth=1.2, label=label)
        else:
            width = 0.8 / len(runs)
            offset = (i - (len(runs) - 1) / 2) * width
            ax.bar(centers + offset, heights, width=width, color=color(i), label=label)
    if dist["kind"] != "continuous":
        ax.set_xticks(centers)
        ax.set_xticklabels([f"{c:g}" for c in centers])
    ax.set_xlabel(
        xlabel
        or text(dist["label"]) + (" (lower is better)" if dist.get("lower_is_better") else "")
    )
    ax.set_ylabel("share of items" if several else "items")
    ax.legend(loc="best", fontsize=8, frameon=False)
    return to_uri(fig)


def slice_bars(entry: dict[str, Any], groups: Sequence[str]) -> str:
    """Horizontal bars per slice (one per run) with their confidence intervals."""
    import numpy as np

    runs = entry["runs"]
    height = max(1.6, 0.28 * len(groups) * max(1, len(runs)) + 0.9)
    fig, ax = _styled(5.2, height)
    ax.grid(axis="y", visible=False)
    ax.grid(axis="x", color="#dddddd", linewidth=0.6)
    positions = np.arange(len(groups), dtype=float)
    bar = 0.8 / max(1, len(runs))
    for i, run in enumerate(runs):
        by_group = {g["slice"]: g for g in run["groups"]}
        ys, values, lows, highs = [], [], [], []
        for j, group in enumerate(groups):
            g = by_group.get(group)
            if g is None or g["value"] is None:
                continue
            ys.append(positions[j] + (i - (len(runs) - 1) / 2) * bar)
            values.append(g["value"])
            low = g["ci_low"] if g["ci_low"] is not None else g["value"]
            high = g["ci_high"] if g["ci_high"] is not None else g["value"]
            lows.append(g["value"] - low)
            highs.append(high - g["value"])
        ax.barh(
            ys,
            values,
            height=bar,
            color=color(i),
            xerr=[lows, highs],
            error_kw={"ecolor": "#333333", "elinewidth": 0.9, "capsize": 2},
            label=text(run["run"]),
        )
    ax.set_yticks(positions)
    ax.set_yticklabels([text(g, 28) for g in groups])
    ax.invert_yaxis()
    suffix = " (lower is better)" if entry.get("lower_is_better") else ""
    ax.set_xlabel(text(entry["label"]) + suffix)
    if len(runs) > 1:
        ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8, frameon=False)
    return to_uri(fig)


def differences(rows: Sequence[dict[str, Any]]) -> str:
    """Candidate minus baseline per metric, with its interval: green better, red worse,
    grey not significant after correction."""
    fig, ax = _styled(6.4, max(1.6, 0.32 * len(rows) + 0.9))
    ax.grid(axis="y", visible=False)
    ax.grid(axis="x", color="#dddddd", linewidth=0.6)
    ax.axvline(0.0, color="#333333", linewidth=0.8)
    for y, row in enumerate(rows):
        value = row["value"]
        if value is None:
            continue
        low = row["ci_low"] if row["ci_low"] is not None else value
        high = row["ci_high"] if row["ci_high"] is not None else value
        shade = {"better": BETTER, "worse": WORSE}.get(row["verdict"], NEUTRAL)
        ax.errorbar(
            [value],
            [y],
            xerr=[[value - low], [high - value]],
            fmt="o",
            color=shade,
            ecolor=shade,
            elinewidth=1.6,
            capsize=3,
            markersize=5,
        )
    ax.set_yticks(range(len(rows)))
    ax.set_yticklabels([text(r["label"], 48) for r in rows])
    ax.set_ylim(len(rows) - 0.5, -0.5)
    ax.set_xlabel("difference (candidate - baseline)")
    return to_uri(fig)
