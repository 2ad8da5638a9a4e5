"""Compare runs: per metric, both values, the difference with its CI, and the right test.

Tests by kind of metric (decided from the paired values):
- corpus (the scorer declares it): approximate randomization over swapped sufficient
  statistics (sacrebleu's paired AR);
- binary (every value 0 or 1): McNemar on the discordant items;
- shares (every sample 0 or 1, items with several samples at their mean, e.g. a pass/fail
  judge over --samples 3): approximate randomization;
- ordinal (integers on a scale of at most 11 points, e.g. judge scores 1-5): Wilcoxon
  signed-rank;
- continuous: approximate randomization of the mean difference.
Approximate randomization and sacrebleu's paired-bootstrap p-values are reported for every
metric too; the bootstrap one is never the deciding test: centring the absolute resampled
differences (as sacrebleu does) rejects a true null 13-20% of the time at the 5% level,
while randomization keeps to 5% (tests/test_compare_stats.py measures both). The primary
p-values of every metric and candidate form one family for Holm-Bonferroni (or
Benjamini-Hochberg).

Difference intervals are bootstrap percentiles; for 0/1 scores and shares the more cautious
of those and Agresti and Min's (2005) interval for paired shares, which stays open when few
items differ (for shares generalised: the changes' sum and sum of squares stand for the
discordant counts). Below 5 paired items only 0/1 scores and shares get one.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from harness.compare.align import (
    Alignment,
    PairedMetric,
    RunScores,
    Skipped,
    align,
    load_runs,
    pair_metrics,
)
from harness.compare.paired import bootstrap_p_value, resampled_p_value
from harness.compare.resample import Resampled, resample_metrics
from harness.errors import ConfigError
from harness.stats import (
    benjamini_hochberg,
    holm,
    mcnemar,
    paired_share_difference,
    percentile_interval,
    wilcoxon_signed_rank,
    wilson_interval,
)
from harness.store.db import Store

ORDINAL_MAX_RANGE = 10
TIE_TOLERANCE = 1e-12
TEXT_LIMIT = 120


MIN_RESAMPLED_ITEMS = 5
"""Below this many paired items a bootstrap resamples the same few values: its p-value and
interval are artefacts (n=1 gives p = 1/(R+1)), so no test is reported."""


@dataclass
class Settings:
    """How resampling and testing are done; everything that changes a number."""

    resamples: int = 1000
    trials: int | None = None
    """Approximate-randomization trials (default: as many as bootstrap resamples)."""
    seed: int = 12345
    """sacrebleu's default seed, so its paired tests are reproduced draw for draw."""
    confidence: float = 0.95
    correction: str = "holm"
    top: int = 5
    """Regressed items listed per metric."""
    by: str | None = None
    min_slice: int = 30
    lower_is_better: frozenset[str] = frozenset()

    def check(self) -> None:
        if self.resamples < 1:
            raise ConfigError("--resamples must be at least 1")
        if self.trials is not None and self.trials < 1:
            raise ConfigError("--trials must be at least 1")
        if not 0 < self.confidence < 1:
            raise ConfigError(f"--confidence must be between 0 and 1, not {self.confidence}")
        if self.correction not in ("holm", "bh"):
            raise ConfigError(f"--correction must be holm or bh, not '{self.correction}'")


EXCLUDED_WARNING = 0.05
"""Share of shared items unscored in one run above which compare warns."""


@dataclass
class Estimate:
    value: float | None
    ci_low: float | None = None
    ci_high: float | None = None


@dataclass
class MetricResult:
    """One metric, baseline against one candidate."""

    scorer: str
    metric: str
    kind: str
    test: str
    n: int
    excluded: int
    unscored: dict[str, int]
    higher_is_better: bool
    baseline: Estimate
    candidate: Estimate
    difference: Estimate
    p_value: float
    p_adjusted: float | None = None
    significant: bool | None = None
    p_bootstrap: float | None = None
    p_randomization: float | None = None
    statistic: float | None = None
    test_direction: int = 0
    """The sign of the change the test itself measures, oriented so +1 is an improvement:
    the mean difference for bootstrap and McNemar, the signed-rank sum for Wilcoxon (which
    can disagree with the mean: many small gains against a few large losses)."""
    wins: int = 0
    ties: int = 0
    losses: int = 0
    regressions: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class PairComparison:
    baseline: dict[str, str]
    candidate: dict[str, str]
    items: dict[str, Any]
    metrics: list[MetricResult]
    skipped: list[Skipped]
    slices: dict[str, Any] | None = None


