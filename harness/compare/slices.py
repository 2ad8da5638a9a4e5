"""Slices (`--by FIELD`) and fairness figures across the groups of a metadata field.

Per slice and metric: both runs' values and the difference, each with a bootstrap CI.
Per metric and run: the largest gap between groups (highest minus lowest value, with a
stratified-bootstrap CI) and, for pass/fail metrics, the ratio of the lowest to the
highest pass rate (disparate-impact style; the four-fifths rule flags ratios under 0.8).
Only slices of at least --min-slice items count, and never the items without a value. The
interval of a largest gap leans upward (the maximum of noisy differences): it sizes the gap;
whether there is one at all is the permutation test's p-value (`harness.compare.fairness`).
Slices smaller than `min_slice` items are flagged as too small to support a conclusion.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from harness.compare.align import Alignment, PairedMetric
from harness.compare.analysis import difference_estimate, metric_kind, run_estimate
from harness.compare.fairness import gap_figures, gap_p_values, shuffle_count
from harness.compare.resample import metric_value, resample_metrics, run_columns
from harness.errors import ConfigError
from harness.stats import percentile_interval
from harness.store.db import Store

if TYPE_CHECKING:
    from harness.compare.analysis import Settings

MISSING = "(missing)"
MAX_GROUPS = 100


def metadata_fields(store: Store, run_id: str) -> list[str]:
    """Every metadata field any item of the run has."""
    return [
        row[0]
        for row in store.conn.execute(
            "SELECT DISTINCT j.key FROM items, json_each(items.metadata) AS j "
            "WHERE items.run_id = ? AND json_valid(items.metadata) ORDER BY j.key",
            [run_id],
        )
    ]


def group_label(value: Any) -> str:
    """A metadata value as the name of its slice (None: the "missing" slice)."""
    if value is None:
        return MISSING
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def item_groups(store: Store, run_id: str, run_label: str, field: str) -> dict[str, str]:
    """Item id -> the slice its metadata `field` puts it in (any key, matched exactly:
    a JSON path would misread a name holding a quote or a dot)."""
    fields = metadata_fields(store, run_id)
    if field not in fields:
        raise ConfigError(
            f"--by '{field}': no item of run {run_label} has that field; "
            f"fields: {', '.join(fields) or '(the items have no metadata)'}"
        )
    rows = store.conn.execute(
        "SELECT items.item_id, j.value, j.type FROM items, json_each(items.metadata) AS j "
        "WHERE items.run_id = ? AND json_valid(items.metadata) AND j.key = ?",
        [run_id, field],
    ).fetchall()
    # SQLite gives JSON true/false as 1/0: keep them apart from the numbers
    return {
        item_id: kind if kind in ("true", "false") else group_label(value)
        for item_id, value, kind in rows
    }


def fair_groups(names: Sequence[str], sizes: Sequence[int], min_slice: int) -> list[int]:
    """Indices of the groups fairness figures compare: at least `min_slice` items, and not
    the items without a value (a 2-item slice, or 'missing', would decide the largest gap
    and the lowest rate on noise)."""
    return [k for k, (g, n) in enumerate(zip(names, sizes, strict=True))
            if n >= min_slice and g != MISSING]  # fmt: skip


def slice_labels(store: Store, alignment: Alignment, field: str) -> list[str]:
    """The group of every shared item (from the baseline run's item metadata)."""
    run = alignment.baseline
    groups = item_groups(store, run.run_id, run.label(), field)
    return [groups.get(item_id, MISSING) for item_id in alignment.shared]


def _group_order(labels: Sequence[str]) -> list[str]:
    names = sorted(set(labels) - {MISSING})
    return [*names, MISSING] if MISSING in labels else names


def slice_report(
    store: Store, alignment: Alignment, paired: Sequence[PairedMetric], settings: Settings
) -> dict[str, Any]:
    """Per-slice estimates and fairness figures for every paired metric."""
    assert settings.by is not None
    labels = np.array(slice_labels(store, alignment, settings.by), dtype=object)
    groups = _group_order(list(labels))
    if len(groups) > MAX_GROUPS:
        raise ConfigError(
            f"--by '{settings.by}' has {len(groups)} distinct values; slices need a "
            f"categorical field (at most {MAX_GROUPS} groups), e.g. a category or language"
        )
    sizes = {g: int(np.count_nonzero(labels == g)) for g in groups}
    warnings = [
        f"slice {settings.by}={g} has {n} items (< {settings.min_slice}): too small to "
        "support a conclusion"
        for g, n in sizes.items()
        if n < settings.min_slice
    ]
    per_metric: dict[str, dict[str, Any]] = {
        m.label: {"scorer": m.scorer, "metric": m.metric, "slices": [], "fairness": {}}
        for m in paired
    }
    boot: dict[str, dict[str, list[np.ndarray]]] = {
        m.label: {"baseline": [], "candidate": [], "groups": []} for m in paired
    }
    kinds = {m.label: metric_kind(m) for m in paired}  # of the whole metric, not a slice
    for g_index, group in enumerate(groups):
        in_group = np.flatnonzero(labels == group)
        subsets = []
        for m in paired:
            keep = np.isin(m.positions, in_group)
            if keep.any():
                subsets.append(m.subset(keep))
        seed = [settings.seed, g_index + 1]
        for r in resample_metrics(subsets, settings.resamples, seed):
            m = r.metric
            n = int(m.positions.size)
            # each value and difference as the main table gives it (by the metric's kind)
            kind = kinds[m.label]
            diff = difference_estimate(kind, m, r, settings.confidence)
            base = run_estimate(kind, m.base, r.base_value, r.base_boot, settings.confidence)
            cand = run_estimate(kind, m.cand, r.cand_value, r.cand_boot, settings.confidence)
            per_metric[m.label]["slices"].append(
                {
                    "slice": group,
                    "n": n,
                    "small": n < settings.min_slice,
                    "baseline": {
                        "value": base.value,
                        "ci_low": base.ci_low,
                        "ci_high": base.ci_high,
                    },
                    "candidate": {
                        "value": cand.value,
                        "ci_low": cand.ci_low,
                        "ci_high": cand.ci_high,
                    },
                    "difference": {
                        "value": diff.value,
                        "ci_low": diff.ci_low,
                        "ci_high": diff.ci_high,
                    },
                }
            )
            boot[m.label]["baseline"].append(np.append(r.base_boot, r.base_value))
            boot[m.label]["candidate"].append(np.append(r.cand_boot, r.cand_value))
            boot[m.label]["groups"].append(np.array([group], dtype=object))
    tested: dict[str, list[str]] = {}
    for m in paired:
        names = [str(g[0]) for g in boot[m.label]["groups"]]
        counts = [row["n"] for row in per_metric[m.label]["slices"]]
        chosen = fair_groups(names, counts, settings.min_slice)
        left_out = [g for k, g in enumerate(names) if k not in chosen]
        if left_out:
            per_metric[m.label]["fairness"]["left_out"] = left_out
        if len(chosen) >= 2:
            tested[m.label] = [names[k] for k in chosen]
    p_values, shuffles = _gap_tests([m for m in paired if m.label in tested], labels, tested,
                                    settings)  # fmt: skip
    for m in paired:
        if m.label not in tested:
            continue
        names = tested[m.label]
        runs = boot[m.label]
        binary = kinds[m.label] in ("binary", "shares")  # pass rates: the min/max ratio applies
        gaps = {}
        for run in ("baseline", "candidate"):
            # (resamples + 1, groups); the last row is the observed one
            matrix = np.column_stack(runs[run])[:, [str(g[0]) in names for g in runs["groups"]]]
            gaps[run], figures = gap_figures(
                matrix, names, binary=binary, lower_is_better=not m.higher_is_better,
                confidence=settings.confidence, p_value=p_values[m.label, run],
                shuffles=shuffles[m.label],
            )  # fmt: skip
            per_metric[m.label]["fairness"][run] = figures
        change = gaps["candidate"] - gaps["baseline"]
        low, high = percentile_interval(change[:-1], settings.confidence)
        per_metric[m.label]["fairness"]["gap_change"] = {
            "value": float(change[-1]),
            "ci_low": low,
            "ci_high": high,
        }
    return {
        "field": settings.by,
        "groups": sizes,
        "min_slice": settings.min_slice,
        "metrics": list(per_metric.values()),
        "warnings": warnings,
    }


def _gap_tests(
    paired: Sequence[PairedMetric],
    labels: np.ndarray,
    tested: dict[str, list[str]],
    settings: Settings,
) -> tuple[dict[tuple[str, str], float | None], dict[str, int]]:
    """Each run's permutation p-value of "no slice differs", per metric; metrics scored
    on the same items share their shuffles."""
    sets: dict[bytes, list[PairedMetric]] = {}
    for m in paired:
        sets.setdefault(m.positions.tobytes(), []).append(m)
    p_values: dict[tuple[str, str], float | None] = {}
    shuffles: dict[str, int] = {}
    for members in sets.values():
        names = tested[members[0].label]
        item_slices = labels[members[0].positions]
        keep = np.isin(item_slices, names)
        parts, metrics, offset = [], [], 0
        for m in members:
            for columns in run_columns(m):
                parts.append(columns[keep])
                span = slice(offset, offset + columns.shape[1])
                metrics.append((span, functools.partial(metric_value, m)))
                offset += columns.shape[1]
        count = shuffle_count(settings.trials or settings.resamples, int(keep.sum()))
        found = gap_p_values(
            np.hstack(parts),
            np.searchsorted(names, item_slices[keep].astype(str)),
            metrics,
            count,
            [settings.seed, 0],
        )
        for k, m in enumerate(members):
            p_values[m.label, "baseline"], p_values[m.label, "candidate"] = found[2 * k : 2 * k + 2]
            shuffles[m.label] = count
    return p_values, shuffles
