"""Statistics used across the harness. Agree with scipy; tested against it."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np


def wilson_interval(successes: float, n: int, confidence: float = 0.95) -> tuple[float, float]:
    """Wilson score interval for a proportion (better than Wald near 0 and 1)."""
    if n == 0:
        return (math.nan, math.nan)
    z = _normal_quantile(0.5 + confidence / 2)
    p = successes / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    low = 0.0 if successes <= 0 else max(0.0, centre - half)  # exactly 0, not 1e-17
    high = 1.0 if successes >= n else min(1.0, centre + half)
    return (low, high)


def paired_proportion_difference(
    lost: int, gained: int, n: int, confidence: float = 0.95
) -> tuple[float, float]:
    """Interval for the difference of two paired proportions (after - before) from the
    discordant pairs: Agresti and Min's (2005) adjusted Wald interval, which adds 0.5 to
    every cell of the 2x2 table. Unlike a bootstrap it stays open with few or no discordant
    pairs (10 pairs passing in both runs: about +-0.16, not [0, 0])."""
    if n <= 0:
        return (math.nan, math.nan)
    z = _normal_quantile(0.5 + confidence / 2)
    size = n + 2
    centre = (gained - lost) / size
    variance = ((lost + gained + 1) - (gained - lost) ** 2 / size) / size**2
    half = z * math.sqrt(max(variance, 0.0))
    return (max(-1.0, centre - half), min(1.0, centre + half))


def paired_share_difference(changes: np.ndarray, confidence: float = 0.95) -> tuple[float, float]:
    """Agresti and Min's interval for paired shares in [0, 1] (changes after - before in
    [-1, 1], e.g. a pass/fail verdict averaged over samples): the changes' sum and sum of
    squares take the place of the discordant counts, with the same two half-discordances
    added. For 0/1 values it is `paired_proportion_difference`."""
    n = int(changes.size)
    if n == 0:
        return (math.nan, math.nan)
    z = _normal_quantile(0.5 + confidence / 2)
    size = n + 2
    total = float(changes.sum())
    centre = total / size
    variance = ((float(np.square(changes).sum()) + 1) - total**2 / size) / size**2
    half = z * math.sqrt(max(variance, 0.0))
    return (max(-1.0, centre - half), min(1.0, centre + half))


def percentile_interval(values: np.ndarray, confidence: float) -> tuple[float, float]:
    """Two-sided percentile interval (numpy's linear interpolation)."""
    finite = values[np.isfinite(values)]
    if finite.size == 0:
        return (float("nan"), float("nan"))
    tail = (1 - confidence) / 2
    low, high = np.quantile(finite, [tail, 1 - tail])
    return (float(low), float(high))


def bca_interval(
    resampled: np.ndarray, point: float, jackknife: np.ndarray, confidence: float = 0.95
) -> tuple[float, float]:
    """Efron's bias-corrected and accelerated (BCa) bootstrap percentiles.

    The bias correction z0 is the normal quantile of the share of resamples below the
    estimate (ties count half: discrete statistics tie often); the acceleration comes from
    the jackknife estimates' skewness. A statistic whose resamples sit to one side of it
    (kappa on a few items: the percentile interval can lie beside its own value) gets its
    interval moved back around it. Where neither can be estimated (every resample on one
    side, or equal to the estimate) the plain percentiles are returned.
    """
    tail = (1 - confidence) / 2
    below = float(np.count_nonzero(resampled < point))
    ties = float(np.count_nonzero(resampled == point))
    share = (below + ties / 2) / resampled.size
    levels = (tail, 1 - tail)
    if 0 < share < 1:
        z0 = _normal_quantile(share)
        influence = jackknife.mean() - jackknife if jackknife.size else jackknife
        spread = float(np.sum(influence**2))
        accel = float(np.sum(influence**3)) / (6 * spread**1.5) if spread > 0 else 0.0
        adjusted = []
        for level in levels:
            z = z0 + _normal_quantile(level)
            adjusted.append(_normal_cdf(z0 + z / (1 - accel * z)))
        levels = (adjusted[0], adjusted[1])
    low, high = np.percentile(resampled, [100 * levels[0], 100 * levels[1]])
    return float(low), float(high)


def _normal_cdf(x: float) -> float:
    return 0.5 * math.erfc(-x / math.sqrt(2))


def mean_ci(
    values: Sequence[float],
    confidence: float = 0.95,
    bounds: tuple[float, float] | None = None,
) -> tuple[float | None, float | None, float | None]:
    """Mean with a confidence interval: Wilson for values that all sit on the ends of their
    range (0/1 shares; a 1-5 scale's 1s and 5s, as shares of the way up), Student's t
    otherwise.

    `bounds` is the range every value lies in (a share, a probability, a rubric scale): the
    t interval is cut to it, since the mean cannot leave it. Without bounds, 0/1 values are
    taken as shares. Values that do not vary (and are no shares) give no interval: a t
    interval of width 0 would claim certainty that a few equal values cannot give.
    """
    n = len(values)
    if n == 0:
        return (None, None, None)
    data = np.asarray(values, dtype=float)
    mean = float(data.mean())
    low_end, high_end = (0.0, 1.0) if bounds is None else bounds
    if high_end > low_end and bool(np.all((data == low_end) | (data == high_end))):
        width = high_end - low_end
        low, high = wilson_interval(float((data == high_end).sum()), n, confidence)
        return (mean, low_end + low * width, low_end + high * width)
    if n == 1:
        return (mean, None, None)
    variance = float(data.var(ddof=1))
    if variance == 0.0:
        return (mean, None, None)
    from scipy.stats import t

    half = float(t.ppf(0.5 + confidence / 2, n - 1)) * math.sqrt(variance / n)
    low, high = mean - half, mean + half
    if bounds is not None:
        low, high = max(low, bounds[0]), min(high, bounds[1])
    return (mean, low, high)


def percentile(values: Sequence[float] | np.ndarray, q: float) -> float | None:
    """The q-th percentile (0-100) with linear interpolation (numpy's default)."""
    if len(values) == 0:
        return None
    return float(np.percentile(np.asarray(values, dtype=float), q))


def _normal_quantile(p: float) -> float:
    """Inverse of the standard normal CDF (the standard library's: scipy.stats takes
    seconds to import, and reports need nothing else of it)."""
    from statistics import NormalDist

    return NormalDist().inv_cdf(p)


def wilcoxon_signed_rank(differences: Sequence[float]) -> tuple[float, float]:
    """Two-sided Wilcoxon signed-rank test of paired differences: (min(R+, R-), p-value).

    The choices of `scipy.stats.wilcoxon` with its defaults: zero differences are dropped
    (Wilcox's method), tied magnitudes get average ranks; the p-value is exact for n <= 50
    without ties or zeros, an exact enumeration of all sign flips for n <= 13 otherwise,
    and else the normal approximation with tie correction and no continuity correction.
    With no non-zero difference there is no evidence of a difference: p = 1.
    """
    d = np.asarray(differences, dtype=float)
    if not np.isfinite(d).all():
        return (math.nan, math.nan)  # as scipy: a NaN difference leaves nothing to test
    nonzero = d[d != 0]
    m = nonzero.size
    if m == 0:
        return (0.0, 1.0)
    _, inverse, counts = np.unique(np.abs(nonzero), return_inverse=True, return_counts=True)
    group_rank = np.cumsum(counts) - (counts - 1) / 2.0
    ranks = group_rank[inverse]
    r_plus = float(ranks[nonzero > 0].sum())
    r_minus = float(ranks[nonzero < 0].sum())
    statistic = min(r_plus, r_minus)
    has_ties = bool((counts > 1).any())
    if d.size <= 50 and not has_ties and m == d.size:
        pmf = _signed_rank_pmf(m)
        k = round(r_plus)
        p = 2 * min(math.fsum(pmf[k:]), math.fsum(pmf[: k + 1]))
    elif d.size <= 13:
        signs = (np.arange(2**m)[:, None] >> np.arange(m)) & 1
        null = signs @ ranks
        gamma = abs(np.finfo(float).eps * 100 * r_plus)
        less = float(np.mean(null <= r_plus + gamma))
        greater = float(np.mean(null >= r_plus - gamma))
        p = 2 * min(less, greater)
    else:
        mean = m * (m + 1) / 4
        variance = (m * (m + 1) * (2 * m + 1) - float((counts**3 - counts).sum()) / 2) / 24
        z = (r_plus - mean) / math.sqrt(variance)
        p = math.erfc(abs(z) / math.sqrt(2))  # 2 * P(Z > |z|)
    return (statistic, min(1.0, p))


def _signed_rank_pmf(n: int) -> list[float]:
    """Null distribution of R+ for n untied non-zero differences: P(R+ = k), k = 0..n(n+1)/2."""
    counts = [1] + [0] * (n * (n + 1) // 2)
    for rank in range(1, n + 1):
        for total in range(len(counts) - 1, rank - 1, -1):
            counts[total] += counts[total - rank]
    return [count / 2**n for count in counts]


def mcnemar(b: int, c: int, *, exact: bool | None = None) -> tuple[float, float, bool]:
    """McNemar's test on discordant pairs: b (pass -> fail), c (fail -> pass).

    Returns (statistic, p-value, exact). `exact=None` uses the exact binomial test when
    b + c < 25 and the chi-square test with continuity correction otherwise; both agree
    with `statsmodels.stats.contingency_tables.mcnemar(table, exact=..., correction=True)`.
    """
    if exact is None:
        exact = b + c < 25
    if b + c == 0:
        return (0.0, 1.0, exact)  # no discordant pair: no evidence of a change
    if exact:
        n, k = b + c, min(b, c)
        tail = sum(math.comb(n, i) for i in range(k + 1)) / 2**n  # binomial(n, 1/2) cdf at k
        return (float(k), min(1.0, 2 * tail), True)
    statistic = (abs(b - c) - 1) ** 2 / (b + c)
    return (statistic, math.erfc(math.sqrt(statistic / 2)), False)  # chi-square(1) tail


def _check_p_values(p_values: Sequence[float]) -> None:
    if not all(0.0 <= p <= 1.0 for p in p_values):  # also refuses NaN
        raise ValueError(f"p-values must lie in [0, 1]: {list(p_values)}")


def holm(p_values: Sequence[float]) -> list[float]:
    """Holm-Bonferroni adjusted p-values (step-down; controls the family-wise error rate)."""
    _check_p_values(p_values)
    order = sorted(range(len(p_values)), key=lambda i: p_values[i])
    m = len(p_values)
    adjusted = [0.0] * m
    running = 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (m - rank) * p_values[i]))
        adjusted[i] = running
    return adjusted


def benjamini_hochberg(p_values: Sequence[float]) -> list[float]:
    """Benjamini-Hochberg adjusted p-values (step-up; controls the false discovery rate)."""
    _check_p_values(p_values)
    order = sorted(range(len(p_values)), key=lambda i: p_values[i], reverse=True)
    m = len(p_values)
    adjusted = [0.0] * m
    running = 1.0
    for position, i in enumerate(order):
        rank = m - position
        running = min(running, m / rank * p_values[i])
        adjusted[i] = min(1.0, running)
    return adjusted
