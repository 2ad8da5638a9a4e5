"""BERTScore throughput: the harness scorer (fp32, bf16) against bert-score's own `score()`.

The same 2,000 short pairs (TruthfulQA: each correct or incorrect answer against the best
answer, when ../shared/data is present; else generated sentences), the packaged MiniLM at
layer 6, torch limited to --threads (default 2, the target machine). Each configuration
runs once to warm up, then --repeat times interleaved with the others; the best time counts.

    python benchmarks/bench_bertscore.py [--pairs 2000] [--threads 2] [--repeat 3]
"""

from __future__ import annotations

import argparse
import csv
import os
import random
import time
from collections.abc import Callable
from pathlib import Path

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


def short_pairs(n: int) -> tuple[list[str], list[str], str]:
    """N (candidate, reference) pairs of short texts and where they came from."""
    path = DATA / "truthfulqa" / "TruthfulQA.csv"
    pairs: list[tuple[str, str]] = []
    if path.is_file():
        with path.open(newline="") as handle:
            for row in csv.DictReader(handle):
                for answer in row["Correct Answers"].split(";") + row["Incorrect Answers"].split(
                    ";"
                ):
                    if answer.strip():
                        pairs.append((answer.strip(), row["Best Answer"]))
        source = f"TruthfulQA answers vs best answer ({path})"
    else:
        rng = random.Random(0)
        words = ["the", "a", "cat", "dog", "city", "river", "sold", "bought", "green", "old", "new"]
        for _ in range(n):
            pairs.append(
                (
                    " ".join(rng.choices(words, k=rng.randint(4, 16))),
                    " ".join(rng.choices(words, k=rng.randint(4, 16))),
                )
            )
        source = "generated word sequences (no ../shared/data)"
    pairs = pairs[:n]
    return [c for c, _ in pairs], [r for _, r in pairs], source


def timed(run: Callable[[], object]) -> tuple[float, float]:
    """(wall seconds, CPU seconds of this process) of one run."""
    wall, cpu = time.perf_counter(), time.process_time()
    run()
    return time.perf_counter() - wall, time.process_time() - cpu


def wait_until_quiet(below: float, max_wait: float) -> None:
    deadline = time.monotonic() + max_wait
    while below and os.getloadavg()[0] >= below and time.monotonic() < deadline:
        time.sleep(5)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pairs", type=int, default=2000)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument(
        "--quiet-below",
        type=float,
        default=0.0,
        help="on a shared machine: before each round, wait (up to --max-wait s) until the "
        "1-minute load average is below this",
    )
    parser.add_argument("--max-wait", type=float, default=300.0)
    args = parser.parse_args()
    os.environ["HF_HUB_OFFLINE"] = "1"

    import bert_score
    import torch

    from harness.item import Item
    from harness.metrics._bertscore import cpu_has_bf16, packaged_encoder_dir
    from harness.scorers.base import Example
    from harness.scorers.bertscore import BertScoreScorer

    torch.set_num_threads(args.threads)
    cands, refs, source = short_pairs(args.pairs)
    n = len(cands)
    path = str(packaged_encoder_dir())
    examples = [
        Example(Item(id=str(i), input="", references=(r,)), 0, c)
        for i, (c, r) in enumerate(zip(cands, refs, strict=True))
    ]
    fp32 = BertScoreScorer(bf16=False, threads=args.threads)
    bf16 = BertScoreScorer(bf16=True, threads=args.threads)
    loaded = bert_score.BERTScorer(model_type=path, num_layers=6)
    tokens = sum(len(x) for x in fp32.model.encoder.tokenize(cands + refs)) / (2 * n)

    def scorer_in_batches(scorer: BertScoreScorer, size: int) -> Callable[[], object]:
        return lambda: [scorer.score(examples[i : i + size]) for i in range(0, n, size)]

    configs: dict[str, Callable[[], object]] = {
        "bert_score.score() (loads the model each call)": lambda: bert_score.score(
            cands, refs, model_type=path, num_layers=6
        ),
        "bert_score.BERTScorer.score() (model loaded once)": lambda: loaded.score(cands, refs),
        "harness fp32, 64-item calls (harness run)": scorer_in_batches(fp32, 64),
        "harness fp32, 256-item calls (harness score)": scorer_in_batches(fp32, 256),
        "harness fp32, one 2,000-item call": scorer_in_batches(fp32, n),
        "harness bf16, 64-item calls (harness run)": scorer_in_batches(bf16, 64),
        "harness bf16, 256-item calls (harness score)": scorer_in_batches(bf16, 256),
        "harness bf16, one 2,000-item call": scorer_in_batches(bf16, n),
    }
    times: dict[str, list[tuple[float, float]]] = {name: [] for name in configs}
    load_before = os.getloadavg()
    for run in configs.values():
        run()  # warm-up
    for _ in range(args.repeat):
        wait_until_quiet(args.quiet_below, args.max_wait)
        for name, run in configs.items():
            times[name].append(timed(run))
    load_after = os.getloadavg()

    theirs = loaded.score(cands, refs)[2].tolist()
    raw32 = fp32.model.score(cands, [[r] for r in refs])
    raw16 = bf16.model.score(cands, [[r] for r in refs])
    baseline = fp32.model.baseline
    b = baseline.row(6)[2] if baseline else 0.0
    ours = [x * (1 - b) + b for x in raw32.f1]  # undo the rescaling to compare raw F

    print(f"pairs: {n} from {source}; mean {tokens:.1f} tokens per text (with [CLS]/[SEP])")
    print(
        f"torch threads: {torch.get_num_threads()}; CPU native bf16: {cpu_has_bf16()}; "
        f"load average before/after: {load_before[0]:.1f} / {load_after[0]:.1f}"
    )
    first = next(iter(times))
    wall0, cpu0 = min(w for w, _ in times[first]), min(c for _, c in times[first])
    print(
        "\nbest of the rounds; 'CPU s' is this process's CPU time (all threads), a steadier "
        "measure than wall time when other work shares the cores"
    )
    print(
        f"{'configuration':50} {'wall s':>7} {'pairs/s':>8} {'vs score()':>10} "
        f"{'CPU s':>7} {'pairs/CPU-s':>11} {'vs score()':>10}"
    )
    for name, values in times.items():
        wall, cpu = min(w for w, _ in values), min(c for _, c in values)
        print(
            f"{name:50} {wall:7.2f} {n / wall:8.0f} {wall0 / wall:9.2f}x "
            f"{cpu:7.2f} {n / cpu:11.0f} {cpu0 / cpu:9.2f}x"
        )
    gaps = [abs(x - y) for x, y in zip(ours, theirs, strict=True)]
    print(
        f"\nmax |F - bert-score F| (fp32, raw): {max(gaps):.2e}; pairs over 1e-4: "
        f"{sum(g > 1e-4 for g in gaps)} (bert-score's padding counts as similarity 0 when a "
        "token's best match is negative; see docs/bertscore.md)"
    )
    worst = max(abs(x - y) for x, y in zip(raw32.f1, raw16.f1, strict=True))
    print(f"max |F bf16 - F fp32| (rescaled): {worst:.4f}")


if __name__ == "__main__":
    main()
