"""BERTScore as an `evaluate` metric module (offline: load it by path).

    import evaluate
    from harness.metrics import module_path

    bertscore = evaluate.load(module_path("bertscore"), idf=False, bf16="auto")
    bertscore.add_batch(predictions=["a cat"], references=[["a cat sat", "the cat"]])
    bertscore.compute()   # {'precision': [...], 'recall': [...], 'f1': [...], ...}

Settings (given to `evaluate.load` and overridable per `compute` call): model (default the
packaged all-MiniLM-L6-v2), num_layers (6 for it; needed for any other encoder), idf,
rescale_with_baseline (default on for the packaged encoder with the shipped baseline, else
only with baseline_path), baseline_path, batch_size, device, bf16, threads. With idf on, idf
is computed over every reference passed to `compute` (one document per prediction-reference
pair, as bert-score counts them), unless `idf_corpus` names the texts. The implementation is
`harness.metrics._bertscore.BertScoreModel`, shared with the `bertscore` scorer.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import evaluate

from harness.errors import ConfigError
from harness.metrics._bertscore import BertScoreModel
from harness.metrics._module import (
    OneReferenceForm,
    as_reference_lists,
    evaluate_kwargs,
    reference_features,
)

_DESCRIPTION = """\
BERTScore (Zhang et al., 2020): greedy matching of contextual token embeddings between a
prediction and its references, with bert-score 0.3.13's definitions. The default encoder is
the packaged all-MiniLM-L6-v2 (layer 6), rescaled with the baseline the harness ships."""

_CITATION = """\
@inproceedings{zhang2020bertscore,
  title = {BERTScore: Evaluating Text Generation with BERT},
  author = {Tianyi Zhang and Varsha Kishore and Felix Wu and Kilian Q. Weinberger and Yoav Artzi},
  booktitle = {International Conference on Learning Representations},
  year = {2020}
}"""

_KWARGS = """
Args:
    predictions: list of candidate texts.
    references: list of reference texts, or list of lists (several references per prediction;
        P, R and F are each the maximum over them, as bert-score takes them).
    idf_corpus: texts to compute idf over when idf is on (default: the references).
Returns:
    precision, recall, f1: lists of floats; best_reference: index of the best-F reference;
    signature: the settings and versions that made the numbers.
"""

SETTINGS = (
    "model",
    "num_layers",
    "idf",
    "rescale_with_baseline",
    "baseline_path",
    "batch_size",
    "device",
    "bf16",
    "threads",
)


class Bertscore(OneReferenceForm, evaluate.Metric):
    """BERTScore; the model for each distinct setting is loaded once and kept."""

    def __init__(
        self,
        model: str | None = None,
        num_layers: int | None = None,
        idf: bool = False,
        rescale_with_baseline: bool | None = None,
        baseline_path: str | None = None,
        batch_size: int = 64,
        device: str = "auto",
        bf16: bool | str = "auto",
        threads: int | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**evaluate_kwargs("bertscore", kwargs, SETTINGS))
        self.defaults: dict[str, Any] = {
            "model": model,
            "num_layers": num_layers,
            "idf": idf,
            "rescale_with_baseline": rescale_with_baseline,
            "baseline_path": baseline_path,
            "batch_size": batch_size,
            "device": device,
            "bf16": bf16,
            "threads": threads,
        }
        self._models: dict[tuple[Any, ...], BertScoreModel] = {}

    def _info(self) -> evaluate.MetricInfo:
        return evaluate.MetricInfo(
            description=_DESCRIPTION,
            citation=_CITATION,
            inputs_description=_KWARGS,
            features=reference_features(),
        )

    def scorer(self, **overrides: Any) -> BertScoreModel:
        """The loaded model for these settings (loaded on first use, then kept)."""
        unknown = set(overrides) - set(SETTINGS)
        if unknown:
            raise ConfigError(
                f"unknown BERTScore setting(s) {sorted(unknown)}; known: {', '.join(SETTINGS)}"
            )
        settings = {**self.defaults, **overrides}
        key = tuple(settings[name] for name in SETTINGS)
        if key not in self._models:
            self._models[key] = BertScoreModel(**settings)
        return self._models[key]

    def _compute(
        self,
        predictions: Sequence[str],
        references: Sequence[Any],
        idf_corpus: Sequence[str] | None = None,
        **overrides: Any,
    ) -> dict[str, Any]:
        groups = [group or [""] for group in as_reference_lists(references)]
        model = self.scorer(**overrides)
        scores = model.score(list(predictions), groups, idf_corpus)
        signature = "|".join(f"{k}:{v}" for k, v in sorted(model.settings().items()))
        return {
            "precision": scores.precision,
            "recall": scores.recall,
            "f1": scores.f1,
            "best_reference": scores.best_reference,
            "signature": f"bertscore|{signature}",
        }
