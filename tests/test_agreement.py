"""Agreement statistics against scikit-learn, krippendorff, statsmodels and scipy."""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.stats
from sklearn.metrics import cohen_kappa_score

from harness import agreement as A

NAN = float("nan")

# Krippendorff (2011), "Computing Krippendorff's alpha-reliability": 4 observers, 12 units,
# missing values; published alphas: nominal 0.743, ordinal 0.815, interval 0.849, ratio 0.797.
KRIPPENDORFF_2011 = [
    [1, 2, 3, 3, 2, 1, 4, 1, 2, NAN, NAN, NAN],
    [1, 2, 3, 3, 2, 2, 4, 1, 2, 5, NAN, 3],
    [NAN, 3, 3, 3, 2, 3, 4, 2, 2, 5, 1, NAN],
    [1, 2, 3, 3, 2, 4, 4, 1, 2, 5, 1, NAN],
]


def _rows() -> list[list[float]]:
    return np.array(KRIPPENDORFF_2011, dtype=float).T.tolist()


def _ordinal_pair(seed: int, n: int) -> tuple[list[int], list[int]]:
    rng = np.random.default_rng(seed)
    a = rng.integers(1, 6, n)
    b = np.clip(a + rng.integers(-2, 3, n), 1, 5)
    return a.tolist(), b.tolist()


@pytest.mark.parametrize(
    ("level", "published"),
    [("nominal", 0.743), ("ordinal", 0.815), ("interval", 0.849), ("ratio", 0.797)],
)
def test_krippendorff_published_example(level: A.Level, published: float) -> None:
    import krippendorff

    ours = A.krippendorff_alpha(_rows(), level=level)
    theirs = krippendorff.alpha(np.array(KRIPPENDORFF_2011), level_of_measurement=level)
    assert ours == pytest.approx(theirs, abs=1e-12)
    assert round(ours, 3) == published


@pytest.mark.parametrize("seed", range(8))
@pytest.mark.parametrize("level", ["nominal", "ordinal", "interval", "ratio"])
def test_krippendorff_matches_package_with_missing(seed: int, level: A.Level) -> None:
    import krippendorff

    rng = np.random.default_rng(seed)
    n, raters = int(rng.integers(6, 50)), int(rng.integers(2, 6))
    truth = rng.integers(1, 6, n)
    rows = np.clip(truth[:, None] + rng.integers(-1, 2, (n, raters)), 1, 5).astype(float)
    rows[rng.random((n, raters)) < 0.25] = np.nan
    ours = A.krippendorff_alpha(rows.tolist(), level=level)
    theirs = krippendorff.alpha(rows.T, level_of_measurement=level)
    assert ours == pytest.approx(theirs, abs=1e-10)


def test_krippendorff_labels_and_none_for_missing() -> None:
    import krippendorff

    rows = [
        ["pass", "pass", None],
        ["fail", "pass", "fail"],
        ["fail", "fail", "fail"],
        [None, "pass", "pass"],
    ]
    coded = [[{"pass": 1.0, "fail": 0.0}.get(v, NAN) for v in row] for row in rows]  # type: ignore[arg-type]
    expected = krippendorff.alpha(np.array(coded).T, level_of_measurement="nominal")
    assert A.krippendorff_alpha(rows) == pytest.approx(expected)


@pytest.mark.parametrize("seed", range(10))
@pytest.mark.parametrize("weights", [None, "linear", "quadratic"])
def test_cohen_kappa_matches_sklearn(seed: int, weights: A.Weights) -> None:
    from sklearn.metrics import cohen_kappa_score

    a, b = _ordinal_pair(seed, 10 + 7 * seed)
    assert A.cohen_kappa(a, b, weights=weights) == pytest.approx(
        cohen_kappa_score(a, b, weights=weights), abs=1e-12
    )


def test_cohen_kappa_labels_keep_unused_scale_points() -> None:
    from sklearn.metrics import cohen_kappa_score

    a, b = [1, 1, 5, 5, 2, 1], [1, 2, 5, 2, 2, 5]
    scale = [1, 2, 3, 4, 5]
    ours = A.cohen_kappa(a, b, weights="quadratic", labels=scale)
    assert ours == pytest.approx(cohen_kappa_score(a, b, weights="quadratic", labels=scale))
    assert ours != pytest.approx(A.cohen_kappa(a, b, weights="quadratic"))
    with pytest.raises(ValueError, match="not among the labels"):
        A.cohen_kappa([1, 7], [1, 1], labels=scale)


