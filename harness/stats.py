"""Statistics used across the harness. Agree with scipy; tested against it."""

from __future__ import annotations

import math
from collections.abc import Sequence


def wilson_interval(successes: float, n: int, confidence: float = 0.95) -> tuple[float, float]:
    """Wilson score interval for a proportion (better than Wald near 0 and 1)."""
    if n == 0:
        return (math.nan, math.nan)
    z = _normal_quantile(0.5 + confidence / 2)
    p = successes / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return (max(0.0, centre - half), min(1.0, centre + half))


def mean_ci(
    values: Sequence[float], confidence: float = 0.95
) -> tuple[float | None, float | None, float | None]:
    """Mean with a confidence interval: Wilson for 0/1 values, Student's t otherwise."""
    n = len(values)
    if n == 0:
        return (None, None, None)
    mean = math.fsum(values) / n
    if all(v in (0.0, 1.0) for v in values):
        low, high = wilson_interval(math.fsum(values), n, confidence)
        return (mean, low, high)
    if n == 1:
        return (mean, None, None)
    variance = math.fsum((v - mean) ** 2 for v in values) / (n - 1)
    from scipy.stats import t

    half = float(t.ppf(0.5 + confidence / 2, n - 1)) * math.sqrt(variance / n)
    return (mean, mean - half, mean + half)


def percentile(values: Sequence[float], q: float) -> float | None:
    """The q-th percentile (0-100) with linear interpolation, as numpy's default."""
    if not values:
        return None
    ordered = sorted(values)
    position = (len(ordered) - 1) * q / 100
    lower = math.floor(position)
    upper = min(lower + 1, len(ordered) - 1)
    weight = position - lower
    return ordered[lower] * (1 - weight) + ordered[upper] * weight


def _normal_quantile(p: float) -> float:
    """Inverse of the standard normal CDF (via scipy, imported when first needed)."""
    from scipy.stats import norm

    return float(norm.ppf(p))
