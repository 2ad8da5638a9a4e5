"""ROUGE as an `evaluate` metric module, over rouge-score (offline: load it by path).

Unlike the hub's ``rouge`` module, it keeps non-ASCII text (a Unicode tokenizer that
equals rouge-score's on ASCII text), splits sentences for rougeLsum without nltk data,
and with several references takes, per ROUGE type, the reference with the best F. The
implementation is `harness.metrics._rouge.RougeCore`, shared with the `rouge` scorer.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any

import evaluate

from harness.metrics._module import (
    OneReferenceForm,
    as_reference_lists,
    evaluate_kwargs,
    merged,
    reference_features,
)
from harness.metrics._rouge import ROUGE_TYPES, RougeCore

_OPTIONS = ("rouge_types", "use_stemmer", "tokenizer", "split_sentences")

_DESCRIPTION = """\
ROUGE (Lin, 2004): n-gram (ROUGE-N), longest-common-subsequence (ROUGE-L) and
summary-level LCS (ROUGE-Lsum) overlap between a prediction and its references."""

_CITATION = """\
@inproceedings{lin-2004-rouge,
  title = "{ROUGE}: A Package for Automatic Evaluation of Summaries",
  author = "Lin, Chin-Yew",
  booktitle = "Text Summarization Branches Out",
  year = "2004",
  pages = "74--81",
}"""

_INPUTS = """
Args:
    predictions: list of predicted texts.
    references: per prediction, one reference string or a list of references.
    rouge_types: any of rouge1..rouge9, rougeL, rougeLsum (default all four common ones).
    use_stemmer: Porter stemming of English words (default False).
    tokenizer: 'unicode' (default; keeps any script) or 'rouge_score' (ASCII only).
    split_sentences: split sentences for rougeLsum (default True); False: line breaks only.
    use_aggregator: True (default) gives means; False gives one value per prediction.
Returns:
    per type the F-measure (e.g. rouge1), its precision and recall (rouge1_precision,
    rouge1_recall), and rouge_signature.
"""


@functools.lru_cache(maxsize=16)
def _core(settings: tuple[tuple[str, Any], ...]) -> RougeCore:
    return RougeCore(**dict(settings))


class Rouge(OneReferenceForm, evaluate.Metric):
    """rouge-score ROUGE; options given to `evaluate.load(...)` or overridden in `compute`."""

    def __init__(
        self,
        rouge_types: Sequence[str] = ROUGE_TYPES,
        use_stemmer: bool = False,
        tokenizer: str = "unicode",
        split_sentences: bool = True,
        **kwargs: Any,
    ) -> None:
        self._settings = {
            "rouge_types": _types(rouge_types),
            "use_stemmer": use_stemmer,
            "tokenizer": tokenizer,
            "split_sentences": split_sentences,
        }
        _core(tuple(self._settings.items()))
        super().__init__(**evaluate_kwargs("rouge", kwargs, _OPTIONS))

    def _info(self) -> evaluate.MetricInfo:
        return evaluate.MetricInfo(
            description=_DESCRIPTION,
            citation=_CITATION,
            inputs_description=_INPUTS,
            features=reference_features(),
            homepage="https://github.com/google-research/google-research/tree/master/rouge",
            reference_urls=["https://aclanthology.org/W04-1013/"],
        )

    def _compute(
        self,
        predictions: list[str],
        references: list[Any],
        rouge_types: Sequence[str] | None = None,
        use_stemmer: bool | None = None,
        tokenizer: str | None = None,
        split_sentences: bool | None = None,
        use_aggregator: bool = True,
    ) -> dict[str, Any]:
        settings = merged(
            self._settings,
            {
                "rouge_types": _types(rouge_types) if rouge_types is not None else None,
                "use_stemmer": use_stemmer,
                "tokenizer": tokenizer,
                "split_sentences": split_sentences,
            },
        )
        core = _core(tuple(settings.items()))
        scores = core.score_many(predictions, as_reference_lists(references))
        result: dict[str, Any] = {}
        for rouge_type in core.rouge_types:
            for part, suffix in (
                ("fmeasure", ""),
                ("precision", "_precision"),
                ("recall", "_recall"),
            ):
                values = [getattr(s[rouge_type], part) for s in scores]
                if use_aggregator:
                    result[rouge_type + suffix] = sum(values) / len(values) if values else 0.0
                else:
                    result[rouge_type + suffix] = values
        result["rouge_signature"] = core.signature()
        return result


def _types(rouge_types: Sequence[str] | str) -> tuple[str, ...]:
    if isinstance(rouge_types, str):
        return tuple(t.strip() for t in rouge_types.split(",") if t.strip())
    return tuple(rouge_types)