def test_paired_statistics_drop_missing_pairs() -> None:
    from sklearn.metrics import cohen_kappa_score

    a = ["yes", "no", None, "yes", "no", "yes", NAN]
    b = ["yes", "no", "no", "no", "no", None, "yes"]
    assert A.cohen_kappa(a, b) == pytest.approx(
        cohen_kappa_score(["yes", "no", "yes", "no"], ["yes", "no", "no", "no"])
    )
    assert A.exact_agreement(a, b) == pytest.approx(3 / 4)
    assert A.n_informative(A.cohen_kappa, a, b) == 4
    with pytest.raises(ValueError, match="differ in length"):
        A.cohen_kappa([1, 2], [1])


@pytest.mark.parametrize("seed", range(6))
def test_fleiss_kappa_matches_statsmodels(seed: int) -> None:
    from statsmodels.stats.inter_rater import aggregate_raters, fleiss_kappa

    rng = np.random.default_rng(seed)
    truth = rng.integers(0, 4, 40)
    rows = np.where(rng.random((40, 5)) < 0.7, truth[:, None], rng.integers(0, 4, (40, 5)))
    table, _ = aggregate_raters(rows)
    assert A.fleiss_kappa(rows.tolist()) == pytest.approx(fleiss_kappa(table), abs=1e-12)


def test_fleiss_kappa_skips_incomplete_items_and_rejects_ragged_rows() -> None:
    rows = [[1, 1, 2], [2, 2, 2], [1, None, 1], [3, 3, 1]]
    assert A.fleiss_kappa(rows) == pytest.approx(A.fleiss_kappa([rows[0], rows[1], rows[3]]))
    with pytest.raises(ValueError, match="same number of raters"):
        A.fleiss_kappa([[1, 1], [1, 2, 2]])


@pytest.mark.parametrize("seed", range(6))
def test_rank_correlations_match_scipy(seed: int) -> None:
    from scipy.stats import kendalltau, spearmanr

    a, b = _ordinal_pair(seed, 30)  # many ties: the joint-table path
    assert A.spearman(a, b) == pytest.approx(spearmanr(a, b).statistic, abs=1e-12)
    assert A.kendall(a, b) == pytest.approx(kendalltau(a, b).statistic, abs=1e-12)
    rng = np.random.default_rng(seed)
    x = rng.normal(size=120)  # all distinct: the pairwise path
    y = x + rng.normal(size=120)
    assert A.spearman(x.tolist(), y.tolist()) == pytest.approx(spearmanr(x, y).statistic)
    assert A.kendall(x.tolist(), y.tolist()) == pytest.approx(kendalltau(x, y).statistic)


def test_undefined_statistics_are_nan() -> None:
    assert math.isnan(A.spearman([3, 3, 3], [1, 2, 3]))
    assert math.isnan(A.kendall([3, 3, 3], [1, 2, 3]))
    assert math.isnan(A.cohen_kappa([1, 1], [1, 1]))
    assert math.isnan(A.krippendorff_alpha([[1, 1], [1, 1]]))
    assert math.isnan(A.krippendorff_alpha([[1, None], [None, 2]]))
    assert math.isnan(A.exact_agreement([None], [1]))
    nothing = [None, NAN, None]
    for statistic in (A.cohen_kappa, A.spearman, A.kendall, A.exact_agreement):
        assert math.isnan(statistic(nothing, [1, 2, 3])), statistic.__name__
        assert A.bootstrap_ci(statistic, nothing, [1, 2, 3]).value is None
    for statistic in (A.krippendorff_alpha, A.fleiss_kappa):
        assert math.isnan(statistic([[None, 1], [2, None]])), statistic.__name__
    with pytest.raises(ValueError, match="numeric"):
        A.spearman(["a", "b"], [1, 2])


