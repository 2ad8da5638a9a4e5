"""The `bertscore` scorer: BERTScore F1 of each response against its best reference.

It calls the project's `evaluate` metric (harness/metrics/bertscore.py), loaded once in
`__init__`. Each record's value is F1; precision, recall and the index of the best reference
go in `details`. With `idf=true`, idf is computed over the references of the batch the scorer
is called with (each item's references counted once, however many samples it has): 64 items
per batch in `harness run`, 256 in `harness score`.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from typing import Any, ClassVar

from harness.scorers.base import Example, RunMetric, Scorer, ScoreRecord
from harness.stats import mean_ci


class BertScoreScorer(Scorer):
    """BERTScore (default: packaged all-MiniLM-L6-v2, layer 6, rescaled with the shipped
    baseline). Options: model, num_layers, idf, rescale_with_baseline, baseline_path,
    batch_size, device (auto/cpu/cuda), bf16 (auto/true/false), threads."""

    name = "bertscore"
    version = "1"
    requires: ClassVar[frozenset[str]] = frozenset({"reference"})

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
    ) -> None:
        from harness.metrics.bertscore import Bertscore

        options: dict[str, Any] = {
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
        super().__init__(**options)
        self.metric = Bertscore(keep_in_memory=True, **options)
        self.model = self.metric.scorer()
        self._idf: Any = None

    @property
    def wants_corpus(self) -> bool:
        """With idf on, the run hands over every item's references first (`fit_corpus`)."""
        return bool(self.model.idf)

    def fit_corpus(self, references: Iterable[Sequence[str]]) -> None:
        """idf over the whole dataset's references, each item's once: the same weights for
        every batch, however the run happens to batch its items."""
        from harness.metrics._bertscore import idf_table

        corpus = [r for group in references for r in group]
        self._idf = idf_table(self.model.encoder, corpus) if corpus else None

    def settings(self) -> dict[str, Any]:
        return self.model.settings()

    def metric_range(self, metric: str) -> tuple[float, float] | None:
        """F lies in [-1, 1] (cosines), rescaled with a baseline b in [(-1 - b)/(1 - b), 1]."""
        return self._range(2) if metric == self.name else None

    def _range(self, column: int) -> tuple[float, float]:
        """The range of P (column 0), R (1) or F (2), each rescaled with its own baseline."""
        if self.model.baseline is None:
            return (-1.0, 1.0)
        b = self.model.baseline.row(self.model.num_layers)[column]
        return ((-1.0 - b) / (1.0 - b), 1.0)

    def score(self, batch: Sequence[Example]) -> list[ScoreRecord]:
        if not batch:
            return []
        references = [list(e.item.references) or [""] for e in batch]
        corpus: dict[str, list[str]] = {}
        for example, group in zip(batch, references, strict=True):
            corpus.setdefault(example.item.id, group)
        if self._idf is not None:
            scores = self.model.score(
                [e.response for e in batch], references, idf_weights=self._idf
            )
            out: dict[str, Any] | None = {
                "precision": scores.precision,
                "recall": scores.recall,
                "f1": scores.f1,
                "best_reference": scores.best_reference,
            }
        else:
            out = self.metric.compute(
                predictions=[e.response for e in batch],
                references=references,
                idf_corpus=[r for group in corpus.values() for r in group],
            )
        assert out is not None
        records = []
        for k, example in enumerate(batch):
            details: dict[str, Any] = {
                "precision": out["precision"][k],
                "recall": out["recall"][k],
            }
            if len(references[k]) > 1:
                details["best_reference"] = out["best_reference"][k]
            records.append(
                ScoreRecord(example.item.id, example.sample, self.name, out["f1"][k], None, details)
            )
        return records

    def aggregate(self, records: Sequence[ScoreRecord]) -> list[RunMetric]:
        """Mean F1 over items with its 95% CI; mean precision and recall in details (each
        interval cut to its own range, as F's)."""
        metrics = super().aggregate(records)
        for column, name in enumerate(("precision", "recall")):
            per_item: dict[str, list[float]] = defaultdict(list)
            for record in records:
                if record.value is not None and record.details:
                    per_item[record.item_id].append(float(record.details[name]))
            item_means = [sum(v) / len(v) for v in per_item.values()]
            mean, low, high = mean_ci(item_means, bounds=self._range(column))
            for metric in metrics:
                metric.details[name] = {"mean": mean, "ci_low": low, "ci_high": high}
        return metrics
