"""Seeded, vectorised bootstrap over items for corpus metrics and means.

A resample draws n items with replacement; numpy draws the indices, counts how often
each item was drawn, and one matrix product sums the statistics of every resample, in
chunks that keep memory bounded for large n.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import numpy as np

N_BOOTSTRAP = 1000
SEED = 12345
_CHUNK_CELLS = 4_000_000


def resample_counts(n: int, n_boot: int, seed: int) -> Iterator[np.ndarray]:
    """Chunks of (b, n) counts: how often each of n items is drawn in each resample."""
    rng = np.random.default_rng(seed)
    chunk = max(1, min(n_boot, _CHUNK_CELLS // max(n, 1)))
    done = 0
    while done < n_boot:
        b = min(chunk, n_boot - done)
        draws = rng.integers(0, n, size=(b, n), dtype=np.int32)
        counts = np.empty((b, n))
        for row, drawn in enumerate(draws):
            counts[row] = np.bincount(drawn, minlength=n)
        yield counts
        done += b


def resampled_sums(stats: np.ndarray, n_boot: int = N_BOOTSTRAP, seed: int = SEED) -> np.ndarray:
    """(n, d) per-item statistics -> (n_boot, d) sums over bootstrap resamples of items."""
    matrix = np.asarray(stats, dtype=np.float64)
    parts = [counts @ matrix for counts in resample_counts(len(matrix), n_boot, seed)]
    return np.concatenate(parts, axis=0)


def percentile_interval(
    values: np.ndarray, confidence: float = 0.95
) -> tuple[np.ndarray, np.ndarray]:
    """Lower and upper percentiles (linear interpolation) along axis 0."""
    tail = 100 * (1 - confidence) / 2
    low, high = np.percentile(values, [tail, 100 - tail], axis=0)
    return low, high


def corpus_interval(
    stats: np.ndarray,
    value_fn: Callable[[np.ndarray], np.ndarray],
    *,
    n_boot: int = N_BOOTSTRAP,
    seed: int = SEED,
    confidence: float = 0.95,
) -> tuple[float, float]:
    """Percentile bootstrap interval of a corpus value computed from summed statistics."""
    values = value_fn(resampled_sums(stats, n_boot, seed))
    low, high = percentile_interval(values, confidence)
    return float(low), float(high)


def mean_interval(
    values: np.ndarray,
    *,
    n_boot: int = N_BOOTSTRAP,
    seed: int = SEED,
    confidence: float = 0.95,
) -> tuple[np.ndarray, np.ndarray]:
    """Percentile bootstrap interval of column means of (n,) or (n, m) values.

    The method of rouge-score's `BootstrapAggregator`: resample items, take the mean of
    each resample, report the percentiles.
    """
    matrix = np.asarray(values, dtype=np.float64)
    column = matrix.ndim == 1
    matrix = matrix.reshape(len(matrix), -1)
    means = resampled_sums(matrix, n_boot, seed) / len(matrix)
    low, high = percentile_interval(means, confidence)
    if column:
        return low[:1], high[:1]
    return low, high
