"""Agreement between raters (judges, humans): kappa, alpha, rank correlation, bootstrap CIs.

Conventions, the same in every function:

- Paired statistics take two item-aligned sequences `a`, `b` (one value per item).
- Multi-rater statistics take `rows`: one row per item, one column per rater
  (`ratings_matrix` builds them from `{rater: {item: value}}`).
- A missing rating is `None` or a float NaN. Paired statistics drop items where either
  value is missing; Krippendorff's alpha uses every item with at least two ratings;
  Fleiss' kappa uses the items that every rater rated. `bootstrap_ci` resamples those
  items alone, so the other rows change neither the value nor its interval.
- An undefined value (no variation, too few items) is `nan`, never a made-up 0 or 1.

Every statistic is computed from per-item sufficient statistics weighted by how often
each item is drawn, so a point estimate and all bootstrap resamples share one vectorised
code path (`bootstrap_ci`), and the results agree with scikit-learn's
`cohen_kappa_score`, the `krippendorff` package, statsmodels' `fleiss_kappa` and
scipy's `spearmanr` / `kendalltau` (tau-b).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Hashable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from harness._draws import (
    Draws,
    Groups,
    cluster_codes,
    clustered,
    divide,
    jackknife,
    resamples,
)
from harness.stats import bca_interval

Rating = Any
"""A rating: a number, a label (str/bool), or None / NaN for missing."""
Level = Literal["nominal", "ordinal", "interval", "ratio"]
Weights = Literal["linear", "quadratic"] | None
Batched = Callable[["Draws"], np.ndarray]
"""B resamples of the items -> (B,) statistic values."""


@dataclass(frozen=True, slots=True)
class Estimate:
    """A statistic with its bootstrap interval; `None` where it is undefined."""

    value: float | None
    low: float | None
    high: float | None
    n: int
    """Items that carry information (e.g. pairs with both ratings present)."""
    confidence: float = 0.95

    def to_dict(self) -> dict[str, Any]:
        return {
            "value": self.value,
            "ci_low": self.low,
            "ci_high": self.high,
            "n": self.n,
            "confidence": self.confidence,
        }


def is_missing(value: Rating) -> bool:
    """True for None and float NaN (numpy's too)."""
    return value is None or (isinstance(value, float | np.floating) and math.isnan(value))


def ratings_matrix(
    ratings: Mapping[str, Mapping[str, Rating]], items: Sequence[str] | None = None
) -> tuple[list[str], list[str], list[list[Rating]]]:
    """`{rater: {item: value}}` -> (item ids, rater names, rows of items x raters).

    Items default to every item any rater rated, sorted; absent ratings are None.
    """
    raters = sorted(ratings)
    if items is None:
        items = sorted({item for per_rater in ratings.values() for item in per_rater})
    rows = [[ratings[rater].get(item) for rater in raters] for item in items]
    return list(items), raters, rows


# ---------------------------------------------------------------- point statistics


def exact_agreement(a: Sequence[Rating], b: Sequence[Rating]) -> float:
    """Share of items (both rated) where the two ratings are equal."""
    return _point(_exact_agreement, a, b)


def cohen_kappa(
    a: Sequence[Rating],
    b: Sequence[Rating],
    *,
    weights: Weights = None,
    labels: Sequence[Hashable] | None = None,
) -> float:
    """Cohen's kappa of two raters; `weights` linear or quadratic for ordinal scales.

    As scikit-learn, weights are distances between label positions in sorted `labels`
    (default: every observed value): pass the full scale, e.g. `labels=[1, 2, 3, 4, 5]`,
    so that unused scale points keep their distance.
    """
    return _point(_cohen_kappa, a, b, weights=weights, labels=labels)


def fleiss_kappa(rows: Sequence[Sequence[Rating]]) -> float:
    """Fleiss' kappa over items rated by every rater (rows with a missing rating are left out)."""
    return _point(_fleiss_kappa, rows)


def krippendorff_alpha(
    rows: Sequence[Sequence[Rating]],
    *,
    level: Level = "nominal",
    values: Sequence[Hashable] | None = None,
) -> float:
    """Krippendorff's alpha for any number of raters, with missing ratings allowed.

    `level` picks the distance: nominal, ordinal (rank-based, as Krippendorff 2011),
    interval (squared difference) or ratio. `values` gives the ordered value domain
    (default: the observed values, sorted).
    """
    return _point(_krippendorff_alpha, rows, level=level, values=values)


def spearman(a: Sequence[Rating], b: Sequence[Rating]) -> float:
    """Spearman's rank correlation (average ranks for ties), as `scipy.stats.spearmanr`."""
    return _point(_spearman, a, b)


def kendall(a: Sequence[Rating], b: Sequence[Rating]) -> float:
    """Kendall's tau-b (tie-corrected), as `scipy.stats.kendalltau`."""
    return _point(_kendall, a, b)


def verbosity_bias(scores: Sequence[Rating], lengths: Sequence[Rating]) -> float:
    """Spearman correlation of score with response length: > 0 means longer scores higher."""
    return _point(_spearman, scores, lengths)


def n_informative(statistic: Callable[..., float], *data: Any, **options: Any) -> int:
    """How many items carry information for `statistic` (pairs both rated, alpha units...)."""
    return _prepare(statistic, data, options)[1]


# ---------------------------------------------------------------- bootstrap


def bootstrap_ci(
    statistic: Callable[..., float],
    *data: Any,
    n_resamples: int = 1000,
    confidence: float = 0.95,
    seed: int = 0,
    clusters: Sequence[Hashable] | None = None,
    **options: Any,
) -> Estimate:
    """The statistic with a BCa bootstrap interval (`harness.stats.bca_interval`),
    resampling items.

    `data` are the statistic's item-aligned arguments (`a, b` or `rows`); `options` its
    keyword options, e.g. `bootstrap_ci(cohen_kappa, a, b, weights="quadratic")`.
    `clusters` (one per row) resamples groups of rows together, e.g. the responses of one
    item, which are not independent of each other. The same seed gives the same interval.
    Only the rows the statistic uses are resampled (pairs with both ratings, alpha's units
    with two, Fleiss' complete rows), so the interval describes the items of the value and
    `n`: rows it cannot use change nothing. Resamples where the statistic is undefined are
    left out; with none left, the interval is None. Any other function of the same shape
    works too, through a slower loop (over every row).
    """
    if clusters is not None and data and len(clusters) != len(data[0]):
        raise ValueError(f"{len(clusters)} clusters for {len(data[0])} rows")
    used = _used_rows(statistic, data)
    if used is not None:
        data = tuple([column[i] for i in used] for column in data)
        clusters = None if clusters is None else [clusters[i] for i in used]
    batched, n_info = _prepare(statistic, data, options)
    n_items = len(data[0]) if data else 0
    if n_items == 0 or n_info == 0:
        return Estimate(None, None, None, 0, confidence)
    point = float(batched(Draws.identity(n_items))[0])
    value = None if math.isnan(point) else point
    codes, n_clusters = _cluster_codes(clusters, n_items)
    informative = n_info if codes is None else n_clusters  # one alone only repeats
    if n_resamples <= 0 or n_info < 2 or informative < 2:  # resampling would only repeat
        return Estimate(value, None, None, n_info, confidence)
    draws = (
        clustered(codes, n_clusters, n_resamples, seed)
        if codes is not None
        else resamples(n_items, n_resamples, seed)
    )
    samples = np.concatenate([batched(d) for d in draws])
    samples = samples[~np.isnan(samples)]
    if samples.size == 0 or value is None:
        return Estimate(value, None, None, n_info, confidence)
    left_out = np.concatenate([batched(d) for d in jackknife(n_items, codes, n_clusters)])
    left_out = left_out[~np.isnan(left_out)]
    low, high = bca_interval(samples, value, left_out, confidence)
    return Estimate(value, low, high, n_info, confidence)


def _used_rows(statistic: Callable[..., float], data: Sequence[Any]) -> list[int] | None:
    """The rows a statistic of this module uses: pairs with both ratings, rows of raters
    with two ratings (alpha) or with every rating (Fleiss' kappa); None for any other
    function, which is given every row."""
    if statistic not in _PREPARERS or not data:
        return None
    if statistic is krippendorff_alpha or statistic is fleiss_kappa:
        needed = [len(row) if statistic is fleiss_kappa else 2 for row in data[0]]
        given = [sum(not is_missing(v) for v in row) for row in data[0]]
        return [i for i, (g, n) in enumerate(zip(given, needed, strict=True)) if g >= max(n, 1)]
    return [int(i) for i in _pairs(*data)[0]]


def _cluster_codes(
    clusters: Sequence[Hashable] | None, n_items: int
) -> tuple[np.ndarray | None, int]:
    """Each row's cluster as 0..k-1 and k; (None, n_items) where every row is its own."""
    if clusters is None:
        return None, n_items
    if len(clusters) != n_items:
        raise ValueError(f"{len(clusters)} clusters for {n_items} rows")
    codes, n_clusters = cluster_codes(clusters)
    if n_clusters == n_items:
        return None, n_items  # one row a cluster: plain item resampling, same draws
    return codes, n_clusters


def _point(preparer: Callable[..., tuple[Batched, int]], *data: Any, **options: Any) -> float:
    batched, n_info = preparer(*data, **options)
    n_items = len(data[0])
    if n_items == 0 or n_info == 0:
        return math.nan
    return float(batched(Draws.identity(n_items))[0])


def _prepare(
    statistic: Callable[..., float], data: Sequence[Any], options: dict[str, Any]
) -> tuple[Batched, int]:
    """The batched form of a statistic over `data`, and its informative item count."""
    preparer = _PREPARERS.get(statistic)
    if preparer is not None:
        return preparer(*data, **options)
    columns = [list(column) for column in data]

    def loop(draws: Draws) -> np.ndarray:
        return np.array(
            [statistic(*([c[i] for i in row] for c in columns), **options) for row in draws.idx],
            dtype=float,
        )

    return loop, len(columns[0]) if columns else 0


def _pairs(a: Sequence[Rating], b: Sequence[Rating]) -> tuple[np.ndarray, list[Any], list[Any]]:
    if len(a) != len(b):
        raise ValueError(f"paired ratings differ in length: {len(a)} and {len(b)}")
    keep = [
        i for i, (x, y) in enumerate(zip(a, b, strict=True)) if not (is_missing(x) or is_missing(y))
    ]
    return np.array(keep, dtype=int), [a[i] for i in keep], [b[i] for i in keep]


def _sorted_domain(values: Sequence[Hashable]) -> list[Hashable]:
    try:
        return sorted(set(values))  # type: ignore[type-var]
    except TypeError as exc:
        raise ValueError(f"ratings mix types that cannot be ordered: {exc}") from exc


def _index(values: Sequence[Hashable], domain: Sequence[Hashable]) -> np.ndarray:
    position = {v: i for i, v in enumerate(domain)}
    try:
        return np.array([position[v] for v in values], dtype=int)
    except KeyError as exc:
        raise ValueError(f"rating {exc.args[0]!r} is not among the labels {list(domain)}") from exc


def _numbers(values: Sequence[Rating]) -> np.ndarray:
    try:
        return np.array([float(v) for v in values], dtype=float)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"this statistic needs numeric ratings: {exc}") from exc


