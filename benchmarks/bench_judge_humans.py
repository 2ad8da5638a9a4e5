"""Judge against humans: Spearman/Kendall of judge scores with expert ratings.

SummEval (CNN/DM summaries, mean of 3 expert ratings, 1-5, per dimension) and
Topical-Chat (dialogue responses, USR annotations) from ../shared/data, judged with the
shipped rubrics `summeval_*` and `topicalchat_*`. Prints the correlation at summary level
(SummEval: Spearman per article over its summaries, averaged, as G-Eval reports it) and
pooled over every judged response (with a 95% bootstrap CI), for the verdict and for the
logprob-weighted score, next to G-Eval's published GPT-4 figures.

The default judge is the embedded `local` model (SmolLM2-135M): tiny, slow on 2 cores, and
far too small to judge well, so the default sample is small and the figures are what they
are; pass `--judge openai:MODEL` (or `openai:MODEL@BASE_URL`) for a real judge and raise
`--docs`, `--per-doc`, `--dialogues`.

Usage: python benchmarks/bench_judge_humans.py [--judge SPEC] [--docs 2] [--per-doc 5]
       [--dialogues 10] [--summeval-dims coherence,...] [--topical-dims naturalness,...]
"""

from __future__ import annotations

import argparse
import json
import math
import random
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from harness import agreement as A
from harness.item import Item
from harness.scorers.base import Example
from harness.scorers.judge import JudgeScorer

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
SUMMEVAL = DATA / "summeval" / "summeval.jsonl"
TOPICAL = DATA / "topical_chat" / "topical_chat.json"

# G-Eval (Liu et al., 2023), GPT-4 as judge, summary-level Spearman on SummEval (Table 1):
# only the figures confirmed from the paper are printed. Its average over the four
# dimensions (0.514, the abstract) and consistency (0.507) are; the other per-dimension
# values and the Topical-Chat table were not checked against the paper, so the benchmark
# prints none rather than figures from memory.
GEVAL_SUMMEVAL_SPEARMAN = {"consistency": 0.507}
GEVAL_SUMMEVAL_AVERAGE = 0.514


def summeval_sample(docs: int, per_doc: int, seed: int) -> list[dict[str, Any]]:
    rows = [json.loads(line) for line in SUMMEVAL.read_text().splitlines() if line.strip()]
    rng = random.Random(seed)
    picked = []
    for row in rng.sample(rows, docs):
        systems = sorted(row["systems"])
        for system in rng.sample(systems, min(per_doc, len(systems))):
            entry = row["systems"][system]
            picked.append(
                {
                    "id": f"{row['doc_id'][-10:]}-{system}",
                    "group": row["doc_id"],
                    "input": "Summarise the news article given as context.",
                    "context": row["src"],
                    "response": entry["sys_summ"],
                    "human": entry["scores"],
                }
            )
    return picked


def topical_sample(n: int, seed: int) -> list[dict[str, Any]]:
    rows = json.loads(TOPICAL.read_text())
    rng = random.Random(seed)
    return [
        {
            "id": f"tc{index}",
            "group": row["source"],
            "input": "Continue this conversation:\n" + row["source"].strip(),
            "context": row["context"],
            "response": row["system_output"],
            "human": row["scores"],
        }
        for index, row in sorted(rng.sample(list(enumerate(rows)), n), key=lambda pair: pair[0])
    ]


def judge_all(
    rubric: str, sample: Sequence[dict[str, Any]], args: argparse.Namespace
) -> list[tuple[float | None, float | None]]:
    """(verdict, logprob-weighted score) per response."""
    spec = args.judge
    chars = args.reasoning_chars or (300 if spec.startswith("local") else None)
    scorer = JudgeScorer(
        rubric=rubric,
        judges=[spec],
        max_tokens=args.max_tokens,
        reasoning_chars=chars,
        adapter_options={"ctx_per_slot": 4096} if spec.startswith("local") else None,
        timeout=900.0,
        cache_db=args.cache_db or None,
    )
    examples = [
        Example(Item(id=s["id"], input=s["input"], context=s["context"]), 0, s["response"])
        for s in sample
    ]
    try:
        records = scorer.score(examples)
    finally:
        scorer.close()
    out = []
    for record in records:
        judgment = (record.details or {})["judgments"][0]
        out.append((judgment["score"], judgment["weighted_score"]))
    return out


def summary_level(groups: Sequence[str], judge: Sequence[Any], human: Sequence[float]) -> Any:
    """Mean over groups (articles) of the Spearman correlation within each group."""
    values = []
    for group in sorted(set(groups)):
        idx = [i for i, g in enumerate(groups) if g == group]
        rho = A.spearman([judge[i] for i in idx], [human[i] for i in idx])
        if not math.isnan(rho):
            values.append(rho)
    return (sum(values) / len(values), len(values)) if values else (None, 0)


def fmt(value: float | None) -> str:
    return "   -  " if value is None or math.isnan(value) else f"{value:+.3f}"


