"""Judgments (one judge verdict per repeat and position order), and the judge cache.

Pointwise judgments reach the `judgments` table through the score they belong to
(see migration 0002: a trigger moves `details['judgments']` into the table in the same
transaction). Pairwise judgments have no score row and are written here directly.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from harness.adapters.base import Response
from harness.store.db import BUSY_TIMEOUT_MS, Store, now

COLUMNS = (
    "run_id",
    "item_id",
    "sample",
    "scorer",
    "mode",
    "versus",
    "judge",
    "rubric",
    "rubric_hash",
    "repeat",
    "position_order",
    "score",
    "weighted_score",
    "label",
    "raw",
    "reasoning",
    "parsed_ok",
    "error",
    "temperature",
    "seed",
    "created_at",
)


def load_judgments(
    conn: sqlite3.Connection,
    run_id: str,
    *,
    mode: str | None = None,
    scorer: str | None = None,
    versus: str | None = None,
    sample: int | None = None,
) -> list[dict[str, Any]]:
    """Judgment rows of a run (as `run_id`), in item, sample, judge, repeat order."""
    where, args = ["run_id = ?"], list[str | int]([run_id])
    filters = (("mode", mode), ("scorer", scorer), ("versus", versus), ("sample", sample))
    for column, value in filters:
        if value is not None:
            where.append(f"{column} = ?")
            args.append(value)
    cursor = conn.execute(
        f"SELECT {', '.join(COLUMNS)} FROM judgments WHERE {' AND '.join(where)} "
        "ORDER BY item_id, sample, judge, repeat, position_order",
        args,
    )
    return [dict(zip(COLUMNS, row, strict=True)) for row in cursor]


def pairwise_partners(conn: sqlite3.Connection, run_id: str) -> list[tuple[str, int, str, str]]:
    """(run_id, A's sample, versus, scorer) of every pairwise comparison involving the run."""
    return [
        (a, n, v, s)
        for a, n, v, s in conn.execute(
            "SELECT DISTINCT run_id, sample, versus, scorer FROM judgments "
            "WHERE mode = 'pairwise' AND (run_id = ? OR versus = ?) "
            "ORDER BY run_id, versus, sample, scorer",
            [run_id, run_id],
        )
    ]


def write_judgments(store: Store, rows: Sequence[dict[str, Any]]) -> None:
    """Insert or replace judgment rows (pairwise mode) in one transaction."""
    stamp = now()
    marks = ", ".join("?" for _ in COLUMNS)
    with store.transaction() as conn:
        conn.executemany(
            f"INSERT OR REPLACE INTO judgments ({', '.join(COLUMNS)}) VALUES ({marks})",
            [
                [
                    row.get("created_at") or stamp if c == "created_at" else row.get(c)
                    for c in COLUMNS
                ]
                for row in rows
            ],
        )


def delete_pairwise(
    store: Store, run_id: str, sample: int, versus: str, scorer: str, judges: Sequence[str]
) -> None:
    """Forget these judges' earlier verdicts on this comparison before they are asked again
    (other samples' comparisons stay)."""
    with store.transaction() as conn:
        conn.executemany(
            "DELETE FROM judgments WHERE mode = 'pairwise' AND run_id = ? AND sample = ? "
            "AND versus = ? AND scorer = ? AND judge = ?",
            [[run_id, sample, versus, scorer, judge] for judge in judges],
        )


def judge_scorers(conn: sqlite3.Connection, run_id: str) -> list[str]:
    """Scorer names with pointwise judgments in the run."""
    return [
        row[0]
        for row in conn.execute(
            "SELECT DISTINCT scorer FROM judgments WHERE run_id = ? AND mode = 'pointwise' "
            "ORDER BY scorer",
            [run_id],
        )
    ]


def scorer_scale(conn: sqlite3.Connection, run_id: str, scorer: str) -> list[float] | None:
    """The rubric scale a judge scorer recorded in its score details, if any."""
    row = conn.execute(
        "SELECT details FROM scores WHERE run_id = ? AND scorer = ? AND details IS NOT NULL "
        "LIMIT 1",
        [run_id, scorer],
    ).fetchone()
    if row is None:
        return None
    scale = json.loads(row[0]).get("scale")
    return [float(v) for v in scale] if isinstance(scale, list) else None


def scorer_scale_kind(conn: sqlite3.Connection, run_id: str, scorer: str) -> str:
    """ordinal, binary or nominal, as the judge scorer recorded it (ordinal for older runs)."""
    row = conn.execute(
        "SELECT json_extract(details, '$.scale_kind') FROM scores WHERE run_id = ? AND "
        "scorer = ? AND details IS NOT NULL LIMIT 1",
        [run_id, scorer],
    ).fetchone()
    return str(row[0]) if row and row[0] else "ordinal"


def response_lengths(conn: sqlite3.Connection, run_id: str) -> dict[tuple[str, int], int]:
    """Words per stored response: (item_id, sample) -> length."""
    return {
        (item_id, sample): len((text or "").split())
        for item_id, sample, text in conn.execute(
            "SELECT item_id, sample, text FROM responses WHERE run_id = ? AND error IS NULL",
            [run_id],
        )
    }


def has_table(conn: sqlite3.Connection, name: str) -> bool:
    row = conn.execute(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", [name]
    ).fetchone()
    return row is not None


def load_labels(conn: sqlite3.Connection, run_id: str) -> list[dict[str, Any]]:
    """Human labels of a run (empty when there is no `labels` table or no rows)."""
    if not has_table(conn, "labels"):
        return []
    columns = {row[1] for row in conn.execute("PRAGMA table_info(labels)")}
    wanted = [
        c for c in ("item_id", "annotator", "label_name", "value", "value_text") if c in columns
    ]
    if not {"item_id", "annotator", "label_name", "value"} <= set(wanted):
        return []
    cursor = conn.execute(f"SELECT {', '.join(wanted)} FROM labels WHERE run_id = ?", [run_id])
    return [dict(zip(wanted, row, strict=True)) for row in cursor]


class JudgeCache:
    """Judge replies by request key, with their log-probabilities, in the run database.

    Used from the judge runner's event-loop thread through its own connection; puts are
    buffered and written by `flush` in one transaction.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._conn: sqlite3.Connection | None = None
        self._pending: list[tuple[str, Response]] = []
        self._lock = threading.Lock()

    def _connection(self) -> sqlite3.Connection:
        if self._conn is None:
            Store(self.path).close()  # make sure the schema exists
            self._conn = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
            self._conn.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        return self._conn

    def get(self, key: str) -> Response | None:
        with self._lock:
            row = (
                self._connection()
                .execute(
                    "SELECT text, prompt_tokens, completion_tokens, finish_reason, extra "
                    "FROM judge_cache WHERE key = ?",
                    [key],
                )
                .fetchone()
            )
        if row is None:
            return None
        return Response(
            text=row[0],
            prompt_tokens=row[1],
            completion_tokens=row[2],
            finish_reason=row[3],
            cached=True,
            extra=json.loads(row[4]) if row[4] else {},
        )

    def put(self, key: str, response: Response) -> None:
        with self._lock:
            self._pending.append((key, response))

    def flush(self) -> None:
        with self._lock:
            pending, self._pending = self._pending, []
            if not pending:
                return
            conn = self._connection()
            stamp = now()
            conn.execute("BEGIN IMMEDIATE")
            try:
                conn.executemany(
                    "INSERT OR REPLACE INTO judge_cache (key, text, prompt_tokens, "
                    "completion_tokens, finish_reason, extra, created_at) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?)",
                    [
                        [
                            key,
                            r.text,
                            r.prompt_tokens,
                            r.completion_tokens,
                            r.finish_reason,
                            json.dumps(r.extra) if r.extra else None,
                            stamp,
                        ]
                        for key, r in pending
                    ],
                )
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")

    def close(self) -> None:
        self.flush()
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None


class MemoryCache:
    """A judge cache for library use without a database."""

    def __init__(self) -> None:
        self._entries: dict[str, Response] = {}

    def get(self, key: str) -> Response | None:
        hit = self._entries.get(key)
        if hit is None:
            return None
        return Response(
            text=hit.text,
            prompt_tokens=hit.prompt_tokens,
            completion_tokens=hit.completion_tokens,
            finish_reason=hit.finish_reason,
            cached=True,
            extra=dict(hit.extra),
        )

    def put(self, key: str, response: Response) -> None:
        self._entries[key] = response

    def flush(self) -> None:
        """Nothing to write."""

    def close(self) -> None:
        """Nothing to release."""
