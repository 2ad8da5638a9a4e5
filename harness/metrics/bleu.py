"""BLEU as an `evaluate` metric module, over sacrebleu (offline: load it by path).

Corpus BLEU from summed sufficient statistics, as ``sacrebleu.corpus_bleu``; several
references per prediction (any number, varying) as sacrebleu defines multi-reference
BLEU. The implementation is `harness.metrics._sacrebleu.BleuCore`, shared with the
harness `bleu` scorer.
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
from harness.metrics._sacrebleu import BleuCore

_OPTIONS = (
    "tokenize",
    "lowercase",
    "smooth_method",
    "smooth_value",
    "max_ngram_order",
    "effective_order",
)

_DESCRIPTION = """\
BLEU (Papineni et al., 2002) computed by sacrebleu: the geometric mean of clipped n-gram
precisions times a brevity penalty, from statistics summed over the corpus."""

_CITATION = """\
@inproceedings{post-2018-call,
  title = "A Call for Clarity in Reporting {BLEU} Scores",
  author = "Post, Matt",
  booktitle = "Proceedings of the Third Conference on Machine Translation",
  year = "2018",
  pages = "186--191",
}"""

_INPUTS = """
Args:
    predictions: list of hypothesis strings.
    references: per prediction, one reference string or a list of references (the
        number may vary between predictions).
    tokenize: '13a' (default), 'intl', 'zh', 'char' or 'none'.
    lowercase: case-insensitive BLEU (default False).
    smooth_method: 'exp' (default), 'floor', 'add-k' or 'none'.
    smooth_value: the value for 'floor' (0.1) and 'add-k' (1).
    max_ngram_order: highest n-gram order (default 4).
    effective_order: leave out orders without matches (default False; True gives
        sacrebleu's sentence BLEU for a single prediction).
Returns:
    bleu (0-100), counts, totals, precisions, bp, sys_len, ref_len, and bleu_signature
    (sacrebleu's signature string).
"""


@functools.lru_cache(maxsize=16)
def _core(settings: tuple[tuple[str, Any], ...]) -> BleuCore:
    return BleuCore(**dict(settings))


class Bleu(OneReferenceForm, evaluate.Metric):
    """sacrebleu BLEU; options given to `evaluate.load(...)` or overridden in `compute`."""

    def __init__(
        self,
        tokenize: str = "13a",
        lowercase: bool = False,
        smooth_method: str = "exp",
        smooth_value: float | None = None,
        max_ngram_order: int = 4,
        effective_order: bool = False,
        **kwargs: Any,
    ) -> None:
        self._settings = {
            "tokenize": tokenize,
            "lowercase": lowercase,
            "smooth_method": smooth_method,
            "smooth_value": smooth_value,
            "max_ngram_order": max_ngram_order,
            "effective_order": effective_order,
        }
        _core(tuple(self._settings.items()))  # bad settings fail at load, not at compute
        super().__init__(**evaluate_kwargs("bleu", kwargs, _OPTIONS))

    def _info(self) -> evaluate.MetricInfo:
        return evaluate.MetricInfo(
            description=_DESCRIPTION,
            citation=_CITATION,
            inputs_description=_INPUTS,
            features=reference_features(),
            homepage="https://github.com/mjpost/sacrebleu",
            reference_urls=["https://aclanthology.org/W18-6319/"],
        )

    def _compute(
        self,
        predictions: list[str],
        references: list[Any],
        tokenize: str | None = None,
        lowercase: bool | None = None,
        smooth_method: str | None = None,
        smooth_value: float | None = None,
        max_ngram_order: int | None = None,
        effective_order: bool | None = None,
    ) -> dict[str, Any]:
        settings = merged(
            self._settings,
            {
                "tokenize": tokenize,
                "lowercase": lowercase,
                "smooth_method": smooth_method,
                "smooth_value": smooth_value,
                "max_ngram_order": max_ngram_order,
                "effective_order": effective_order,
            },
        )
        result = _core(tuple(settings.items())).corpus(predictions, as_reference_lists(references))
        signature = result.pop("signature")
        return {"bleu": result.pop("score"), **result, "bleu_signature": signature}
