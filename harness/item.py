"""The unit of evaluation: one dataset row, mapped onto named fields."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

EITHER_GROUNDING = "context|reference"
"""A scorer requirement (`Scorer.requires`): a context, or failing that a reference."""


@dataclass(frozen=True, slots=True)
class Item:
    """One prompt to evaluate.

    `references` holds every acceptable answer (empty when the dataset has none);
    `metadata` holds the dataset's other columns, used for slicing and templates.
    """

    id: str
    input: str
    references: tuple[str, ...] = ()
    context: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    row: int = 0

    def has_grounding(self) -> bool:
        """Whether the item has a non-blank context or reference to check a response against."""
        return bool(self.context and self.context.strip()) or any(
            r.strip() for r in self.references
        )

    def fields(self) -> dict[str, Any]:
        """Every value a prompt template may name."""
        values: dict[str, Any] = dict(self.metadata)
        values.update(
            id=self.id,
            input=self.input,
            reference=self.references[0] if self.references else "",
            references=list(self.references),
            context=self.context or "",
        )
        return values
