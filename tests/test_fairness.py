"""The permutation test of "no slice differs" against scipy, and its error rate under H0."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pytest
import scipy.stats

from harness.compare.fairness import gap_figures, gap_p_values, shuffle_count


def mean(sums: np.ndarray, n: int) -> np.ndarray:
    return sums[:, 0] / n


def gap_permutation_p(
    columns: np.ndarray, groups: np.ndarray, value: Callable[[np.ndarray, int], np.ndarray],
    shuffles: int, seed: Any,
) -> float | None:  # fmt: skip
    """One metric's p-value, over all of `columns`."""
    (p,) = gap_p_values(columns, groups, [(slice(0, columns.shape[1]), value)], shuffles, seed)
    return p


def ratio(sums: np.ndarray, n: int) -> np.ndarray:
    """A corpus-style value: summed numerators over summed denominators."""
    return sums[:, 0] / sums[:, 1]


def labels_of(samples: Sequence[np.ndarray]) -> np.ndarray:
    return np.repeat(np.arange(len(samples)), [len(s) for s in samples])


def largest_gap_of_means(*samples: np.ndarray, axis: int = -1) -> np.ndarray:
    means = np.stack([np.mean(s, axis=axis) for s in samples])
    return np.asarray(means.max(axis=0) - means.min(axis=0))


def test_mean_gap_p_value_matches_scipy_exact_permutation_test() -> None:
    rng = np.random.default_rng(11)
    samples = [rng.normal(0.0, 1, 4), rng.normal(0.8, 1, 3), rng.normal(0.3, 1, 3)]
    exact = scipy.stats.permutation_test(
        samples, largest_gap_of_means, permutation_type="independent",
        alternative="greater", n_resamples=np.inf, vectorized=True,
    ).pvalue  # fmt: skip
    ours = gap_permutation_p(np.concatenate(samples)[:, None], labels_of(samples), mean, 20000, 1)
    assert ours == pytest.approx(exact, abs=0.015)


def test_corpus_style_value_matches_scipy() -> None:
    """Groups valued from summed statistics (as BLEU is) are shuffled item by item."""
    rng = np.random.default_rng(5)
    samples = [
        np.column_stack([rng.integers(0, 6, n), rng.integers(6, 10, n)]).astype(float)
        for n in (4, 4, 3)
    ]
    samples[1][:, 0] += 2  # one slice matches more

    def gap_of_ratios(*groups: np.ndarray) -> float:
        values = [g[:, 0].sum() / g[:, 1].sum() for g in groups]
        return max(values) - min(values)

    # scipy permutes item indices; each sample holds the item's row number
    rows = np.concatenate(samples)
    index = np.split(np.arange(len(rows)), np.cumsum([len(s) for s in samples])[:-1])
    exact = scipy.stats.permutation_test(
        index, lambda *g: gap_of_ratios(*(rows[i.astype(int)] for i in g)),
        permutation_type="independent", alternative="greater", n_resamples=np.inf,
        vectorized=False,
    ).pvalue  # fmt: skip
    ours = gap_permutation_p(rows, labels_of(samples), ratio, 20000, 2)
    assert exact < 0.2
    assert ours == pytest.approx(exact, abs=0.015)


def test_null_rejection_rate_is_the_nominal_level() -> None:
    """Under H0 (one distribution for every slice) p < 0.05 about 5% of the time, while an
    interval of the largest gap always lies above 0: it cannot serve as the test."""
    rng = np.random.default_rng(2026)
    rejected = 0
    datasets = 300
    groups = np.repeat(np.arange(3), 20)
    for d in range(datasets):
        values = rng.binomial(1, 0.6, 60).astype(float)
        p = gap_permutation_p(values[:, None], groups, mean, 199, d)
        assert p is not None and 0 < p <= 1
        rejected += p < 0.05
    assert 0.02 <= rejected / datasets <= 0.09


def test_no_gap_gives_p_one_and_too_few_slices_none() -> None:
    values = np.array([[1.0], [0.0], [1.0], [0.0]])
    assert gap_permutation_p(values, np.array([0, 0, 1, 1]), mean, 100, 0) == 1.0
    assert gap_permutation_p(values, np.zeros(4, dtype=int), mean, 100, 0) is None
    assert gap_permutation_p(values, np.array([0, 0, 1, 1]), mean, 0, 0) is None


def test_same_seed_same_p() -> None:
    rng = np.random.default_rng(3)
    values = rng.random((50, 1))
    groups = np.arange(50) % 4
    first = gap_permutation_p(values, groups, mean, 300, [9, 0])
    assert first == gap_permutation_p(values, groups, mean, 300, [9, 0])


def test_gap_figures_follow_the_metric_direction() -> None:
    observed = np.array([[0.9, 0.5, 0.7]])
    boot = np.array([[0.8, 0.6, 0.7], [0.95, 0.4, 0.6]])
    matrix = np.vstack([boot, observed])
    _, higher = gap_figures(matrix, ["a", "b", "c"], binary=True, lower_is_better=False,
                            confidence=0.95, p_value=0.01, shuffles=99)  # fmt: skip
    assert (higher["worst"], higher["best"]) == ("b", "a")
    assert higher["gap"]["value"] == pytest.approx(0.4) and higher["gap"]["p_value"] == 0.01
    assert higher["ratio"]["value"] == pytest.approx(0.5 / 0.9)
    assert higher["ratio"]["below_four_fifths"]
    _, lower = gap_figures(matrix, ["a", "b", "c"], binary=True, lower_is_better=True,
                           confidence=0.95, p_value=None, shuffles=0)  # fmt: skip
    assert (lower["worst"], lower["best"]) == ("a", "b")
    # pass rates of a lower-is-better 0/1 metric are 1 - value
    assert lower["ratio"]["value"] == pytest.approx(0.1 / 0.5)


def test_metrics_share_shuffles_yet_keep_their_own_p() -> None:
    """Two metrics side by side give the p-values each gets alone (same shuffles)."""
    rng = np.random.default_rng(8)
    groups = np.arange(40) % 2
    flat = rng.random(40)
    shifted = flat + 0.5 * groups
    both = gap_p_values(np.column_stack([flat, shifted]), groups,
                        [(slice(0, 1), mean), (slice(1, 2), mean)], 500, 4)  # fmt: skip
    assert both == [gap_permutation_p(flat[:, None], groups, mean, 500, 4),
                    gap_permutation_p(shifted[:, None], groups, mean, 500, 4)]  # fmt: skip
    assert both[1] is not None and both[1] < 0.01 < (both[0] or 0)


def test_many_slices_sum_by_bincount_like_few() -> None:
    """Above MATMUL_GROUPS slices the sums take another path: same p against scipy."""
    rng = np.random.default_rng(21)
    samples = [rng.normal(0.15 * (g % 3), 1, 6) for g in range(14)]
    scipy_p = scipy.stats.permutation_test(
        samples, largest_gap_of_means, permutation_type="independent",
        alternative="greater", n_resamples=20000, vectorized=True, rng=3,
    ).pvalue  # fmt: skip
    ours = gap_permutation_p(np.concatenate(samples)[:, None], labels_of(samples), mean, 20000, 1)
    assert ours == pytest.approx(scipy_p, abs=0.02)


def test_large_runs_get_fewer_shuffles_never_under_the_floor() -> None:
    assert shuffle_count(1000, 5_000) == 1000
    assert shuffle_count(1000, 100_000) == 200
    assert shuffle_count(1000, 10_000_000) == 200
    assert shuffle_count(50, 100_000) == 50
