"""Run-level figures: scorer aggregates into run_metrics, operational stats into runs."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict
from typing import Any

import numpy as np

from harness.adapters.managed import Accounting
from harness.scorers.base import Scorer, mean_metric
from harness.stats import percentile
from harness.store.db import Store, dumps, now


def aggregate_scores(store: Store, run_id: str, scorers: Sequence[Scorer]) -> None:
    """Recompute each scorer's run-level figures from its stored records."""
    for scorer in scorers:
        if type(scorer).aggregate is Scorer.aggregate:
            # the default aggregate, computed from compact per-item means (bounded memory)
            metrics = [
                mean_metric(metric, values, unscored, scorer.metric_range(metric))
                for metric, (values, unscored) in sorted(
                    store.item_means(run_id, scorer.name).items()
                )
            ]
        else:
            metrics = scorer.aggregate(store.load_scores(run_id, scorer.name))
        store.replace_run_metrics(run_id, scorer.name, scorer.signature(), metrics)


def response_stats(store: Store, run_id: str) -> dict[str, Any]:
    """Counts, errors, latency percentiles (fresh calls only) and tokens of a run."""
    conn = store.conn
    n_items, n_failed = conn.execute(
        "SELECT count(*), coalesce(sum(failed), 0) FROM (SELECT item_id, "
        "max(error IS NOT NULL) AS failed FROM responses WHERE run_id = ? GROUP BY item_id)",
        [run_id],
    ).fetchone()
    (n_unanswered,) = conn.execute(
        "SELECT count(*) FROM responses WHERE run_id = ? AND sample = 0 AND error IS NOT NULL",
        [run_id],
    ).fetchone()
    n_responses, n_errors, prompt_tokens, completion_tokens, n_cached = conn.execute(
        "SELECT count(*), count(error), sum(prompt_tokens), sum(completion_tokens), "
        "coalesce(sum(cached), 0) "  # no token count known (replay): None, not 0
        "FROM responses WHERE run_id = ?",
        [run_id],
    ).fetchone()
    latencies = np.fromiter(
        (
            row[0]
            for row in conn.execute(
                "SELECT latency_ms FROM responses WHERE run_id = ? AND latency_ms IS NOT NULL "
                "AND error IS NULL",
                [run_id],
            )
        ),
        dtype=float,
    )
    errors = [
        {"item_id": item_id, "error": error}
        for item_id, error in conn.execute(
            "SELECT item_id, error FROM responses WHERE run_id = ? AND error IS NOT NULL LIMIT 5",
            [run_id],
        )
    ]
    return {
        "items": n_items,
        "failed_items": n_failed,
        "unanswered_items": n_unanswered,
        "responses": n_responses,
        "errors": n_errors,
        "cached": n_cached,
        "prompt_tokens": prompt_tokens,
        "completion_tokens": completion_tokens,
        "latency_p50_ms": percentile(latencies, 50),
        "latency_p95_ms": percentile(latencies, 95),
        "first_errors": errors,
    }


def finalize_run(
    store: Store,
    run_id: str,
    scorers: Sequence[Scorer],
    accounting: Accounting | None = None,
    timing: dict[str, Any] | None = None,
) -> None:
    """Aggregate scores, record stats (and this session's timing), and mark the run
    completed, or failed where no item's main response was answered (nothing to read)."""
    aggregate_scores(store, run_id, scorers)
    stats = _session_stats(store, run_id, accounting, timing)
    nothing_scored = stats["items"] > 0 and stats["unanswered_items"] == stats["items"]
    status = "failed" if nothing_scored else "completed"
    store.update_run(run_id, status=status, finished_at=now(), stats=dumps(stats))


def interrupt_run(
    store: Store, run_id: str, scorers: Sequence[Scorer], accounting: Accounting | None = None
) -> None:
    """Mark a run stopped before its end `interrupted`, with the figures and stats of the
    items stored so far (those of an earlier session, e.g. before `--retry-errors`, would
    be stale)."""
    aggregate_scores(store, run_id, scorers)
    stats = _session_stats(store, run_id, accounting)
    store.update_run(run_id, status="interrupted", stats=dumps(stats))


def _session_stats(
    store: Store,
    run_id: str,
    accounting: Accounting | None = None,
    timing: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The run's response stats with this session's calls and timing."""
    stats = response_stats(store, run_id)
    if accounting is not None:
        stats["calls"] = asdict(accounting)
    stats.update(timing or {})
    return stats


def run_summary(store: Store, ref: str) -> dict[str, Any]:
    """Everything `runs show` and `run --json` print about one run."""
    run = store.get_run(ref)
    metrics = [
        {
            key: row[key]
            for key in ("scorer", "metric", "value", "ci_low", "ci_high", "n", "signature")
        }
        | {"details": json.loads(row["details"]) if row["details"] else {}}
        for row in store.db.query(
            "SELECT * FROM run_metrics WHERE run_id = ? ORDER BY scorer, metric", [run["id"]]
        )
    ]
    stats = json.loads(run["stats"]) if run["stats"] else response_stats(store, run["id"])
    return {
        "run_id": run["id"],
        "name": run["name"],
        "status": run["status"],
        "model": run["model"],
        "dataset": run["dataset"],
        "created_at": run["created_at"],
        "finished_at": run["finished_at"],
        "n_items": run["n_items"],
        "template_hash": run["template_hash"],
        "dataset_fingerprint": run["dataset_fingerprint"],
        "metrics": metrics,
        "stats": stats,
    }
