"""The `hallucination` label of each response and the run's hallucination rate.

Each hallucination scorer has one primary metric. A response is labelled
`hallucination` when that metric crosses the scorer's threshold (at or above it for a
score where higher means less consistent, below it for a score where higher means better
supported), else `ok`; an unscored response has no label. The run's
`hallucination_rate` is the mean over items of the share of an item's scored responses
so labelled (with one response per item: the share of items), with a Wilson 95% interval
when every item is all-or-nothing and Student's t otherwise (`harness.stats.mean_ci`).
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Sequence
from typing import ClassVar

from harness.scorers.base import RunMetric, Scorer, ScoreRecord
from harness.stats import mean_ci

HALLUCINATION = "hallucination"
OK = "ok"
RATE = "hallucination_rate"


def is_hallucination(value: float, threshold: float, *, higher_is_worse: bool) -> bool:
    """Whether a primary-metric value crosses the threshold."""
    return value >= threshold if higher_is_worse else value < threshold


def label_for(value: float | None, threshold: float, *, higher_is_worse: bool) -> str | None:
    """`hallucination`, `ok`, or None for an unscored (or non-finite) response."""
    if value is None or not math.isfinite(value):
        return None
    return (
        HALLUCINATION if is_hallucination(value, threshold, higher_is_worse=higher_is_worse) else OK
    )


def hallucination_rate(
    records: Sequence[ScoreRecord], metric: str, threshold: float, rule: str
) -> RunMetric:
    """Share of responses labelled `hallucination` among the scored records of `metric`."""
    per_item: dict[str, list[float]] = defaultdict(list)
    unscored = 0
    for record in records:
        if record.metric != metric:
            continue
        if record.value is None or record.label is None:
            unscored += 1
            continue
        per_item[record.item_id].append(1.0 if record.label == HALLUCINATION else 0.0)
    item_shares = [sum(v) / len(v) for v in per_item.values()]
    flagged = sum(1 for values in per_item.values() for v in values if v)
    mean, low, high = mean_ci(item_shares, bounds=(0.0, 1.0))
    details = {
        "threshold": threshold,
        "rule": rule,
        "hallucinated_responses": flagged,
        "scored_responses": sum(len(v) for v in per_item.values()),
        "unscored": unscored,
        "unit": "item",
    }
    return RunMetric(RATE, mean, low, high, n=len(item_shares), details=details)


class HallucinationScorer(Scorer):
    """A scorer whose primary metric yields a `hallucination` label and a run rate."""

    primary: ClassVar[str] = ""
    """The metric the label and the rate come from."""
    higher_is_worse: ClassVar[bool] = True
    threshold: float = 0.5

    def label(self, value: float | None) -> str | None:
        return label_for(value, self.threshold, higher_is_worse=self.higher_is_worse)

    def rule(self) -> str:
        """The labelling rule, in words, e.g. 'selfcheck >= 0.5'."""
        operator = ">=" if self.higher_is_worse else "<"
        return f"{self.primary} {operator} {self.threshold:g}"

    def aggregate(self, records: Sequence[ScoreRecord]) -> list[RunMetric]:
        """The mean of each metric with its 95% CI, and the hallucination rate."""
        metrics = super().aggregate(records)
        metrics.append(hallucination_rate(records, self.primary, self.threshold, self.rule()))
        return metrics


__all__ = [
    "HALLUCINATION",
    "OK",
    "RATE",
    "HallucinationScorer",
    "hallucination_rate",
    "is_hallucination",
    "label_for",
]