# ---------------------------------------------------------------- batched forms


def _exact_agreement(a: Sequence[Rating], b: Sequence[Rating]) -> tuple[Batched, int]:
    keep, x, y = _pairs(a, b)
    same = np.array([u == v for u, v in zip(x, y, strict=True)], dtype=float)

    def batched(draws: Draws) -> np.ndarray:
        w = draws.counts[:, keep]
        return divide(w @ same, w.sum(axis=1))

    return batched, len(keep)


def _cohen_kappa(
    a: Sequence[Rating],
    b: Sequence[Rating],
    *,
    weights: Weights = None,
    labels: Sequence[Hashable] | None = None,
) -> tuple[Batched, int]:
    if weights not in (None, "linear", "quadratic"):
        raise ValueError(f"weights must be None, 'linear' or 'quadratic', not {weights!r}")
    keep, x, y = _pairs(a, b)
    domain = list(labels) if labels is not None else _sorted_domain([*x, *y])
    k = len(domain)
    cells = Groups(_index(x, domain) * k + _index(y, domain), k * k)
    positions = np.arange(k)
    distance = np.abs(positions[:, None] - positions[None, :]).astype(float)
    if weights is None:
        w_mat = (distance > 0).astype(float)
    elif weights == "linear":
        w_mat = distance
    else:
        w_mat = distance**2

    def batched(draws: Draws) -> np.ndarray:
        w = draws.counts[:, keep]
        confusion = cells.sum(w).reshape(-1, k, k)
        total = confusion.sum(axis=(1, 2))
        expected = divide(
            np.einsum("bi,bj->bij", confusion.sum(axis=2), confusion.sum(axis=1)),
            total[:, None, None],
        )
        observed = (confusion * w_mat).sum(axis=(1, 2))
        chance = (expected * w_mat).sum(axis=(1, 2))
        return 1 - divide(observed, chance)

    return batched, len(keep)


