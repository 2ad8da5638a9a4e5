"""bleu, chrf and rouge through the harness scorers vs sacrebleu / rouge-score in a plain loop.

10,000 (response, reference) pairs of real text: SummEval system summaries against their
reference summaries when ../shared/data/summeval is present, else TruthfulQA answers,
else synthetic sentences. The scorers run as the pipeline runs them: batches of 64, then
`aggregate` once (corpus score from summed statistics plus its bootstrap interval).

The direct baselines compute the same numbers the simplest way: one sacrebleu metric
object with `sentence_score` per pair plus one `corpus_score` (bleu, chrf), and one
`RougeScorer.score` per pair (rouge). Each figure is the CPU time of this process (the
machines this runs on are shared, so wall time would measure the neighbours), the best of
--repeat runs interleaved across the variants.

    python benchmarks/bench_reference.py [--pairs 10000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import csv
import json
import random
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from harness.item import Item
from harness.scorer_setup import make_scorers
from harness.scorers.base import Example

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
BATCH = 64


def load_pairs(n: int) -> tuple[str, list[tuple[str, str]]]:
    """(source name, n pairs of response and reference)."""
    summeval = DATA / "summeval" / "summeval.jsonl"
    truthfulqa = DATA / "truthfulqa" / "TruthfulQA.csv"
    pairs: list[tuple[str, str]] = []
    if summeval.is_file():
        rows = [json.loads(line) for line in summeval.open()]
        for k in range(11):
            for row in rows:
                for system in row["systems"].values():
                    pairs.append((system["sys_summ"], row["ref_summs"][k % len(row["ref_summs"])]))
        return "summeval system summaries vs reference summaries", pairs[:n]
    if truthfulqa.is_file():
        with truthfulqa.open(newline="") as handle:
            rows = list(csv.DictReader(handle))
        for row in rows:
            correct = [a.strip() for a in row["Correct Answers"].split(";") if a.strip()]
            wrong = [a.strip() for a in row["Incorrect Answers"].split(";") if a.strip()]
            for answer in correct + wrong:
                pairs.append((answer, row["Best Answer"]))
        while len(pairs) < n:
            pairs += pairs
        return "truthfulqa answers vs best answer", pairs[:n]
    rng = random.Random(0)
    words = ["the", "a", "cat", "dog", "sat", "ran", "on", "under", "mat", "table",
             "quickly", "slowly", "big", "small", "red", "blue"]  # fmt: skip
    for _ in range(n):
        pairs.append(
            (
                " ".join(rng.choice(words) for _ in range(rng.randint(5, 30))) + ".",
                " ".join(rng.choice(words) for _ in range(rng.randint(5, 30))) + ".",
            )
        )
    return "synthetic sentences", pairs


def cpu_seconds(fn: Callable[[], Any]) -> float:
    """CPU time of this process (all threads): robust to other processes on the machine."""
    start = time.process_time()
    fn()
    return time.process_time() - start


def harness_run(name: str, examples: list[Example], aggregate: bool = True) -> Callable[[], Any]:
    """A fresh scorer each time (sacrebleu's tokenizers cache lines per instance)."""

    def run() -> Any:
        (scorer,) = make_scorers([name])
        records = []
        for start in range(0, len(examples), BATCH):
            records += scorer(examples[start : start + BATCH])
        return scorer.aggregate(records) if aggregate else records

    return run


def direct(name: str, pairs: list[tuple[str, str]], corpus: bool = True) -> Callable[[], Any]:
    """Per-pair scores (and a corpus score) with the libraries directly, fresh objects."""
    hyps = [h for h, _ in pairs]
    refs = [[r for _, r in pairs]]
    if name == "rouge":
        from rouge_score import rouge_scorer

        def rouge() -> Any:
            scorer = rouge_scorer.RougeScorer(["rouge1", "rouge2", "rougeL", "rougeLsum"])
            return [scorer.score(r, h) for h, r in pairs]

        return rouge
    from sacrebleu.metrics import BLEU, CHRF

    def run() -> Any:
        sentence: Any = BLEU(effective_order=True) if name == "bleu" else CHRF()
        scores = [sentence.sentence_score(h, [r]) for h, r in pairs]
        if corpus:
            whole: Any = BLEU(force=True) if name == "bleu" else CHRF()
            return whole.corpus_score(hyps, refs)
        return scores

    return run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    source, pairs = load_pairs(args.pairs)
    examples = [
        Example(Item(id=f"p{i}", input="", references=(ref,)), 0, hyp)
        for i, (hyp, ref) in enumerate(pairs)
    ]
    words = sum(len(h.split()) + len(r.split()) for h, r in pairs) / len(pairs)
    print(f"{len(pairs)} pairs from {source}; {words:.0f} words per pair; batches of {BATCH}")
    print(f"CPU seconds of this process, best of {args.repeat} interleaved runs\n")
    header = f"{'metric':<7}{'harness s':>11}{'direct s':>10}{'ratio':>8}"
    header += f"{'score-only s':>14}{'direct s':>10}{'ratio':>8}"
    print(header)
    for name in ("bleu", "chrf", "rouge"):
        variants = {
            "harness": harness_run(name, examples),
            "direct": direct(name, pairs),
            "harness_only": harness_run(name, examples, aggregate=False),
            "direct_only": direct(name, pairs, corpus=False),
        }
        best = dict.fromkeys(variants, float("inf"))
        for _ in range(args.repeat):  # interleaved, so a busy moment hits every variant
            for key, fn in variants.items():
                if name == "rouge" and key == "direct_only":
                    continue  # the same loop as "direct"
                best[key] = min(best[key], cpu_seconds(fn))
        if name == "rouge":
            best["direct_only"] = best["direct"]
        print(
            f"{name:<7}{best['harness']:>11.2f}{best['direct']:>10.2f}"
            f"{best['harness'] / best['direct']:>7.2f}x"
            f"{best['harness_only']:>14.2f}{best['direct_only']:>10.2f}"
            f"{best['harness_only'] / best['direct_only']:>7.2f}x"
        )
    print(
        "\nharness: scorer batches + aggregate (corpus score and 1000-resample bootstrap);"
        "\ndirect: sentence_score per pair + one corpus_score (bleu, chrf), RougeScorer.score "
        "per pair (rouge).\nscore-only: the scorer batches alone vs the per-pair loop alone."
    )


if __name__ == "__main__":
    main()