@dataclass
class ComparisonReport:
    settings: dict[str, Any]
    comparisons: list[PairComparison]
    warnings: list[str]

    def to_dict(self) -> dict[str, Any]:
        return _clean(asdict(self))


def _clean(value: Any) -> Any:
    """JSON-safe: NaN and infinities become None."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(v) for v in value]
    return value


def metric_kind(metric: PairedMetric) -> str:
    if metric.corpus is not None:
        return "corpus"
    return values_kind(np.concatenate([metric.base, metric.cand]), metric.pass_fail)


def values_kind(values: np.ndarray, pass_fail: bool) -> str:
    """binary, shares (of 0/1 samples), ordinal or continuous, from the item values and
    whether every sample behind them is 0 or 1."""
    values = values[np.isfinite(values)]
    if not values.size:
        return "continuous"
    if np.isin(values, (0.0, 1.0)).all():
        return "binary"
    if pass_fail:
        return "shares"
    if (np.floor(values) == values).all() and values.max() - values.min() <= ORDINAL_MAX_RANGE:
        return "ordinal"
    return "continuous"


def estimate(value: float, resampled: np.ndarray, confidence: float) -> Estimate:
    low, high = percentile_interval(resampled, confidence)
    return Estimate(value, low, high)


def run_estimate(
    kind: str, values: np.ndarray, value: float, resampled: np.ndarray, confidence: float
) -> Estimate:
    """One run's value on the paired items: a Wilson interval for 0/1 scores (a bootstrap
    of 20 zeros would claim [0, 0]: no uncertainty at all), for shares the more cautious of
    Wilson and the bootstrap (a value in [0, 1] varies at most as a 0/1 one of its mean);
    none for other values that do not vary (corpus metrics aside); else the bootstrap
    percentiles."""
    if kind in ("binary", "shares") and values.size:
        low, high = wilson_interval(float(values.sum()), int(values.size), confidence)
        if kind == "shares":
            boot_low, boot_high = percentile_interval(resampled, confidence)
            low, high = min(low, boot_low), max(high, boot_high)
        return Estimate(value, low, high)
    if kind != "corpus" and values.size and float(np.ptp(values)) == 0.0:
        return Estimate(value)
    return estimate(value, resampled, confidence)


def difference_estimate(kind: str, m: PairedMetric, r: Resampled, confidence: float) -> Estimate:
    """The candidate - baseline difference with its interval, one rule for compare, its
    slices and the gate. 0/1 scores and shares: the more cautious of the bootstrap and
    Agresti-Min's interval for paired shares (a bootstrap of few discordant pairs claims
    [0, 0]). Other scores: the bootstrap, and no interval below MIN_RESAMPLED_ITEMS paired
    items."""
    low, high = percentile_interval(r.cand_boot - r.base_boot, confidence)
    if kind in ("binary", "shares"):
        am_low, am_high = paired_share_difference(m.cand - m.base, confidence)
        if kind == "shares" and m.positions.size < MIN_RESAMPLED_ITEMS:
            return Estimate(r.difference, am_low, am_high)
        return Estimate(r.difference, min(low, am_low), max(high, am_high))
    if m.positions.size < MIN_RESAMPLED_ITEMS:
        return Estimate(r.difference)
    return Estimate(r.difference, low, high)


def signed_rank_sum(differences: np.ndarray) -> float:
    """R+ - R-: ranks of |d| (zeros dropped, ties averaged) summed with the signs of d."""
    from scipy.stats import rankdata

    nonzero = differences[differences != 0]
    if nonzero.size == 0:
        return 0.0
    return float(np.sum(np.sign(nonzero) * rankdata(np.abs(nonzero))))


def metric_result(r: Resampled, settings: Settings, shared: Sequence[str]) -> MetricResult:
    """Estimates, tests, win/tie/loss and the most regressed items of one metric."""
    m = r.metric
    kind = metric_kind(m)
    p_boot = bootstrap_p_value(r.base_boot, r.cand_boot, r.difference)
    p_ar = None if r.randomized is None else resampled_p_value(r.randomized, abs(r.difference))
    statistic: float | None = None
    if kind == "binary":
        discordant_b = int(np.count_nonzero((m.base == 1) & (m.cand == 0)))
        discordant_c = int(np.count_nonzero((m.base == 0) & (m.cand == 1)))
        statistic, p_value, exact = mcnemar(discordant_b, discordant_c)
        test = "McNemar exact" if exact else "McNemar chi2"
    elif kind == "ordinal":
        statistic, p_value = wilcoxon_signed_rank(m.cand - m.base)
        test = "Wilcoxon signed-rank"
    elif m.positions.size < MIN_RESAMPLED_ITEMS:
        test, p_value = f"none (n < {MIN_RESAMPLED_ITEMS}: too few items to resample)", 1.0
    else:
        assert p_ar is not None, "Settings.check requires randomization trials"
        test, p_value = "approximate randomization", p_ar
    sign = 1.0 if m.higher_is_better else -1.0
    change = signed_rank_sum(m.cand - m.base) if kind == "ordinal" else r.difference
    gain = sign * (m.cand - m.base)
    wins = int(np.count_nonzero(gain > TIE_TOLERANCE))
    losses = int(np.count_nonzero(gain < -TIE_TOLERANCE))
    order = np.argsort(gain, kind="stable")[: settings.top]
    regressions = [
        {
            "item_id": shared[int(m.positions[i])],
            "baseline": float(m.base[i]),
            "candidate": float(m.cand[i]),
            "delta": float(m.cand[i] - m.base[i]),
        }
        for i in order
        if gain[i] < -TIE_TOLERANCE
    ]
    return MetricResult(
        scorer=m.scorer,
        metric=m.metric,
        kind=kind,
        test=test,
        n=int(m.positions.size),
        excluded=m.excluded,
        unscored={"baseline": m.unscored[0], "candidate": m.unscored[1]},
        higher_is_better=m.higher_is_better,
        baseline=run_estimate(kind, m.base, r.base_value, r.base_boot, settings.confidence),
        candidate=run_estimate(kind, m.cand, r.cand_value, r.cand_boot, settings.confidence),
        difference=difference_estimate(kind, m, r, settings.confidence),
        p_value=float(p_value),
        p_bootstrap=p_boot,
        p_randomization=p_ar,
        statistic=statistic,
        test_direction=int(np.sign(sign * change)),
        wins=wins,
        ties=int(m.positions.size) - wins - losses,
        losses=losses,
        regressions=regressions,
    )


def _truncate(text: str | None, limit: int = TEXT_LIMIT) -> str | None:
    if text is None:
        return None
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def attach_texts(store: Store, alignment: Alignment, results: Sequence[MetricResult]) -> None:
    """Add each regressed item's input and both responses (sample 0), truncated."""
    ids = sorted({r["item_id"] for result in results for r in result.regressions})
    if not ids:
        return
    marks = ", ".join("?" for _ in ids)
    base_id, cand_id = alignment.baseline.run_id, alignment.candidate.run_id
    inputs = dict(
        store.conn.execute(
            f"SELECT item_id, input FROM items WHERE run_id = ? AND item_id IN ({marks})",
            [base_id, *ids],
        ).fetchall()
    )
    responses: dict[tuple[str, str], str] = {}
    for run_id, item_id, text in store.conn.execute(
        f"SELECT run_id, item_id, text FROM responses WHERE run_id IN (?, ?) AND sample = 0 "
        f"AND item_id IN ({marks})",
        [base_id, cand_id, *ids],
    ):
        responses[(run_id, item_id)] = text
    for result in results:
        for regression in result.regressions:
            item_id = regression["item_id"]
            regression["input"] = _truncate(inputs.get(item_id))
            regression["baseline_response"] = _truncate(responses.get((base_id, item_id)))
            regression["candidate_response"] = _truncate(responses.get((cand_id, item_id)))


