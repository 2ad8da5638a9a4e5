"""Which items a reviewer should see: random, stratified, worst, disagreement, unstable.

Every strategy draws from the items whose first response exists (a failed call has nothing
to review) and is reproducible for a given `seed`.

- random: a uniform sample.
- stratified: by a metadata field; each group gets a share proportional to its size
  (largest remainders), and at least one item when the sample has room for every group.
- worst: the lowest mean over samples of one metric (highest for lower-is-better metrics).
- disagreement: where sources disagree. Each source (a judge on a rubric: mean of its
  verdicts; an automatic metric: mean over samples) is turned into ranks over the items it
  scored, scaled to [0, 1], flipped for lower-is-better metrics; an item's disagreement is
  the largest minus the smallest of its sources' scaled ranks. With judgments, the sources
  are the judges of each rubric plus every `--metric`, and an item's figure is its largest
  over rubrics; without judgments, two or more `--metric` are needed.
- unstable: where a judge's verdicts on one item differ across repeats and position orders
  (spread = max - min of the parsed scores, the largest over judges and rubrics).
"""

from __future__ import annotations

import random
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field

from harness.errors import ConfigError, DataError
from harness.review import source
from harness.store.db import Store

STRATEGIES = ("random", "stratified", "worst", "disagreement", "unstable")
MISSING = "(missing)"


@dataclass
class Selection:
    """The chosen items, in export order, and what each was chosen for."""

    strategy: str
    item_ids: list[str]
    why: dict[str, dict[str, float | str]] = field(default_factory=dict)
    """Per item: the figure it was chosen on (stratum, metric value, disagreement, spread)."""
    available: int = 0
    """How many items could have been chosen."""
    notes: list[str] = field(default_factory=list)


def select(
    store: Store,
    run_id: str,
    strategy: str = "random",
    *,
    n: int | None = None,
    seed: int = 0,
    by: str | None = None,
    metrics: Sequence[str] = (),
    lower_is_better: frozenset[str] = frozenset(),
    versus: source.Versus | None = None,
) -> Selection:
    """Pick up to `n` items (all when None) of a run by `strategy`.

    With `versus`, only items both sides answered, and the judges' pairwise verdicts.
    """
    if strategy not in STRATEGIES:
        raise ConfigError(f"--strategy '{strategy}': choose one of {', '.join(STRATEGIES)}")
    if n is not None and n < 1:
        raise ConfigError(f"--sample {n}: give a positive number of items")
    if by is not None and strategy != "stratified":
        raise ConfigError("--by only applies to --strategy stratified")
    if strategy == "stratified" and not by:
        raise ConfigError("--strategy stratified needs --by FIELD (a metadata field)")
    if metrics and strategy not in ("worst", "disagreement"):
        raise ConfigError("--metric only applies to --strategy worst or disagreement")
    rng = random.Random(seed)
    pool = source.candidates(store, run_id, with_metadata=strategy == "stratified", versus=versus)
    verdicts = (
        source.verdicts(store, run_id, versus.key if versus else None)
        if strategy in ("disagreement", "unstable")
        else []
    )
    if not pool:
        raise DataError(
            f"run {run_id} has no item with a response to review (no items, or every call failed)"
        )
    if strategy == "random":
        chosen = rng.sample(pool, min(n, len(pool))) if n is not None else pool
        return Selection(strategy, [c.item_id for c in chosen], available=len(pool))
    if strategy == "stratified":
        assert by is not None
        return _stratified(pool, by, n, rng)
    if strategy == "worst":
        if len(metrics) != 1:
            raise ConfigError("--strategy worst needs exactly one --metric NAME")
        return _worst(store, run_id, pool, metrics[0], n, lower_is_better)
    if strategy == "disagreement":
        return _disagreement(store, run_id, pool, verdicts, metrics, n, lower_is_better)
    return _unstable(run_id, pool, verdicts, n)


def _stratified(
    pool: list[source.Candidate], by: str, n: int | None, rng: random.Random
) -> Selection:
    fields = sorted({key for c in pool for key in c.metadata})
    if by not in fields:
        raise ConfigError(
            f"--by '{by}' is not a metadata field of this run's items; "
            f"fields: {', '.join(fields) or 'none'}"
        )
    groups: dict[str, list[source.Candidate]] = defaultdict(list)
    for c in pool:
        value = c.metadata.get(by)
        groups[MISSING if value is None else str(value)].append(c)
    total = len(pool)
    want = total if n is None else min(n, total)
    quotas = _allocate({k: len(v) for k, v in groups.items()}, want)
    selection = Selection("stratified", [], available=total)
    for key in sorted(groups):
        members = groups[key]
        for c in sorted(rng.sample(members, quotas[key]), key=lambda c: c.row):
            selection.item_ids.append(c.item_id)
            selection.why[c.item_id] = {"stratum": key}
    empty = sorted(k for k, q in quotas.items() if q == 0)
    if empty:
        selection.notes.append(
            f"{len(empty)} of {len(groups)} groups of '{by}' got no item "
            f"(sample of {want} smaller than the number of groups)"
        )
    return selection


