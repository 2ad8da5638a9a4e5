"""ROUGE-1/2/L and BERTScore against SummEval's expert ratings, beside published figures.

SummEval (Fabbri et al., 2021): 100 CNN/DailyMail articles, 16 system summaries each, rated
1-5 by three experts for coherence, consistency, fluency and relevance (the mean is used),
and 11 reference summaries per article. Every metric scores each system summary against the
11 references (ROUGE: best F over references, per type; BERTScore: P, R, F each the best over
references, bert-score's rule).

Correlation is summary-level, as UniEval and G-Eval report it: for each article, Spearman's
rho and Kendall's tau (tau-b) between the metric and the expert mean over its 16 summaries;
then the mean over the articles (an article whose 16 ratings or scores are all equal has no
correlation and is left out; the count is printed).

Published summary-level figures (Spearman / Kendall), from UniEval (Zhong et al., 2022,
Table 1), repeated in G-Eval (Liu et al., 2023, Table 1); their BERTScore used bert-score's
default English encoder (roberta-large), not MiniLM.

    python benchmarks/bench_summeval.py
"""

from __future__ import annotations

import json
import math
import os
import time
from collections.abc import Callable, Sequence
from pathlib import Path

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "summeval" / "summeval.jsonl"
DIMENSIONS = ("coherence", "consistency", "fluency", "relevance")
PUBLISHED = {
    "ROUGE-1": ((0.167, 0.126), (0.160, 0.130), (0.115, 0.094), (0.326, 0.252)),
    "ROUGE-2": ((0.184, 0.139), (0.187, 0.155), (0.159, 0.128), (0.290, 0.219)),
    "ROUGE-L": ((0.128, 0.099), (0.115, 0.092), (0.105, 0.084), (0.311, 0.237)),
    "BERTScore-F": ((0.284, 0.211), (0.110, 0.090), (0.193, 0.158), (0.312, 0.243)),
}


def rouge_scores(docs: list[dict]) -> tuple[dict[str, list[list[float]]], str]:
    """Per metric, per article, the 16 summaries' ROUGE F (best over the references)."""
    out: dict[str, list[list[float]]] = {"ROUGE-1": [], "ROUGE-2": [], "ROUGE-L": []}
    names = {"rouge1": "ROUGE-1", "rouge2": "ROUGE-2", "rougeL": "ROUGE-L"}
    try:
        from harness.scorers.reference import Rouge

        scorer = Rouge(rouge_types=("rouge1", "rouge2", "rougeL"))

        def one(summary: str, refs: Sequence[str]) -> dict[str, float]:
            scores = scorer.core.score(summary, list(refs))
            return {names[t]: s.fmeasure for t, s in scores.items()}

        how = f"harness rouge scorer ({scorer.signature()})"
    except ImportError:
        from rouge_score import rouge_scorer

        direct = rouge_scorer.RougeScorer(["rouge1", "rouge2", "rougeL"])

        def one(summary: str, refs: Sequence[str]) -> dict[str, float]:
            scores = direct.score_multi(list(refs), summary)
            return {names[t]: s.fmeasure for t, s in scores.items()}

        how = "rouge-score 0.1.2 directly (score_multi: best F over references)"
    for doc in docs:
        per = [one(s["sys_summ"], doc["ref_summs"]) for s in doc["systems"].values()]
        for metric in out:
            out[metric].append([p[metric] for p in per])
    return out, how


def bertscore_scores(docs: list[dict]) -> tuple[dict[str, list[list[float]]], str]:
    from harness.item import Item
    from harness.scorers.base import Example
    from harness.scorers.bertscore import BertScoreScorer

    scorer = BertScoreScorer(bf16=False)
    out: dict[str, list[list[float]]] = {"BERTScore-P": [], "BERTScore-R": [], "BERTScore-F": []}
    for doc in docs:
        item = Item(id=doc["doc_id"], input="", references=tuple(doc["ref_summs"]))
        examples = [Example(item, k, s["sys_summ"]) for k, s in enumerate(doc["systems"].values())]
        records = scorer.score(examples)
        out["BERTScore-F"].append([float(r.value or 0.0) for r in records])
        out["BERTScore-P"].append([float(r.details["precision"]) for r in records if r.details])
        out["BERTScore-R"].append([float(r.details["recall"]) for r in records if r.details])
    return out, f"harness bertscore scorer ({scorer.signature()})"


def summary_level(
    scores: list[list[float]], human: list[list[float]], corr: Callable[..., object]
) -> tuple[float, int]:
    values = []
    for metric_row, human_row in zip(scores, human, strict=True):
        if len(set(metric_row)) < 2 or len(set(human_row)) < 2:
            continue
        value = float(corr(metric_row, human_row)[0])  # type: ignore[index]
        if not math.isnan(value):
            values.append(value)
    return sum(values) / len(values), len(values)


def main() -> None:
    if not DATA.is_file():
        raise SystemExit(f"SummEval data not found at {DATA}")
    os.environ["HF_HUB_OFFLINE"] = "1"
    from scipy.stats import kendalltau, spearmanr

    docs = [json.loads(line) for line in DATA.open()]
    human = {
        dim: [[s["scores"][dim] for s in d["systems"].values()] for d in docs] for dim in DIMENSIONS
    }
    started = time.perf_counter()
    rouge, rouge_how = rouge_scores(docs)
    rouge_s = time.perf_counter() - started
    started = time.perf_counter()
    bert, bert_how = bertscore_scores(docs)
    bert_s = time.perf_counter() - started
    n_pairs = sum(len(d["systems"]) * len(d["ref_summs"]) for d in docs)
    print(f"SummEval: {len(docs)} articles x 16 summaries, 11 references each ({n_pairs} pairs)")
    print(f"ROUGE:     {rouge_how}; {rouge_s:.1f} s")
    print(f"BERTScore: {bert_how}; {bert_s:.1f} s")
    print(
        "summary-level correlation with the expert mean (per article over 16 summaries, "
        "then averaged); 'pub' = UniEval/G-Eval Table 1\n"
    )
    header = f"{'metric':12}" + "".join(f"{d:>27}" for d in DIMENSIONS)
    print(header)
    print(f"{'':12}" + f"{'rho  (pub)   tau  (pub)':>27}" * len(DIMENSIONS))
    skipped = set()
    for metric, scores in {**rouge, **bert}.items():
        cells = []
        for k, dim in enumerate(DIMENSIONS):
            rho, n_rho = summary_level(scores, human[dim], spearmanr)
            tau, _ = summary_level(scores, human[dim], kendalltau)
            skipped.add((dim, len(docs) - n_rho))
            pub = PUBLISHED.get(metric)
            p_rho = f"({pub[k][0]:.3f})" if pub else " " * 7
            p_tau = f"({pub[k][1]:.3f})" if pub else " " * 7
            cells.append(f"{rho:6.3f} {p_rho} {tau:6.3f} {p_tau}")
        print(f"{metric:12}" + "".join(f"{c:>27}" for c in cells))
    left_out = ", ".join(f"{dim} {n}" for dim, n in sorted(skipped) if n)
    print(f"\narticles left out (all 16 equal): {left_out or 'none'}")


if __name__ == "__main__":
    main()