def _spearman(a: Sequence[Rating], b: Sequence[Rating]) -> tuple[Batched, int]:
    keep, x, y = _pairs(a, b)
    gx, nx = _rank_groups(_numbers(x))
    gy, ny = _rank_groups(_numbers(y))
    if nx * ny <= _JOINT_LIMIT:
        joint = Groups(gx * ny + gy, nx * ny)

        def small(draws: Draws) -> np.ndarray:
            return _spearman_joint(joint.sum(draws.counts[:, keep]).reshape(-1, nx, ny))

        return small, len(keep)
    groups_x, groups_y = Groups(gx, nx), Groups(gy, ny)

    def batched(draws: Draws) -> np.ndarray:
        w = draws.counts[:, keep]
        rx = _weighted_ranks(w, groups_x, gx)
        return _weighted_pearson(rx, _weighted_ranks(w, groups_y, gy), w)

    return batched, len(keep)


def _spearman_joint(table: np.ndarray) -> np.ndarray:
    """Spearman's rho from (B, nx, ny) joint counts of distinct values (average ranks)."""
    px, py = table.sum(axis=2), table.sum(axis=1)
    rx = np.cumsum(px, axis=1) - (px - 1) / 2
    ry = np.cumsum(py, axis=1) - (py - 1) / 2
    n = px.sum(axis=1)
    dx = rx - divide((px * rx).sum(axis=1), n)[:, None]
    dy = ry - divide((py * ry).sum(axis=1), n)[:, None]
    cov = np.einsum("bij,bi,bj->b", table, dx, dy)
    vx = (px * dx**2).sum(axis=1)
    vy = (py * dy**2).sum(axis=1)
    ok = (vx > 1e-9 * (n**3 + 1)) & (vy > 1e-9 * (n**3 + 1))
    return np.where(ok, divide(cov, np.sqrt(np.where(ok, vx * vy, 1.0))), np.nan)


