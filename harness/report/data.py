"""Gather everything a report shows from the store into one plain, JSON-safe dict.

The HTML and Markdown renderers only read this dict, so `harness report --format json`
prints exactly what the other two formats show. Heavy parts stay bounded: per-item values
are numpy arrays (histograms, slices, worst items), run figures come from `run_metrics`
and SQL aggregates, and texts are read for the few items listed.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from harness import __version__
from harness.compare.align import (
    MetricKey,
    RunScores,
    build_scorer,
    corpus_metrics_of,
    load_runs,
    scorer_class,
)
from harness.errors import ConfigError
from harness.report import extras
from harness.report.items import (
    histogram,
    item_texts,
    latencies,
    latency_figures,
    latency_histogram,
    metric_label,
    token_figures,
    worst_items,
)
from harness.stats import mean_ci
from harness.store.db import Store, now
from harness.summary import run_summary


@dataclass
class ReportOptions:
    """What the report includes and how its intervals are computed."""

    by: str | None = None
    """Metadata field to slice by (per-slice bars with CIs, fairness figures)."""
    top: int = 10
    """Worst items listed per metric and run; most regressed items per metric."""
    resamples: int = 1000
    seed: int = 12345
    confidence: float = 0.95
    correction: str = "holm"
    min_slice: int = 30
    bins: int = 30
    """Histogram bins of continuous metrics."""
    text_limit: int = 1000
    """Characters of an input or response shown before it is cut."""
    lower_is_better: frozenset[str] = frozenset()

    def check(self) -> None:
        if self.top < 0:
            raise ConfigError("--top must be 0 or more")
        if self.bins < 1:
            raise ConfigError("--bins must be at least 1")
        if self.text_limit < 20:
            raise ConfigError("--text-limit must be at least 20 characters")
        if self.resamples < 1:
            raise ConfigError("--resamples must be at least 1")
        if not 0 < self.confidence < 1:
            raise ConfigError(f"--confidence must be between 0 and 1, not {self.confidence}")
        if self.correction not in ("holm", "bh"):
            raise ConfigError(f"--correction must be holm or bh, not '{self.correction}'")


def clean(value: Any) -> Any:
    """JSON-safe: numpy scalars become Python numbers, NaN and infinities None."""
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {str(k): clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [clean(v) for v in value]
    return value


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, sort_keys=True, default=str)


def is_lower_better(key: MetricKey, declared: frozenset[str], options: ReportOptions) -> bool:
    scorer, metric = key
    return (
        metric in declared
        or metric in options.lower_is_better
        or f"{scorer}/{metric}" in options.lower_is_better
    )


def lower_map(
    store: Store, runs: Sequence[RunScores], options: ReportOptions
) -> dict[MetricKey, bool]:
    """Whether lower is better, per metric (item metrics and stored aggregates alike):
    declared by the scorer or named by the user."""
    keys = {key for run in runs for key in run.metrics}
    for run in runs:
        keys.update(
            store.conn.execute(
                "SELECT scorer, metric FROM run_metrics WHERE run_id = ?", [run.run_id]
            ).fetchall()
        )
    scorers = {scorer for scorer, _ in keys}
    declared = {
        s: frozenset(getattr(scorer_class(s), "lower_is_better", frozenset())) for s in scorers
    }
    return {key: is_lower_better(key, declared[key[0]], options) for key in keys}


def configuration(row: dict[str, Any], config: dict[str, Any]) -> list[list[str]]:
    """The run's signature as (setting, value) rows: what must match to compare two runs."""
    template = config.get("template") or {}
    dataset = config.get("dataset") or {}
    rows = [
        ["model", str(row.get("model") or "")],
        ["adapter", _json(config.get("model")) if config.get("model") else ""],
        ["params", _json(config.get("params")) if config.get("params") else ""],
        ["samples", str(config.get("samples", ""))],
        [
            "params of samples 1..n",
            _json(config["sample_params"]) if config.get("sample_params") else "",
        ],
        ["dataset", str(row.get("dataset") or dataset.get("source") or "")],
        ["dataset fingerprint", str(row.get("dataset_fingerprint") or "")],
        ["dataset rows", str(config.get("n_rows", row.get("n_items") or ""))],
        ["field mapping", _json(dataset.get("mapping")) if dataset.get("mapping") else ""],
        ["template hash", str(row.get("template_hash") or template.get("hash") or "")],
        ["template", str(template.get("source") or "")],
        ["system prompt", str(template.get("system") or "")],
        ["prompt", str(template.get("prompt") or "")],
        ["git revision", str(row.get("git_revision") or "")],
    ]
    for key in ("concurrency", "timeout", "max_retries", "cache"):
        if key in config:
            rows.append([key.replace("_", " "), str(config[key])])
    return [r for r in rows if r[1]]


def scorer_rows(store: Store, run_id: str, config: dict[str, Any]) -> list[dict[str, Any]]:
    """Every scorer of the run with its signature (from the config, else the scores)."""
    signatures: dict[str, str] = dict(config.get("scorers") or {})
    for scorer, signature in store.conn.execute(
        "SELECT scorer, min(signature) FROM run_metrics WHERE run_id = ? GROUP BY scorer",
        [run_id],
    ):
        signatures.setdefault(scorer, signature or "")
    options = config.get("scorer_options") or {}
    return [
        {"name": name, "signature": signatures[name], "options": _json(options.get(name) or {})}
        for name in sorted(signatures)
    ]


