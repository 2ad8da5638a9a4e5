"""Vectorised paired resampling: bootstrap sums and approximate-randomization sums.

Both work on a matrix of per-item columns (values, or sufficient statistics of corpus
metrics) so that one draw of resampling indices serves every metric at once. The random
streams are those of sacrebleu's paired tests (`numpy.random.default_rng(seed)`, then
`rng.choice(n, (resamples, n))` for the bootstrap and `rng.integers(2, (trials, n),
dtype=bool)` for randomization), drawn in chunks that reproduce the single draw exactly,
so the same seed gives sacrebleu's resamples while memory stays bounded.
"""

from __future__ import annotations

from typing import Any

import numpy as np

CHUNK_ELEMENTS = 4_000_000
"""Resampling indices drawn per chunk (bounds memory at a few tens of MB)."""


def bootstrap_sums(columns: np.ndarray, resamples: int, seed: Any) -> np.ndarray:
    """Column sums of `columns` (n, k) over bootstrap resamples of its rows: (resamples, k).

    Row r is `sum_i count[r, i] * columns[i]`, where `count[r]` counts how often each item
    was drawn in resample r (n draws with replacement).
    """
    n, k = columns.shape
    out = np.empty((resamples, k))
    if n == 0:
        out.fill(0.0)
        return out
    rng = np.random.default_rng(seed)
    rows = max(1, CHUNK_ELEMENTS // n)
    counts = np.empty((min(rows, resamples), n))
    for start in range(0, resamples, rows):
        size = min(rows, resamples - start)
        index = rng.choice(n, size=(size, n), replace=True)
        for r in range(size):  # row by row: each count vector stays in cache
            counts[r] = np.bincount(index[r], minlength=n)
        out[start : start + size] = counts[:size] @ columns
    return out


def randomization_sums(differences: np.ndarray, trials: int, seed: Any) -> np.ndarray:
    """Sums of `differences` (n, k) over the items swapped in each randomization trial.

    Each trial swaps every item's pair of outputs with probability 1/2. With
    `differences = baseline - candidate` and `P` the returned (trials, k) sums, the
    shuffled systems are `candidate_total + P` and `baseline_total - P`.
    """
    n, k = differences.shape
    out = np.empty((trials, k))
    if n == 0:
        out.fill(0.0)
        return out
    rng = np.random.default_rng(seed)
    # Boolean draws come from 32-bit words: whole multiples of 32 rows keep the stream intact.
    rows = max(32, (CHUNK_ELEMENTS // n) // 32 * 32)
    for start in range(0, trials, rows):
        size = min(rows, trials - start)
        swap = rng.integers(2, size=(size, n), dtype=bool)
        out[start : start + size] = swap.astype(float) @ differences
    return out


def resampled_p_value(null: np.ndarray, observed: float) -> float:
    """(count(null >= observed) + 1) / (len(null) + 1), with float noise forgiven.

    Ties count against the difference (as in Noreen's approximate randomization), so a
    system compared with itself gets p = 1, never a spuriously small value. Resamples
    where the metric is undefined (NaN) are left out; an undefined observation gives 1.
    """
    null = null[np.isfinite(null)]
    if not np.isfinite(observed):
        return 1.0
    tolerance = 1e-9 * max(1.0, abs(observed))
    count = int(np.count_nonzero(null >= observed - tolerance))
    return (count + 1) / (null.size + 1)


def bootstrap_p_value(base: np.ndarray, cand: np.ndarray, observed: float) -> float:
    """sacrebleu's paired-bootstrap p-value: |resampled differences|, centred, vs |observed|."""
    spread = np.abs(cand - base)
    spread = spread[np.isfinite(spread)]
    if spread.size == 0:
        return 1.0
    return resampled_p_value(spread - spread.mean(), abs(observed))
