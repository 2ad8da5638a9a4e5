"""What review reads from a run: items, first responses, per-item scores and judge verdicts.

Selection works on light columns (ids, metadata, numbers); the texts a reviewer reads are
fetched afterwards, in chunks, for the chosen items only.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from harness.errors import ConfigError
from harness.store.db import Store

MetricKey = tuple[str, str]
"""(scorer, metric)"""


@dataclass(frozen=True)
class Candidate:
    """An item a reviewer can judge: its first response exists and did not fail."""

    item_id: str
    row: int
    metadata: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Versus:
    """The other side of a pair: another run's sample 0, or another sample of this run."""

    key: str
    """As the `judgments.versus` column holds it: the other run's id, or `sample:K`."""
    run_id: str
    sample: int


@dataclass(frozen=True)
class ReviewItem:
    """Everything a reviewer sees about one item."""

    item_id: str
    input: str
    context: str | None
    references: tuple[str, ...]
    metadata: dict[str, Any]
    response: str
    response_b: str | None = None
    """The other response of a pair."""


@dataclass(frozen=True)
class Verdict:
    """One judge verdict from the `judgments` table (score None: unparsed).

    Pairwise verdicts are scored from A's side (1: A better, 0: B better, 0.5: tie).
    """

    item_id: str
    judge: str
    rubric: str
    repeat: int
    order: str
    score: float | None


def resolve_versus(store: Store, run_id: str, ref: str) -> Versus:
    """`--versus RUN` (its sample 0) or `--versus sample:K` (sample K of this run)."""
    if ref.startswith("sample:"):
        try:
            sample = int(ref.removeprefix("sample:"))
        except ValueError:
            raise ConfigError(f"--versus '{ref}': write sample:K with a sample number") from None
        if sample < 1:
            raise ConfigError(f"--versus '{ref}': sample 0 is the response itself; pick K >= 1")
        return Versus(f"sample:{sample}", run_id, sample)
    other = str(store.get_run(ref)["id"])
    if other == run_id:
        raise ConfigError("--versus names the run itself: name another run, or sample:K")
    store.check_same_inputs(run_id, other)
    return Versus(other, other, 0)


def candidates(
    store: Store, run_id: str, *, with_metadata: bool = False, versus: Versus | None = None
) -> list[Candidate]:
    """Items whose sample 0 (and, for pairs, the other side) has a response, in dataset order."""
    column = "i.metadata" if with_metadata else "NULL"
    join = ""
    args_typed: list[Any] = [run_id]
    if versus is not None:
        join = (
            "JOIN responses b ON b.run_id = ? AND b.item_id = i.item_id AND b.sample = ? "
            "AND b.error IS NULL AND b.text IS NOT NULL "
        )
        args_typed = [versus.run_id, versus.sample, run_id]
    rows = store.conn.execute(
        f"SELECT i.item_id, i.row, {column} FROM items i JOIN responses r "
        "ON r.run_id = i.run_id AND r.item_id = i.item_id AND r.sample = 0 "
        f"{join}WHERE i.run_id = ? AND r.error IS NULL AND r.text IS NOT NULL "
        "ORDER BY i.row, i.item_id",
        args_typed,
    )
    return [
        Candidate(item_id, row, json.loads(meta) if meta else {}) for item_id, row, meta in rows
    ]


def review_items(
    store: Store, run_id: str, item_ids: Sequence[str], versus: Versus | None = None
) -> Iterator[ReviewItem]:
    """The chosen items with their sample-0 responses, in the order given, in chunks."""
    for start in range(0, len(item_ids), 500):
        chunk = list(item_ids[start : start + 500])
        marks = ", ".join("?" for _ in chunk)
        found = {
            row[0]: row
            for row in store.conn.execute(
                "SELECT i.item_id, i.input, i.context, i.reference, i.metadata, r.text "
                "FROM items i JOIN responses r ON r.run_id = i.run_id "
                "AND r.item_id = i.item_id AND r.sample = 0 "
                f"WHERE i.run_id = ? AND i.item_id IN ({marks})",
                [run_id, *chunk],
            )
        }
        other: dict[str, str] = {}
        if versus is not None:
            other = dict(
                store.conn.execute(
                    "SELECT item_id, text FROM responses WHERE run_id = ? AND sample = ? "
                    f"AND item_id IN ({marks})",
                    [versus.run_id, versus.sample, *chunk],
                ).fetchall()
            )
        for item_id in chunk:
            _, text, context, reference, metadata, response = found[item_id]
            yield ReviewItem(
                item_id,
                text,
                context,
                tuple(json.loads(reference or "[]")),
                json.loads(metadata or "{}"),
                response or "",
                other.get(item_id) if versus is not None else None,
            )


