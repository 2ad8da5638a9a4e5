"""What a toxicity backend returns, and the label names shared by all of them."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

LABELS = ("toxicity", "severe_toxicity", "obscene", "threat", "insult", "identity_attack")
"""The six Jigsaw labels, in detoxify's names; `toxicity` is the scorer's main metric."""

JIGSAW_NAMES = {
    "toxic": "toxicity",
    "severe_toxic": "severe_toxicity",
    "identity_hate": "identity_attack",
}
"""Jigsaw's column names -> detoxify's names (the others are the same in both)."""


@dataclass(slots=True)
class Prediction:
    """One text's probabilities, and whether the model saw only part of it."""

    scores: dict[str, float]
    truncated: bool = False
    n_tokens: int = 0
    extra: dict[str, float] = field(default_factory=dict)
    """Labels beyond the six (e.g. detoxify's sexual_explicit), kept in details."""


class Backend(Protocol):
    """A loaded classifier: batches of texts in, one `Prediction` per text out."""

    labels: tuple[str, ...]

    def describe(self) -> dict[str, Any]:
        """Model, version, weights hash and language limits: part of the signature."""
        ...

    def predict(self, texts: list[str]) -> list[Prediction]:
        """Probabilities for every text, in order."""
        ...


def standard_name(label: str) -> str:
    """A class name from Jigsaw or detoxify -> detoxify's name."""
    return JIGSAW_NAMES.get(label, label)
