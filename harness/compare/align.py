"""Load runs' per-item scores from the store and align them by item id.

One query per run reads every score (one more per corpus metric reads its statistics); an
item with several samples counts once, at the mean of its scored samples, and unscored
records (`value` NULL) are left out and counted. Corpus metrics (declared by the scorer
class) keep each item's sufficient statistics, also averaged over samples.
"""

from __future__ import annotations

import json
from array import array
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from harness import registry
from harness.errors import ConfigError, DataError, HarnessError
from harness.review.human_scores import HUMAN_SCORER
from harness.scorers.base import Scorer
from harness.store.db import Store

MetricKey = tuple[str, str]
"""(scorer, metric)"""


def metric_label(key: MetricKey) -> str:
    return f"{key[0]}/{key[1]}"


@dataclass
class MetricScores:
    """One metric of one run, per item of the run (in the run's item order)."""

    scorer: str
    metric: str
    signature: str | None
    values: np.ndarray
    """Mean over scored samples; NaN where no sample was scored."""
    unscored: int = 0
    """Records stored as unscored (value NULL)."""
    stats: np.ndarray | None = None
    """(items, d) sufficient statistics, mean over samples (corpus metrics only)."""
    pass_fail: bool = False
    """Every scored sample is 0 or 1: item means are shares of passing samples."""


@dataclass
class RunScores:
    """Every score of one run, as arrays over its items."""

    run_id: str
    name: str
    config: dict[str, Any]
    item_ids: list[str]
    metrics: dict[MetricKey, MetricScores]

    def label(self) -> str:
        return f"{self.name} ({self.run_id})"


def scorer_class(name: str, available: set[str] | None = None) -> type[Scorer] | None:
    """The registered scorer class, or None where it is not installed here."""
    if available is not None and name not in available:
        return None
    try:
        cls = registry.load(registry.SCORER_GROUP, name)
    except HarnessError:
        return None
    return cls if isinstance(cls, type) and issubclass(cls, Scorer) else None


def corpus_metrics_of(name: str, available: set[str] | None = None) -> frozenset[str]:
    cls = scorer_class(name, available)
    return cls.corpus_metrics if cls is not None else frozenset()


def build_scorer(run: RunScores, name: str) -> Scorer:
    """The scorer as the run built it (with the run's scorer options), for corpus values."""
    cls = scorer_class(name)
    if cls is None:
        raise ConfigError(f"scorer '{name}' is not installed here: cannot recompute its corpus")
    options = run.config.get("scorer_options", {}).get(name, {})
    try:
        return cls(**options)
    except TypeError as exc:
        raise ConfigError(f"scorer '{name}' rejects run {run.label()}'s options: {exc}") from exc


def load_run(store: Store, ref: str) -> RunScores:
    """Read one run's scores into per-metric arrays (one query)."""
    run = store.get_run(ref)
    run_id = str(run["id"])
    config = json.loads(run["config"]) if run["config"] else {}
    item_ids = [
        row[0]
        for row in store.conn.execute(
            "SELECT item_id FROM items WHERE run_id = ? ORDER BY row, item_id", [run_id]
        )
    ]
    index = {item_id: i for i, item_id in enumerate(item_ids)}
    signatures: dict[str, str] = dict(config.get("scorers") or {})
    installed = set(registry.available(registry.SCORER_GROUP))
    keys, codes, items, flat = _read_values(store, run_id, index, item_ids)
    corpus = {scorer: corpus_metrics_of(scorer, installed) for scorer, _ in keys}
    n_items = len(item_ids)
    scored = ~np.isnan(flat)
    cells = codes * n_items + items
    size = len(keys) * n_items
    sums = np.bincount(cells[scored], weights=flat[scored], minlength=size)
    counts = np.bincount(cells[scored], minlength=size)
    unscored = np.bincount(codes[~scored], minlength=len(keys))
    not_0_1 = np.bincount(codes[scored], weights=~np.isin(flat[scored], (0.0, 1.0)),
                          minlength=len(keys))  # fmt: skip
    with np.errstate(invalid="ignore", divide="ignore"):
        means = (sums / counts).reshape(len(keys), n_items) if size else np.zeros((0, 0))
    result = RunScores(run_id, str(run["name"]), config, item_ids, {})
    for key, k in keys.items():
        scorer, metric = key
        signature = signatures.get(scorer) or _stored_signature(store, run_id, scorer)
        metric_stats = None
        if metric in corpus[scorer]:
            raw = _read_stats(store, run_id, scorer, metric, index)
            metric_stats = _stats_matrix(raw, n_items, result, key)
            missing = ~np.isnan(means[k]) & np.isnan(metric_stats[:, 0])
            if missing.any():
                raise DataError(
                    f"run {result.label()}: {int(missing.sum())} scored items of corpus metric "
                    f"'{scorer}/{metric}' have no details['stats']; score the run again with "
                    f"`harness score {result.name} --scorers {scorer}`"
                )
        result.metrics[(scorer, metric)] = MetricScores(
            scorer, metric, signature, means[k], int(unscored[k]), metric_stats,
            pass_fail=bool(not_0_1[k] == 0),
        )  # fmt: skip
    return result


