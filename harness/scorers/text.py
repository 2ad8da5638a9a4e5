"""Exact match and token F1 against the references, with the SQuAD script's normalisation.

Normalisation is the official SQuAD v1.1 `normalize_answer`: lower-case, drop ASCII
punctuation (`string.punctuation`; curly quotes and other Unicode punctuation stay, as
there), drop the articles a/an/the, squeeze spaces. Several references: the best match
counts (the maximum over references), as the SQuAD script does. An empty answer against an
empty reference scores 1, as the SQuAD 2.0 script counts it.
"""

from __future__ import annotations

import re
import string
from abc import abstractmethod
from collections import Counter
from collections.abc import Sequence
from typing import ClassVar

from harness.scorers.base import Example, Scorer, ScoreRecord

_ARTICLES = re.compile(r"\b(a|an|the)\b")
_PUNCTUATION = set(string.punctuation)


def normalize(text: str) -> str:
    """SQuAD's normalize_answer: lower-case, drop ASCII punctuation and articles, squeeze."""
    text = text.lower()
    text = "".join(ch for ch in text if ch not in _PUNCTUATION)
    text = _ARTICLES.sub(" ", text)
    return " ".join(text.split())


def token_f1(prediction: str, reference: str, *, normalized: bool = True) -> float:
    """Harmonic mean of token precision and recall (after normalisation by default)."""
    if normalized:
        prediction, reference = normalize(prediction), normalize(reference)
    predicted, expected = prediction.split(), reference.split()
    if not predicted or not expected:
        return float(predicted == expected)
    common = sum((Counter(predicted) & Counter(expected)).values())
    if common == 0:
        return 0.0
    precision, recall = common / len(predicted), common / len(expected)
    return 2 * precision * recall / (precision + recall)


class _ReferenceScorer(Scorer):
    version: ClassVar[str] = "2"
    """2: ASCII punctuation only, as the SQuAD script (1 dropped Unicode punctuation too)."""
    requires: ClassVar[frozenset[str]] = frozenset({"reference"})
    metric: ClassVar[str] = ""

    def __init__(self, normalize: bool = True) -> None:
        super().__init__(normalize=normalize)
        self.normalize = normalize

    @abstractmethod
    def one(self, prediction: str, reference: str) -> float:
        """The score of one response against one reference."""

    def score(self, batch: Sequence[Example]) -> list[ScoreRecord]:
        records = []
        for example in batch:
            values = [self.one(example.response, ref) for ref in example.item.references]
            best = max(values) if values else None
            details = None
            if len(values) > 1 and best is not None:
                details = {"best_reference": values.index(best)}
            records.append(
                ScoreRecord(example.item.id, example.sample, self.metric, best, details=details)
            )
        return records


class ExactMatch(_ReferenceScorer):
    """1 when the response equals a reference (normalised unless `normalize=False`)."""

    name = "exact_match"
    metric = "exact_match"
    value_range: ClassVar[dict[str, tuple[float, float]]] = {"exact_match": (0.0, 1.0)}

    def one(self, prediction: str, reference: str) -> float:
        if self.normalize:
            return float(normalize(prediction) == normalize(reference))
        return float(prediction.strip() == reference.strip())


class TokenF1(_ReferenceScorer):
    """Token-overlap F1 between the response and the best reference (SQuAD)."""

    name = "token_f1"
    metric = "token_f1"
    value_range: ClassVar[dict[str, tuple[float, float]]] = {"token_f1": (0.0, 1.0)}

    def one(self, prediction: str, reference: str) -> float:
        return token_f1(prediction, reference, normalized=self.normalize)
