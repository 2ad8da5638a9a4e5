"""What a grounded scorer (faithfulness, nli) checks a response against.

`source=context` (the default) uses the item's context and makes the run fail at start on a
dataset without one; `source=reference` uses the reference answers (joined one per line)
and fails at start without them; `source=auto` uses the context where an item has one and
the references otherwise, and fails at start on a row with neither.
"""

from __future__ import annotations

from harness.errors import ConfigError
from harness.item import EITHER_GROUNDING, Item

SOURCES = ("context", "reference", "auto")


def source_requires(scorer: str, source: str) -> frozenset[str]:
    """The item fields the run must check at start for this source."""
    if source not in SOURCES:
        raise ConfigError(
            f"{scorer}.source must be one of {', '.join(SOURCES)}, not {source!r} "
            "(context: the item's context; reference: its reference answers; auto: the "
            "context where there is one, else the references)"
        )
    if source == "auto":
        return frozenset({EITHER_GROUNDING})
    return frozenset({source})


def reference_instead(scorer: str, need: str) -> str | None:
    """The option that lets a grounded scorer check the references where there is no
    context."""
    return f"--scorer-option {scorer}.source=auto" if need == "context" else None


def grounding(item: Item, source: str) -> tuple[str | None, str | None]:
    """(text, which field it came from), or (None, None) when the item has neither."""
    if source in ("context", "auto") and item.context and item.context.strip():
        return item.context, "context"
    if source in ("reference", "auto"):
        references = [r for r in item.references if r.strip()]
        if references:
            return "\n".join(references), "reference"
    return None, None


def missing(source: str) -> str:
    """Why an item could not be checked."""
    wanted = "context or reference" if source == "auto" else source
    return f"the item has no {wanted} to check the response against"


__all__ = ["SOURCES", "grounding", "missing", "reference_instead", "source_requires"]
