"""Human labels as scores, so `harness compare`, `gate` and `runs show` use them unchanged.

Each numeric label becomes a `scores` row of scorer `human`, metric = the label name, on
sample 0 (the response the reviewers saw), value = the mean over annotators; and a
`run_metrics` row with the mean over items and its 95% CI (cut to the scale). The
signature names the label's scale, so labels on different scales are never compared.
Text and category labels without numbers stay in `labels` only. Rebuilt from the
`labels` table on every import.
"""

from __future__ import annotations

import sqlite3
from collections import defaultdict

from harness import __version__
from harness.errors import ConfigError
from harness.review.scale import parse_spec
from harness.stats import mean_ci
from harness.store.db import dumps

HUMAN_SCORER = "human"


def human_signature(scale: str | None) -> str:
    """The same for every run's labels on one scale, so that those (and only those) compare."""
    return f"{HUMAN_SCORER}|v:2|scale:{scale}|harness:{__version__}"


def _bounds(scale: str | None) -> tuple[float, float] | None:
    if not scale:
        return None
    try:
        return parse_spec(scale, "stored scale").bounds
    except ConfigError:
        return None


def write_human_scores(conn: sqlite3.Connection, run_id: str) -> int:
    """Replace the run's `human` scores and run metrics from its labels; returns rows written.

    Runs inside the caller's transaction.
    """
    per_item: dict[tuple[str, str], list[float]] = defaultdict(list)
    who: dict[tuple[str, str], list[str]] = defaultdict(list)
    for item_id, name, annotator, value in conn.execute(
        "SELECT item_id, label_name, annotator, value FROM labels WHERE run_id = ? "
        "ORDER BY item_id, label_name, annotator",
        [run_id],
    ):
        if value is not None:
            per_item[(item_id, name)].append(float(value))
            who[(item_id, name)].append(annotator)
    text_only = {
        name
        for (name,) in conn.execute(
            "SELECT DISTINCT label_name FROM labels WHERE run_id = ? AND value IS NULL", [run_id]
        )
    }
    scales = dict(
        conn.execute(
            "SELECT label_name, min(scale) FROM labels WHERE run_id = ? GROUP BY label_name",
            [run_id],
        ).fetchall()
    )
    per_item = {k: v for k, v in per_item.items() if k[1] not in text_only}
    conn.execute("DELETE FROM scores WHERE run_id = ? AND scorer = ?", [run_id, HUMAN_SCORER])
    conn.execute("DELETE FROM run_metrics WHERE run_id = ? AND scorer = ?", [run_id, HUMAN_SCORER])
    conn.executemany(
        "INSERT INTO scores (run_id, item_id, sample, scorer, metric, value, label, details, "
        "signature) VALUES (?, ?, 0, ?, ?, ?, NULL, ?, ?)",
        [
            [
                run_id,
                item_id,
                HUMAN_SCORER,
                name,
                sum(values) / len(values),
                dumps({"annotators": who[(item_id, name)], "values": values}),
                human_signature(scales[name]),
            ]
            for (item_id, name), values in per_item.items()
        ],
    )
    by_name: dict[str, list[float]] = defaultdict(list)
    annotators: dict[str, set[str]] = defaultdict(set)
    for (item_id, name), values in per_item.items():
        by_name[name].append(sum(values) / len(values))
        annotators[name].update(who[(item_id, name)])
    rows = []
    for name, means in sorted(by_name.items()):
        mean, low, high = mean_ci(means, bounds=_bounds(scales[name]))
        details = {"unscored": 0, "annotators": len(annotators[name]), "source": "labels"}
        rows.append(
            [
                run_id,
                HUMAN_SCORER,
                name,
                mean,
                low,
                high,
                len(means),
                dumps(details),
                human_signature(scales[name]),
            ]
        )
    conn.executemany(
        "INSERT INTO run_metrics (run_id, scorer, metric, value, ci_low, ci_high, n, details, "
        "signature) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        rows,
    )
    return len(per_item)
