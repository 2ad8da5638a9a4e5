"""Report sections that exist only for some runs: judges, human labels, toxicity,
hallucination, and slices merged across runs.

Judge consistency comes from `harness.judge.report.judge_report` and human agreement from
`harness.review.agreement_report.human_agreement`; each is called only when its table has
rows for the run, and imported lazily so a report works without either package.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from harness.compare.align import MetricKey, RunScores
from harness.compare.slices import MISSING
from harness.errors import HarnessError
from harness.report.items import metric_label
from harness.scorers.hallucination.aggregate import RATE
from harness.store.db import Store

if TYPE_CHECKING:
    from harness.report.data import ReportOptions

TOXICITY_SCORER = "toxicity"
TOXICITY_ORDER = ("flagged_rate", "toxicity", "expected_max_toxicity", "toxicity_probability")
HALLUCINATION_WORDS = ("hallucination", "selfcheck", "faithfulness", "nli")
HALLUCINATION_LABEL = "hallucination"


def has_rows(store: Store, table: str, where: str, args: Sequence[Any]) -> bool:
    """Whether `table` exists and has a row matching `where`."""
    exists = store.conn.execute(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", [table]
    ).fetchone()
    if exists is None:
        return False
    return (
        store.conn.execute(f"SELECT 1 FROM {table} WHERE {where} LIMIT 1", args).fetchone()
        is not None
    )


def judge_section(
    store: Store, run_id: str, options: ReportOptions, warnings: list[str]
) -> dict[str, Any] | None:
    """Judge consistency (stability, agreement, position and verbosity bias) of the run."""
    if not has_rows(store, "judgments", "run_id = ? OR versus = ?", [run_id, run_id]):
        return None
    try:
        from harness.judge.report import judge_report
    except ImportError as exc:
        warnings.append(f"run {run_id} has judgments, but judge figures are unavailable: {exc}")
        return None
    try:
        return judge_report(
            store,
            run_id,
            n_resamples=options.resamples,
            seed=options.seed,
            confidence=options.confidence,
            top=options.top,
        )
    except HarnessError as exc:
        warnings.append(f"run {run_id}: judge consistency left out: {exc}")
        return None


def human_section(
    store: Store, run_id: str, options: ReportOptions, warnings: list[str]
) -> dict[str, Any] | None:
    """Agreement among human annotators, and between judges and humans, per label."""
    if not has_rows(store, "labels", "run_id = ?", [run_id]):
        return None
    try:
        from harness.review.agreement_report import human_agreement
    except ImportError as exc:
        warnings.append(f"run {run_id} has human labels, but agreement is unavailable: {exc}")
        return None
    try:
        report = human_agreement(
            store,
            run_id,
            n_resamples=options.resamples,
            confidence=options.confidence,
            seed=options.seed,
        )
    except HarnessError as exc:
        warnings.append(f"run {run_id}: human agreement left out: {exc}")
        return None
    return report or None


def toxicity_section(sections: Sequence[dict[str, Any]]) -> list[dict[str, Any]] | None:
    """The toxicity scorer's run figures across runs: flagged rate, mean toxicity,
    RealToxicityPrompts' expected maximum and probability, then the other labels."""
    rows: dict[str, dict[str, Any]] = {}
    for section in sections:
        for m in section["metrics"]:
            if m["scorer"] != TOXICITY_SCORER:
                continue
            row = rows.setdefault(m["metric"], {"metric": m["metric"], "runs": {}})
            row["runs"][section["name"]] = {
                k: m.get(k) for k in ("value", "ci_low", "ci_high", "n", "details")
            }
    if not rows:
        return None

    def order(name: str) -> tuple[int, str]:
        return (TOXICITY_ORDER.index(name) if name in TOXICITY_ORDER else len(TOXICITY_ORDER), name)

    return [rows[name] for name in sorted(rows, key=order)]


def is_hallucination_scorer(name: str) -> bool:
    lowered = name.lower()
    return any(word in lowered for word in HALLUCINATION_WORDS)


def hallucination_section(sections: Sequence[dict[str, Any]]) -> list[dict[str, Any]] | None:
    """Each hallucination scorer's `hallucination_rate` as the run stored it (the mean over
    items of the share of an item's responses labelled `hallucination`, with the CI the
    run's metrics table shows), with its rule and response counts."""
    rows: dict[str, dict[str, Any]] = {}
    for section in sections:
        for m in section["metrics"]:
            if m["metric"] != RATE or not is_hallucination_scorer(m["scorer"]):
                continue
            details = m.get("details") or {}
            row = rows.setdefault(
                m["scorer"],
                {
                    "scorer": m["scorer"],
                    "metric": RATE,
                    "label": metric_label(m["scorer"], RATE),
                    "runs": {},
                },
            )
            row["runs"][section["name"]] = {
                "value": m["value"],
                "ci_low": m["ci_low"],
                "ci_high": m["ci_high"],
                "n": m["n"],
                "flagged": details.get("hallucinated_responses"),
                "responses": details.get("scored_responses"),
                "rule": details.get("rule"),
            }
    return [rows[k] for k in sorted(rows)] or None


def merge_slices(
    field: str,
    min_slice: int,
    runs: Sequence[RunScores],
    per_run: Sequence[dict[str, dict[str, Any]]],
    lower: dict[MetricKey, bool],
) -> dict[str, Any]:
    """Per metric, every run's groups and fairness figures, over the union of groups."""
    groups = sorted({g["slice"] for r in per_run for m in r.values() for g in m["groups"]})
    if MISSING in groups:
        groups = [g for g in groups if g != MISSING] + [MISSING]
    keys = sorted({key for run in runs for key in run.metrics})
    metrics = []
    for key in keys:
        label = metric_label(*key)
        entries = [
            {"run": run.name} | figures[label]
            for run, figures in zip(runs, per_run, strict=True)
            if label in figures
        ]
        if entries:
            metrics.append(
                {"label": label, "lower_is_better": lower.get(key, False), "runs": entries}
            )
    return {"field": field, "min_slice": min_slice, "groups": groups, "metrics": metrics}
