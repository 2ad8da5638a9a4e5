"""Compute a BERTScore rescale baseline, as bert-score's authors did, from offline text.

Zhang et al. (2020, section 3 and appendix) take random pairs of unrelated sentences from a
large monolingual corpus (Common Crawl, 1M pairs), and average BERTScore's P, R and F over
them, for every layer, without idf; a score x is then rescaled to (x - b) / (1 - b). Common
Crawl is not reachable here, so the sentences come from the reference data beside the
checkout (../shared/data), four kinds of English text:

  news      SummEval's 100 CNN/DailyMail articles (`src`), split into sentences
  qa        TruthfulQA questions and their best/correct/incorrect answers
  assistant HaluEval's user queries and ChatGPT answers, split into sentences
  dialogue  Topical-Chat dialogue turns and responses

Sentences of 5 to 60 words are kept and de-duplicated. Each side of a pair picks a kind
uniformly, then a sentence of that kind uniformly (so each kind weighs the same whatever its
size); the two sentences must come from different documents. The pairs are scored with
bert-score's own `score(all_layers=True)` in fp32. The seed makes it reproducible.

    python scripts/compute_bertscore_baseline.py                  # the shipped MiniLM file
    python scripts/compute_bertscore_baseline.py --model /path/to/encoder --num-layers 12 \\
        --out my_baseline.csv                                     # any other encoder

Writes the CSV (bert-score's format, LAYER,P,R,F, one row per layer 0..L) and a JSON file
beside it with the provenance: corpus counts, pairs, seed, standard errors and versions.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import os
import random
import re
import sys
import time
from collections.abc import Iterator
from importlib.metadata import version
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA = ROOT.parent / "shared" / "data"
DEFAULT_OUT = ROOT / "harness" / "metrics" / "baselines" / "all-MiniLM-L6-v2.csv"
SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[\"'A-Z0-9])")
MIN_WORDS, MAX_WORDS = 5, 60


def _sentences(text: str) -> Iterator[str]:
    for line in text.splitlines():
        for sentence in SENTENCE_END.split(line.strip()):
            sentence = " ".join(sentence.split())
            if MIN_WORDS <= len(sentence.split()) <= MAX_WORDS:
                yield sentence


def load_corpus(data: Path) -> dict[str, list[tuple[str, str]]]:
    """kind -> [(document id, sentence)], de-duplicated within each kind."""
    kinds: dict[str, list[tuple[str, str]]] = {}

    def add(kind: str, doc: str, text: str) -> None:
        kinds.setdefault(kind, []).extend((doc, s) for s in _sentences(text))

    with (data / "summeval" / "summeval.jsonl").open() as handle:
        for line in handle:
            row = json.loads(line)
            add("news", row["doc_id"], row["src"])
    with (data / "truthfulqa" / "TruthfulQA.csv").open(newline="") as handle:
        for number, row in enumerate(csv.DictReader(handle)):
            answers = [row["Question"], row["Best Answer"]]
            answers += row["Correct Answers"].split(";") + row["Incorrect Answers"].split(";")
            for answer in answers:
                add("qa", f"tqa{number}", answer)
    with (data / "halueval" / "general_data.jsonl").open() as handle:
        for line in handle:
            row = json.loads(line)
            add("assistant", f"halu{row['ID']}", row["user_query"])
            add("assistant", f"halu{row['ID']}", row["chatgpt_response"])
    turns = json.loads((data / "topical_chat" / "topical_chat.json").read_text())
    for row in turns:
        add("dialogue", row["source"], row["source"])
        add("dialogue", row["source"], row["system_output"])
    unique: dict[str, list[tuple[str, str]]] = {}
    for kind, items in kinds.items():
        first: dict[str, str] = {}
        for doc, sentence in items:
            first.setdefault(sentence, doc)
        unique[kind] = [(doc, sentence) for sentence, doc in first.items()]
    return unique


def make_pairs(kinds: dict[str, list[tuple[str, str]]], n: int, seed: int) -> list[tuple[str, str]]:
    """N pairs of sentences from different documents; each side: a kind, then a sentence."""
    rng = random.Random(seed)
    names = sorted(kinds)
    pairs = []
    while len(pairs) < n:
        doc_a, a = rng.choice(kinds[rng.choice(names)])
        doc_b, b = rng.choice(kinds[rng.choice(names)])
        if doc_a != doc_b and a != b:
            pairs.append((a, b))
    return pairs


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", help="encoder folder or cached name (default: packaged)")
    parser.add_argument("--num-layers", type=int, help="top layer (default 6 for MiniLM)")
    parser.add_argument("--pairs", type=int, default=20_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--batch-size", type=int, default=64)
    args = parser.parse_args(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")

    import bert_score
    import torch

    from harness.metrics._encoder import PACKAGED_LAYERS, resolve_encoder

    spec = resolve_encoder(args.model)
    num_layers = args.num_layers
    if num_layers is None:
        if not spec.packaged:
            parser.error("--num-layers is needed for an encoder other than the packaged MiniLM")
        num_layers = PACKAGED_LAYERS
    if not (args.data / "summeval").is_dir():
        parser.error(f"no reference data at {args.data}; pass --data")
    kinds = load_corpus(args.data)
    pairs = make_pairs(kinds, args.pairs, args.seed)
    started = time.perf_counter()
    cands, refs = [a for a, _ in pairs], [b for _, b in pairs]
    p, r, f = bert_score.score(
        cands,
        refs,
        model_type=spec.location,
        num_layers=num_layers,
        all_layers=True,
        idf=False,
        batch_size=args.batch_size,
    )
    elapsed = time.perf_counter() - started
    stacked = torch.stack([p, r, f], dim=-1).double()  # (layers + 1, pairs, 3)
    means = stacked.mean(dim=1)
    errors = stacked.std(dim=1) / math.sqrt(len(pairs))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with args.out.open("w", newline="") as handle:
        handle.write("LAYER,P,R,F\n")
        for layer, row in enumerate(means.tolist()):
            handle.write(f"{layer},{row[0]:.8f},{row[1]:.8f},{row[2]:.8f}\n")
    provenance = {
        "method": "mean BERTScore P/R/F of random unrelated sentence pairs, per layer, no idf "
        "(Zhang et al. 2020, baseline rescaling), computed with bert_score.score(all_layers=True)",
        "encoder": spec.name,
        "num_layers": num_layers,
        "pairs": len(pairs),
        "seed": args.seed,
        "sentences_per_kind": {kind: len(items) for kind, items in sorted(kinds.items())},
        "sampling": "each side: a kind uniformly, then a sentence uniformly; "
        f"{MIN_WORDS}-{MAX_WORDS} words; the two sentences from different documents",
        "sources": "../shared/data: summeval/summeval.jsonl (src), truthfulqa/TruthfulQA.csv, "
        "halueval/general_data.jsonl, topical_chat/topical_chat.json",
        "standard_error": {
            str(layer): [round(x, 6) for x in row] for layer, row in enumerate(errors.tolist())
        },
        "versions": {name: version(name) for name in ("bert-score", "transformers", "torch")},
    }
    args.out.with_suffix(".json").write_text(json.dumps(provenance, indent=2) + "\n")
    print(f"{len(pairs)} pairs in {elapsed:.0f} s -> {args.out}", file=sys.stderr)
    print(args.out.read_text(), end="")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