def report(
    name: str,
    dimension: str,
    sample: list[dict[str, Any]],
    scores: list[tuple[float | None, float | None]],
    published: str,
    grouped: bool,
) -> None:
    human = [s["human"][dimension] for s in sample]
    groups = [s["group"] for s in sample]
    parsed = sum(1 for v, _ in scores if v is not None)
    weighted = sum(1 for _, w in scores if w is not None)
    for label, column in (("verdict", 0), ("weighted", 1)):
        judge = [pair[column] for pair in scores]
        pooled = A.bootstrap_ci(A.spearman, judge, human, n_resamples=1000, seed=0)
        kendall = A.kendall(judge, human)
        level = ""
        if grouped:
            value, n_groups = summary_level(groups, judge, human)
            level = f"summary-level rho {fmt(value)} ({n_groups} articles); "
        ci = (
            f"[{pooled.low:+.2f}, {pooled.high:+.2f}]"
            if pooled.low is not None and pooled.high is not None
            else ""
        )
        print(
            f"  {name:<9} {dimension:<13} {label:<8} {level}pooled rho "
            f"{fmt(pooled.value)} {ci} tau {fmt(kendall)} (n={pooled.n}); "
            f"G-Eval-4: {published}"
        )
    used = Counter(v for v, _ in scores if v is not None)
    spread = ", ".join(f"{k:g}: {n}" for k, n in sorted(used.items())) or "-"
    print(
        f"  {'':<9} {dimension:<13} parsed {parsed}/{len(scores)}, weighted {weighted}; "
        f"verdicts given (value: count) {spread}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--judge", default="local")
    parser.add_argument("--docs", type=int, default=2, help="SummEval articles")
    parser.add_argument("--per-doc", type=int, default=5, help="summaries per article")
    parser.add_argument("--dialogues", type=int, default=10, help="Topical-Chat responses")
    parser.add_argument("--summeval-dims", default="coherence,consistency,fluency,relevance")
    parser.add_argument("--topical-dims", default="naturalness,coherence,engagingness,groundedness")
    parser.add_argument("--max-tokens", type=int, default=160)
    parser.add_argument(
        "--reasoning-chars",
        type=int,
        default=0,
        help="cap the verdict's reasoning (JSON schema maxLength); the local judge gets 300",
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--cache-db",
        default=str(Path(tempfile.gettempdir()) / "harness-bench-judge-humans.db"),
        help="judge cache, so a rerun does not call the judge again ('' for none)",
    )
    args = parser.parse_args()
    if not SUMMEVAL.is_file() or not TOPICAL.is_file():
        sys.exit(f"reference data not found under {DATA} (../shared/data beside the checkout)")
    print(f"judge {args.judge}; 95% CIs: percentile bootstrap over responses, 1000 resamples")
    rhos: dict[tuple[str, int], list[float]] = {}
    if args.docs and args.summeval_dims:
        sample = summeval_sample(args.docs, args.per_doc, args.seed)
        print(f"SummEval: {len(sample)} summaries of {args.docs} articles")
        for dim in args.summeval_dims.split(","):
            started = time.perf_counter()
            scores = judge_all(f"summeval_{dim}", sample, args)
            published = GEVAL_SUMMEVAL_SPEARMAN.get(dim)
            report(
                "SummEval",
                dim,
                sample,
                scores,
                f"rho {published:.3f}" if published is not None else "not printed",
                True,
            )
            for column in (0, 1):
                value, _ = summary_level(
                    [s["group"] for s in sample],
                    [pair[column] for pair in scores],
                    [s["human"][dim] for s in sample],
                )
                if value is not None:
                    rhos.setdefault(("summeval", column), []).append(value)
            print(f"  ({time.perf_counter() - started:.0f} s)")
    if args.dialogues and args.topical_dims:
        sample = topical_sample(args.dialogues, args.seed)
        print(f"Topical-Chat: {len(sample)} responses")
        for dim in args.topical_dims.split(","):
            started = time.perf_counter()
            scores = judge_all(f"topicalchat_{dim}", sample, args)
            report("Topical", dim, sample, scores, "not printed", False)
            for column in (0, 1):
                rho = A.spearman([p[column] for p in scores], [s["human"][dim] for s in sample])
                if not math.isnan(rho):
                    rhos.setdefault(("topical", column), []).append(rho)
            print(f"  ({time.perf_counter() - started:.0f} s)")
    averages: tuple[tuple[str, str | None], ...] = (
        ("summeval", f"{GEVAL_SUMMEVAL_AVERAGE:.3f}"),
        ("topical", None),
    )
    for key, average in averages:
        for column, label in ((0, "verdicts"), (1, "weighted")):
            values = rhos.get((key, column), [])
            mean = f"{sum(values) / len(values):+.3f}" if values else "-"
            tail = f"; G-Eval-4 published average: {average}" if average else ""
            print(
                f"average rho ({key}, {label}, over {len(values)} dimensions where defined): "
                f"{mean}{tail}"
            )


if __name__ == "__main__":
    main()
