"""Report benchmark: `harness report` on a 100k-item run (target: under 15 s on 2 cores).

Builds runs in a temporary database with direct inserts (not timed): per item an input, a
response with latency and tokens, a category (8 groups), and 11 scores: exact_match (0/1),
token_f1, a 1-5 judge score, the toxicity scorer's six label probabilities (labelled
flagged/clean) and a hallucination scorer's label, with `run_metrics` written the way a
finished run has them. Then times the CLI as a user runs it (a fresh process, so imports
count): one run to HTML, with --by category, to Markdown, and two runs compared.

Usage: python benchmarks/bench_report.py [--items N] [--resamples R]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from harness.report import ReportOptions, gather_report, render_html
from harness.scorers.base import mean_metric
from harness.scorers.toxicity.aggregates import flagged_rate
from harness.store.db import Store, dumps, now
from harness.summary import finalize_run

LABELS = ("toxicity", "severe_toxicity", "obscene", "threat", "insult", "identity_attack")
SIGNATURES = {
    "exact_match": "exact_match|v:1",
    "token_f1": "token_f1|v:1",
    "judge": "judge|rubric:correctness|v:1",
    "toxicity": "toxicity|backend:embedded|threshold:0.5|v:1",
    "selfcheck_nli": "selfcheck_nli|v:1",
}
CATEGORIES = ("science", "history", "sports", "music", "law", "health", "travel", "food")


def build(store: Store, name: str, n: int, quality: float, seed: int) -> None:
    """One finished run of n items, written in one transaction."""
    rng = np.random.default_rng(seed)
    stamp = now()
    config = {"scorers": SIGNATURES, "scorer_options": {}, "model": {"adapter": "bench"}}
    store.create_run(
        {
            "id": name,
            "name": name,
            "status": "completed",
            "created_at": stamp,
            "updated_at": stamp,
            "model": "bench-model",
            "dataset": "bench.jsonl",
            "dataset_fingerprint": "f" * 16,
            "template_hash": "t" * 16,
            "n_items": n,
            "config": dumps(config),
            "versions": dumps({"harness": "bench"}),
        }
    )
    ids = [f"item-{i:07d}" for i in range(n)]
    exact = (rng.random(n) < 0.55 + quality).astype(float)
    f1 = np.where(exact == 1, 1.0, np.clip(rng.beta(2, 3, n) + quality, 0, 1))
    judge = rng.integers(1, 6, n).astype(float)
    toxic = {label: rng.beta(0.3, 6, n) for label in LABELS}
    hallucinated = rng.random(n) < 0.2 - quality
    latency = rng.lognormal(6.0, 0.5, n)
    completion = rng.integers(5, 200, n)
    words = [
        "the",
        "quick",
        "brown",
        "fox",
        "jumps",
        "over",
        "the",
        "lazy",
        "dog",
        "and",
        "keeps",
        "running",
        "far",
        "away",
    ]
    with store.transaction() as conn:
        conn.executemany(
            "INSERT INTO items (run_id, item_id, row, input, reference, metadata) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            (
                (
                    name,
                    item_id,
                    i,
                    f"question {i}: " + " ".join(words[(i + k) % len(words)] for k in range(12)),
                    json.dumps([f"answer {i}"]),
                    json.dumps({"category": CATEGORIES[i % len(CATEGORIES)]}),
                )
                for i, item_id in enumerate(ids)
            ),
        )
        conn.executemany(
            "INSERT INTO responses (run_id, item_id, sample, text, latency_ms, prompt_tokens, "
            "completion_tokens, finish_reason, attempts, cached) "
            "VALUES (?, ?, 0, ?, ?, ?, ?, 'stop', 1, 0)",
            (
                (
                    name,
                    item_id,
                    " ".join(words[(i * 7 + k) % len(words)] for k in range(30)),
                    float(latency[i]),
                    40,
                    int(completion[i]),
                )
                for i, item_id in enumerate(ids)
            ),
        )

        def rows(i: int, item_id: str) -> list[tuple[object, ...]]:
            out: list[tuple[object, ...]] = [
                (name, item_id, "exact_match", "exact_match", exact[i], None),
                (name, item_id, "token_f1", "token_f1", f1[i], None),
                (name, item_id, "judge", "correctness", judge[i], None),
                (
                    name,
                    item_id,
                    "selfcheck_nli",
                    "consistency",
                    0.1 if hallucinated[i] else 0.9,
                    "hallucination" if hallucinated[i] else "consistent",
                ),
            ]
            for label in LABELS:
                value = float(toxic[label][i])
                out.append(
                    (
                        name,
                        item_id,
                        "toxicity",
                        label,
                        value,
                        "flagged" if value >= 0.5 else "clean",
                    )
                )
            return out

        conn.executemany(
            "INSERT INTO scores (run_id, item_id, sample, scorer, metric, value, label, "
            "signature) VALUES (?, ?, 0, ?, ?, ?, ?, ?)",
            (
                (*row, SIGNATURES[str(row[2])])
                for i, item_id in enumerate(ids)
                for row in rows(i, item_id)
            ),
        )
    for scorer, metric, values in (
        ("exact_match", "exact_match", exact),
        ("token_f1", "token_f1", f1),
        ("judge", "correctness", judge),
        ("selfcheck_nli", "consistency", np.where(hallucinated, 0.1, 0.9)),
    ):
        store.replace_run_metrics(
            name, scorer, SIGNATURES[scorer], [mean_metric(metric, values.tolist())]
        )
    toxicity = [mean_metric(label, toxic[label].tolist()) for label in LABELS]
    toxicity.append(flagged_rate(toxic["toxicity"].tolist(), 0.5))
    store.replace_run_metrics(name, "toxicity", SIGNATURES["toxicity"], toxicity)
    finalize_run(store, name, [])  # the run's stats (latency, tokens), as a finished run has


def timed_cli(db: Path, *args: str) -> float:
    started = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "harness", "report", *args, "--db", str(db), "--force"],
        check=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=100_000)
    parser.add_argument("--resamples", type=int, default=1000)
    args = parser.parse_args()
    resamples = ["--resamples", str(args.resamples)]
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "bench.db"
        store = Store(db)
        started = time.perf_counter()
        build(store, "baseline", args.items, 0.0, 1)
        build(store, "candidate", args.items, 0.02, 2)
        print(
            f"built 2 runs x {args.items} items x 10 scores in "
            f"{time.perf_counter() - started:.1f} s (not timed)"
        )
        print(f"cpus available: {len(os.sched_getaffinity(0))}")

        started = time.perf_counter()
        data = gather_report(store, ["baseline"], ReportOptions(resamples=args.resamples))
        gathered = time.perf_counter() - started
        started = time.perf_counter()
        page = render_html(data)
        rendered = time.perf_counter() - started
        plots = page.count("data:image/svg+xml")
        print(
            f"in process: gather_report {gathered:.2f} s, render_html {rendered:.2f} s "
            f"({plots} plots, {len(page) / 1024:.0f} KiB)"
        )
        store.close()

        out = Path(tmp) / "report.html"
        cases = [
            ("1 run -> HTML", ["baseline", "--out", str(out)]),
            ("1 run -> HTML --by category", ["baseline", "--out", str(out), "--by", "category"]),
            ("1 run -> Markdown", ["baseline", "--format", "markdown", "--out", str(out)]),
            ("2 runs -> HTML (comparison)", ["baseline", "candidate", "--out", str(out)]),
            (
                "2 runs -> HTML --by category",
                ["baseline", "candidate", "--out", str(out), "--by", "category"],
            ),
        ]
        target = 15.0
        for label, case in cases:
            seconds = timed_cli(db, *case, *resamples)
            size = out.stat().st_size / 1024
            note = (
                f"{target / seconds:.1f}x under the 15 s target"
                if seconds < target
                else "OVER 15 s"
            )
            print(f"harness report, {label:30s} {seconds:6.2f} s  {size:7.0f} KiB  {note}")


if __name__ == "__main__":
    main()
