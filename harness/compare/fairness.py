"""Fairness figures across the slices of one run: the largest gap and the min/max rate.

The largest gap (highest minus lowest slice value) comes with two different answers to two
questions. Its stratified-bootstrap interval sizes the gap, but leans upward: the largest of
several noisy differences is biased up, so the interval never stands for "no gap". Whether
the slices differ at all is answered by a permutation test: slice labels are shuffled
across the items (slice sizes kept) and the gap recomputed; the p-value is the share of
shuffles with a gap at least as large as the observed one. It is exact in the limit of many
shuffles and agrees with `scipy.stats.permutation_test` (independent samples, "greater").
Large runs get fewer shuffles (`shuffle_count`): the test stays valid, only its smallest
possible p-value grows (200 shuffles at 100k items: p >= 0.005).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from harness.compare.paired import CHUNK_ELEMENTS, resampled_p_value
from harness.stats import percentile_interval

FOUR_FIFTHS = 0.8
SHUFFLE_BUDGET = 20_000_000
"""Item labels shuffled per test: 1,000 shuffles up to 20k items, then fewer."""
MIN_SHUFFLES = 200
MATMUL_GROUPS = 12
"""Up to this many slices, group sums are matrix products; above, weighted bincounts."""

GroupValue = Callable[[np.ndarray, int], np.ndarray]
"""Column sums of a group's items (B, c) and its item count -> the group's value (B,)."""


def gap_figures(
    matrix: np.ndarray,
    names: Sequence[str],
    *,
    binary: bool,
    lower_is_better: bool,
    confidence: float,
    p_value: float | None,
    shuffles: int,
) -> tuple[np.ndarray, dict[str, Any]]:
    """The gap per row of `matrix` and the figures a report shows.

    `matrix` is (resamples + 1, groups): bootstrap rows, then the observed row. The worst
    and best slice follow the metric's direction; the min/max rate (pass/fail metrics only)
    compares pass rates, so for a lower-is-better metric the rates are 1 - value.
    """
    observed = matrix[-1]
    with np.errstate(invalid="ignore"):
        gap = np.nanmax(matrix, axis=1) - np.nanmin(matrix, axis=1)
    low, high = percentile_interval(gap[:-1], confidence)
    worst = int(np.nanargmax(observed) if lower_is_better else np.nanargmin(observed))
    best = int(np.nanargmin(observed) if lower_is_better else np.nanargmax(observed))
    figures: dict[str, Any] = {
        "values": {name: float(v) for name, v in zip(names, observed, strict=True)},
        "worst": names[worst],
        "best": names[best],
        "gap": {
            "value": float(gap[-1]),
            "ci_low": low,
            "ci_high": high,
            "p_value": p_value,
            "shuffles": shuffles,
        },
        "ratio": None,
    }
    if binary:
        rates = 1 - matrix if lower_is_better else matrix
        with np.errstate(invalid="ignore", divide="ignore"):
            ratio = np.nanmin(rates, axis=1) / np.nanmax(rates, axis=1)
        r_low, r_high = percentile_interval(ratio[:-1], confidence)
        value = float(ratio[-1]) if np.isfinite(ratio[-1]) else None
        figures["ratio"] = {
            "value": value,
            "ci_low": r_low,
            "ci_high": r_high,
            "below_four_fifths": value is not None and value < FOUR_FIFTHS,
        }
    return gap, figures


def shuffle_count(requested: int, n_items: int) -> int:
    """Shuffles for a test over `n_items` items: as requested, but at most
    `SHUFFLE_BUDGET` item labels in all (never under `MIN_SHUFFLES`). Fewer shuffles keep
    the test valid; only the smallest p it can give, 1 / (shuffles + 1), grows."""
    return min(requested, max(MIN_SHUFFLES, SHUFFLE_BUDGET // max(1, n_items)))


def gap_p_values(
    columns: np.ndarray,
    groups: np.ndarray,
    metrics: Sequence[tuple[slice, GroupValue]],
    shuffles: int,
    seed: Any,
) -> list[float | None]:
    """Per metric, the p-value of "no slice differs": the share of label shuffles whose
    largest gap is at least the observed one.

    `columns` (n, c) hold every metric's per-item columns side by side (a value, or a
    corpus metric's statistics); each metric reads `columns[:, span]` and values a group
    from its column sums. `groups` (n,) is each item's slice as 0..k-1, every slice
    non-empty. All metrics share the shuffles. A p-value is (1 + shuffles at least as
    large) / (1 + shuffles), as scipy gives for a randomized test (float noise forgiven);
    None with fewer than two slices or no shuffles.
    """
    n = columns.shape[0]
    sizes = np.bincount(groups) if n else np.zeros(0, dtype=int)
    if sizes.size < 2 or shuffles < 1:
        return [None] * len(metrics)
    observed = _gaps(_group_sums(columns, groups[None, :], sizes.size), sizes, metrics)[0]
    rng = np.random.default_rng(seed)
    rows = max(1, CHUNK_ELEMENTS // n)
    null = np.empty((shuffles, len(metrics)))
    labels = groups.astype(np.int8 if sizes.size <= 127 else np.int64)
    for start in range(0, shuffles, rows):
        size = min(rows, shuffles - start)
        shuffled = rng.permuted(np.broadcast_to(labels, (size, n)), axis=1)
        null[start : start + size] = _gaps(
            _group_sums(columns, shuffled, sizes.size), sizes, metrics
        )
    return [resampled_p_value(null[:, j], float(observed[j])) for j in range(len(metrics))]


def _group_sums(columns: np.ndarray, labels: np.ndarray, k: int) -> np.ndarray:
    """Per row of `labels` (B, n), each group's column sums: (B, k, c)."""
    b, n = labels.shape
    if k <= MATMUL_GROUPS:  # one 0/1 membership matrix per group: BLAS does the sums
        sums = np.empty((b, k, columns.shape[1]))
        for g in range(k):
            sums[:, g, :] = (labels == g).astype(columns.dtype) @ columns
        return sums
    flat = (labels.astype(np.int64) + k * np.arange(b)[:, None]).ravel()
    out = np.empty((b * k, columns.shape[1]))
    for j in range(columns.shape[1]):
        weights = np.broadcast_to(columns[:, j], (b, n)).ravel()
        out[:, j] = np.bincount(flat, weights=weights, minlength=b * k)
    return out.reshape(b, k, -1)


def _gaps(
    sums: np.ndarray, sizes: np.ndarray, metrics: Sequence[tuple[slice, GroupValue]]
) -> np.ndarray:
    """(B, metrics): each metric's highest minus lowest group value."""
    out = np.empty((sums.shape[0], len(metrics)))
    for j, (span, value) in enumerate(metrics):
        values = np.column_stack(
            [value(sums[:, g, span], int(sizes[g])) for g in range(sizes.size)]
        )
        with np.errstate(invalid="ignore"):
            out[:, j] = np.nanmax(values, axis=1) - np.nanmin(values, axis=1)
    return out