def metric_keys(store: Store, run_id: str) -> list[MetricKey]:
    """Every (scorer, metric) the run has scores for, the human labels left out."""
    return [
        (scorer, metric)
        for scorer, metric in store.conn.execute(
            "SELECT DISTINCT scorer, metric FROM scores WHERE run_id = ? AND scorer != 'human' "
            "ORDER BY scorer, metric",
            [run_id],
        )
    ]


def resolve_metric(store: Store, run_id: str, name: str) -> MetricKey:
    """`scorer/metric` or a metric name that one scorer of the run has."""
    keys = metric_keys(store, run_id)
    if "/" in name:
        scorer, _, metric = name.partition("/")
        matches = [k for k in keys if k == (scorer, metric)]
    else:
        matches = [k for k in keys if k[1] == name]
    available = ", ".join(f"{s}/{m}" for s, m in keys) or "none (score the run first)"
    if not matches:
        raise ConfigError(f"--metric '{name}': the run has no such scores; it has {available}")
    if len(matches) > 1:
        names = ", ".join(f"{s}/{m}" for s, m in matches)
        raise ConfigError(f"--metric '{name}' is ambiguous: write one of {names}")
    return matches[0]


def item_means(store: Store, run_id: str, key: MetricKey) -> dict[str, float]:
    """One metric per item: the mean over its scored samples (unscored left out)."""
    return {
        item_id: float(value)
        for item_id, value in store.conn.execute(
            "SELECT item_id, avg(value) FROM scores WHERE run_id = ? AND scorer = ? "
            "AND metric = ? AND value IS NOT NULL GROUP BY item_id",
            [run_id, *key],
        )
    }


def first_sample_scores(
    store: Store, run_id: str, item_ids: Sequence[str], sample: int = 0
) -> dict[str, dict[str, float | None]]:
    """`scorer/metric` -> value of one sample (what the exported response got), per item."""
    out: dict[str, dict[str, float | None]] = defaultdict(dict)
    for start in range(0, len(item_ids), 500):
        chunk = list(item_ids[start : start + 500])
        marks = ", ".join("?" for _ in chunk)
        for item_id, scorer, metric, value in store.conn.execute(
            "SELECT item_id, scorer, metric, value FROM scores WHERE run_id = ? AND sample = ? "
            f"AND scorer != 'human' AND item_id IN ({marks}) ORDER BY scorer, metric",
            [run_id, sample, *chunk],
        ):
            out[item_id][f"{scorer}/{metric}"] = value
    return out


def has_table(store: Store, name: str) -> bool:
    row = store.conn.execute(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", [name]
    ).fetchone()
    return row is not None


def verdicts(store: Store, run_id: str, versus: str | None = None) -> list[Verdict]:
    """Judge verdicts on sample 0: pointwise, or pairwise against `versus` (a Versus key).

    Empty when the run has no judgments.
    """
    if not has_table(store, "judgments"):
        return []
    mode = "pointwise" if versus is None else "pairwise"
    rows = store.conn.execute(
        "SELECT item_id, judge, rubric, coalesce(repeat, 0), coalesce(position_order, ''), score "
        "FROM judgments WHERE run_id = ? AND mode = ? AND versus = ? AND coalesce(sample, 0) = 0",
        [run_id, mode, versus or ""],
    )
    return [
        Verdict(item_id, judge, rubric, int(rep), str(pos), None if score is None else float(score))
        for item_id, judge, rubric, rep, pos, score in rows
    ]


def judged_rubrics(store: Store, run_id: str, versus: str | None = None) -> list[str]:
    """Rubric names judged in the run (pointwise, or pairwise against `versus`), sorted."""
    if not has_table(store, "judgments"):
        return []
    mode = "pointwise" if versus is None else "pairwise"
    return [
        row[0]
        for row in store.conn.execute(
            "SELECT DISTINCT rubric FROM judgments WHERE run_id = ? AND mode = ? AND versus = ? "
            "ORDER BY rubric",
            [run_id, mode, versus or ""],
        )
    ]