def adjust(results: Sequence[MetricResult], settings: Settings) -> None:
    """Multiple-comparison adjustment over every metric and candidate together. A metric
    with too few items for a test is no hypothesis tested: it stays out of the family
    (its p of 1 would only make the others' adjustment stricter)."""
    tested = [r for r in results if not r.test.startswith("none")]
    for result in results:
        result.p_adjusted, result.significant = 1.0, False
    if not tested:
        return
    p_values = [r.p_value for r in tested]
    adjusted = holm(p_values) if settings.correction == "holm" else benjamini_hochberg(p_values)
    alpha = 1 - settings.confidence
    for result, p in zip(tested, adjusted, strict=True):
        result.p_adjusted = p
        result.significant = p < alpha


def compare_pair(
    store: Store, alignment: Alignment, settings: Settings
) -> tuple[PairComparison, list[PairedMetric]]:
    """Everything about one candidate against the baseline, before adjustment."""
    paired, skipped = pair_metrics(alignment, settings.lower_is_better)
    trials = settings.resamples if settings.trials is None else settings.trials
    resampled = resample_metrics(paired, settings.resamples, settings.seed, trials)
    results = [metric_result(r, settings, alignment.shared) for r in resampled]
    attach_texts(store, alignment, results)
    base, cand = alignment.baseline, alignment.candidate
    items = {
        "shared": len(alignment.shared),
        "only_baseline": len(alignment.only_baseline),
        "only_candidate": len(alignment.only_candidate),
        "only_baseline_ids": alignment.only_baseline[:20],
        "only_candidate_ids": alignment.only_candidate[:20],
    }
    comparison = PairComparison(
        {"run_id": base.run_id, "name": base.name},
        {"run_id": cand.run_id, "name": cand.name},
        items,
        results,
        skipped,
    )
    return comparison, paired


