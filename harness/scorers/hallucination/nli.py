"""`nli`: entailment and contradiction of each response sentence by the context (or reference).

A local NLI classifier (`nli.model=PATH`: a DeBERTa-MNLI, an HHEM-style one-output model,
any Hugging Face sequence-classification checkpoint with entailment labels; see
`nli_model`) reads each sentence of the response as a hypothesis with the context as the
premise. Per response: `nli_entailment`, the mean over sentences of P(entailment) (higher is
better), and, where the model has a contradiction label, `nli_contradiction`, the mean of
P(contradiction) (lower is better); each sentence's probabilities are in the details. A
response is labelled `hallucination` when its `nli_entailment` is below `threshold`.

A context longer than the model's maximum length is cut (longest first: the premise); the
details count the sentences whose pair was cut, since a cut context can hide the support.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

from harness.errors import ConfigError
from harness.scorers.base import Example, ScoreRecord
from harness.scorers.hallucination.aggregate import RATE, HallucinationScorer
from harness.scorers.hallucination.grounding import (
    grounding,
    missing,
    reference_instead,
    source_requires,
)
from harness.scorers.hallucination.sentences import sentences

ENTAILMENT_METRIC = "nli_entailment"
CONTRADICTION_METRIC = "nli_contradiction"


class NLIScorer(HallucinationScorer):
    """Sentence-level NLI against the context with a local model.

    Options: model (required: a folder), source (context, reference, auto), threshold,
    labels (output order, when the config does not name them), batch_size, max_length,
    device, threads.
    """

    name = "nli"
    version = "2"  # 2: short fragments join a sentence (1 scored them alone)
    primary: ClassVar[str] = ENTAILMENT_METRIC
    higher_is_worse: ClassVar[bool] = False
    lower_is_better: ClassVar[frozenset[str]] = frozenset({CONTRADICTION_METRIC, RATE})
    value_range: ClassVar[dict[str, tuple[float, float]]] = {
        ENTAILMENT_METRIC: (0.0, 1.0),
        CONTRADICTION_METRIC: (0.0, 1.0),
    }

    def __init__(
        self,
        model: str | None = None,
        source: str = "context",
        threshold: float = 0.5,
        labels: str | None = None,
        batch_size: int = 16,
        max_length: int | None = None,
        device: str = "auto",
        threads: int | None = None,
    ) -> None:
        requires = source_requires("nli", source)
        if not model:
            raise ConfigError(
                "the nli scorer needs a local NLI model: --scorer-option nli.model=/path/to/model "
                "(a Hugging Face sequence-classification checkpoint such as a DeBERTa-MNLI)"
            )
        from harness.scorers.hallucination.nli_model import NLIModel

        self.model = NLIModel(
            model,
            labels=labels,
            batch_size=batch_size,
            max_length=max_length,
            device=device,
            threads=threads,
            option="nli",
        )
        self.source, self.threshold = source, float(threshold)
        super().__init__(source=source, threshold=self.threshold, **self.model.settings())
        setattr(self, "requires", requires)  # noqa: B010  (per instance: it follows `source`)

    def instead_of(self, need: str) -> str | None:
        return reference_instead(self.name, need)

    def score(self, batch: Sequence[Example]) -> list[ScoreRecord]:
        premises: list[str] = []
        hypotheses: list[str] = []
        plans: list[tuple[Example, str | None, list[str], str | None]] = []
        for example in batch:
            context, which = grounding(example.item, self.source)
            main = sentences(example.response)
            plans.append((example, which, main, context))
            if context is not None and main:
                premises.extend([context] * len(main))
                hypotheses.extend(main)
        probs = iter(self.model.predict(premises, hypotheses))
        records = []
        for example, which, main, context in plans:
            item_id, sample = example.item.id, example.sample
            if context is None or not main:
                why = missing(self.source) if context is None else "the response is empty"
                reason = {"source": self.source, "error": why}
                records.append(ScoreRecord(item_id, sample, ENTAILMENT_METRIC, None, None, reason))
                continue
            rows: list[dict[str, Any]] = []
            truncated = 0
            for text in main:
                p = next(probs)
                truncated += p.truncated
                rows.append(
                    {
                        "text": text,
                        "entailment": p.entailment,
                        "contradiction": p.contradiction,
                        "neutral": p.neutral,
                    }
                )
            entailment = sum(r["entailment"] for r in rows) / len(rows)
            details: dict[str, Any] = {"source": which, "sentences": rows, "truncated": truncated}
            records.append(
                ScoreRecord(
                    item_id, sample, ENTAILMENT_METRIC, entailment, self.label(entailment), details
                )
            )
            if rows[0]["contradiction"] is not None:
                contradiction = sum(r["contradiction"] for r in rows) / len(rows)
                records.append(ScoreRecord(item_id, sample, CONTRADICTION_METRIC, contradiction))
        return records


__all__ = ["CONTRADICTION_METRIC", "ENTAILMENT_METRIC", "NLIScorer"]