def test_verbosity_bias_is_rank_correlation_with_length() -> None:
    scores = [1, 2, 3, 4, 5]
    assert A.verbosity_bias(scores, [10, 20, 30, 40, 50]) == pytest.approx(1.0)
    assert A.verbosity_bias(scores, [50, 40, 30, 20, 10]) == pytest.approx(-1.0)


def test_bootstrap_ci_is_seeded_and_brackets_the_value() -> None:
    a, b = _ordinal_pair(3, 200)
    first = A.bootstrap_ci(A.cohen_kappa, a, b, weights="quadratic", seed=7)
    again = A.bootstrap_ci(A.cohen_kappa, a, b, weights="quadratic", seed=7)
    other = A.bootstrap_ci(A.cohen_kappa, a, b, weights="quadratic", seed=8)
    assert first == again
    assert first.low != other.low
    assert first.value == pytest.approx(A.cohen_kappa(a, b, weights="quadratic"))
    assert first.low is not None and first.high is not None
    assert first.low < first.value < first.high
    assert first.n == 200
    small = A.bootstrap_ci(A.cohen_kappa, a[:30], b[:30], weights="quadratic", seed=7)
    assert small.low is not None and small.high is not None
    assert small.high - small.low > first.high - first.low


def test_bootstrap_resamples_match_a_plain_loop() -> None:
    """The vectorised resamples equal the statistic recomputed on each resampled list."""
    a, b = _ordinal_pair(5, 40)
    rows = [[x, y, None if i % 5 == 0 else x] for i, (x, y) in enumerate(zip(a, b, strict=True))]
    cases = [
        (A.cohen_kappa, (a, b), {"weights": "linear"}),
        (A.spearman, (a, b), {}),
        (A.kendall, (a, b), {}),
        (A.exact_agreement, (a, b), {}),
        (A.krippendorff_alpha, (rows,), {"level": "ordinal"}),
        (A.krippendorff_alpha, (rows,), {"level": "interval"}),
        (A.krippendorff_alpha, (rows,), {"level": "nominal"}),
        (A.fleiss_kappa, ([r[:2] for r in rows],), {}),
    ]
    rng = np.random.default_rng(9)
    xs = rng.normal(size=80)
    ys = (xs + rng.normal(size=80)).tolist()
    # 80 distinct values on each side: the per-item paths, not the joint tables
    cases += [(A.spearman, (xs.tolist(), ys), {}), (A.kendall, (xs.tolist(), ys), {})]
    # with ratings missing, the rows the statistic uses are resampled: the plain loop
    # (over every row it is given) gets those rows alone, and draws the same
    holes = [None if i % 4 == 0 else x for i, x in enumerate(a)]
    sparse = [[x, None, y if i % 3 else None] for i, (x, y) in enumerate(zip(a, b, strict=True))]
    cases += [
        (A.cohen_kappa, (holes, b), {"weights": "quadratic"}),
        (A.exact_agreement, (holes, b), {}),
        (A.spearman, (a, [None if i % 7 == 0 else y for i, y in enumerate(b)]), {}),
        (A.krippendorff_alpha, (sparse,), {"level": "ordinal"}),
        (A.fleiss_kappa, (rows,), {}),
    ]
    for statistic, data, options in cases:
        fast = A.bootstrap_ci(statistic, *data, n_resamples=60, seed=1, **options)

        def plain(*columns: list[object], _s=statistic, _o=options) -> float:
            return _s(*columns, **_o)

        slow = A.bootstrap_ci(plain, *_used(statistic, data), n_resamples=60, seed=1)
        assert fast.n == len(_used(statistic, data)[0])
        assert fast.value == pytest.approx(slow.value)
        assert fast.low == pytest.approx(slow.low), statistic.__name__
        assert fast.high == pytest.approx(slow.high), statistic.__name__


def _used(statistic: object, data: tuple[list, ...]) -> tuple[list, ...]:
    """The rows a statistic can use, picked by hand: both ratings of a pair; two ratings of
    a unit (alpha); every rating of a row (Fleiss)."""
    if statistic is A.krippendorff_alpha or statistic is A.fleiss_kappa:
        least = 2 if statistic is A.krippendorff_alpha else len(data[0][0])
        return ([row for row in data[0] if sum(v is not None for v in row) >= least],)
    both = [i for i, pair in enumerate(zip(*data, strict=True)) if None not in pair]
    return tuple([column[i] for i in both] for column in data)


