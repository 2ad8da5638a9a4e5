"""Resample paired metrics together: each group of metrics scored on the same items shares
one bootstrap draw and one randomization draw, whatever the number of metrics."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from harness.compare.align import PairedMetric
from harness.compare.paired import bootstrap_sums, randomization_sums


@dataclass
class Resampled:
    """Observed values of both runs and their values in every resample."""

    metric: PairedMetric
    base_value: float
    cand_value: float
    base_boot: np.ndarray
    """(resamples,) baseline value in each bootstrap resample (same items as `cand_boot`)."""
    cand_boot: np.ndarray
    randomized: np.ndarray | None
    """(trials,) |difference| of the two shuffled systems in each randomization trial."""

    @property
    def difference(self) -> float:
        return self.cand_value - self.base_value


def run_columns(metric: PairedMetric) -> tuple[np.ndarray, np.ndarray]:
    """Both runs' per-item columns: values (n, 1), or a corpus metric's statistics."""
    if metric.corpus is not None and metric.base_stats is not None:
        assert metric.cand_stats is not None
        return metric.base_stats, metric.cand_stats
    return metric.base[:, None], metric.cand[:, None]


def metric_value(metric: PairedMetric, sums: np.ndarray, n: int) -> np.ndarray:
    """Values from column sums (k, d): the mean, or the corpus value from summed statistics."""
    if metric.corpus is not None:
        return np.asarray(metric.corpus.corpus_value(metric.metric, sums), dtype=float)
    return sums[:, 0] / n if n else np.full(sums.shape[0], np.nan)


def resample_metrics(
    metrics: Sequence[PairedMetric],
    resamples: int,
    seed: Any,
    trials: int = 0,
) -> list[Resampled]:
    """Bootstrap (and, with `trials`, approximate randomization) for every metric.

    Metrics are grouped by the items they were scored on; each group draws once from
    `numpy.random.default_rng(seed)`, as sacrebleu's paired tests do.
    """
    groups: dict[bytes, list[int]] = {}
    for i, metric in enumerate(metrics):
        groups.setdefault(metric.positions.tobytes(), []).append(i)
    results: list[Resampled | None] = [None] * len(metrics)
    for members in groups.values():
        n = metrics[members[0]].positions.size
        spans, base_parts, cand_parts = [], [], []
        offset = 0
        for i in members:
            base, cand = run_columns(metrics[i])
            spans.append((offset, offset + base.shape[1]))
            offset += base.shape[1]
            base_parts.append(base)
            cand_parts.append(cand)
        base_matrix = np.hstack(base_parts)
        cand_matrix = np.hstack(cand_parts)
        both = np.hstack([base_matrix, cand_matrix])
        sums = bootstrap_sums(both, resamples, seed)
        base_total, cand_total = base_matrix.sum(axis=0), cand_matrix.sum(axis=0)
        swapped = randomization_sums(base_matrix - cand_matrix, trials, seed) if trials else None
        for i, (start, stop) in zip(members, spans, strict=True):
            metric = metrics[i]
            base_value = float(metric_value(metric, base_total[None, start:stop], n)[0])
            cand_value = float(metric_value(metric, cand_total[None, start:stop], n)[0])
            base_boot = metric_value(metric, sums[:, start:stop], n)
            cand_boot = metric_value(metric, sums[:, offset + start : offset + stop], n)
            randomized = None
            if swapped is not None:
                shift = swapped[:, start:stop]
                a = metric_value(metric, cand_total[start:stop] + shift, n)
                b = metric_value(metric, base_total[start:stop] - shift, n)
                randomized = np.abs(a - b)
            results[i] = Resampled(metric, base_value, cand_value, base_boot, cand_boot, randomized)
    return [r for r in results if r is not None]
