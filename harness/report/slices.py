"""Per-run slices (`--by FIELD`): each group's value with a bootstrap CI, and fairness gaps.

Every run is sliced on its own items (a comparison's paired per-slice differences come from
`harness.compare`). Per group, one bootstrap draw over the group's items serves every
metric; corpus metrics (BLEU, chrF) are recomputed from the group's summed statistics.
Fairness per metric (`harness.compare.fairness`): the largest gap between groups (highest
minus lowest, with a stratified-bootstrap CI and a permutation p-value for "no slice
differs") and, for pass/fail metrics, the ratio of the lowest to the highest pass rate (the
four-fifths rule flags ratios under 0.8).
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any

import numpy as np

from harness.compare.align import MetricKey, RunScores, build_scorer
from harness.compare.analysis import run_estimate, values_kind
from harness.compare.fairness import gap_figures, gap_p_values, shuffle_count
from harness.compare.paired import bootstrap_sums
from harness.compare.slices import MAX_GROUPS, MISSING, fair_groups, item_groups
from harness.errors import ConfigError
from harness.report.items import metric_label
from harness.scorers.base import Scorer
from harness.store.db import Store


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
    # a slice takes the kind of the whole metric
    kinds = {key: values_kind(run.metrics[key].values, run.metrics[key].pass_fail) for key in keys}
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
                # as compare gives a run's value: Wilson for 0/1 scores, none unvarying
                kind = "corpus" if key in corpus else kinds[key]
                interval = run_estimate(
                    kind, run.metrics[key].values[scored], observed, resampled, confidence
                )
                low, high = interval.ci_low, interval.ci_high
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
    tested: dict[MetricKey, list[str]] = {}
    for key in keys:
        chosen = fair_groups(present[key], counts[key], min_slice)
        if len(chosen) >= 2:
            tested[key] = [present[key][k] for k in chosen]
    p_values, shuffles = _gap_tests(run, labels, tested, corpus, resamples, seed)
    for key, names in tested.items():
        chosen = [k for k, g in enumerate(present[key]) if g in names]
        matrix = np.column_stack(boot[key])[:, chosen]
        rates = kinds[key] in ("binary", "shares")
        _, figures = gap_figures(
            matrix, names, binary=rates, lower_is_better=lower.get(key, False),
            confidence=confidence, p_value=p_values[key], shuffles=shuffles[key],
        )  # fmt: skip
        figures["left_out"] = [g for g in present[key] if g not in names]
        out[metric_label(*key)]["fairness"] = figures
    return out


def _gap_tests(
    run: RunScores,
    labels: np.ndarray,
    tested: dict[MetricKey, list[str]],
    corpus: dict[MetricKey, Scorer],
    resamples: int,
    seed: int,
) -> tuple[dict[MetricKey, float | None], dict[MetricKey, int]]:
    """Per metric, the permutation p-value of "no slice differs"; metrics scored on the
    same items of the same slices share their shuffles."""
    sets: dict[tuple[bytes, tuple[str, ...]], list[MetricKey]] = {}
    for key, names in tested.items():
        values = run.metrics[key].values
        items = np.flatnonzero(np.isin(labels, names) & np.isfinite(values))
        sets.setdefault((items.tobytes(), tuple(names)), []).append(key)
    p_values: dict[MetricKey, float | None] = {}
    shuffles: dict[MetricKey, int] = {}
    for (raw, slice_names), members in sets.items():
        items = np.frombuffer(raw, dtype=np.intp)
        columns, spans = _columns(run, members, corpus)
        metrics = [
            (slice(start, stop), functools.partial(_values, key, corpus))
            for key, (start, stop) in zip(members, spans, strict=True)
        ]
        count = shuffle_count(resamples, int(items.size))
        found = gap_p_values(
            np.nan_to_num(columns[items]),
            np.searchsorted(slice_names, labels[items].astype(str)),
            metrics,
            count,
            [seed, 0],
        )
        for key, p in zip(members, found, strict=True):
            p_values[key], shuffles[key] = p, count
    return p_values, shuffles