def test_rows_a_statistic_cannot_use_leave_its_interval_as_it_was() -> None:
    """Ten items both annotators rated, then 90 only one of them rated: the value, n and
    the interval stay those of the ten (it used to widen as such rows were added)."""
    a, b = _ordinal_pair(11, 10)
    alone = [(x, None) for x in _ordinal_pair(12, 90)[0]]
    padded_a, padded_b = [*a, *(x for x, _ in alone)], [*b, *(y for _, y in alone)]
    for statistic, options in (
        (A.exact_agreement, {}),
        (A.cohen_kappa, {"weights": "quadratic", "labels": [1, 2, 3, 4, 5]}),
        (A.spearman, {}),
        (A.kendall, {}),
    ):
        shared = A.bootstrap_ci(statistic, a, b, **options)
        assert A.bootstrap_ci(statistic, padded_a, padded_b, **options) == shared
        assert A.bootstrap_ci(statistic, padded_b, padded_a, **options) == A.bootstrap_ci(
            statistic, b, a, **options
        )
    rows = [[x, y, None] for x, y in zip(a, b, strict=True)]
    singles = [[x, None, None] for x, _ in alone]
    for level in ("nominal", "ordinal", "interval"):
        alpha = A.bootstrap_ci(A.krippendorff_alpha, rows, level=level)
        assert A.bootstrap_ci(A.krippendorff_alpha, rows + singles, level=level) == alpha
    complete = [[x, y] for x, y in zip(a, b, strict=True)]
    fleiss = A.bootstrap_ci(A.fleiss_kappa, complete)
    assert A.bootstrap_ci(A.fleiss_kappa, complete + [[x, None] for x, _ in alone]) == fleiss
    # clustered: the items of the unused rows are no clusters to draw
    items = [f"i{k}" for k in range(100)]
    kappa = A.bootstrap_ci(A.cohen_kappa, a + a, b + b, clusters=items[:10] * 2)
    again = A.bootstrap_ci(A.cohen_kappa, padded_a + a, padded_b + b, clusters=items + items[:10])
    assert again == kappa


def test_bootstrap_ci_of_undefined_statistic() -> None:
    estimate = A.bootstrap_ci(A.spearman, [1, 1, 1], [1, 2, 3])
    assert estimate.value is None and estimate.low is None and estimate.high is None
    assert A.bootstrap_ci(A.spearman, [], []).n == 0
    assert A.bootstrap_ci(A.cohen_kappa, [1, 2], [1, 2]).to_dict()["confidence"] == 0.95
    one_pair = A.bootstrap_ci(A.exact_agreement, [1, None, None, None], [1, 2, 3, 4])
    assert (one_pair.value, one_pair.low, one_pair.high, one_pair.n) == (1.0, None, None, 1)


def test_ratings_matrix() -> None:
    items, raters, rows = A.ratings_matrix(
        {"judge": {"q1": 4, "q2": 5}, "alice": {"q1": 4, "q3": 1}}
    )
    assert items == ["q1", "q2", "q3"]
    assert raters == ["alice", "judge"]
    assert rows == [[4, 4], [None, 5], [1, None]]
    assert A.ratings_matrix({"a": {"x": 1}}, items=["x", "y"])[2] == [[1], [None]]


