"""Per-run slices (`--by FIELD`): each group's value with a bootstrap CI, and fairness gaps.

Every run is sliced on its own items (a comparison's paired per-slice differences come from
`harness.compare`). Per group, one bootstrap draw over the group's items serves every
metric; corpus metrics (BLEU, chrF) are recomputed from the group's summed statistics.
Fairness per metric: the largest gap between groups (highest minus lowest, with a
stratified-bootstrap CI) and, for pass/fail metrics, the ratio of the lowest to the highest
pass rate (the four-fifths rule flags ratios under 0.8).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from harness.compare.align import MetricKey, RunScores, build_scorer
from harness.compare.paired import bootstrap_sums, percentile_interval
from harness.compare.slices import MAX_GROUPS, MISSING, fair_groups, item_groups
from harness.errors import ConfigError
from harness.report.items import metric_label
from harness.scorers.base import Scorer
from harness.store.db import Store

FOUR_FIFTHS = 0.8


def run_groups(store: Store, run: RunScores, field: str) -> np.ndarray:
    """The group of each of the run's items (in `run.item_ids` order)."""
    groups = item_groups(store, run.run_id, run.label(), field)
    return np.array([groups.get(i, MISSING) for i in run.item_ids], dtype=object)


def _columns(
    run: RunScores, keys: Sequence[MetricKey], corpus: dict[MetricKey, Scorer]
) -> tuple[np.ndarray, list[tuple[int, int]]]:
    """Every metric's per-item columns side by side: values, or corpus statistics."""
    parts, spans, offset = [], [], 0
    for key in keys:
        scores = run.metrics[key]
        block = (
            scores.stats if key in corpus and scores.stats is not None else scores.values[:, None]
        )
        parts.append(block)
        spans.append((offset, offset + block.shape[1]))
        offset += block.shape[1]
    return np.hstack(parts), spans


def _values(
    key: MetricKey, corpus: dict[MetricKey, Scorer], sums: np.ndarray, n: int
) -> np.ndarray:
    if key in corpus:
        return np.asarray(corpus[key].corpus_value(key[1], sums), dtype=float)
    return sums[:, 0] / n if n else np.full(sums.shape[0], np.nan)


def run_slices(
    store: Store,
    run: RunScores,
    field: str,
    *,
    resamples: int,
    seed: int,
    confidence: float,
    min_slice: int,
    lower: dict[MetricKey, bool],
    warnings: list[str],
) -> dict[str, dict[str, Any]]:
    """metric label -> {"groups": [...], "fairness": {...}} for one run."""
    labels = run_groups(store, run, field)
    names = sorted(set(labels) - {MISSING})
    if MISSING in set(labels):
        names.append(MISSING)
    if len(names) > MAX_GROUPS:
        raise ConfigError(
            f"--by '{field}' has {len(names)} distinct values in run {run.label()}; slices "
            f"need a categorical field (at most {MAX_GROUPS} groups)"
        )
    keys = sorted(run.metrics)
    corpus: dict[MetricKey, Scorer] = {}
    for key in keys:
        if run.metrics[key].stats is not None:
            try:
                corpus[key] = build_scorer(run, key[0])
            except ConfigError as exc:
                warnings.append(f"run {run.name}: {metric_label(*key)} sliced by item means: {exc}")
    out: dict[str, dict[str, Any]] = {}
    boot: dict[MetricKey, list[np.ndarray]] = {key: [] for key in keys}
    present: dict[MetricKey, list[str]] = {key: [] for key in keys}
    counts: dict[MetricKey, list[int]] = {key: [] for key in keys}
    for g_index, group in enumerate(names):
        members = np.flatnonzero(labels == group)
        # metrics scored on the same items share one bootstrap draw
        sets: dict[bytes, tuple[np.ndarray, list[MetricKey]]] = {}
        for key in keys:
            scored = members[np.isfinite(run.metrics[key].values[members])]
            if scored.size:
                sets.setdefault(scored.tobytes(), (scored, []))[1].append(key)
        for scored, members_keys in sets.values():
            columns, spans = _columns(run, members_keys, corpus)
            columns = np.nan_to_num(columns[scored])
            n = int(scored.size)
            totals = columns.sum(axis=0)[None, :]
            sums = bootstrap_sums(columns, resamples, [seed, g_index + 1])
            for key, (start, stop) in zip(members_keys, spans, strict=True):
                observed = float(_values(key, corpus, totals[:, start:stop], n)[0])
                resampled = _values(key, corpus, sums[:, start:stop], n)
                low, high = percentile_interval(resampled, confidence)
                entry = out.setdefault(metric_label(*key), {"groups": [], "fairness": None})
                entry["groups"].append(
                    {
                        "slice": group,
                        "n": n,
                        "small": n < min_slice,
                        "value": observed,
                        "ci_low": low,
                        "ci_high": high,
                    }
                )
                boot[key].append(np.append(resampled, observed))
                present[key].append(group)
                counts[key].append(n)
    for key in keys:
        chosen = fair_groups(present[key], counts[key], min_slice)
        if len(chosen) >= 2:
            matrix = np.column_stack(boot[key])[:, chosen]
            values = run.metrics[key].values
            binary = bool(np.isin(values[np.isfinite(values)], (0.0, 1.0)).all())
            figures = fairness(
                matrix, [present[key][k] for k in chosen], binary, lower.get(key, False),
                confidence,
            )  # fmt: skip
            figures["left_out"] = [g for k, g in enumerate(present[key]) if k not in chosen]
            out[metric_label(*key)]["fairness"] = figures
    return out


def fairness(
    matrix: np.ndarray,
    names: Sequence[str],
    binary: bool,
    lower_is_better: bool,
    confidence: float,
) -> dict[str, Any]:
    """Largest gap between groups (and, for pass/fail metrics, the min/max rate ratio).

    `matrix` is (resamples + 1, groups): bootstrap rows, then the observed row.
    """
    observed = matrix[-1]
    with np.errstate(invalid="ignore"):
        gap = np.nanmax(matrix, axis=1) - np.nanmin(matrix, axis=1)
    low, high = percentile_interval(gap[:-1], confidence)
    worst = int(np.nanargmax(observed) if lower_is_better else np.nanargmin(observed))
    best = int(np.nanargmin(observed) if lower_is_better else np.nanargmax(observed))
    figures: dict[str, Any] = {
        "worst": names[worst],
        "best": names[best],
        "gap": {"value": float(gap[-1]), "ci_low": low, "ci_high": high},
        "ratio": None,
    }
    if binary:
        rates = 1 - matrix if lower_is_better else matrix
        with np.errstate(invalid="ignore", divide="ignore"):
            ratio = np.nanmin(rates, axis=1) / np.nanmax(rates, axis=1)
        r_low, r_high = percentile_interval(ratio[:-1], confidence)
        value = float(ratio[-1]) if np.isfinite(ratio[-1]) else None
        figures["ratio"] = {
            "value": value,
            "ci_low": r_low,
            "ci_high": r_high,
            "below_four_fifths": value is not None and value < FOUR_FIFTHS,
        }
    return figures
