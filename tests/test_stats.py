"""Run-level statistics agree with scipy and statsmodels."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats as sps
from statsmodels.stats.proportion import proportion_confint

from harness.stats import mean_ci, percentile, wilson_interval


def test_t_interval_matches_scipy() -> None:
    values = np.random.default_rng(0).normal(0.6, 0.2, size=57).tolist()
    mean, low, high = mean_ci(values)
    expected = sps.t.interval(0.95, len(values) - 1, loc=np.mean(values), scale=sps.sem(values))
    assert mean == pytest.approx(np.mean(values))
    assert (low, high) == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize(("successes", "n"), [(0, 42), (3, 10), (37, 40), (500, 1000)])
def test_wilson_matches_statsmodels(successes: int, n: int) -> None:
    expected = proportion_confint(successes, n, alpha=0.05, method="wilson")
    assert wilson_interval(successes, n) == pytest.approx(expected, rel=1e-9)
    values = [1.0] * successes + [0.0] * (n - successes)
    assert mean_ci(values)[1:] == pytest.approx(expected, rel=1e-9)


def test_edge_cases() -> None:
    assert mean_ci([]) == (None, None, None)
    assert mean_ci([0.3]) == (0.3, None, None)


def test_percentile_matches_numpy() -> None:
    values = np.random.default_rng(1).exponential(100, size=101).tolist()
    for q in (0, 50, 95, 100):
        assert percentile(values, q) == pytest.approx(np.percentile(values, q))
    assert percentile([], 50) is None