def summary_metrics(
    summary: dict[str, Any], run: RunScores, lower: dict[MetricKey, bool]
) -> list[dict[str, Any]]:
    """Run-level figures from `run_metrics`, plus item means with CIs for metrics that have
    scores but no stored aggregate (an unfinished run)."""
    rows = []
    stored = set()
    for m in summary["metrics"]:
        key = (m["scorer"], m["metric"])
        stored.add(key)
        rows.append(
            {
                "scorer": m["scorer"],
                "metric": m["metric"],
                "label": metric_label(*key),
                "value": m["value"],
                "ci_low": m["ci_low"],
                "ci_high": m["ci_high"],
                "n": m["n"],
                "unscored": (m.get("details") or {}).get("unscored"),
                "lower_is_better": lower.get(key, False),
                "source": "run_metrics",
                "details": m.get("details") or {},
            }
        )
    for key, scores in sorted(run.metrics.items()):
        if key in stored:
            continue
        corpus = _corpus_figures(run, key, scores.stats)
        mean: float | None
        if corpus is not None:
            (mean, low, high, n), source = corpus, "corpus statistics"
        else:
            values = scores.values[np.isfinite(scores.values)]
            mean, low, high = mean_ci(values.tolist(), bounds=_value_range(key))
            n, source = int(values.size), "item means"
        rows.append(
            {
                "scorer": key[0],
                "metric": key[1],
                "label": metric_label(*key),
                "value": mean,
                "ci_low": low,
                "ci_high": high,
                "n": n,
                "unscored": scores.unscored,
                "lower_is_better": lower.get(key, False),
                "source": source,
                "details": {},
            }
        )
    return rows


def _corpus_figures(
    run: RunScores, key: MetricKey, stats: np.ndarray | None
) -> tuple[float, float | None, float | None, int] | None:
    """A corpus metric (BLEU, chrF) of a run that stored no aggregate, as the scorer computes
    it from the stored statistics: (value, 95% bootstrap interval, items); None for others."""
    if stats is None or key[1] not in corpus_metrics_of(key[0]):
        return None
    rows = stats[np.isfinite(stats).all(axis=1)]
    if rows.shape[0] == 0:
        return None
    from harness.metrics._resample import corpus_interval

    scorer = build_scorer(run, key[0])

    def values(sums: np.ndarray) -> np.ndarray:
        return np.asarray(scorer.corpus_value(key[1], sums), dtype=float)

    value = float(values(rows.sum(axis=0)[None, :])[0])
    if rows.shape[0] < 2:
        return value, None, None, 1
    low, high = corpus_interval(rows, values)
    return value, low, high, int(rows.shape[0])


def _value_range(key: MetricKey) -> tuple[float, float] | None:
    """The fixed range the scorer declares for the metric (its class, so no model loads;
    ranges that depend on a scorer's options, such as a rubric's scale, are not cut)."""
    cls = scorer_class(key[0])
    return cls.value_range.get(key[1]) if cls is not None else None


def run_section(
    store: Store,
    run: RunScores,
    lower: dict[MetricKey, bool],
    options: ReportOptions,
    latency: np.ndarray,
    warnings: list[str],
) -> dict[str, Any]:
    """Everything about one run."""
    row = store.get_run(run.run_id)
    summary = run_summary(store, run.run_id)
    config = run.config
    return {
        "run_id": run.run_id,
        "name": run.name,
        "status": row["status"],
        "model": row["model"],
        "dataset": row["dataset"],
        "created_at": row["created_at"],
        "finished_at": row["finished_at"],
        "n_items": row["n_items"],
        "items_stored": len(run.item_ids),
        "template_hash": row["template_hash"],
        "dataset_fingerprint": row["dataset_fingerprint"],
        "configuration": configuration(row, config),
        "versions": json.loads(row["versions"]) if row["versions"] else {},
        "scorers": scorer_rows(store, run.run_id, config),
        "metrics": summary_metrics(summary, run, lower),
        "stats": summary["stats"],
        "latency": latency_figures(latency),
        "tokens": token_figures(store, run.run_id),
        "worst": worst_items(store, run, lower, options.top, options.text_limit),
        "judge": extras.judge_section(store, run.run_id, options, warnings),
        "human": extras.human_section(store, run.run_id, options, warnings),
    }


