"""Pairwise judging: which of two responses to the same item is better, in both orders.

The pair is two runs' responses for the same items (aligned by item id), or two
samples of one run. Every comparison is asked twice, A first and B first; a judgment's
score is from A's side (1: A better, 0: B better, 0.5: tie) whichever order was shown,
so the two orders can be compared directly. A win counts only when both orders agree.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from harness.adapters.base import GenerationParams, Request
from harness.errors import ConfigError
from harness.item import Item
from harness.judge.prompt import pairwise_messages
from harness.judge.rubric import Rubric
from harness.judge.runner import JudgeCall, JudgeRunner
from harness.judge.verdict import pairwise_format, parse_pairwise
from harness.store.db import Store, now
from harness.store.judgments import delete_pairwise, write_judgments


@dataclass(frozen=True)
class Pair:
    """Two responses to one item: `a` and `b`."""

    item: Item
    a: str
    b: str


def judge_pairs(
    runner: JudgeRunner,
    rubric: Rubric,
    pairs: Sequence[Pair],
    *,
    repeats: int = 1,
    params: GenerationParams | None = None,
) -> list[dict[str, Any]]:
    """Judgment rows (item_id, judge, repeat, position_order, score from A's side, ...)."""
    params = params or GenerationParams(max_tokens=400)
    calls: list[JudgeCall] = []
    keys: list[tuple[Pair, str, int, str]] = []
    for pair in pairs:
        orders = {
            "AB": pairwise_messages(rubric, pair.item, pair.a, pair.b),
            "BA": pairwise_messages(rubric, pair.item, pair.b, pair.a),
        }
        for judge in runner.judges:
            fmt = pairwise_format() if runner.capabilities(judge).json_schema else None
            for repeat in range(repeats):
                for order, messages in orders.items():
                    request = Request(
                        messages=messages,
                        params=params,
                        sample=repeat,
                        item=pair.item,
                        response_format=fmt,
                    )
                    calls.append(JudgeCall(judge, request))
                    keys.append((pair, judge, repeat, order))
    stamp = now()
    rows = []
    for (pair, judge, repeat, order), response in zip(keys, runner.generate(calls), strict=True):
        if response.error is not None:
            verdict = parse_pairwise(None)
            verdict.error = response.error
        else:
            verdict = parse_pairwise(response.text)
        score, label = verdict.score, verdict.label
        if order == "BA" and score is not None:
            score = 1.0 - score  # back to A's side
            label = {"A": "B", "B": "A"}.get(label or "", label)
        rows.append(
            {
                "item_id": pair.item.id,
                "judge": judge,
                "rubric": rubric.name,
                "rubric_hash": rubric.hash,
                "repeat": repeat,
                "position_order": order,
                "score": score,
                "weighted_score": None,
                "label": label,
                "raw": response.text,
                "reasoning": verdict.reasoning,
                "parsed_ok": verdict.parsed_ok,
                "error": verdict.error,
                "temperature": params.temperature,
                "seed": params.seed + repeat if params.seed is not None else None,
                "created_at": stamp,
            }
        )
    return rows


def _responses(store: Store, run_id: str, sample: int) -> dict[str, str]:
    return {
        item_id: text
        for item_id, text in store.conn.execute(
            "SELECT item_id, text FROM responses WHERE run_id = ? AND sample = ? "
            "AND error IS NULL AND text IS NOT NULL",
            [run_id, sample],
        )
    }


def collect_pairs(
    store: Store, run_a: str, run_b: str | None, sample_a: int = 0, sample_b: int = 0
) -> tuple[list[Pair], str, dict[str, int]]:
    """Pairs of responses for the items both sides answered, the `versus` key, and counts."""
    a_id = str(store.get_run(run_a)["id"])
    if run_b is None:
        if sample_a == sample_b:
            raise ConfigError(
                "comparing two samples of one run needs different --sample-a and --sample-b"
            )
        b_id, versus = a_id, f"sample:{sample_b}"
    else:
        b_id = str(store.get_run(run_b)["id"])
        versus = b_id
        if b_id == a_id:
            if sample_a == sample_b:
                raise ConfigError("a run compared with itself: name two runs or two samples")
            versus = f"sample:{sample_b}"
        elif sample_a != sample_b:
            # verdicts are keyed by A's sample and B's run: B's sample must be the same one
            raise ConfigError(
                f"two runs are compared sample for sample: give --sample-b {sample_a} with "
                f"--sample-a {sample_a} (different samples are compared within one run)"
            )
        store.check_same_inputs(a_id, b_id)
    a_texts = _responses(store, a_id, sample_a)
    b_texts = _responses(store, b_id, sample_b)
    pairs = [
        Pair(item, a_texts[item.id], b_texts[item.id])
        for item, _ in store.iter_results(a_id)
        if item.id in a_texts and item.id in b_texts
    ]
    counts = {
        "pairs": len(pairs),
        "only_a": len(set(a_texts) - set(b_texts)),
        "only_b": len(set(b_texts) - set(a_texts)),
    }
    if not pairs:
        raise ConfigError("the two sides share no answered item: nothing to compare")
    return pairs, versus, counts


def run_pairwise(
    store: Store,
    run_a: str,
    run_b: str | None,
    rubric: Rubric,
    runner: JudgeRunner,
    *,
    sample_a: int = 0,
    sample_b: int = 0,
    repeats: int = 1,
    params: GenerationParams | None = None,
) -> tuple[str, str, str, dict[str, int]]:
    """Judge every pair in both orders and store the judgments: (run_id, versus, scorer, counts)."""
    if repeats < 1:
        raise ConfigError(f"--repeats must be at least 1, not {repeats}")
    pairs, versus, counts = collect_pairs(store, run_a, run_b, sample_a, sample_b)
    a_id = str(store.get_run(run_a)["id"])
    scorer = f"pairwise:{rubric.name}"
    rows = judge_pairs(runner, rubric, pairs, repeats=repeats, params=params)
    for row in rows:
        row.update(run_id=a_id, sample=sample_a, scorer=scorer, mode="pairwise", versus=versus)
    with store.transaction():  # the old verdicts go only with the new ones in
        delete_pairwise(store, a_id, sample_a, versus, scorer, runner.judges)
        write_judgments(store, rows)
    return a_id, versus, scorer, counts
