"""Reference-based scorers over sacrebleu and rouge-score: `bleu`, `chrf`, `rouge`.

They run the same code as the project's evaluate modules (`harness/metrics/bleu.py`,
`chrf.py`, `rouge.py`): the shared cores in `harness.metrics._sacrebleu` and
`harness.metrics._rouge`, called once per batch without evaluate's per-call overhead.

bleu and chrf store a sentence score per response, with sacrebleu's statistics in
``details['stats']``; the run's figure is the corpus score of the summed statistics (as
``sacrebleu.corpus_bleu`` / ``corpus_chrf``) with a seeded bootstrap interval over items.
rouge stores the F-measure of each ROUGE type, precision and recall in details, and the
run's figure is the mean with a bootstrap interval. See docs/metrics.md.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from typing import Any, ClassVar

import numpy as np

from harness import __version__
from harness.scorers.base import Example, RunMetric, Scorer, ScoreRecord

N_BOOTSTRAP = 1000
SEED = 12345


def _references(example: Example) -> list[str]:
    return list(example.item.references)


class _CorpusScorer(Scorer):
    """A sacrebleu metric: sentence scores per response, a corpus score per run."""

    requires: ClassVar[frozenset[str]] = frozenset({"reference"})
    core: Any

    def signature(self) -> str:
        """Scorer name, sacrebleu's own signature (nrefs:var, see docs), other settings."""
        extra = [f"{k}:{v}" for k, v in sorted(self._extra_settings().items())]
        sentence = self.core.signature("var", sentence=True)
        return "|".join(
            [self.name, sentence, *extra, f"v:{self.version}", f"harness:{__version__}"]
        )

    def _extra_settings(self) -> dict[str, Any]:
        """Settings that change the number but are missing from sacrebleu's signature."""
        return {}

    def score(self, batch: Sequence[Example]) -> list[ScoreRecord]:
        refs = [_references(e) for e in batch]
        rows = self.core.stats([e.response for e in batch], refs)
        values = self.core.sentence_scores(rows)
        return [
            ScoreRecord(
                example.item.id,
                example.sample,
                self.name,
                value,
                details={"stats": row, "nrefs": len(ref) or 1},
            )
            for example, ref, row, value in zip(batch, refs, rows, values, strict=True)
        ]

    def corpus_value(self, metric: str, stats: np.ndarray) -> np.ndarray:
        if metric != self.name:
            return super().corpus_value(metric, stats)
        values: np.ndarray = self.core.values(stats)
        return values

    def aggregate(self, records: Sequence[ScoreRecord]) -> list[RunMetric]:
        """Corpus score of the summed statistics, with a 95% bootstrap interval over items.

        Samples of one item are summed into that item's statistics before resampling.
        """
        from harness.metrics._resample import corpus_interval
        from harness.metrics._sacrebleu import nrefs_label

        ids: list[str] = []
        rows: list[list[int]] = []
        nrefs: dict[str, int] = {}
        sentence: dict[str, list[float]] = defaultdict(list)
        unscored = 0
        for record in records:
            if record.metric != self.name:
                continue
            details = record.details or {}
            stats = details.get("stats")
            if record.value is None or stats is None:
                unscored += 1
                continue
            ids.append(record.item_id)
            rows.append(stats)
            nrefs[record.item_id] = int(details.get("nrefs", 1))
            sentence[record.item_id].append(record.value)
        if not rows:
            return [RunMetric(self.name, None, n=0, details={"unscored": unscored})]
        matrix = np.asarray(rows, dtype=np.int64)
        if len(sentence) < len(ids):  # several samples per item: sum them per item
            _, inverse = np.unique(np.asarray(ids), return_inverse=True)
            per_item = np.zeros((len(sentence), matrix.shape[1]), dtype=np.int64)
            np.add.at(per_item, inverse, matrix)
            matrix = per_item
        summed = matrix.sum(axis=0)
        corpus = self.core.corpus_score([int(v) for v in summed])
        low, high = corpus_interval(matrix, self.core.values, n_boot=N_BOOTSTRAP, seed=SEED)
        item_means = [sum(v) / len(v) for v in sentence.values()]
        details = {key: value for key, value in corpus.items() if key != "score"} | {
            "unscored": unscored,
            "stats": [int(v) for v in summed],
            "sacrebleu_signature": self.core.signature(nrefs_label(list(nrefs.values()))),
            "sentence_mean": sum(item_means) / len(item_means),
            "ci": f"bootstrap percentile over items, n={N_BOOTSTRAP}, seed={SEED}",
        }
        return [RunMetric(self.name, corpus["score"], low, high, n=len(matrix), details=details)]


class Bleu(_CorpusScorer):
    """sacrebleu BLEU (0-100): sentence BLEU per response, corpus BLEU per run.

    Sentence scores use effective order, as ``sacrebleu.sentence_bleu``; the corpus
    score does not, as ``sacrebleu.corpus_bleu``. `smooth_method`/`smooth_value` apply
    to both. Every reference of an item counts (multi-reference BLEU).
    """

    name = "bleu"
    corpus_metrics: ClassVar[frozenset[str]] = frozenset({"bleu"})

    def __init__(
        self,
        tokenize: str = "13a",
        smooth_method: str = "exp",
        smooth_value: float | None = None,
        lowercase: bool = False,
        max_ngram_order: int = 4,
    ) -> None:
        super().__init__(
            tokenize=tokenize,
            smooth_method=smooth_method,
            smooth_value=smooth_value,
            lowercase=lowercase,
            max_ngram_order=max_ngram_order,
        )
        from harness.metrics._sacrebleu import BleuCore

        self.core = BleuCore(
            tokenize=tokenize,
            lowercase=lowercase,
            smooth_method=smooth_method,
            smooth_value=smooth_value,
            max_ngram_order=max_ngram_order,
        )

    def _extra_settings(self) -> dict[str, Any]:
        return {"ngram": self.core.order}