def _rank_groups(values: np.ndarray) -> tuple[np.ndarray, int]:
    """Each value's position among the sorted distinct values, and how many there are."""
    distinct, groups = np.unique(values, return_inverse=True)
    return groups.astype(int), len(distinct)


def _weighted_ranks(w: np.ndarray, grouping: Groups, groups: np.ndarray) -> np.ndarray:
    """Average ranks of every item when item i appears w[:, i] times."""
    per_group = grouping.sum(w)
    average = np.cumsum(per_group, axis=1) - (per_group - 1) / 2
    return np.asarray(average[:, groups])


def _weighted_pearson(x: np.ndarray, y: np.ndarray, w: np.ndarray) -> np.ndarray:
    total = w.sum(axis=1)
    mx = divide((w * x).sum(axis=1), total)[:, None]
    my = divide((w * y).sum(axis=1), total)[:, None]
    cov = (w * (x - mx) * (y - my)).sum(axis=1)
    vx = (w * (x - mx) ** 2).sum(axis=1)
    vy = (w * (y - my) ** 2).sum(axis=1)
    # relative tolerance: a constant column's variance is rounding noise, not signal
    scale = (w * (x**2)).sum(axis=1) * 1e-12 + (w * (y**2)).sum(axis=1) * 1e-12
    ok = (vx > scale) & (vy > scale)
    return np.where(ok, divide(cov, np.sqrt(np.where(ok, vx * vy, 1.0))), np.nan)


def _kendall(a: Sequence[Rating], b: Sequence[Rating]) -> tuple[Batched, int]:
    keep, x, y = _pairs(a, b)
    gx, nx = _rank_groups(_numbers(x))
    gy, ny = _rank_groups(_numbers(y))
    n_items = len(a)
    if nx * ny <= _JOINT_LIMIT:
        cells = Groups(gx * ny + gy, nx * ny)

        def joint(draws: Draws) -> np.ndarray:
            return _kendall_joint(cells.sum(draws.counts[:, keep]).reshape(-1, nx, ny))

        return joint, len(keep)
    position = np.full(n_items, -1, dtype=int)
    position[keep] = np.arange(len(keep))

    def loop(draws: Draws) -> np.ndarray:
        from scipy.stats import kendalltau

        out = np.empty(len(draws.idx))
        for row, draw in enumerate(draws.idx):
            chosen = position[draw]
            chosen = chosen[chosen >= 0]
            if chosen.size < 2 or np.ptp(gx[chosen]) == 0 or np.ptp(gy[chosen]) == 0:
                out[row] = np.nan
                continue
            out[row] = float(kendalltau(gx[chosen], gy[chosen]).statistic)
        return out

    return loop, len(keep)


