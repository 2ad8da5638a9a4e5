"""Label Studio: the task list and the labeling config of an export.

Every field a `Text` view shows is a string in the task's `data`; the config shows the
item and the response (or both responses of a pair) and adds one control per label:
`Rating` for integer points 1..K (K <= 10), `Choices` for other points and categories,
`Number` for a range, `TextArea` for free labels.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Sequence
from typing import Any

from harness.review.blind_keys import KEY_COLUMN
from harness.review.scale import Scale

PAIR_FIELDS = ("versus", "shown_order", KEY_COLUMN)
"""What a pair's task says of its sides: the other side and the order, or a blind key."""


def _fmt(value: Any) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def tasks(rows: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """The task list Label Studio imports: one `{"data": {...}}` per row."""
    out = []
    for r in rows:
        data: dict[str, Any] = {
            "item_id": r["item_id"],
            "input": r["input"],
            "context": r["context"],
            "reference": "\n---\n".join(r["references"]),
        }
        for key in ("response", "response_a", "response_b", *PAIR_FIELDS, "stratum"):
            if key in r:
                data[key] = r[key] or ""
        if "scores" in r:
            shown = {**r["scores"], **{f"judge {k}": v for k, v in r["judges"].items()}}
            lines = [f"{k}: {_fmt(v)}" for k, v in sorted(shown.items())]
            if "selected_because" in r:
                lines.append(r["selected_because"])
            data["scores"] = "\n".join(lines)
        out.append({"data": data})
    return out


def _stars(points: tuple[float, ...]) -> bool:
    return len(points) <= 10 and points == tuple(float(v) for v in range(1, len(points) + 1))


def config(rows: Sequence[dict[str, Any]], labels: Sequence[str], scales: dict[str, Scale]) -> str:
    """The labeling config XML: Text views of the item and one control per label."""
    view = ET.Element("View")

    def show(name: str, title: str) -> None:
        ET.SubElement(view, "Header", {"value": title})
        ET.SubElement(view, "Text", {"name": name, "value": f"${name}"})

    pairs = bool(rows) and "response_a" in rows[0]
    show("input", "Input")
    if any(r["context"] for r in rows):
        show("context", "Context")
    if any(r["references"] for r in rows):
        show("reference", "Reference")
    if pairs:
        show("response_a", "Response A")
        show("response_b", "Response B")
    else:
        show("response", "Response")
    if any("scores" in r for r in rows):
        show("scores", "Current scores")
    target = "response_a,response_b" if pairs else "response"
    for name in labels:
        scale = scales[name]
        ET.SubElement(view, "Header", {"value": f"{name} ({scale.describe()})"})
        attrs = {"name": name, "toName": target}
        radio = {**attrs, "choice": "single-radio", "showInline": "true"}
        if scale.kind == "ordinal" and _stars(scale.points):
            ET.SubElement(view, "Rating", {**attrs, "maxRating": str(len(scale.points))})
        elif scale.kind == "ordinal":
            choices = ET.SubElement(view, "Choices", radio)
            for p in scale.points:
                value = str(int(p)) if p.is_integer() else repr(p)
                ET.SubElement(choices, "Choice", {"value": value})
        elif scale.kind == "nominal":
            choices = ET.SubElement(view, "Choices", radio)
            for category in scale.categories:
                ET.SubElement(choices, "Choice", {"value": category})
        elif scale.kind == "interval":
            bounds = {"min": repr(scale.low), "max": repr(scale.high), "step": "0.01"}
            ET.SubElement(view, "Number", {**attrs, **bounds})
        else:
            ET.SubElement(view, "TextArea", {**attrs, "maxSubmissions": "1", "editable": "true"})
    ET.indent(view)
    return ET.tostring(view, encoding="unicode") + "\n"
