"""Item-level figures of a run from numpy arrays: histograms, worst items, latency, tokens.

Per-item metric values come from `harness.compare.align.load_run` (one query per run, an
item's samples averaged), so a 100k-item run costs a few arrays, never a Python object per
score. Only the items shown (the worst N per metric) are read back with their texts.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from harness.compare.align import MetricKey, RunScores
from harness.store.db import Store

DISCRETE_MAX_RANGE = 20
"""Integer-valued metrics spanning at most this many points get one bar per point."""
LATENCY_TAIL = 99.5
"""The latency histogram spans 0 to this percentile; slower calls land in the last bin."""


def metric_label(scorer: str, metric: str) -> str:
    """METRIC, or SCORER/METRIC where the two differ (as `harness compare` shows them)."""
    return metric if scorer == metric else f"{scorer}/{metric}"


def finite(values: np.ndarray) -> np.ndarray:
    return values[np.isfinite(values)]


def value_kind(values: np.ndarray) -> str:
    """binary (0/1), discrete (integers on a short scale) or continuous."""
    if values.size and np.isin(values, (0.0, 1.0)).all():
        return "binary"
    if (
        values.size
        and (np.floor(values) == values).all()
        and values.max() - values.min() <= DISCRETE_MAX_RANGE
    ):
        return "discrete"
    return "continuous"


def histogram(per_run: Sequence[np.ndarray], bins: int) -> dict[str, Any]:
    """Counts of every run over shared bin edges (one bar per point for discrete values)."""
    arrays = [finite(v) for v in per_run]
    together = np.concatenate(arrays) if arrays else np.zeros(0)
    kind = value_kind(together)
    if together.size == 0:
        edges = np.array([0.0, 1.0])
    elif kind != "continuous":
        low, high = (0.0, 1.0) if kind == "binary" else (together.min(), together.max())
        edges = np.arange(low - 0.5, high + 1.0, 1.0)
    else:
        low, high = float(together.min()), float(together.max())
        if high <= low:
            low, high = low - 0.5, high + 0.5
        edges = np.linspace(low, high, bins + 1)
    counts = [np.histogram(v, bins=edges)[0] for v in arrays]
    return {
        "kind": kind,
        "edges": [float(e) for e in edges],
        "counts": [[int(c) for c in run] for run in counts],
        "n": [int(v.size) for v in arrays],
        "mean": [float(v.mean()) if v.size else None for v in arrays],
    }


def worst_positions(values: np.ndarray, lower_is_better: bool, top: int) -> np.ndarray:
    """Positions of the `top` worst scored items (lowest, or highest where lower is better);
    ties keep the run's item order."""
    scored = np.flatnonzero(np.isfinite(values))
    if scored.size == 0 or top <= 0:
        return np.zeros(0, dtype=np.int64)
    keys = values[scored] if not lower_is_better else -values[scored]
    order = np.argsort(keys, kind="stable")[:top]
    return scored[order]


def truncate(text: str | None, limit: int) -> str | None:
    if text is None or len(text) <= limit:
        return text
    return text[: limit - 1] + "…"


def item_texts(
    store: Store, run_ids: Sequence[str], item_ids: Sequence[str], limit: int
) -> tuple[dict[str, str], dict[tuple[str, str], dict[str, Any]]]:
    """Inputs (from the first run that has the item) and sample-0 responses of a few items."""
    ids = sorted(set(item_ids))
    inputs: dict[str, str] = {}
    responses: dict[tuple[str, str], dict[str, Any]] = {}
    for start in range(0, len(ids), 500):
        chunk = ids[start : start + 500]
        marks = ", ".join("?" for _ in chunk)
        for run_id in run_ids:
            for item_id, text in store.conn.execute(
                f"SELECT item_id, input FROM items WHERE run_id = ? AND item_id IN ({marks})",
                [run_id, *chunk],
            ):
                inputs.setdefault(item_id, truncate(text, limit) or "")
            for item_id, text, error in store.conn.execute(
                f"SELECT item_id, text, error FROM responses WHERE run_id = ? AND sample = 0 "
                f"AND item_id IN ({marks})",
                [run_id, *chunk],
            ):
                responses[(run_id, item_id)] = {
                    "text": truncate(text, limit),
                    "error": truncate(error, limit),
                }
    return inputs, responses