def _how_to_score(run: RunScores, scorer: str) -> str:
    """What would give `run` scores of `scorer`."""
    if scorer == HUMAN_SCORER:
        return f"import its labels with `harness import-labels {run.name} FILE`"
    if not run.metrics:
        return (
            f"it has no scores at all; `harness runs show {run.name}` says why, and "
            "`harness run ... --name NAME --retry-errors` redoes failed items"
        )
    return f"score it with `harness score {run.name} --scorers {scorer}`"


def load_runs(store: Store, refs: Sequence[str]) -> list[RunScores]:
    """Load several runs, one after another (threads only slow the reads down: each builds
    Python objects under the GIL, and SQLite's allocator is shared), from one snapshot: a
    `harness score` committing meanwhile cannot pair new values with old settings."""
    with store.transaction(temp_only=True):
        return [load_run(store, ref) for ref in refs]


def _read_values(
    store: Store, run_id: str, index: dict[str, int], item_ids: list[str]
) -> tuple[dict[MetricKey, int], np.ndarray, np.ndarray, np.ndarray]:
    """Every score of a run as flat arrays: (metric codes, item codes, values; NaN = NULL).

    Two reads of one snapshot, both in primary-key order: each item's (scorer, metric)
    layout, concatenated by SQLite (Python handles one row per item, not one per score),
    then the bare values (doubles as they are stored; no text round trip).
    """
    keys: dict[MetricKey, int] = {}
    layouts: dict[str, int] = {}
    layout_codes: list[np.ndarray] = []
    item_layout, item_code = array("q"), array("q")
    with store.transaction(temp_only=True):  # one snapshot: a writer cannot come between
        cursor = store.conn.execute(
            "SELECT item_id, group_concat(scorer || char(31) || metric, char(30)) "
            "FROM scores WHERE run_id = ? GROUP BY item_id",
            [run_id],
        )
        while rows := cursor.fetchmany(10_000):
            for item_id, layout in rows:
                code = index.get(item_id)
                if code is None:
                    code = index[item_id] = len(item_ids)
                    item_ids.append(item_id)
                number = layouts.get(layout)
                if number is None:
                    number = layouts[layout] = len(layouts)
                    pairs = [tuple(pair.split("\x1f", 1)) for pair in layout.split("\x1e")]
                    layout_codes.append(
                        np.array([keys.setdefault(p, len(keys)) for p in pairs], dtype=np.int64)
                    )
                item_layout.append(number)
                item_code.append(code)
        values = store.conn.execute(
            "SELECT value FROM scores WHERE run_id = ? ORDER BY item_id, sample, scorer, metric",
            [run_id],
        ).fetchall()
    if not item_layout:
        empty = np.zeros(0, dtype=np.int64)
        return keys, empty, empty, np.zeros(0)
    per_item = np.frombuffer(item_layout, dtype=np.int64)
    lengths = np.array([len(c) for c in layout_codes], dtype=np.int64)[per_item]
    codes = (
        np.tile(layout_codes[0], per_item.size)
        if len(layout_codes) == 1
        else np.concatenate([layout_codes[n] for n in per_item])
    )
    items = np.repeat(np.frombuffer(item_code, dtype=np.int64), lengths)
    flat = np.array([row[0] for row in values], dtype=float)  # None -> NaN
    if flat.size != codes.size:
        raise DataError(f"run {run_id}: scores could not be read back ({flat.size} values)")
    return keys, codes, items, flat


def _stored_signature(store: Store, run_id: str, scorer: str) -> str | None:
    rows = store.conn.execute(
        "SELECT DISTINCT signature FROM scores WHERE run_id = ? AND scorer = ?", [run_id, scorer]
    ).fetchall()
    return rows[0][0] if len(rows) == 1 else None


