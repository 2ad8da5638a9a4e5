"""Toxicity scorer: quality against human labels, and throughput on this machine.

1. ROC AUC per Jigsaw label on ../shared/data/jigsaw_sample (train.csv + test.csv; -1 means
   unlabeled and is left out) against the human labels. CONTENT WARNING: that folder holds
   real abusive comments; this script never prints them. The embedded model was trained on
   the Jigsaw Toxic Comment train set (its tokenizer counted 159,571 documents, the size of
   that set) and these rows come from the same competition, so its AUC here is at least
   partly in-sample: a check that the port is right, not a measure of generalisation.
2. Texts per second for short texts (5-20 words, written here) through `Toxicity.score`
   with the embedded backend, at batch sizes 64 (the pipeline's default), 512 and 2048,
   on the backend's default one torch thread and on two. Wall rates on a shared machine
   depend on what else runs, so texts per CPU-second (process time, all threads) and the
   load average are printed beside them.

Usage: python benchmarks/bench_toxicity.py [--n 20000]
       [--detoxify VARIANT [--checkpoint PATH] [--config-path DIR]]
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import time
from pathlib import Path
from typing import Any

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "jigsaw_sample"
JIGSAW = ["toxic", "severe_toxic", "obscene", "threat", "insult", "identity_hate"]
SIX = ["toxicity", "severe_toxicity", "obscene", "threat", "insult", "identity_attack"]
PHRASES = (
    "the article needs a better source and you should read the talk page before you revert",
    "my edit thanks for the help with this section I think it is fine now please stop",
    "that was a silly mistake but not a big deal what a stupid idea you idiot",
)


def short_texts(n: int, seed: int = 0) -> list[str]:
    rng = random.Random(seed)
    words = " ".join(PHRASES).split()
    return [" ".join(rng.choices(words, k=rng.randint(5, 20))) for _ in range(n)]


def examples(texts: list[str]) -> list[Any]:
    from harness.item import Item
    from harness.scorers.base import Example

    return [Example(Item(f"t{i}", ""), 0, text) for i, text in enumerate(texts)]


def auc_table(scorer: Any, title: str) -> None:
    import pandas as pd
    from sklearn.metrics import roc_auc_score

    if not DATA.is_dir():
        print(f"{title}: skipped, no data at {DATA}")
        return
    frame = pd.concat(
        [pd.read_csv(DATA / "train.csv"), pd.read_csv(DATA / "test.csv")], ignore_index=True
    )
    texts = frame["comment_text"].astype(str).tolist()
    started = time.perf_counter()
    records = scorer.score(examples(texts))
    elapsed = time.perf_counter() - started
    scores = {metric: [r.value for r in records if r.metric == metric] for metric in scorer.metrics}
    print(f"{title}: ROC AUC against human labels ({len(texts)} comments, {elapsed:.2f} s)")
    print(f"  {'label':<15}{'n':>5}{'pos':>5}{'AUC':>8}")
    for column, metric in zip(JIGSAW, SIX, strict=True):
        labelled = frame[column] >= 0
        y = frame.loc[labelled, column].to_numpy()
        if metric not in scores:
            print(f"  {column:<15}{len(y):>5}{int(y.sum()):>5}{'-':>8}  (model has no output)")
            continue
        predicted = [scores[metric][i] for i in frame.index[labelled]]
        auc = roc_auc_score(y, predicted) if 0 < y.sum() < len(y) else float("nan")
        print(f"  {column:<15}{len(y):>5}{int(y.sum()):>5}{auc:>8.4f}")
    truncated = sum(1 for r in records if r.metric == "toxicity" and r.details["truncated"])
    print(f"  truncated: {truncated} of {len(texts)} comments")


def throughput(scorer: Any, n: int) -> None:
    texts = short_texts(n)
    batch = examples(texts)
    scorer.score(batch[:512])  # warm-up
    words = sum(len(t.split()) for t in texts) / n
    print(f"throughput: {n} short texts ({words:.1f} words on average), Toxicity.score")
    for threads in (1, 2):
        scorer.backend.threads = threads
        for batch_size in (64, 512, 2048):
            scorer.backend.batch_size = batch_size
            started, cpu = time.perf_counter(), time.process_time()
            for start in range(0, n, batch_size):
                scorer.score(batch[start : start + batch_size])
            rate = n / (time.perf_counter() - started)
            per_cpu = n / (time.process_time() - cpu)
            print(
                f"  {threads} thread(s), batch {batch_size:>5}: {rate:>6.0f} texts/s wall, "
                f"{per_cpu:>6.0f} per CPU-second (load avg {os.getloadavg()[0]:.1f})"
            )
    scorer.backend.threads, scorer.backend.batch_size = 1, 512
    started = time.perf_counter()
    scorer.backend.tokenizer.encode(texts)
    print(f"  tokenizer alone: {n / (time.perf_counter() - started):>8.0f} texts/s")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=20000, help="short texts for the speed test")
    parser.add_argument("--detoxify", default=None, help="also score with this detoxify variant")
    parser.add_argument("--checkpoint", default=None)
    parser.add_argument("--config-path", default=None)
    args = parser.parse_args()

    import torch

    from harness.scorers.toxicity import Toxicity

    started = time.perf_counter()
    scorer = Toxicity()
    print(f"embedded backend loaded in {time.perf_counter() - started:.2f} s")
    print(f"signature: {scorer.signature()}")
    print(f"torch {torch.__version__}, {os.cpu_count()} CPUs, {torch.get_num_threads()} threads")
    auc_table(scorer, "embedded")
    throughput(scorer, args.n)
    if args.detoxify:
        from harness.errors import ConfigError

        try:
            detox = Toxicity(
                backend="detoxify",
                variant=args.detoxify,
                checkpoint=args.checkpoint,
                config_path=args.config_path,
            )
        except ConfigError as exc:
            print(f"detoxify {args.detoxify}: skipped ({exc})")
        else:
            auc_table(detox, f"detoxify {args.detoxify}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
