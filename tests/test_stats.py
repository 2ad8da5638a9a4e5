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


@pytest.mark.parametrize(
    ("successes", "n"), [(0, 42), (0, 3), (3, 10), (37, 40), (12, 12), (500, 1000)]
)
def test_wilson_matches_statsmodels(successes: int, n: int) -> None:
    expected = proportion_confint(successes, n, alpha=0.05, method="wilson")
    assert wilson_interval(successes, n) == pytest.approx(expected, rel=1e-9)
    if successes in (0, n):  # the bound at the observed end is exact, never 5.6e-17
        assert wilson_interval(successes, n)[0 if successes == 0 else 1] == successes / n
    values = [1.0] * successes + [0.0] * (n - successes)
    assert mean_ci(values)[1:] == pytest.approx(expected, rel=1e-9)


def test_t_interval_is_cut_to_the_values_range() -> None:
    values = [1.0] * 10 + [0.5, 0.75, 0.0]  # faithfulness-like shares, most of them 1
    t_low, t_high = sps.t.interval(0.95, 12, loc=np.mean(values), scale=sps.sem(values))
    assert t_high > 1.0  # the plain t interval leaves the range
    mean, low, high = mean_ci(values, bounds=(0.0, 1.0))
    assert mean == pytest.approx(np.mean(values))
    assert (low, high) == pytest.approx((t_low, 1.0), rel=1e-12)
    assert mean_ci([1.0, 2.0, 5.0], bounds=(1.0, 5.0))[1] == 1.0  # a rubric scale, low side
    assert mean_ci([0.2, 0.4], bounds=(0.0, 1.0))[1:] == (0.0, 1.0)


def test_edge_cases() -> None:
    assert mean_ci([]) == (None, None, None)
    assert mean_ci([0.3]) == (0.3, None, None)
    assert mean_ci([3.0, 3.0, 3.0, 3.0]) == (3.0, None, None)  # no variance: no t interval


def test_values_on_the_ends_of_their_scale_get_wilson_on_that_scale() -> None:
    """A share is Wilson's only on a 0-1 scale: three 1s of a 1-5 rubric are three
    bottom answers (not three passes), and 0/1 on a 0-10 scale are ordinary scores."""
    low, high = wilson_interval(0, 3)
    assert mean_ci([1.0, 1.0, 1.0], bounds=(1.0, 5.0)) == pytest.approx(
        (1.0, 1.0 + 4 * low, 1.0 + 4 * high)
    )
    values = [0.0, 1.0, 1.0, 1.0, 1.0]
    t_low, t_high = sps.t.interval(0.95, 4, loc=0.8, scale=sps.sem(values))
    assert mean_ci(values, bounds=(0.0, 10.0)) == pytest.approx((0.8, t_low, t_high))
    assert t_high > 1.0  # Wilson would stop at 1
    assert mean_ci(values) == pytest.approx((0.8, *wilson_interval(4, 5)))


def test_percentile_matches_numpy() -> None:
    values = np.random.default_rng(1).exponential(100, size=101).tolist()
    for q in (0, 50, 95, 100):
        assert percentile(values, q) == pytest.approx(np.percentile(values, q))
    assert percentile([], 50) is None


def test_paired_share_interval_is_agresti_min_on_0_1_and_covers_shares() -> None:
    """On 0/1 values it is Agresti-Min (PropCIs' diffpropci.mp example); on shares of 3
    correlated verdicts it covers the true difference at least at the nominal rate, and
    with 10 items it is still open where the bootstrap would give [0, 0]."""
    from harness.stats import paired_proportion_difference, paired_share_difference

    changes = np.array([-1.0] * 40 + [1.0] * 20 + [0.0] * 100)
    assert paired_share_difference(changes) == pytest.approx(
        paired_proportion_difference(40, 20, 160), abs=1e-12
    )
    assert paired_share_difference(changes) == pytest.approx((-0.21601726, -0.03089632), abs=1e-8)
    low, high = paired_share_difference(np.zeros(10))
    assert low < -0.15 and high > 0.15
    rng = np.random.default_rng(3)
    covered = 0
    trials = 2000
    for _ in range(trials):
        p = rng.beta(2, 2, size=30)  # each item's pass probability, shared by both runs
        base = rng.binomial(3, p) / 3
        cand = rng.binomial(3, np.clip(p - 0.05, 0, 1)) / 3
        truth = float(np.clip(p - 0.05, 0, 1).mean() - p.mean())
        low, high = paired_share_difference(cand - base)
        covered += low <= truth <= high
    assert covered / trials >= 0.94
