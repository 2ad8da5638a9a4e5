"""The scorer contract.

A scorer loads whatever it needs in `__init__`, scores whole batches in `score`
(also reachable as `__call__`), and declares what it needs from the dataset. Every
record it writes carries its `signature`: the settings and versions that made the
number, so two numbers are only compared when they mean the same thing.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np

from harness import __version__
from harness.item import Item
from harness.stats import mean_ci


@dataclass(frozen=True, slots=True)
class Example:
    """One response to score, with its item and every sample of that item."""

    item: Item
    sample: int
    response: str
    samples: tuple[str, ...] = ()
    """The item's answered responses, in sample order (failed ones left out)."""
    sample_numbers: tuple[int, ...] = ()
    """The sample number of each entry of `samples` (empty: 0, 1, 2, ...)."""


@dataclass(slots=True)
class ScoreRecord:
    """One number about one response. `value=None` means unscored (never 0)."""

    item_id: str
    sample: int
    metric: str
    value: float | None
    label: str | None = None
    details: dict[str, Any] | None = None


@dataclass(slots=True)
class RunMetric:
    """One run-level figure, with its 95% interval where one applies."""

    metric: str
    value: float | None
    ci_low: float | None = None
    ci_high: float | None = None
    n: int = 0
    details: dict[str, Any] = field(default_factory=dict)


class Scorer(ABC):
    """Base class of every scorer. Subclasses set `name` and implement `score`."""

    name: ClassVar[str] = ""
    version: ClassVar[str] = "1"
    requires: ClassVar[frozenset[str]] = frozenset()
    """Item fields the scorer cannot work without: any of reference, context."""
    per_item: ClassVar[bool] = False
    """True: scored once per item (sample 0), seeing every sample in `Example.samples`."""
    min_samples: int = 1
    """Responses per item the scorer needs (`--samples`); checked when a run starts."""
    lower_is_better: ClassVar[frozenset[str]] = frozenset()
    """Metrics where a smaller value is better (toxicity, error rates); compare and gate
    read this to orient differences."""
    value_range: ClassVar[dict[str, tuple[float, float]]] = {}
    """Metrics whose values lie in a fixed range (shares, probabilities): their intervals are
    cut to it. `metric_range` may answer per instance (a rubric's scale)."""
    corpus_metrics: ClassVar[frozenset[str]] = frozenset()
    """Metrics whose run-level value comes from summed sufficient statistics (BLEU, chrF),
    never from a mean of sentence scores. Each record of such a metric keeps its statistics
    as a list of numbers in `details['stats']`; `corpus_value` turns sums into values."""

    def __init__(self, **options: Any) -> None:
        self.options = options

    def settings(self) -> dict[str, Any]:
        """Every setting that changes the number; part of the signature."""
        return dict(self.options)

    def signature(self) -> str:
        """A compact, readable string naming the scorer, its settings and versions."""
        parts = [self.name, *(f"{k}:{v}" for k, v in sorted(self.settings().items()))]
        parts += [f"v:{self.version}", f"harness:{__version__}"]
        return "|".join(parts)

    @abstractmethod
    def score(self, batch: Sequence[Example]) -> list[ScoreRecord]:
        """Score a batch; may return several records per example (one per metric)."""

    def instead_of(self, need: str) -> str | None:
        """An option that lets this scorer do without the item field `need`, if any."""
        return None

    def metric_range(self, metric: str) -> tuple[float, float] | None:
        """The range every value of `metric` lies in, or None where it is open."""
        return self.value_range.get(metric)

    def corpus_value(self, metric: str, stats: np.ndarray) -> np.ndarray:
        """Corpus values from summed statistics: (k, d) sums -> (k,) values.

        Vectorised over k so that bootstrap resamples cost one call. Only for metrics in
        `corpus_metrics`.
        """
        raise ValueError(f"scorer '{self.name}' has no corpus metric '{metric}'")

    def __call__(self, batch: Sequence[Example]) -> list[ScoreRecord]:
        return self.score(batch)

    def aggregate(self, records: Sequence[ScoreRecord]) -> list[RunMetric]:
        """Run-level figures: by default, per metric, the mean over items with a 95% CI.

        An item with several samples counts once, at the mean of its samples.
        Unscored records are left out and counted in `details['unscored']`.
        """
        per_metric: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
        unscored: dict[str, int] = defaultdict(int)
        for record in records:
            if record.value is None:
                unscored[record.metric] += 1
            else:
                per_metric[record.metric][record.item_id].append(record.value)
        return [
            mean_metric(
                metric,
                [sum(v) / len(v) for v in per_metric[metric].values()],
                unscored[metric],
                self.metric_range(metric),
            )
            for metric in sorted(set(per_metric) | set(unscored))
        ]


def mean_metric(
    metric: str,
    item_means: Sequence[float],
    unscored: int = 0,
    value_range: tuple[float, float] | None = None,
) -> RunMetric:
    """The default run-level figure: the mean over items with its 95% CI (cut to
    `value_range` where the metric has one)."""
    mean, low, high = mean_ci(item_means, bounds=value_range)
    return RunMetric(metric, mean, low, high, n=len(item_means), details={"unscored": unscored})