class Chrf(_CorpusScorer):
    """sacrebleu chrF (0-100; chrF++ with word_order=2): per response and per corpus.

    With several references, a response keeps the statistics of its best reference.
    """

    name = "chrf"
    corpus_metrics: ClassVar[frozenset[str]] = frozenset({"chrf"})

    def __init__(
        self,
        char_order: int = 6,
        word_order: int = 0,
        beta: int = 2,
        lowercase: bool = False,
        whitespace: bool = False,
        eps_smoothing: bool = False,
    ) -> None:
        super().__init__(
            char_order=char_order,
            word_order=word_order,
            beta=beta,
            lowercase=lowercase,
            whitespace=whitespace,
            eps_smoothing=eps_smoothing,
        )
        from harness.metrics._sacrebleu import ChrfCore

        self.core = ChrfCore(
            char_order=char_order,
            word_order=word_order,
            beta=beta,
            lowercase=lowercase,
            whitespace=whitespace,
            eps_smoothing=eps_smoothing,
        )

    def _extra_settings(self) -> dict[str, Any]:
        return {"beta": self.core.beta}


class Rouge(Scorer):
    """ROUGE F-measures (0-1) per response, one record per type; P and R in details.

    Keeps non-ASCII text (`tokenizer='unicode'`, equal to rouge-score's tokens on ASCII),
    splits sentences for rougeLsum without nltk data, and takes the best reference per
    type (max F). The run's figure per type is the mean with a bootstrap interval.
    """

    name = "rouge"
    requires: ClassVar[frozenset[str]] = frozenset({"reference"})

    def __init__(
        self,
        rouge_types: Sequence[str] | str = ("rouge1", "rouge2", "rougeL", "rougeLsum"),
        use_stemmer: bool = False,
        tokenizer: str = "unicode",
        split_sentences: bool = True,
    ) -> None:
        from harness.metrics._rouge import RougeCore

        self.core = RougeCore(
            rouge_types=rouge_types,
            use_stemmer=use_stemmer,
            tokenizer=tokenizer,
            split_sentences=split_sentences,
        )
        super().__init__(
            rouge_types=",".join(self.core.rouge_types),
            use_stemmer=self.core.use_stemmer,
            tokenizer=tokenizer,
            split_sentences=self.core.split,
        )

    def signature(self) -> str:
        return "|".join(
            [self.name, self.core.signature(), f"v:{self.version}", f"harness:{__version__}"]
        )

    def score(self, batch: Sequence[Example]) -> list[ScoreRecord]:
        records = []
        for example in batch:
            refs = _references(example)
            scores = self.core.score(example.response, refs)
            for rouge_type, s in scores.items():
                details: dict[str, Any] = {"precision": s.precision, "recall": s.recall}
                if len(refs) > 1:
                    details["best_reference"] = s.reference
                records.append(
                    ScoreRecord(
                        example.item.id, example.sample, rouge_type, s.fmeasure, details=details
                    )
                )
        return records

    def aggregate(self, records: Sequence[ScoreRecord]) -> list[RunMetric]:
        """Per type: mean F over items (samples averaged first) with a 95% bootstrap
        interval (the same resamples for every type); mean precision and recall in details."""
        from harness.metrics._resample import mean_interval

        grouped: dict[str, dict[str, list[tuple[float, float, float]]]] = defaultdict(
            lambda: defaultdict(list)
        )
        unscored: dict[str, int] = defaultdict(int)
        for record in records:
            if record.value is None:
                unscored[record.metric] += 1
                continue
            details = record.details or {}
            grouped[record.metric][record.item_id].append(
                (record.value, details.get("precision", np.nan), details.get("recall", np.nan))
            )
        # Types scored on the same items share one bootstrap over a (items, types) matrix.
        by_items: dict[tuple[str, ...], list[str]] = defaultdict(list)
        for metric, items in grouped.items():
            by_items[tuple(sorted(items))].append(metric)
        results: dict[str, RunMetric] = {}
        for ids, types in by_items.items():
            cube = np.array([[_mean_row(grouped[t][i]) for t in types] for i in ids])
            means = cube.mean(axis=0)  # (types, 3): F, P, R
            low, high = mean_interval(cube[:, :, 0], n_boot=N_BOOTSTRAP, seed=SEED)
            for k, metric in enumerate(types):
                details = {
                    "precision": float(means[k, 1]),
                    "recall": float(means[k, 2]),
                    "unscored": unscored[metric],
                    "ci": f"bootstrap percentile over items, n={N_BOOTSTRAP}, seed={SEED}",
                }
                results[metric] = RunMetric(
                    metric, float(means[k, 0]), float(low[k]), float(high[k]), len(ids), details
                )
        for metric in set(unscored) - set(results):
            results[metric] = RunMetric(metric, None, n=0, details={"unscored": unscored[metric]})
        return [results[m] for m in sorted(results)]


def _mean_row(rows: list[tuple[float, float, float]]) -> tuple[float, ...]:
    """Mean (F, P, R) of an item's samples."""
    if len(rows) == 1:
        return rows[0]
    return tuple(sum(column) / len(rows) for column in zip(*rows, strict=True))


__all__ = ["Bleu", "Chrf", "Rouge"]