def _allocate(sizes: dict[str, int], want: int) -> dict[str, int]:
    """Proportional quotas summing to `want`; every group gets one when there is room."""
    total = sum(sizes.values())
    if want >= total:
        return dict(sizes)
    quotas = {k: 0 for k in sizes}
    budget = want
    if want >= len(sizes):
        quotas = {k: 1 for k in sizes}
        budget -= len(sizes)
    remaining = {k: sizes[k] - quotas[k] for k in sizes}
    pool = sum(remaining.values())
    exact = {k: budget * remaining[k] / pool if pool else 0.0 for k in sizes}
    for k in sizes:
        quotas[k] += int(exact[k])
    left = want - sum(quotas.values())
    order = sorted(sizes, key=lambda k: (-(exact[k] - int(exact[k])), -sizes[k], k))
    for k in order:
        if left == 0:
            break
        if quotas[k] < sizes[k]:
            quotas[k] += 1
            left -= 1
    return quotas


def _label(key: source.MetricKey) -> str:
    return f"{key[0]}/{key[1]}"


def _is_lower_better(key: source.MetricKey, lower: frozenset[str]) -> bool:
    return key[1] in lower or _label(key) in lower


def _worst(
    store: Store,
    run_id: str,
    pool: list[source.Candidate],
    name: str,
    n: int | None,
    lower: frozenset[str],
) -> Selection:
    key = source.resolve_metric(store, run_id, name)
    values = source.item_means(store, run_id, key)
    flip = _is_lower_better(key, lower)
    scored = [c for c in pool if c.item_id in values]
    if not scored:
        raise DataError(f"no reviewable item of run {run_id} has a '{_label(key)}' score")
    scored.sort(key=lambda c: (-values[c.item_id] if flip else values[c.item_id], c.row))
    chosen = scored if n is None else scored[:n]
    selection = Selection("worst", [c.item_id for c in chosen], available=len(scored))
    for c in chosen:
        selection.why[c.item_id] = {_label(key): values[c.item_id]}
    if len(scored) < len(pool):
        selection.notes.append(f"{len(pool) - len(scored)} items have no '{_label(key)}' score")
    return selection


def scaled_ranks(values: dict[str, float], flip: bool = False) -> dict[str, float]:
    """Average ranks of the values scaled to [0, 1] (0.5 for all when they are all tied)."""
    import numpy as np
    from scipy.stats import rankdata

    ids = list(values)
    if not ids:
        return {}
    data = np.array([values[i] for i in ids], dtype=float)
    ranks = rankdata(-data if flip else data)
    low, high = ranks.min(), ranks.max()
    scaled = (ranks - low) / (high - low) if high > low else np.full(len(ids), 0.5)
    return {i: float(s) for i, s in zip(ids, scaled, strict=True)}


def _judge_sources(verdicts: list[source.Verdict]) -> dict[str, dict[str, dict[str, float]]]:
    """rubric -> judge -> item -> mean of the parsed verdicts."""
    sums: dict[tuple[str, str, str], list[float]] = defaultdict(list)
    for v in verdicts:
        if v.score is not None:
            sums[(v.rubric, v.judge, v.item_id)].append(v.score)
    out: dict[str, dict[str, dict[str, float]]] = defaultdict(lambda: defaultdict(dict))
    for (rubric, judge, item), scores in sums.items():
        out[rubric][judge][item] = sum(scores) / len(scores)
    return out