_JOINT_LIMIT = 4096
"""Kendall's tau from a joint table of distinct values when it has at most this many cells."""


def _kendall_joint(table: np.ndarray) -> np.ndarray:
    """Tau-b from (B, nx, ny) joint counts: concordant pairs via 2-D cumulative sums."""
    cum = np.cumsum(np.cumsum(table, axis=1), axis=2)
    before = np.zeros_like(cum)
    before[:, 1:, :] = cum[:, :-1, :]  # sums over rows < a, columns <= b
    lower_left = np.zeros_like(cum)
    lower_left[:, :, 1:] = before[:, :, :-1]  # rows < a, columns < b
    upper_left = before[:, :, -1:] - before  # rows < a, columns > b
    concordant = (table * lower_left).sum(axis=(1, 2))
    discordant = (table * upper_left).sum(axis=(1, 2))
    n = table.sum(axis=(1, 2))
    pairs = n * (n - 1) / 2
    rows, cols = table.sum(axis=2), table.sum(axis=1)
    untied_x = pairs - (rows * (rows - 1) / 2).sum(axis=1)
    untied_y = pairs - (cols * (cols - 1) / 2).sum(axis=1)
    den = np.sqrt(np.clip(untied_x * untied_y, 0, None))
    return divide(concordant - discordant, den)


def _fleiss_kappa(rows: Sequence[Sequence[Rating]]) -> tuple[Batched, int]:
    keep = np.array(
        [i for i, row in enumerate(rows) if row and not any(is_missing(v) for v in row)],
        dtype=int,
    )
    raters = {len(rows[i]) for i in keep}
    if len(raters) > 1:
        raise ValueError(
            f"Fleiss' kappa needs the same number of raters per item, got {sorted(raters)}; "
            "use krippendorff_alpha for unequal or missing ratings"
        )
    m = raters.pop() if raters else 0
    kept = [rows[i] for i in keep]
    domain = _sorted_domain([v for row in kept for v in row])
    counts = _value_counts(kept, domain)
    agreement = divide((counts**2).sum(axis=1) - m, np.full(len(keep), m * (m - 1.0)))

    def batched(draws: Draws) -> np.ndarray:
        w = draws.counts[:, keep]
        total = w.sum(axis=1)
        p_bar = divide(w @ agreement, total)
        shares = divide(w @ counts, (total * m)[:, None])
        p_e = (shares**2).sum(axis=1)
        return divide(p_bar - p_e, 1 - p_e)

    return batched, len(keep)


def _krippendorff_alpha(
    rows: Sequence[Sequence[Rating]],
    *,
    level: Level = "nominal",
    values: Sequence[Hashable] | None = None,
) -> tuple[Batched, int]:
    if level not in ("nominal", "ordinal", "interval", "ratio"):
        raise ValueError(f"level must be nominal, ordinal, interval or ratio, not {level!r}")
    present = [[v for v in row if not is_missing(v)] for row in rows]
    keep = np.array([i for i, row in enumerate(present) if len(row) >= 2], dtype=int)
    coded = [present[i] for i in keep]
    observed = [v for row in coded for v in row]
    if level in ("interval", "ratio") and values is None:
        domain: list[Hashable] = sorted(set(_numbers(observed).tolist()))
        coded = [[float(v) for v in row] for row in coded]
    else:
        domain = list(values) if values is not None else _sorted_domain(observed)
    counts = _value_counts(coded, domain)
    m = counts.sum(axis=1)
    n_items = len(rows)
    if level == "interval":
        return _alpha_interval(counts, m, np.asarray(domain, dtype=float), keep, n_items), len(keep)
    if level == "nominal":
        mismatch = divide(m**2 - (counts**2).sum(axis=1), m - 1)
        return _alpha_nominal(counts, m, mismatch, keep, n_items), len(keep)
    return _alpha_general(counts, m, domain, level, keep, n_items), len(keep)