def test_clusters_resample_an_items_rows_together() -> None:
    """Rows of one item (its samples) are drawn together: each item's row given twice,
    clustered by item, gives exactly the interval of the items themselves; unclustered
    it would pretend to twice the items and narrow the interval."""
    rng = np.random.default_rng(4)
    a = rng.integers(1, 6, 40).tolist()
    b = [min(5, max(1, v + int(rng.integers(-1, 2)))) for v in a]
    items = [f"i{k}" for k in range(40)]
    once = A.bootstrap_ci(A.cohen_kappa, a, b, weights="quadratic", seed=3)
    twice = A.bootstrap_ci(A.cohen_kappa, a + a, b + b, weights="quadratic", seed=3,
                           clusters=items + items)  # fmt: skip
    assert (twice.value, twice.low, twice.high) == pytest.approx((once.value, once.low, once.high))
    naive = A.bootstrap_ci(A.cohen_kappa, a + a, b + b, weights="quadratic", seed=3)
    assert naive.high - naive.low < 0.85 * (once.high - once.low)  # type: ignore[operator]
    # one row per cluster is plain item resampling, draw for draw
    single = A.bootstrap_ci(A.spearman, a, b, seed=5, clusters=items)
    assert single == A.bootstrap_ci(A.spearman, a, b, seed=5)
    # the slow loop path (any function) takes clusters too
    loop = A.bootstrap_ci(lambda x, y: float(np.mean(x)), a + a, b + b, n_resamples=200,
                          seed=1, clusters=items + items)  # fmt: skip
    assert loop.low is not None and loop.low < loop.value < loop.high  # type: ignore[operator]


def test_clustered_mean_matches_the_items_own_interval() -> None:
    from harness.judge.consistency import bootstrap_mean

    rng = np.random.default_rng(9)
    values = (rng.random(50) < 0.3).astype(float).tolist()
    items = [f"i{k}" for k in range(50)]
    twice = bootstrap_mean(values + values, clusters=items + items, n_resamples=2000, seed=2)
    naive = bootstrap_mean(values + values, n_resamples=2000, seed=2)
    once = bootstrap_mean(values, n_resamples=2000, seed=2)
    width = once["ci_high"] - once["ci_low"]
    assert twice["value"] == once["value"] and twice["n"] == 100
    assert twice["ci_high"] - twice["ci_low"] == pytest.approx(width, rel=0.15)
    assert naive["ci_high"] - naive["ci_low"] < 0.85 * width


def test_one_informative_cluster_gives_no_interval() -> None:
    """Three rated rows of one item (the other items unrated): resampling items can only
    repeat that item, so there is no interval, as with one informative item."""
    a = [1, 2, 3, None, None]
    b = [1, 3, 2, None, None]
    estimate = A.bootstrap_ci(A.spearman, a, b, clusters=["i", "i", "i", "j", "k"])
    assert estimate.value == pytest.approx(0.5) and estimate.low is None and estimate.high is None
    # Fleiss' kappa leaves out rows with a missing rating: cluster a's row informs nothing
    rows = [[1, 2, None], [1, 1, 2], [2, 2, 1], [1, 1, 1]]
    estimate = A.bootstrap_ci(A.fleiss_kappa, rows, clusters=["a", "b", "b", "b"])
    assert estimate.low is None and estimate.high is None


def test_numpy_nan_is_a_missing_rating() -> None:
    assert A.is_missing(np.float32("nan")) and A.is_missing(np.float64("nan"))
    assert A.cohen_kappa([np.float32("nan"), 1, 2], [1, 1, 2]) == A.cohen_kappa([1, 2], [1, 2])


@pytest.mark.parametrize("n", [15, 40])
def test_bootstrap_intervals_are_bca_as_scipy_gives_them(n: int) -> None:
    """BCa (scipy.stats.bootstrap's default) on kappa and Spearman: the same interval
    within Monte Carlo error, where percentiles of kappa on 15 items lean low."""
    rng = np.random.default_rng(n)
    a = rng.integers(1, 6, n)
    b = np.clip(a + rng.integers(-1, 2, n), 1, 5)
    cases = [
        (A.cohen_kappa, {"weights": "quadratic"},
         lambda x, y: cohen_kappa_score(x, y, weights="quadratic")),
        (A.spearman, {}, lambda x, y: scipy.stats.spearmanr(x, y).statistic),
    ]  # fmt: skip
    for statistic, options, reference in cases:
        ours = A.bootstrap_ci(statistic, list(a), list(b), n_resamples=4000, seed=1, **options)
        theirs = scipy.stats.bootstrap(
            (a, b), reference, paired=True, vectorized=False, method="BCa", n_resamples=4000,
            random_state=1,
        ).confidence_interval  # fmt: skip
        assert ours.low == pytest.approx(theirs.low, abs=0.02)
        assert ours.high == pytest.approx(theirs.high, abs=0.02)
        assert ours.low <= ours.value <= ours.high
