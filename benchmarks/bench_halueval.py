"""Hallucination detectors against human labels: HaluEval general data (../shared/data).

HaluEval's general set holds ChatGPT answers to user queries with a human yes/no
hallucination label. This script scores a small stratified subset (half labelled yes) with
each method available and prints AUROC, average precision (AUC-PR, next to the base rate)
and balanced accuracy of each scorer's `hallucination` label at its default threshold.

What is and is not measured, honestly:

- HaluEval has one response per query and no extra samples. `selfcheck` needs samples of
  the same model; ChatGPT's are not available here, so samples are drawn from the embedded
  local model (SmolLM2-135M, temperature 1). That checks ChatGPT's sentences against a far
  weaker model's answers: it exercises the whole path, it is not SelfCheckGPT's setting.
- There is no source document either. `faithfulness` and `nli` are given the user query as
  the context: a query rarely states the facts an answer gives, so almost every claim is
  "unsupported". Numbers for them measure the plumbing, not the method.
- The judge-based methods (`selfcheck` prompt, `faithfulness`) use `--judge` (default: the
  embedded model, far too small to judge well); a stronger endpoint plugs in with
  `--judge openai:MODEL@http://host/v1`.
- `nli` runs only with a local NLI model (`--nli-model PATH`); none ships with the harness.

Published figures (different data: SelfCheckGPT's WikiBio passages written by GPT-3,
sentence-level "NonFact" AUC-PR, 20 samples; Manakul et al. 2023, Table 2): NLI 92.50,
BERTScore 81.96, unigram (max) 85.63, prompt (gpt-3.5-turbo) 93.42.

    python benchmarks/bench_halueval.py [--items 20] [--samples 3] [--max-tokens 64]
        [--methods bertscore,ngram,prompt,faithfulness,nli] [--judge local] [--nli-model PATH]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "halueval" / "general_data.jsonl"
PUBLISHED = {"bertscore": 81.96, "ngram": 85.63, "prompt": 93.42, "nli": 92.50}


def load_subset(n: int, max_sentences: int, seed: int) -> tuple[list[dict[str, Any]], int, int]:
    """n rows (half labelled yes) among those whose response has at most max_sentences."""
    from harness.scorers.hallucination.sentences import sentences

    rows = [json.loads(line) for line in DATA.open()]
    short = [r for r in rows if 1 <= len(sentences(r["chatgpt_response"])) <= max_sentences]
    rng = random.Random(seed)
    yes = [r for r in short if r["hallucination"] == "yes"]
    no = [r for r in short if r["hallucination"] == "no"]
    rng.shuffle(yes)
    rng.shuffle(no)
    chosen = yes[: n // 2] + no[: n - n // 2]
    return chosen, len(yes), len(no)


def draw_samples(
    rows: list[dict[str, Any]], k: int, max_tokens: int, seed: int, cache: str
) -> list[list[str]]:
    """k samples per query from the embedded model at temperature 1 (cached in `cache`)."""
    from harness.adapters.base import GenerationParams, Request
    from harness.item import Item
    from harness.judge.runner import JudgeCall, JudgeRunner

    params = GenerationParams(temperature=1.0, max_tokens=max_tokens, seed=seed)
    calls = [
        JudgeCall(
            "local",
            Request(
                ({"role": "user", "content": row["user_query"]},),
                params,
                sample,
                Item(row["ID"], row["user_query"]),
            ),
        )
        for row in rows
        for sample in range(k)
    ]
    started = time.perf_counter()
    with JudgeRunner(["local"], concurrency=1, cache_path=cache) as runner:
        responses = runner.generate(calls)
    elapsed = time.perf_counter() - started
    failed = [r.error for r in responses if r.error is not None]
    if failed:
        raise SystemExit(f"{len(failed)} sample calls failed, e.g. {failed[0]}")
    tokens = sum(r.completion_tokens or 0 for r in responses if not r.cached)
    fresh = sum(1 for r in responses if not r.cached)
    print(
        f"samples: {len(responses)} from the local model in {elapsed:.1f} s "
        f"({fresh} fresh, {tokens / elapsed if fresh else 0:.0f} tokens/s)"
    )
    texts = [r.text or "" for r in responses]
    return [texts[i * k : (i + 1) * k] for i in range(len(rows))]


def evaluate(
    name: str, rows: list[dict[str, Any]], records: list[Any], flip: bool
) -> dict[str, Any]:
    """AUROC / AUC-PR of the score and balanced accuracy of the label, scored items only."""
    from sklearn.metrics import average_precision_score, balanced_accuracy_score, roc_auc_score

    truth = {row["ID"]: row["hallucination"] == "yes" for row in rows}
    y, score, predicted = [], [], []
    for record in records:
        if record.value is None:
            continue
        y.append(truth[record.item_id])
        score.append(-record.value if flip else record.value)
        predicted.append(record.label == "hallucination")
    out: dict[str, Any] = {"method": name, "scored": len(y), "unscored": len(records) - len(y)}
    if len(set(y)) == 2:
        out["auroc"] = 100 * roc_auc_score(y, score)
        out["auc_pr"] = 100 * average_precision_score(y, score)
        out["base_rate"] = 100 * sum(y) / len(y)
        out["balanced_accuracy"] = 100 * balanced_accuracy_score(y, predicted)
        out["flagged"] = sum(predicted)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--items", type=int, default=20)
    parser.add_argument("--samples", type=int, default=3)
    parser.add_argument("--max-tokens", type=int, default=64)
    parser.add_argument("--max-sentences", type=int, default=4)
    parser.add_argument("--methods", default="bertscore,ngram,prompt,faithfulness,nli")
    parser.add_argument("--judge", default="local")
    parser.add_argument("--nli-model", default=None)
    parser.add_argument("--ngram-threshold", type=float, default=6.0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--cache", default=None, help="SQLite file caching samples and verdicts")
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    if not DATA.is_file():
        raise SystemExit(f"no HaluEval data at {DATA}")

    from harness.item import Item
    from harness.scorers.base import Example, ScoreRecord

    cache = args.cache or str(Path(tempfile.mkdtemp()) / "bench_halueval.db")
    methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    rows, n_yes, n_no = load_subset(args.items, args.max_sentences, args.seed)
    print(
        f"data: {DATA}: {len(rows)} items ({sum(r['hallucination'] == 'yes' for r in rows)} "
        f"labelled yes), drawn with seed {args.seed} from the {n_yes} yes / {n_no} no rows whose "
        f"response has at most {args.max_sentences} sentences"
    )
    samples: list[list[str]] = [[] for _ in rows]
    if {"bertscore", "ngram", "prompt"} & set(methods):
        samples = draw_samples(rows, args.samples, args.max_tokens, args.seed, cache)
    examples = [
        Example(
            Item(row["ID"], row["user_query"], (), row["user_query"]),
            0,
            row["chatgpt_response"],
            (row["chatgpt_response"], *extra),
        )
        for row, extra in zip(rows, samples, strict=True)
    ]
    judge: dict[str, Any] = {"judges": [args.judge], "cache_db": cache}
    makers: dict[str, tuple[Callable[[], Any], bool]] = {
        "bertscore": (lambda: _selfcheck("bertscore", args), False),
        "ngram": (lambda: _selfcheck("ngram", args, threshold=args.ngram_threshold), False),
        "prompt": (lambda: _selfcheck("prompt", args, **judge), False),
        "faithfulness": (lambda: _faithfulness(judge), True),
        "nli": (lambda: _nli(args.nli_model), True),
    }
    results = []
    for method in methods:
        if method == "nli" and not args.nli_model:
            print("nli: skipped (no local NLI model: give one with --nli-model PATH)")
            continue
        make, flip = makers[method]
        scorer = make()
        started = time.perf_counter()
        records = [r for r in scorer.score(examples) if r.metric == scorer.primary]
        elapsed = time.perf_counter() - started
        close = getattr(scorer, "close", None)
        if callable(close):
            close()
        result = evaluate(method, rows, records, flip)
        result["seconds"] = elapsed
        results.append(result)
    length = [
        ScoreRecord(r["ID"], 0, "words", float(len(r["chatgpt_response"].split()))) for r in rows
    ]
    results.append({**evaluate("(response length)", rows, length, False), "seconds": 0.0})
    _print(results, args)


def _selfcheck(method: str, args: argparse.Namespace, **options: Any) -> Any:
    from harness.scorers.hallucination.selfcheck import SelfCheck

    return SelfCheck(method=method, samples=args.samples, **options)


def _faithfulness(judge: dict[str, Any]) -> Any:
    from harness.scorers.hallucination.faithfulness import Faithfulness

    return Faithfulness(**judge)


def _nli(model: str) -> Any:
    from harness.scorers.hallucination.nli import NLIScorer

    return NLIScorer(model=model)


def _fmt(value: float | None) -> str:
    return f"{value:6.1f}" if value is not None else "   n/a"


def _print(results: list[dict[str, Any]], args: argparse.Namespace) -> None:
    print()
    print(
        f"{'method':20} {'scored':>6} {'unsc.':>5} {'AUROC':>6} {'AUC-PR':>6} {'base':>6} "
        f"{'bal.acc':>7} {'flagged':>7} {'secs':>6}  published AUC-PR (other data)"
    )
    for r in results:
        published = PUBLISHED.get(r["method"])
        print(
            f"{r['method']:20} {r['scored']:6d} {r['unscored']:5d} {_fmt(r.get('auroc'))} "
            f"{_fmt(r.get('auc_pr'))} {_fmt(r.get('base_rate'))} "
            f"{_fmt(r.get('balanced_accuracy')):>7} {r.get('flagged', 0):7d} "
            f"{r['seconds']:6.1f}  {published if published is not None else ''}"
        )
    print(
        f"\nselfcheck: main response = ChatGPT's, {args.samples} samples = SmolLM2-135M at "
        f"temperature 1 ({args.max_tokens} tokens): not the paper's same-model samples. "
        "faithfulness / nli: context = the user query (HaluEval has no source document). "
        f"Judge: {args.judge}. (response length): a trivial baseline score. Published figures: "
        "SelfCheckGPT on WikiBio, sentence level, 20 same-model samples."
    )


if __name__ == "__main__":
    main()
