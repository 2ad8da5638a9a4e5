"""The judge report of one run: every judge scorer's consistency figures, and pairwise ones."""

from __future__ import annotations

from typing import Any

from harness.errors import ConfigError
from harness.judge.consistency import pairwise_by_judge, pointwise_report
from harness.store.db import Store
from harness.store.judgments import (
    judge_scorers,
    load_judgments,
    load_labels,
    pairwise_partners,
    response_lengths,
    scorer_scale,
    scorer_scale_kind,
)


def _labels_for(
    labels: list[dict[str, Any]], rubric: str, scorer: str, n_scorers: int
) -> tuple[str | None, list[dict[str, Any]]]:
    """Labels named after the rubric (or scorer); a run's only label name for its only rubric.
    Pair labels (`NAME@VERSUS`: A, B or tie) never stand for pointwise verdicts."""
    labels = [label for label in labels if "@" not in str(label["label_name"])]
    names = {str(label["label_name"]) for label in labels}
    for name in (rubric, scorer):
        if name in names:
            return name, [label for label in labels if label["label_name"] == name]
    if len(names) == 1 and n_scorers == 1:
        name = names.pop()
        return name, labels
    return None, []


def judge_report(
    store: Store,
    ref: str,
    *,
    n_resamples: int = 1000,
    seed: int = 0,
    confidence: float = 0.95,
    top: int = 10,
) -> dict[str, Any]:
    """Consistency figures for every judge scorer of the run, and its pairwise comparisons."""
    if not 0 < confidence < 1:
        raise ConfigError(f"--confidence must be between 0 and 1, not {confidence}")
    run = store.get_run(ref)
    run_id = str(run["id"])
    conn = store.conn
    scorers = judge_scorers(conn, run_id)
    partners = pairwise_partners(conn, run_id)
    if not scorers and not partners:
        raise ConfigError(
            f"run '{run['name']}' has no judgments: judge it with `harness score {run['name']} "
            "--scorers judge:correctness --judge SPEC` or `harness judge-pairwise`"
        )
    lengths = response_lengths(conn, run_id)
    labels = load_labels(conn, run_id)
    rubrics = []
    for scorer in scorers:
        rows = load_judgments(conn, run_id, mode="pointwise", scorer=scorer)
        rubric = str(rows[0]["rubric"])
        scale = scorer_scale(conn, run_id, scorer)
        kind = scorer_scale_kind(conn, run_id, scorer)
        label_name, matched = _labels_for(labels, rubric, scorer, len(scorers))
        report = pointwise_report(
            rows,
            scale=scale,
            ordinal=kind == "ordinal",
            nominal=kind == "nominal",
            lengths=lengths,
            labels=matched,
            n_resamples=n_resamples,
            seed=seed,
            confidence=confidence,
            top=top,
        )
        rubrics.append(
            {"scorer": scorer, "rubric": rubric, "scale": scale, "label_name": label_name} | report
        )
    pairwise = []
    for a_id, sample, versus, scorer in partners:
        rows = load_judgments(
            conn, a_id, mode="pairwise", scorer=scorer, versus=versus, sample=sample
        )
        pairwise += [
            {"run_a": a_id, "sample_a": sample, "versus": versus, "scorer": scorer} | section
            for section in pairwise_by_judge(
                rows, n_resamples=n_resamples, seed=seed, confidence=confidence
            )
        ]
    return {
        "run_id": run_id,
        "name": run["name"],
        "n_resamples": n_resamples,
        "seed": seed,
        "confidence": confidence,
        "rubrics": rubrics,
        "pairwise": pairwise,
    }