def worst_items(
    store: Store,
    run: RunScores,
    lower: dict[MetricKey, bool],
    top: int,
    text_limit: int,
) -> list[dict[str, Any]]:
    """Per metric, the `top` worst items with their input, response and every score."""
    chosen: list[tuple[MetricKey, int]] = []
    for key, scores in sorted(run.metrics.items()):
        for position in worst_positions(scores.values, lower.get(key, False), top):
            chosen.append((key, int(position)))
    if not chosen:
        return []
    ids = [run.item_ids[p] for _, p in chosen]
    inputs, responses = item_texts(store, [run.run_id], ids, text_limit)
    rows = []
    for key, position in chosen:
        item_id = run.item_ids[position]
        response = responses.get((run.run_id, item_id), {})
        rows.append(
            {
                "metric": metric_label(*key),
                "item_id": item_id,
                "value": float(run.metrics[key].values[position]),
                "lower_is_better": lower.get(key, False),
                "input": inputs.get(item_id, ""),
                "response": response.get("text"),
                "error": response.get("error"),
                "scores": {
                    metric_label(*other): float(s.values[position])
                    for other, s in sorted(run.metrics.items())
                    if np.isfinite(s.values[position])
                },
            }
        )
    return rows


def latencies(store: Store, run_id: str) -> np.ndarray:
    """Latency (ms) of every answered call made for the run (cached answers have none)."""
    cursor = store.conn.execute(
        "SELECT latency_ms FROM responses WHERE run_id = ? AND latency_ms IS NOT NULL "
        "AND error IS NULL",
        [run_id],
    )
    return np.fromiter((row[0] for row in cursor), dtype=float)


def latency_figures(values: np.ndarray) -> dict[str, Any]:
    if values.size == 0:
        return {"n": 0}
    p50, p90, p95, p99 = np.percentile(values, [50, 90, 95, 99])
    return {
        "n": int(values.size),
        "mean_ms": float(values.mean()),
        "p50_ms": float(p50),
        "p90_ms": float(p90),
        "p95_ms": float(p95),
        "p99_ms": float(p99),
        "max_ms": float(values.max()),
    }


def latency_histogram(per_run: Sequence[np.ndarray], bins: int) -> dict[str, Any] | None:
    """Shared-bin latency histogram from 0 to the runs' 99.5th percentile (tail clipped)."""
    present = [v for v in per_run if v.size]
    if not present:
        return None
    upper = max(float(np.percentile(v, LATENCY_TAIL)) for v in present)
    upper = upper if upper > 0 else 1.0
    edges = np.linspace(0.0, upper, bins + 1)
    counts = [np.histogram(np.clip(v, 0.0, upper), bins=edges)[0] for v in per_run]
    return {
        "kind": "continuous",
        "edges": [float(e) for e in edges],
        "counts": [[int(c) for c in run] for run in counts],
        "n": [int(v.size) for v in per_run],
        "clipped_above": upper,
    }


def token_figures(store: Store, run_id: str) -> dict[str, Any]:
    """Token totals and means per response, errors and cache hits, in one SQL aggregate."""
    row = store.conn.execute(
        "SELECT count(*), count(error), coalesce(sum(cached), 0), sum(prompt_tokens), "
        "sum(completion_tokens), avg(prompt_tokens), avg(completion_tokens), "
        "max(completion_tokens), count(DISTINCT item_id) FROM responses WHERE run_id = ?",
        [run_id],
    ).fetchone()
    responses, errors, cached, prompt, completion, prompt_mean, completion_mean, most, items = row
    return {
        "items": items,
        "responses": responses,
        "errors": errors,
        "cached": cached,
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "prompt_tokens_mean": prompt_mean,
        "completion_tokens_mean": completion_mean,
        "completion_tokens_max": most,
    }
