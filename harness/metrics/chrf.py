"""chrF / chrF++ as an `evaluate` metric module, over sacrebleu (offline: load it by path).

Corpus chrF from summed character (and word) n-gram statistics, as
``sacrebleu.corpus_chrf``; with several references, each prediction keeps the statistics
of its best reference, as sacrebleu defines it. The implementation is
`harness.metrics._sacrebleu.ChrfCore`, shared with the harness `chrf` scorer.
"""

from __future__ import annotations

import functools
from typing import Any

import evaluate

from harness.metrics._module import (
    OneReferenceForm,
    as_reference_lists,
    evaluate_kwargs,
    merged,
    reference_features,
)
from harness.metrics._sacrebleu import ChrfCore

_OPTIONS = ("char_order", "word_order", "beta", "lowercase", "whitespace", "eps_smoothing")

_DESCRIPTION = """\
chrF (Popović, 2015) computed by sacrebleu: an F-beta score over character n-grams;
chrF++ (word_order=2) adds word unigrams and bigrams."""

_CITATION = """\
@inproceedings{popovic-2015-chrf,
  title = "chr{F}: character n-gram {F}-score for automatic {MT} evaluation",
  author = "Popovi{\\'c}, Maja",
  booktitle = "Proceedings of the Tenth Workshop on Statistical Machine Translation",
  year = "2015",
  pages = "392--395",
}"""

_INPUTS = """
Args:
    predictions: list of hypothesis strings.
    references: per prediction, one reference string or a list of references.
    char_order: character n-gram order (default 6).
    word_order: word n-gram order (default 0; 2 gives chrF++).
    beta: weight of recall relative to precision (default 2).
    lowercase: case-insensitive (default False).
    whitespace: keep white space in character n-grams (default False).
    eps_smoothing: chrF++.py-style epsilon smoothing (default False, as sacrebleu).
Returns:
    chrf (0-100), char_order, word_order, beta, and chrf_signature (sacrebleu's).
"""


@functools.lru_cache(maxsize=16)
def _core(settings: tuple[tuple[str, Any], ...]) -> ChrfCore:
    return ChrfCore(**dict(settings))


class Chrf(OneReferenceForm, evaluate.Metric):
    """sacrebleu chrF; options given to `evaluate.load(...)` or overridden in `compute`."""

    def __init__(
        self,
        char_order: int = 6,
        word_order: int = 0,
        beta: int = 2,
        lowercase: bool = False,
        whitespace: bool = False,
        eps_smoothing: bool = False,
        **kwargs: Any,
    ) -> None:
        self._settings = {
            "char_order": char_order,
            "word_order": word_order,
            "beta": beta,
            "lowercase": lowercase,
            "whitespace": whitespace,
            "eps_smoothing": eps_smoothing,
        }
        _core(tuple(self._settings.items()))
        super().__init__(**evaluate_kwargs("chrf", kwargs, _OPTIONS))

    def _info(self) -> evaluate.MetricInfo:
        return evaluate.MetricInfo(
            description=_DESCRIPTION,
            citation=_CITATION,
            inputs_description=_INPUTS,
            features=reference_features(),
            homepage="https://github.com/mjpost/sacrebleu",
            reference_urls=["https://aclanthology.org/W15-3049/"],
        )

    def _compute(
        self,
        predictions: list[str],
        references: list[Any],
        char_order: int | None = None,
        word_order: int | None = None,
        beta: int | None = None,
        lowercase: bool | None = None,
        whitespace: bool | None = None,
        eps_smoothing: bool | None = None,
    ) -> dict[str, Any]:
        settings = merged(
            self._settings,
            {
                "char_order": char_order,
                "word_order": word_order,
                "beta": beta,
                "lowercase": lowercase,
                "whitespace": whitespace,
                "eps_smoothing": eps_smoothing,
            },
        )
        result = _core(tuple(settings.items())).corpus(predictions, as_reference_lists(references))
        signature = result.pop("signature")
        return {"chrf": result.pop("score"), **result, "chrf_signature": signature}