def _read_stats(
    store: Store, run_id: str, scorer: str, metric: str, index: dict[str, int]
) -> tuple[list[int], list[str]]:
    codes, texts = [], []
    for item_id, raw in store.conn.execute(
        "SELECT item_id, json_extract(details, '$.stats') FROM scores WHERE run_id = ? "
        "AND scorer = ? AND metric = ? AND value IS NOT NULL AND details IS NOT NULL",
        [run_id, scorer, metric],
    ):
        if raw is not None:
            codes.append(index[item_id])
            texts.append(raw)
    return codes, texts


def _stats_matrix(
    stats: tuple[list[int], list[str]], n_items: int, run: RunScores, key: MetricKey
) -> np.ndarray:
    """(items, d) mean statistics over samples; NaN rows where an item has none."""
    codes_list, texts = stats
    try:
        matrix = np.array(json.loads("[" + ",".join(texts) + "]"), dtype=float)
    except ValueError as exc:
        raise DataError(
            f"run {run.label()}: the details['stats'] of '{metric_label(key)}' are not "
            f"lists of numbers of one length ({exc})"
        ) from exc
    width = matrix.shape[1] if matrix.ndim == 2 else 1
    if matrix.size and matrix.ndim != 2:
        raise DataError(f"run {run.label()}: '{metric_label(key)}' statistics are not lists")
    codes = np.array(codes_list, dtype=np.int64)
    counts = np.bincount(codes, minlength=n_items).astype(float)
    sums = np.zeros((n_items, width))
    if codes.size and counts.max() == 1:
        sums[codes] = matrix
    elif codes.size:
        np.add.at(sums, codes, matrix)
    with np.errstate(invalid="ignore", divide="ignore"):
        return sums / counts[:, None]


@dataclass
class Alignment:
    """Two runs' items matched by id."""

    baseline: RunScores
    candidate: RunScores
    shared: list[str]
    """Ids in both runs, in the baseline's order."""
    base_pos: np.ndarray
    cand_pos: np.ndarray
    only_baseline: list[str]
    only_candidate: list[str]


def align(baseline: RunScores, candidate: RunScores) -> Alignment:
    """Match items by id; a pair of runs without a common item is an error."""
    cand_index = {item_id: i for i, item_id in enumerate(candidate.item_ids)}
    shared, base_pos, cand_pos, only_baseline = [], [], [], []
    for i, item_id in enumerate(baseline.item_ids):
        j = cand_index.pop(item_id, None)
        if j is None:
            only_baseline.append(item_id)
        else:
            shared.append(item_id)
            base_pos.append(i)
            cand_pos.append(j)
    if not shared:
        raise DataError(
            f"runs {baseline.label()} and {candidate.label()} have no items in common "
            f"({len(baseline.item_ids)} and {len(candidate.item_ids)} items): compare runs "
            "of the same dataset (items are matched by id)"
        )
    return Alignment(
        baseline,
        candidate,
        shared,
        np.array(base_pos, dtype=np.int64),
        np.array(cand_pos, dtype=np.int64),
        only_baseline,
        list(cand_index),
    )


@dataclass
class PairedMetric:
    """One metric on the items both runs scored, ready for paired tests."""

    scorer: str
    metric: str
    positions: np.ndarray
    """Indices into `Alignment.shared` of the items both runs scored."""
    base: np.ndarray
    cand: np.ndarray
    base_stats: np.ndarray | None = None
    cand_stats: np.ndarray | None = None
    corpus: Scorer | None = None
    higher_is_better: bool = True
    excluded: int = 0
    """Shared items left out because one run (or both) has no score for them."""
    unscored: tuple[int, int] = (0, 0)
    pass_fail: bool = False
    """Every scored sample of both runs is 0 or 1 (item values are shares of samples)."""

    @property
    def key(self) -> MetricKey:
        return (self.scorer, self.metric)

    @property
    def label(self) -> str:
        return metric_label(self.key)

    def subset(self, keep: np.ndarray) -> PairedMetric:
        """The same metric restricted to a boolean mask over `positions`."""
        return PairedMetric(
            self.scorer,
            self.metric,
            self.positions[keep],
            self.base[keep],
            self.cand[keep],
            None if self.base_stats is None else self.base_stats[keep],
            None if self.cand_stats is None else self.cand_stats[keep],
            self.corpus,
            self.higher_is_better,
            0,
            self.unscored,
            self.pass_fail,
        )


NO_SHARED_SCORED = "no shared item is scored in both runs"


