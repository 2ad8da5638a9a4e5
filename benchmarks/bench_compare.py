"""Comparison benchmark: two 100k-item runs, 10 metrics, 1,000 bootstrap resamples.

Builds both runs in a temporary database with direct inserts (not timed), then times
`compare_runs` end to end (loading both runs from SQLite, aligning, 1,000 bootstrap
resamples and 1,000 randomization trials for every metric, the paired tests, Holm, the
regressed items) and the pieces of it. The metrics: 3 pass/fail (McNemar), 2 judge
scores 1-5 (Wilcoxon), 4 continuous (bootstrap) and 1 corpus metric recomputed from
resampled sufficient statistics. Target: under 10 s on 2 cores.

Usage: python benchmarks/bench_compare.py [--items N] [--resamples R] [--by]
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import ClassVar

import numpy as np

from harness import registry
from harness.compare import Settings, compare_runs
from harness.compare.align import align, load_runs, pair_metrics
from harness.compare.resample import resample_metrics
from harness.scorers.base import Example, Scorer, ScoreRecord
from harness.store.db import Store, dumps, now

SIGNATURES = {"pass": "pass|v:1", "judge": "judge|v:1", "sim": "sim|v:1", "ratio": "ratio|v:1"}


class BenchRatio(Scorer):
    """A corpus metric: summed hits over summed totals (stands in for BLEU's statistics)."""

    name = "ratio"
    corpus_metrics: ClassVar[frozenset[str]] = frozenset({"ratio"})

    def score(self, batch: Sequence[Example]) -> list[ScoreRecord]:
        raise NotImplementedError("the benchmark writes its scores directly")

    def corpus_value(self, metric: str, stats: np.ndarray) -> np.ndarray:
        return stats[:, 0] / stats[:, 1]


def build(store: Store, name: str, n: int, quality: float, seed: int) -> None:
    """One run of n items with 10 metrics, written in one transaction."""
    rng = np.random.default_rng(seed)
    stamp = now()
    store.create_run(
        {
            "id": name,
            "name": name,
            "status": "completed",
            "created_at": stamp,
            "updated_at": stamp,
            "n_items": n,
            "config": dumps({"scorers": SIGNATURES, "scorer_options": {}}),
        }
    )
    ids = [f"item-{i:07d}" for i in range(n)]
    columns: list[tuple[str, str, np.ndarray]] = []
    for k in range(3):
        columns.append(("pass", f"pass_{k}", (rng.random(n) < 0.6 + quality).astype(float)))
    for k in range(2):
        columns.append(("judge", f"judge_{k}", rng.integers(1, 6, n).astype(float)))
    for k in range(4):
        columns.append(("sim", f"sim_{k}", np.clip(rng.normal(0.5 + quality, 0.2, n), 0, 1)))
    totals = rng.integers(5, 60, n)
    hits = rng.binomial(totals, 0.4 + quality)
    columns.append(("ratio", "ratio", hits / totals))
    with store.transaction() as conn:
        conn.executemany(
            "INSERT INTO items (run_id, item_id, row, input, metadata) VALUES (?, ?, ?, ?, ?)",
            (
                (name, item_id, i, f"input {i}", json.dumps({"group": f"g{i % 8}"}))
                for i, item_id in enumerate(ids)
            ),
        )
        conn.executemany(
            "INSERT INTO scores (run_id, item_id, sample, scorer, metric, value, details, "
            "signature) VALUES (?, ?, 0, ?, ?, ?, ?, ?)",
            (
                (
                    name,
                    item_id,
                    scorer,
                    metric,
                    float(values[i]),
                    json.dumps({"stats": [int(hits[i]), int(totals[i])]})
                    if scorer == "ratio"
                    else None,
                    SIGNATURES[scorer],
                )
                for i, item_id in enumerate(ids)
                for scorer, metric, values in columns
            ),
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=100_000)
    parser.add_argument("--resamples", type=int, default=1000)
    parser.add_argument("--by", action="store_true", help="also time --by group (8 slices)")
    args = parser.parse_args()
    registry.BUILTIN_SCORERS["ratio"] = f"{__name__}:BenchRatio"
    with tempfile.TemporaryDirectory() as tmp:
        store = Store(Path(tmp) / "bench.db")
        started = time.perf_counter()
        build(store, "baseline", args.items, 0.0, 1)
        build(store, "candidate", args.items, 0.01, 2)
        built = time.perf_counter() - started
        print(f"built 2 runs x {args.items} items x 10 metrics in {built:.1f} s (not timed)")
        print(f"cpus available: {len(os.sched_getaffinity(0))}")

        started = time.perf_counter()
        base, cand = load_runs(store, ["baseline", "candidate"])
        loaded = time.perf_counter() - started
        paired, _ = pair_metrics(align(base, cand))
        started = time.perf_counter()
        resample_metrics(paired, args.resamples, 12345)
        boot = time.perf_counter() - started
        started = time.perf_counter()
        resample_metrics(paired, args.resamples, 12345, args.resamples)
        both = time.perf_counter() - started
        print(f"load both runs from SQLite: {loaded:.2f} s")
        print(f"bootstrap only, {args.resamples} resamples, 10 metrics: {boot:.2f} s")
        print(f"bootstrap + {args.resamples} randomization trials: {both:.2f} s")

        settings = Settings(resamples=args.resamples)
        started = time.perf_counter()
        report = compare_runs(store, ["baseline", "candidate"], settings)
        total = time.perf_counter() - started
        print(f"compare_runs end to end (load, align, resample, tests, Holm): {total:.2f} s")
        for metric in report.comparisons[0].metrics:
            d = metric.difference
            print(
                f"  {metric.scorer}/{metric.metric:8s} {metric.test:21s} diff {d.value:+.4f} "
                f"[{d.ci_low:+.4f}, {d.ci_high:+.4f}]  p {metric.p_value:.3g}"
            )
        verdict = "under" if total < 10 else "OVER"
        print(f"target 10 s: {total:.2f} s, {verdict} target ({10 / total:.1f}x headroom)")
        if args.by:
            started = time.perf_counter()
            compare_runs(
                store, ["baseline", "candidate"], Settings(resamples=args.resamples, by="group")
            )
            print(f"compare_runs --by group (8 slices): {time.perf_counter() - started:.2f} s")
        store.close()


if __name__ == "__main__":
    main()
