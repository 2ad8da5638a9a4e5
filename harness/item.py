"""The unit of evaluation: one dataset row, mapped onto named fields."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


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
