"""A CI quality gate: non-inferiority of a candidate run, decided on the CI bound.

For a higher-is-better metric the candidate passes when the lower bound of the paired
interval of (candidate - baseline) that compare reports (`difference_estimate`) is at
least `-max_drop`: a drop larger than `max_drop` is then ruled out at that confidence.
The raw mean difference never decides. The interval is two-sided at `confidence`, as
non-inferiority trials report it, so its bound is a one-sided test at level
(1 - confidence) / 2.

A metric also fails when the paired items cannot speak for the run: fewer than
`min_coverage` of the baseline's items scored in both runs (items missing from the
candidate, or left unscored), or fewer than `min_items` in all.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from harness.compare.align import (
    NO_SHARED_SCORED,
    PairedMetric,
    Skipped,
    align,
    is_lower_better,
    load_runs,
    pair_metrics,
    scorer_class,
)
from harness.compare.analysis import difference_estimate, metric_kind
from harness.compare.resample import resample_metrics
from harness.errors import ConfigError
from harness.store.db import Store


@dataclass
class GateResult:
    """The verdict on one metric, with the figures behind it."""

    metric: str
    passed: bool
    n: int
    baseline: float | None
    candidate: float | None
    difference: float | None
    ci_low: float | None
    ci_high: float | None
    bound: float | None
    """None where no item is scored in both runs (then FAIL)."""
    max_drop: float
    higher_is_better: bool
    confidence: float
    baseline_items: int = 0
    min_coverage: float = 0.0
    min_items: int = 0
    too_few: str | None = None
    """Why the paired items cannot speak for the run, when they cannot (then FAIL)."""

    def line(self) -> str:
        """One line saying what was decided and why."""
        if (
            self.bound is None
            or self.difference is None
            or self.ci_low is None
            or self.ci_high is None
            or self.baseline is None
            or self.candidate is None
        ):
            return f"FAIL {self.metric}: {self.too_few}"
        level = f"{self.confidence:.0%}"
        head = (
            f"{'PASS' if self.passed else 'FAIL'} {self.metric}: candidate - baseline = "
            f"{self.difference + 0.0:+.4g} ({level} CI {self.ci_low + 0.0:+.4g} to "
            f"{self.ci_high + 0.0:+.4g}, "
            f"n={self.n} of the baseline's {self.baseline_items} items; baseline "
            f"{self.baseline:.4g}, candidate {self.candidate:.4g})"
        )
        if self.too_few is not None:
            return f"{head}; {self.too_few}"
        bound = self.bound + 0.0  # never "-0"
        if self.higher_is_better:
            if self.passed:
                return f"{head}; lower bound {bound:+.4g} >= {0.0 - self.max_drop:+.4g}"
            return (
                f"{head}; lower bound {bound:+.4g} < {0.0 - self.max_drop:+.4g}: a drop "
                f"larger than {self.max_drop:g} cannot be ruled out"
            )
        if self.passed:
            return f"{head}; upper bound {bound:+.4g} <= {self.max_drop:+.4g} (lower is better)"
        return (
            f"{head}; upper bound {bound:+.4g} > {self.max_drop:+.4g}: a rise larger "
            f"than {self.max_drop:g} cannot be ruled out (lower is better)"
        )


def matches(name: str, metric: PairedMetric | Skipped) -> bool:
    return name in (
        metric.metric,
        f"{metric.scorer}/{metric.metric}",
        f"{metric.scorer}.{metric.metric}",
    )


def resolve(name: str, paired: Sequence[PairedMetric], skipped: Sequence[Skipped]) -> PairedMetric:
    """The metric a --metric NAME means: METRIC, SCORER/METRIC or SCORER.METRIC."""
    found = [m for m in paired if matches(name, m)]
    if len(found) == 1:
        return found[0]
    if found:
        options = ", ".join(m.label for m in found)
        raise ConfigError(f"--metric '{name}' is ambiguous: use one of {options}")
    for skip in skipped:
        if matches(name, skip):
            raise ConfigError(f"cannot gate on {skip.scorer}/{skip.metric}: {skip.reason}")
    available = ", ".join(m.label for m in paired) or "none"
    raise ConfigError(f"no metric '{name}' in both runs; metrics they share: {available}")


def max_drops_for(metrics: Sequence[str], max_drops: Sequence[float]) -> list[float]:
    """One --max-drop for all metrics, or one per --metric in order."""
    if not metrics:
        raise ConfigError("name at least one --metric to gate on")
    if any(not drop >= 0 or drop == float("inf") for drop in max_drops):
        raise ConfigError("--max-drop is an allowed loss: give it as a finite number >= 0")
    if len(max_drops) == 1:
        return list(max_drops) * len(metrics)
    if len(max_drops) != len(metrics):
        raise ConfigError(
            f"{len(metrics)} --metric but {len(max_drops)} --max-drop: give one --max-drop "
            "for all, or one per --metric in the same order"
        )
    return list(max_drops)


def run_gate(
    store: Store,
    candidate: str,
    baseline: str,
    metrics: Sequence[str],
    max_drops: Sequence[float],
    *,
    confidence: float = 0.95,
    resamples: int = 1000,
    seed: int = 12345,
    lower_is_better: frozenset[str] = frozenset(),
    min_coverage: float = 0.95,
    min_items: int = 10,
) -> list[GateResult]:
    """Decide every --metric; errors (no run, no metric, no shared item) raise ConfigError."""
    drops = max_drops_for(metrics, max_drops)
    if not 0 < confidence < 1:
        raise ConfigError(f"--confidence must be between 0 and 1, not {confidence}")
    if not 0 <= min_coverage <= 1:
        raise ConfigError(f"--min-coverage must be between 0 and 1, not {min_coverage}")
    if min_items < 1:
        raise ConfigError("--min-items must be at least 1")
    if resamples < 1:
        raise ConfigError("--resamples must be at least 1")
    base, cand = load_runs(store, [baseline, candidate])
    for run in (base, cand):
        status = store.get_run(run.run_id)["status"]
        if status != "completed":
            flag = "--retry-errors" if status == "failed" else "--resume"
            raise ConfigError(
                f"run {run.label()} is {status}, not completed: its items cannot speak for "
                f"the dataset; finish it first (`harness run ... --name {run.name} {flag}`)"
            )
    store.check_same_inputs(base.run_id, cand.run_id)
    alignment = align(base, cand)
    paired, skipped = pair_metrics(alignment, lower_is_better)
    baseline_items = len(alignment.shared) + len(alignment.only_baseline)
    chosen: list[PairedMetric | Skipped] = []
    for name in metrics:
        unscored = [s for s in skipped if s.reason == NO_SHARED_SCORED and matches(name, s)]
        found = [m for m in paired if matches(name, m)]
        # a candidate that scored none of the baseline's items fails: no input error
        chosen.append(unscored[0] if unscored and not found else resolve(name, paired, skipped))
    unique = list({m.key: m for m in chosen if isinstance(m, PairedMetric)}.values())
    resampled = {r.metric.key: r for r in resample_metrics(unique, resamples, seed)}
    results = []
    for metric, drop in zip(chosen, drops, strict=True):
        if isinstance(metric, Skipped):
            key = (metric.scorer, metric.metric)
            lower = is_lower_better(scorer_class(metric.scorer), key, lower_is_better)
            results.append(
                GateResult(
                    f"{metric.scorer}/{metric.metric}", False, 0, None, None, None, None, None,
                    None, drop, not lower, confidence, baseline_items, min_coverage, min_items,
                    f"no item of the baseline's {baseline_items} is scored in both runs",
                )
            )  # fmt: skip
            continue
        r = resampled[metric.key]
        diff = difference_estimate(metric_kind(metric), metric, r, confidence)
        low, high = diff.ci_low, diff.ci_high
        bound = low if metric.higher_is_better else high
        slack = 1e-9 * max(1.0, drop)  # a bound that equals the allowed drop passes
        passed = bound is not None and (
            bound >= -drop - slack if metric.higher_is_better else bound <= drop + slack
        )
        n = int(metric.positions.size)
        too_few = None
        if bound is None:
            too_few = f"only {n} paired items: too few to resample, no interval"
        elif n < min_items:
            too_few = f"only {n} paired items (--min-items {min_items}): too few to decide"
        elif n < min_coverage * baseline_items - 1e-9:  # 7 of 100 meets 0.07
            too_few = (
                f"only {n / baseline_items:.1%} of the baseline's items are scored in both runs "
                f"(--min-coverage {min_coverage:.0%}): the gate cannot speak for the rest"
            )
        results.append(
            GateResult(
                metric.label,
                bool(passed) and too_few is None,
                n,
                r.base_value,
                r.cand_value,
                r.difference,
                low,
                high,
                bound,
                drop,
                metric.higher_is_better,
                confidence,
                baseline_items,
                min_coverage,
                min_items,
                too_few,
            )
        )
    return results