def _value_counts(rows: Sequence[Sequence[Hashable]], domain: Sequence[Hashable]) -> np.ndarray:
    """(items, values): how often each row holds each domain value."""
    counts = np.zeros((len(rows), len(domain)))
    sizes = [len(row) for row in rows]
    codes = _index([v for row in rows for v in row], domain)
    np.add.at(counts, (np.repeat(np.arange(len(rows)), sizes), codes), 1)
    return counts


def _alpha_nominal(
    counts: np.ndarray, m: np.ndarray, mismatch: np.ndarray, keep: np.ndarray, n_items: int
) -> Batched:
    def batched(draws: Draws) -> np.ndarray:
        w = draws.counts[:, keep]
        n = w @ m
        marginals = w @ counts
        expected = n**2 - (marginals**2).sum(axis=1)
        return 1 - (n - 1) * divide(w @ mismatch, expected)

    return batched


def _alpha_interval(
    counts: np.ndarray, m: np.ndarray, domain: np.ndarray, keep: np.ndarray, n_items: int
) -> Batched:
    s1 = counts @ domain
    s2 = counts @ domain**2
    within = divide(2 * m * s2 - 2 * s1**2, m - 1)

    def batched(draws: Draws) -> np.ndarray:
        w = draws.counts[:, keep]
        n, t1, t2 = w @ m, w @ s1, w @ s2
        return 1 - (n - 1) * divide(w @ within, 2 * n * t2 - 2 * t1**2)

    return batched


def _alpha_general(
    counts: np.ndarray,
    m: np.ndarray,
    domain: Sequence[Hashable],
    level: Level,
    keep: np.ndarray,
    n_items: int,
) -> Batched:
    """Ordinal and ratio: coincidence matrices summed over drawn items."""
    from scipy import sparse

    v = len(domain)
    rows_i, cols, data = [], [], []
    for r in range(counts.shape[0]):
        nz = np.flatnonzero(counts[r])
        block = np.outer(counts[r, nz], counts[r, nz]) - np.diag(counts[r, nz])
        block /= m[r] - 1
        cells = (nz[:, None] * v + nz[None, :]).ravel()
        rows_i.extend([r] * cells.size)
        cols.extend(cells.tolist())
        data.extend(block.ravel().tolist())
    per_item = sparse.csr_matrix((data, (rows_i, cols)), shape=(counts.shape[0], v * v))
    values = np.asarray(domain, dtype=float) if level == "ratio" else None

    def batched(draws: Draws) -> np.ndarray:
        w = draws.counts[:, keep]
        coincidence = np.asarray((per_item.T @ w.T).T).reshape(-1, v, v)
        marginals = coincidence.sum(axis=2)
        n = marginals.sum(axis=1)
        if values is not None:
            delta = _ratio_delta(values)[None, :, :]
        else:
            delta = _ordinal_delta(marginals)
        d_o = (coincidence * delta).sum(axis=(1, 2))
        d_e = (np.einsum("bi,bj->bij", marginals, marginals) * delta).sum(axis=(1, 2))
        return 1 - (n - 1) * divide(d_o, d_e)

    return batched


def _ordinal_delta(marginals: np.ndarray) -> np.ndarray:
    """(B, V) value totals -> (B, V, V) squared ordinal distances (Krippendorff 2011)."""
    cumulative = np.cumsum(marginals, axis=1)
    lo = np.minimum.outer(np.arange(marginals.shape[1]), np.arange(marginals.shape[1]))
    hi = np.maximum.outer(np.arange(marginals.shape[1]), np.arange(marginals.shape[1]))
    between = cumulative[:, hi] - cumulative[:, lo] + marginals[:, lo]
    return np.asarray((between - (marginals[:, lo] + marginals[:, hi]) / 2) ** 2)


def _ratio_delta(values: np.ndarray) -> np.ndarray:
    total = values[:, None] + values[None, :]
    delta = divide(values[:, None] - values[None, :], total) ** 2
    return np.asarray(np.where(total == 0, 0.0, delta))


_PREPARERS: dict[Callable[..., float], Callable[..., tuple[Batched, int]]] = {
    exact_agreement: _exact_agreement,
    cohen_kappa: _cohen_kappa,
    spearman: _spearman,
    kendall: _kendall,
    verbosity_bias: _spearman,
    fleiss_kappa: _fleiss_kappa,
    krippendorff_alpha: _krippendorff_alpha,
}
