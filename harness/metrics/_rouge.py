"""ROUGE through rouge-score with a tokenizer and sentence splitter that keep any language:
one implementation for the evaluate module (`harness/metrics/rouge.py`) and the scorer.

Several references: each ROUGE type takes the reference with the highest F-measure
(rouge-score's `score_multi`), and its precision and recall come from that reference.
A segment without references is scored against one empty reference (0).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from importlib.metadata import version
from typing import Any, NamedTuple

from harness.errors import ConfigError
from harness.metrics._tokenize import UnicodeTokenizer, split_sentences

ROUGE_TYPES = ("rouge1", "rouge2", "rougeL", "rougeLsum")
TOKENIZERS = ("unicode", "rouge_score")
_TYPE = re.compile(r"rouge[1-9]|rougeL|rougeLsum")

#: Bumped whenever the tokenizer or splitter changes a number; part of the signature.
TOKENIZER_VERSION = "1"


class RougeScore(NamedTuple):
    """Precision, recall and F-measure of one ROUGE type, and the reference they came from."""

    precision: float
    recall: float
    fmeasure: float
    reference: int


class RougeCore:
    """ROUGE-N, ROUGE-L and summary-level ROUGE-Lsum with fixed settings.

    `tokenizer='unicode'` (default) keeps non-ASCII text and equals rouge-score's tokens on
    ASCII text; `'rouge_score'` is rouge-score's own (drops everything but ``[a-z0-9]``).
    `split_sentences=True` splits both texts into sentences for rougeLsum with
    `harness.metrics._tokenize.split_sentences`; False keeps rouge-score's default (only
    line breaks separate sentences).
    """

    def __init__(
        self,
        rouge_types: Sequence[str] = ROUGE_TYPES,
        use_stemmer: bool = False,
        tokenizer: str = "unicode",
        split_sentences: bool = True,
    ) -> None:
        if isinstance(rouge_types, str):
            rouge_types = [t.strip() for t in rouge_types.split(",") if t.strip()]
        types = tuple(rouge_types)
        bad = [t for t in types if not isinstance(t, str) or not _TYPE.fullmatch(t)]
        if bad or not types:
            raise ConfigError(
                f"rouge: unknown rouge_types {bad or '[]'}; use rouge1-rouge9, rougeL, rougeLsum"
            )
        if tokenizer not in TOKENIZERS:
            raise ConfigError(
                f"rouge: unknown tokenizer '{tokenizer}'; use one of {', '.join(TOKENIZERS)}"
            )
        from rouge_score import rouge_scorer, tokenizers

        self.rouge_types = types
        self.use_stemmer = bool(use_stemmer)
        self.tokenizer = tokenizer
        self.split = bool(split_sentences)
        tok: Any = (
            UnicodeTokenizer(self.use_stemmer)
            if tokenizer == "unicode"
            else tokenizers.DefaultTokenizer(self.use_stemmer)
        )
        self._scorer = rouge_scorer.RougeScorer(list(types), tokenizer=tok)
        self._splits = self.split and "rougeLsum" in types

    def _prepare(self, text: str) -> str:
        return "\n".join(split_sentences(text)) if self._splits else text

    def score(self, prediction: str, references: Sequence[str]) -> dict[str, RougeScore]:
        """Scores of one prediction against its best reference, per ROUGE type."""
        prediction = self._prepare(prediction)
        per_reference = [
            self._scorer.score(self._prepare(ref), prediction) for ref in (references or [""])
        ]
        result = {}
        for rouge_type in self.rouge_types:
            best, best_f = 0, -1.0
            for index, scores in enumerate(per_reference):
                if scores[rouge_type].fmeasure > best_f:
                    best, best_f = index, scores[rouge_type].fmeasure
            chosen = per_reference[best][rouge_type]
            result[rouge_type] = RougeScore(
                float(chosen.precision), float(chosen.recall), float(chosen.fmeasure), best
            )
        return result

    def score_many(
        self, predictions: Sequence[str], references: Sequence[Sequence[str]]
    ) -> list[dict[str, RougeScore]]:
        """`score` over aligned lists."""
        if len(predictions) != len(references):
            raise ValueError(
                f"{len(predictions)} predictions but {len(references)} reference lists"
            )
        return [self.score(p, r) for p, r in zip(predictions, references, strict=True)]

    def signature(self) -> str:
        """Every setting and version that changes the numbers."""
        parts = [
            f"types:{','.join(self.rouge_types)}",
            f"tok:{self.tokenizer}"
            + (f"-v{TOKENIZER_VERSION}" if self.tokenizer == "unicode" else ""),
            f"stem:{'porter' if self.use_stemmer else 'no'}",
            f"split:{'rules-v' + TOKENIZER_VERSION if self._splits else 'newline'}",
            "multiref:max-f",
            f"rouge_score:{version('rouge-score')}",
        ]
        return "|".join(parts)