def _disagreement(
    store: Store,
    run_id: str,
    pool: list[source.Candidate],
    verdicts: list[source.Verdict],
    names: Sequence[str],
    n: int | None,
    lower: frozenset[str],
) -> Selection:
    reviewable = {c.item_id for c in pool}
    metric_sources: dict[str, dict[str, float]] = {}
    constant: list[str] = []  # a source giving every item one value ranks them all 0.5
    for name in names:
        key = source.resolve_metric(store, run_id, name)
        values = {i: v for i, v in source.item_means(store, run_id, key).items() if i in reviewable}
        if len(set(values.values())) == 1:
            constant.append(_label(key))
            continue
        metric_sources[_label(key)] = scaled_ranks(values, _is_lower_better(key, lower))
    judges = _judge_sources(verdicts)
    groups: dict[str, dict[str, dict[str, float]]] = {}
    if judges:
        for rubric, per_judge in sorted(judges.items()):
            group = {
                f"judge {judge} on {rubric}": scaled_ranks(
                    {i: v for i, v in values.items() if i in reviewable}
                )
                for judge, values in sorted(per_judge.items())
            }
            group.update(metric_sources)
            if len(group) >= 2:
                groups[rubric] = group
        if not groups:
            raise ConfigError(
                "--strategy disagreement: this run has one judge per rubric; add an automatic "
                "metric to compare it with (--metric NAME), or judge with several --judge"
            )
    else:
        if len(metric_sources) < 2:
            verb = "gives" if len(constant) == 1 else "give"
            same = f" ({', '.join(constant)} {verb} every item the same value)" if constant else ""
            raise ConfigError(
                "--strategy disagreement: this run has no judgments, so it needs two or more "
                "--metric that vary over the items to find where metrics disagree (e.g. "
                f"--metric bleu --metric bertscore){same}"
            )
        groups["metrics"] = metric_sources
    spread: dict[str, float] = {}
    between: dict[str, str] = {}
    for group_name, group in groups.items():
        for item in reviewable:
            present = {s: ranks[item] for s, ranks in group.items() if item in ranks}
            if len(present) < 2:
                continue
            hi = max(present, key=lambda s: present[s])
            lo = min(present, key=lambda s: present[s])
            value = present[hi] - present[lo]
            if value > spread.get(item, -1.0):
                spread[item] = value
                pair = f"{hi} vs {lo}" if value > 0 else f"none ({' = '.join(present)})"
                between[item] = pair if group_name == "metrics" else f"{group_name}: {pair}"
    ranked = sorted(
        (c for c in pool if c.item_id in spread), key=lambda c: (-spread[c.item_id], c.row)
    )
    if not ranked:
        raise DataError("no item is scored by two of the sources, so none can disagree")
    chosen = ranked if n is None else ranked[:n]
    selection = Selection("disagreement", [c.item_id for c in chosen], available=len(ranked))
    selection.notes.extend(
        f"{label} gives every item the same value: left out, it cannot disagree"
        for label in constant
    )
    for c in chosen:
        selection.why[c.item_id] = {
            "disagreement": round(spread[c.item_id], 6),
            "between": between[c.item_id],
        }
    return selection


def _unstable(
    run_id: str, pool: list[source.Candidate], verdicts: list[source.Verdict], n: int | None
) -> Selection:
    if not verdicts:
        raise ConfigError(
            f"run {run_id} has no judge verdicts: --strategy unstable needs a run judged with "
            "repeats (e.g. `--scorers judge:RUBRIC --judge-repeats 3`)"
        )
    per_key: dict[tuple[str, str, str], list[float]] = defaultdict(list)
    for v in verdicts:
        if v.score is not None:
            per_key[(v.item_id, v.judge, v.rubric)].append(v.score)
    repeated = {k: s for k, s in per_key.items() if len(s) >= 2}
    if not repeated:
        raise ConfigError(
            f"run {run_id}: no judge gave an item two parsed verdicts, so stability cannot be "
            "seen; judge with --judge-repeats 2 or more (or pairwise, which swaps positions)"
        )
    spread: dict[str, float] = {}
    worst: dict[str, str] = {}
    for (item, judge, rubric), scores in repeated.items():
        value = max(scores) - min(scores)
        if value > spread.get(item, -1.0):
            spread[item] = value
            worst[item] = f"judge {judge} on {rubric}: {', '.join(f'{s:g}' for s in scores)}"
    unstable = sorted(
        (c for c in pool if spread.get(c.item_id, 0.0) > 0),
        key=lambda c: (-spread[c.item_id], c.row),
    )
    if not unstable:
        raise DataError(
            f"run {run_id}: every judge gave the same score on every repeat of every item "
            f"({len(repeated)} repeated verdict sets): nothing unstable to review"
        )
    chosen = unstable if n is None else unstable[:n]
    selection = Selection("unstable", [c.item_id for c in chosen], available=len(unstable))
    for c in chosen:
        selection.why[c.item_id] = {"spread": spread[c.item_id], "verdicts": worst[c.item_id]}
    return selection