@dataclass
class Skipped:
    """A metric that cannot be compared, and why."""

    scorer: str
    metric: str
    reason: str


def signature_difference(a: str | None, b: str | None) -> str:
    """Which settings two signatures disagree on, in words."""
    if a is None or b is None:
        return "one run has no recorded signature"
    left, right = set(a.split("|")), set(b.split("|"))
    only_a, only_b = sorted(left - right), sorted(right - left)
    return f"baseline has {', '.join(only_a) or '-'}; candidate has {', '.join(only_b) or '-'}"


def metric_names(key: MetricKey) -> set[str]:
    """The names a metric answers to: METRIC, SCORER/METRIC and SCORER.METRIC."""
    scorer, metric = key
    return {metric, f"{scorer}/{metric}", f"{scorer}.{metric}"}


def is_lower_better(
    cls: type[Scorer] | None, key: MetricKey, lower_is_better: frozenset[str]
) -> bool:
    """Whether a smaller value is better: the scorer declares it, or --lower-is-better
    names the metric."""
    declared: frozenset[str] = getattr(cls, "lower_is_better", frozenset())
    return key[1] in declared or bool(metric_names(key) & lower_is_better)


def pair_metrics(
    alignment: Alignment, lower_is_better: frozenset[str] = frozenset()
) -> tuple[list[PairedMetric], list[Skipped]]:
    """Every metric both runs have with the same signature, on the items both scored."""
    base, cand = alignment.baseline, alignment.candidate
    known = {name for key in set(base.metrics) | set(cand.metrics) for name in metric_names(key)}
    unknown = sorted(lower_is_better - known)
    if unknown:
        listed = ", ".join(sorted(metric_label(k) for k in set(base.metrics) | set(cand.metrics)))
        raise ConfigError(
            f"--lower-is-better {', '.join(unknown)}: no such metric in these runs "
            f"(metrics: {listed or 'none'})"
        )
    paired: list[PairedMetric] = []
    skipped: list[Skipped] = []
    scorers: dict[str, Scorer] = {}
    installed = set(registry.available(registry.SCORER_GROUP))
    classes: dict[str, type[Scorer] | None] = {}
    for key in sorted(set(base.metrics) | set(cand.metrics)):
        scorer, metric = key
        if key not in cand.metrics or key not in base.metrics:
            present, absent = (base, cand) if key in base.metrics else (cand, base)
            skipped.append(
                Skipped(
                    scorer,
                    metric,
                    f"only in run {present.label()}; run {absent.label()} has no "
                    f"'{metric_label(key)}' scores ({_how_to_score(absent, scorer)})",
                )
            )
            continue
        b, c = base.metrics[key], cand.metrics[key]
        if b.signature != c.signature:
            skipped.append(
                Skipped(
                    scorer,
                    metric,
                    "scorer signatures differ, so the numbers do not mean the same thing: "
                    + signature_difference(b.signature, c.signature),
                )
            )
            continue
        if "|scale:nominal|" in (b.signature or ""):
            skipped.append(
                Skipped(
                    scorer,
                    metric,
                    "a nominal rubric's categories have no order or distance to test; "
                    "compare the runs' category shares (harness report)",
                )
            )
            continue
        bv, cv = b.values[alignment.base_pos], c.values[alignment.cand_pos]
        keep = ~np.isnan(bv) & ~np.isnan(cv)
        if not keep.any():
            skipped.append(Skipped(scorer, metric, NO_SHARED_SCORED))
            continue
        corpus = None
        base_stats = cand_stats = None
        if b.stats is not None and c.stats is not None:
            if scorer not in scorers:
                try:
                    scorers[scorer] = build_scorer(base, scorer)
                except ConfigError as exc:
                    skipped.append(Skipped(scorer, metric, str(exc)))
                    continue
            corpus = scorers[scorer]
            base_stats = b.stats[alignment.base_pos][keep]
            cand_stats = c.stats[alignment.cand_pos][keep]
        if scorer not in classes:
            classes[scorer] = scorer_class(scorer, installed)
        cls = classes[scorer]
        lower = is_lower_better(cls, key, lower_is_better)
        paired.append(
            PairedMetric(
                scorer,
                metric,
                np.flatnonzero(keep),
                bv[keep],
                cv[keep],
                base_stats,
                cand_stats,
                corpus,
                not lower,
                int((~keep).sum()),
                (b.unscored, c.unscored),
                b.pass_fail and c.pass_fail,
            )
        )
    return paired, skipped
