"""Throughput of `selfcheck` with the BERTScore variant, generation excluded.

Items are a main response and `--samples` extra responses of about three sentences each:
SummEval system summaries cut to their first three sentences (../shared/data; the 16
systems' summaries of one article stand in for samples of one prompt, and each item uses
its own summaries, none shared with another item), or generated sentences where the data is
absent. The scorer is called as the run pipeline calls it (batches of --batch items), torch
limited to --threads (default 2, the target machine), after one warm-up batch; the best of
--repeat passes counts. Both bf16 autocast (the default where the CPU has native bf16) and
fp32 are timed. Last, the encoder's forward pass over the distinct sentences is timed alone,
and the FLOPs of its linear layers are set against this machine's measured GEMM rate: the
ceiling that no matching or bookkeeping work can raise.

    python benchmarks/bench_selfcheck.py [--items 192] [--samples 5] [--threads 2]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import time
from pathlib import Path
from typing import Any

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
TARGET = 30.0


def build_items(n_items: int, n_samples: int) -> tuple[list[list[str]], str]:
    """Each item: [main, sample 1, ..., sample n], texts of about three sentences."""
    from harness.scorers.hallucination.sentences import sentences

    path = DATA / "summeval" / "summeval.jsonl"
    per_item = 1 + n_samples
    items: list[list[str]] = []
    if path.is_file():
        with path.open() as handle:
            for line in handle:
                row = json.loads(line)
                texts = [" ".join(sentences(s["sys_summ"])[:3]) for s in row["systems"].values()]
                for start in range(0, len(texts) - per_item + 1, per_item):
                    items.append(texts[start : start + per_item])
        source = f"SummEval system summaries, first 3 sentences ({path})"
    else:
        rng = random.Random(0)
        words = ["the", "a", "city", "river", "team", "sold", "bought", "green", "old", "won"]
        for _ in range(n_items):
            items.append(
                [
                    " ".join(
                        " ".join(rng.choices(words, k=rng.randint(8, 20))).capitalize() + "."
                        for _ in range(3)
                    )
                    for _ in range(per_item)
                ]
            )
        source = "generated sentences (no ../shared/data)"
    if len(items) < n_items:
        raise SystemExit(f"only {len(items)} items available; ask for fewer with --items")
    return items[:n_items], source


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--items", type=int, default=192)
    parser.add_argument("--samples", type=int, default=5)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeat", type=int, default=2)
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")

    import torch

    from harness.item import Item
    from harness.scorers.base import Example
    from harness.scorers.hallucination.selfcheck import SelfCheck
    from harness.scorers.hallucination.sentences import sample_sentences, sentences

    torch.set_num_threads(args.threads)
    texts, source = build_items(args.items, args.samples)
    examples = [
        Example(Item(f"i{k}", "prompt"), 0, group[0], tuple(group)) for k, group in enumerate(texts)
    ]
    main_sentences = sum(len(sentences(g[0])) for g in texts)
    pairs = sum(len(sentences(g[0])) * args.samples for g in texts)
    sample_sents = [s for g in texts for t in g[1:] for s in sample_sentences(t)]
    distinct = len({s.strip() for g in texts for t in g for s in sentences(t)})
    print(f"data: {source}")
    print(
        f"{len(examples)} items x {args.samples} samples; {main_sentences / len(texts):.2f} "
        f"sentences per main response, {len(sample_sents) / (len(texts) * args.samples):.2f} per "
        f"sample; {pairs} (sentence, sample) pairs; {distinct} distinct sentences; "
        f"torch threads {torch.get_num_threads()}, batches of {args.batch}"
    )
    print(f"load average at start: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    scorers = {False: SelfCheck(method="bertscore", samples=args.samples, bf16=False)}
    auto = SelfCheck(method="bertscore", samples=args.samples)
    if auto._bertscore.encoder.bf16:
        scorers[True] = auto
    per_cpu_second: dict[str, float] = {}
    for threads in sorted({1, args.threads}):
        torch.set_num_threads(threads)
        for scorer in scorers.values():
            scorer.score(examples[: args.batch])  # warm-up
            best_wall = best_cpu = float("inf")
            for _ in range(args.repeat):
                wall, cpu = time.perf_counter(), time.process_time()
                records = []
                for start in range(0, len(examples), args.batch):
                    records.extend(scorer.score(examples[start : start + args.batch]))
                best_wall = min(best_wall, time.perf_counter() - wall)
                best_cpu = min(best_cpu, time.process_time() - cpu)
            assert len(records) == len(examples) and all(r.value is not None for r in records)
            used = "bf16" if scorer._bertscore.encoder.bf16 else "fp32"
            per_cpu_second[used] = max(per_cpu_second.get(used, 0.0), len(examples) / best_cpu)
            print(
                f"threads {threads}, {used}: {len(examples) / best_wall:6.1f} items/s wall, "
                f"{pairs / best_wall:6.0f} pairs/s, {len(examples) / best_cpu:6.1f} items per "
                "CPU-second"
            )
    for used, rate in per_cpu_second.items():
        bound = args.threads * rate
        verdict = "above" if bound >= TARGET else "BELOW"
        print(
            f"{used}: {args.threads} dedicated cores at the best items per CPU-second give at "
            f"most {bound:.1f} items/s ({verdict} the {TARGET:.0f} items/s target); the wall "
            "figures above are what this machine gave under its load"
        )
    torch.set_num_threads(args.threads)
    for scorer in scorers.values():
        encoder_ceiling(scorer._bertscore.encoder, texts, args.threads, args.repeat)


def gemm_rate(threads: int) -> float:
    """fp32 GFLOPS of one encoder-sized linear layer (1,664 tokens x 384 -> 1,536)."""
    import torch

    x, layer = torch.randn(1664, 384), torch.nn.Linear(384, 1536)
    with torch.inference_mode():
        for _ in range(3):
            layer(x)
        start = time.perf_counter()
        for _ in range(20):
            layer(x)
    return 2 * 1664 * 384 * 1536 * 20 / (time.perf_counter() - start) / 1e9


def encoder_ceiling(encoder: Any, texts: list[list[str]], threads: int, repeat: int) -> None:
    """Time the forward pass over the distinct sentences alone; set its linear-layer FLOPs
    against the measured GEMM rate."""
    import torch

    from harness.scorers.hallucination.sentences import sample_sentences, sentences

    distinct = {s.strip() for g in texts for s in sentences(g[0])}
    distinct |= {s.strip() for g in texts for t in g[1:] for s in sample_sentences(t)}
    ids = encoder.tokenize(sorted(distinct))
    tokens = sum(len(x) for x in ids)
    encoder.embed(ids[:64])
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        encoder.embed(ids)
        best = min(best, time.perf_counter() - start)
    linear_params = sum(
        m.in_features * m.out_features
        for name, m in encoder.model.named_modules()
        if isinstance(m, torch.nn.Linear) and "pooler" not in name  # the pooler sees [CLS] only
    )
    gflop = 2 * linear_params * tokens / 1e9
    rate = gemm_rate(threads)
    used = "bf16" if encoder.bf16 else "fp32"
    print(
        f"{used} encoder forward pass alone: {best:.2f} s for {len(ids)} distinct sentences "
        f"({tokens} tokens), at most {len(texts) / best:.1f} items/s with matching free; its "
        f"linear layers do {gflop:.0f} GFLOP, {gflop / best:.0f} GFLOPS against "
        f"{rate:.0f} GFLOPS measured for one fp32 linear layer on {threads} threads"
    )


if __name__ == "__main__":
    main()