def compare_runs(store: Store, refs: Sequence[str], settings: Settings) -> ComparisonReport:
    """Compare every run after the first (candidates) with the first (baseline)."""
    settings.check()
    if len(refs) < 2:
        raise ConfigError("name a baseline run and at least one candidate run")
    return compare_loaded(store, load_runs(store, refs), settings)


def compare_loaded(store: Store, runs: Sequence[RunScores], settings: Settings) -> ComparisonReport:
    """`compare_runs` on runs already read from the store (the report reads them once)."""
    settings.check()
    baseline = runs[0]
    warnings: list[str] = []
    comparisons = []
    for candidate in runs[1:]:
        alignment = align(baseline, candidate)
        comparison, paired = compare_pair(store, alignment, settings)
        differing, first = store.input_mismatches(baseline.run_id, candidate.run_id)
        if differing:
            warnings.append(
                f"{candidate.label()}: {differing} shared item id(s) have different inputs "
                f"(first: '{first}'): those pairs are not answers to the same prompt"
            )
        if alignment.only_baseline or alignment.only_candidate:
            warnings.append(
                f"{candidate.label()}: {len(alignment.only_baseline)} items only in the "
                f"baseline and {len(alignment.only_candidate)} only in the candidate are left out"
            )
        for skip in comparison.skipped:
            warnings.append(
                f"{candidate.label()}: skipped {skip.scorer}/{skip.metric}: {skip.reason}"
            )
        for result in comparison.metrics:
            # items unscored in one run leave the comparison: it speaks only for the rest
            if result.excluded > EXCLUDED_WARNING * len(alignment.shared):
                warnings.append(
                    f"{candidate.label()}: {result.scorer}/{result.metric} leaves out "
                    f"{result.excluded} of {len(alignment.shared)} shared items, unscored in "
                    "one run: the comparison speaks only for the items scored in both"
                )
        if not comparison.metrics:
            warnings.append(f"{candidate.label()}: no metric can be compared with the baseline")
        if settings.by:
            from harness.compare.slices import slice_report

            comparison.slices = slice_report(store, alignment, paired, settings)
            warnings.extend(comparison.slices["warnings"])
        comparisons.append(comparison)
    adjust([m for c in comparisons for m in c.metrics], settings)
    described = {
        "seed": settings.seed,
        "resamples": settings.resamples,
        "trials": settings.resamples if settings.trials is None else settings.trials,
        "confidence": settings.confidence,
        "correction": settings.correction,
        "by": settings.by,
    }
    return ComparisonReport(described, comparisons, warnings)