def metric_table(sections: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per metric across runs: {label, lower_is_better, runs: {name: figures}}."""
    table: dict[str, dict[str, Any]] = {}
    for section in sections:
        for m in section["metrics"]:
            row = table.setdefault(
                m["label"],
                {
                    "label": m["label"],
                    "scorer": m["scorer"],
                    "metric": m["metric"],
                    "lower_is_better": m["lower_is_better"],
                    "runs": {},
                },
            )
            row["runs"][section["name"]] = {
                k: m[k] for k in ("value", "ci_low", "ci_high", "n", "unscored", "source")
            }
    return [table[k] for k in sorted(table)]


def distributions(
    runs: Sequence[RunScores], lower: dict[MetricKey, bool], bins: int
) -> list[dict[str, Any]]:
    """A histogram per metric, every run's counts over shared bins."""
    keys = sorted({key for run in runs for key in run.metrics})
    empty = np.zeros(0)
    out = []
    for key in keys:
        arrays = [run.metrics[key].values if key in run.metrics else empty for run in runs]
        out.append(
            {
                "label": metric_label(*key),
                "scorer": key[0],
                "metric": key[1],
                "lower_is_better": lower.get(key, False),
                "runs": [run.name for run in runs],
            }
            | histogram(arrays, bins)
        )
    return out


def regressions(store: Store, report: dict[str, Any], text_limit: int) -> list[dict[str, Any]]:
    """The comparison's most regressed items, flattened, with fuller texts than compare's."""
    rows = []
    for comparison in report["comparisons"]:
        base, cand = comparison["baseline"], comparison["candidate"]
        ids = [r["item_id"] for m in comparison["metrics"] for r in m["regressions"]]
        if not ids:
            continue
        inputs, responses = item_texts(store, [base["run_id"], cand["run_id"]], ids, text_limit)
        for m in comparison["metrics"]:
            for r in m["regressions"]:
                item_id = r["item_id"]
                rows.append(
                    {
                        "baseline_run": base["name"],
                        "candidate_run": cand["name"],
                        "metric": metric_label(m["scorer"], m["metric"]),
                        "item_id": item_id,
                        "baseline": r["baseline"],
                        "candidate": r["candidate"],
                        "delta": r["delta"],
                        "input": inputs.get(item_id, ""),
                        "baseline_response": responses.get((base["run_id"], item_id), {}).get(
                            "text"
                        ),
                        "candidate_response": responses.get((cand["run_id"], item_id), {}).get(
                            "text"
                        ),
                    }
                )
    return rows


def compare_section(
    store: Store, runs: Sequence[RunScores], options: ReportOptions, warnings: list[str]
) -> dict[str, Any]:
    """`harness compare` on the runs the report already loaded; its warnings join the
    report's."""
    from harness.compare import Settings
    from harness.compare.analysis import compare_loaded

    settings = Settings(
        resamples=options.resamples,
        seed=options.seed,
        confidence=options.confidence,
        correction=options.correction,
        top=options.top,
        by=options.by,
        min_slice=options.min_slice,
        lower_is_better=options.lower_is_better,
    )
    report = compare_loaded(store, runs, settings)
    warnings.extend(report.warnings)
    return report.to_dict()


def gather_report(store: Store, refs: Sequence[str], options: ReportOptions) -> dict[str, Any]:
    """The whole report of one or more runs (the first is the baseline of comparisons),
    read from one snapshot of the database: a `harness score` committing meanwhile shows
    either before or after, never a mix of the two."""
    with store.transaction(temp_only=True):
        return _gather(store, refs, options)


def _gather(store: Store, refs: Sequence[str], options: ReportOptions) -> dict[str, Any]:
    options.check()
    if not refs:
        raise ConfigError("name at least one run to report on")
    ids = [str(store.get_run(ref)["id"]) for ref in refs]
    if len(set(ids)) < len(ids):
        raise ConfigError("a run is named twice: name each run once")
    runs = load_runs(store, ids)
    lower = lower_map(store, runs, options)
    warnings: list[str] = []
    lat = [latencies(store, run.run_id) for run in runs]
    sections = [
        run_section(store, run, lower, options, values, warnings)
        for run, values in zip(runs, lat, strict=True)
    ]
    comparison = compare_section(store, runs, options, warnings) if len(runs) > 1 else None
    slices = None
    if options.by:
        from harness.report.slices import run_slices

        per_run = [
            run_slices(
                store,
                run,
                options.by,
                resamples=options.resamples,
                seed=options.seed,
                confidence=options.confidence,
                min_slice=options.min_slice,
                lower=lower,
                warnings=warnings,
            )
            for run in runs
        ]
        slices = extras.merge_slices(options.by, options.min_slice, runs, per_run, lower)
    names = [run.name for run in runs]
    report = {
        "title": "harness report: " + " vs ".join(names),
        "generated_at": now(),
        "harness_version": __version__,
        "settings": {
            "by": options.by,
            "top": options.top,
            "resamples": options.resamples,
            "seed": options.seed,
            "confidence": options.confidence,
            "correction": options.correction,
            "min_slice": options.min_slice,
        },
        "run_names": names,
        "runs": sections,
        "metrics": metric_table(sections),
        "distributions": distributions(runs, lower, options.bins),
        "latency": latency_histogram(lat, options.bins),
        "slices": slices,
        "toxicity": extras.toxicity_section(sections),
        "hallucination": extras.hallucination_section(sections),
        "comparison": comparison,
        "regressions": regressions(store, comparison, options.text_limit) if comparison else [],
        "warnings": list(dict.fromkeys(warnings)),
    }
    return dict(clean(report))
