"""Open the database, apply migrations, and write in batched transactions."""

from __future__ import annotations

import json
import logging
import math
import os
import sqlite3
from array import array
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlite_utils import Database

from harness.adapters.base import Response
from harness.errors import ConfigError, HarnessError
from harness.item import Item
from harness.scorers.base import RunMetric, ScoreRecord
from harness.store.failures import opened
from harness.store.schema import migrate, refuse_foreign, refuse_newer

DEFAULT_DB = Path("runs") / "harness.db"
BUSY_TIMEOUT_MS = 10_000
"""How long a write waits for another process's write lock before failing."""


def _drop_stale_labels(
    conn: sqlite3.Connection, run_id: str, item_id: str, responses: Sequence[Response]
) -> None:
    """Delete an item's labels when its rewritten sample 0 is not the response labeled."""
    old = conn.execute(
        "SELECT text FROM responses WHERE run_id = ? AND item_id = ? AND sample = 0",
        [run_id, item_id],
    ).fetchone()
    new = responses[0].text if responses else None
    if old is None or old[0] == new:
        return
    dropped = conn.execute(
        "DELETE FROM labels WHERE run_id = ? AND item_id = ?", [run_id, item_id]
    ).rowcount
    if dropped:
        logging.getLogger("harness").warning(
            "item %s: its response changed, so its %d human label(s) were dropped",
            item_id,
            dropped,
        )


def now() -> str:
    """UTC timestamp in ISO 8601, as stored everywhere."""
    return datetime.now(UTC).isoformat(timespec="milliseconds")


def dumps(value: Any) -> str | None:
    """Compact JSON for a column, or NULL for None. Always valid JSON: an infinite or NaN
    number (which Python would write as Infinity / NaN, and SQLite's JSON functions and
    other readers reject) is stored as null."""
    if value is None:
        return None
    options: dict[str, Any] = {"ensure_ascii": False, "separators": (",", ":"), "sort_keys": True}
    try:
        return json.dumps(value, allow_nan=False, **options)
    except ValueError:
        return json.dumps(_finite(value), allow_nan=False, **options)


def _finite(value: Any) -> Any:
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    return value


_RESPONSE_MARKS = (
    "SELECT item_id, count(*), total(rowid), total(length(text)), total(error IS NULL), "
    "total(latency_ms) FROM responses WHERE run_id = ? GROUP BY item_id"
)
"""Per item of a run, a mark of its stored responses. Rewriting an item (delete, insert)
gives them new rowids (but for the table's last rows), new texts or errors, and a new
measured latency: the mark changes unless the same responses came back."""


class RunChanged(HarnessError):
    """Another process wrote the run while this one was working on it."""


def _require_run(conn: sqlite3.Connection, run_id: str) -> None:
    """Refuse to write for a run that `runs delete` removed meanwhile (no orphan rows)."""
    if conn.execute("SELECT 1 FROM runs WHERE id = ?", [run_id]).fetchone() is None:
        raise ConfigError(f"run {run_id} was deleted while it was running; nothing more is stored")


@dataclass
class ItemResult:
    """Everything one item produced: the unit written in one transaction."""

    item: Item
    messages: tuple[dict[str, str], ...]
    responses: list[Response]
    scores: list[tuple[str, str, ScoreRecord]] = field(default_factory=list)
    """(scorer name, signature, record) triples."""

    @property
    def failed(self) -> bool:
        return any(r.error is not None for r in self.responses)


class Store:
    """A harness database. One writer (the run's driver); readers anywhere."""

    def __init__(self, path: str | Path = DEFAULT_DB, *, any_thread: bool = False) -> None:
        """Open (creating and migrating) the database at `path`.

        `any_thread`: the connection may be used from a thread other than the one that
        opened it (one thread at a time), as the pipeline's worker thread does.
        """
        self.path = Path(path)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.db = Database(sqlite3.connect(self.path, check_same_thread=not any_thread))
            self.db.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
            refuse_foreign(self.db, self.path)
            refuse_newer(self.db, self.path)
            self.db.execute("PRAGMA journal_mode=WAL")
            self.db.execute("PRAGMA synchronous=NORMAL")
            migrate(self.db)
        except (OSError, sqlite3.DatabaseError) as exc:
            hint = ""
            if self.path.exists() and not (
                os.access(self.path, os.W_OK) and os.access(self.path.parent, os.W_OK)
            ):
                hint = " (the file or its folder is read-only: SQLite's WAL needs to write both)"
            raise ConfigError(f"cannot open database {self.path}: {exc}{hint}") from exc
        opened(self.path)
        self.conn = self.db.conn
        self._pending_cache: list[tuple[str, Response]] = []
        self._depth = 0

    @classmethod
    def existing(cls, path: str | Path) -> Store:
        """A database that must already exist (every command but `harness run` reads one):
        a mistyped --db is an error, never a new empty file."""
        if not Path(path).is_file():
            raise ConfigError(
                f"no database at {path}: runs are stored where `harness run --db` put them "
                f"(default {DEFAULT_DB})"
            )
        return cls(path)

    def close(self) -> None:
        self.conn.close()

    def writer(self) -> Store:
        """A second connection to the same file, for writing from a worker thread.

        With WAL, this connection's batches do not block readers of the first one (the
        event loop's resume checks and cache lookups).
        """
        return Store(self.path, any_thread=True)

    @contextmanager
    def transaction(self, *, temp_only: bool = False) -> Iterator[sqlite3.Connection]:
        """All or nothing: a kill at any moment leaves the last commit intact. Inside another
        transaction of this store it is part of that one (committed or rolled back with it).
        `temp_only`: it writes only temporary tables, so it takes no lock on the database (a
        write lock could not be had while this connection still reads a snapshot)."""
        if self._depth:
            self._depth += 1
            try:
                yield self.conn
            finally:
                self._depth -= 1
            return
        self.conn.execute("BEGIN" if temp_only else "BEGIN IMMEDIATE")
        self._depth = 1
        try:
            yield self.conn
        except BaseException:
            self.conn.execute("ROLLBACK")
            raise
        finally:
            self._depth = 0
        self.conn.execute("COMMIT")

    # runs ---------------------------------------------------------------

    def create_run(self, row: dict[str, Any]) -> None:
        try:
            with self.transaction() as conn:
                columns = ", ".join(row)
                marks = ", ".join("?" for _ in row)
                conn.execute(f"INSERT INTO runs ({columns}) VALUES ({marks})", list(row.values()))
        except sqlite3.IntegrityError as exc:
            if "runs.name" not in str(exc):
                raise
            raise ConfigError(  # another process took the name since it was checked
                f"a run named '{row.get('name')}' exists; add --resume to continue it "
                "or choose another --name"
            ) from exc

    def update_run(self, run_id: str, **values: Any) -> None:
        values["updated_at"] = now()
        assignments = ", ".join(f"{column} = ?" for column in values)
        with self.transaction() as conn:
            conn.execute(f"UPDATE runs SET {assignments} WHERE id = ?", [*values.values(), run_id])

    def input_mismatches(self, run_a: str, run_b: str) -> tuple[int, str | None]:
        """How many item ids the two runs share with different inputs, and the first one:
        such runs answered different prompts, so their answers cannot be paired."""
        count, first = self.conn.execute(
            "SELECT count(*), min(a.item_id) FROM items a JOIN items b ON a.item_id = b.item_id "
            "WHERE a.run_id = ? AND b.run_id = ? AND a.input IS NOT b.input",
            [run_a, run_b],
        ).fetchone()
        return int(count), first

    def check_same_inputs(self, run_a: str, run_b: str) -> None:
        """ConfigError when two runs share item ids whose inputs differ."""
        count, first = self.input_mismatches(run_a, run_b)
        if count:
            raise ConfigError(
                f"the runs share {count} item id(s) whose inputs differ (first: '{first}'): "
                "they answered different prompts, so their answers cannot be paired"
            )

    def run_named(self, name: str) -> dict[str, Any] | None:
        """The run with exactly this name (never an id or id prefix: used for --name)."""
        rows = list(self.db.query("SELECT * FROM runs WHERE name = ?", [name]))
        return rows[0] if rows else None

    def find_run(self, ref: str) -> dict[str, Any] | None:
        """A run by id, else name, else unique id prefix (several matches: ConfigError)."""
        for where, value in (("id = ?", ref), ("name = ?", ref), ("id LIKE ?", ref + "%")):
            if where.startswith("id LIKE") and len(ref) < 4:
                break
            rows = list(self.db.query(f"SELECT * FROM runs WHERE {where}", [value]))
            if len(rows) > 1:
                listed = ", ".join(f"{r['id']} ({r['name']})" for r in rows[:5])
                raise ConfigError(f"'{ref}' names more than one run: {listed}; give a full id")
            if rows:
                return rows[0]
        return None

    def get_run(self, ref: str) -> dict[str, Any]:
        run = self.find_run(ref)
        if run is None:
            raise ConfigError(
                f"no run '{ref}' in {self.path}; `harness runs list --db {self.path}` lists them"
            )
        return run

    def list_runs(self) -> list[dict[str, Any]]:
        return list(self.db.query("SELECT * FROM runs ORDER BY created_at DESC"))

    def delete_run(self, run_id: str) -> None:
        with self.transaction() as conn:
            for table in ("scores", "run_metrics", "responses", "items", "runs"):
                column = "id" if table == "runs" else "run_id"
                conn.execute(f"DELETE FROM {table} WHERE {column} = ?", [run_id])

    # items ---------------------------------------------------------------

    def is_done(self, run_id: str, item_id: str, *, retry_errors: bool = False) -> bool:
        """Whether an item is stored (and, with `retry_errors`, stored without errors)."""
        row = self.conn.execute(
            "SELECT 1 FROM items WHERE run_id = ? AND item_id = ?", [run_id, item_id]
        ).fetchone()
        if row is None:
            return False
        if not retry_errors:
            return True
        failed = self.conn.execute(
            "SELECT 1 FROM responses WHERE run_id = ? AND item_id = ? AND error IS NOT NULL",
            [run_id, item_id],
        ).fetchone()
        return failed is None

    def count_items(self, run_id: str) -> int:
        row = self.conn.execute("SELECT count(*) FROM items WHERE run_id = ?", [run_id]).fetchone()
        return int(row[0])

    def write_results(self, run_id: str, results: Sequence[ItemResult]) -> None:
        """Store finished items, their responses and scores in one transaction.

        Re-writing an item (a retried error) replaces it whole, so no item is ever doubled.
        Human labels given for a response that the rewrite changes are dropped (with a
        warning): the reviewers never saw the new one. The run's human scores are rebuilt.
        """
        pending, self._pending_cache = self._pending_cache, []  # atomic: puts may go on
        with self.transaction() as conn:
            _require_run(conn, run_id)
            self._flush_cache(conn, pending)
            labeled = (
                conn.execute("SELECT 1 FROM labels WHERE run_id = ? LIMIT 1", [run_id]).fetchone()
                is not None
            )
            for result in results:
                item = result.item
                key = [run_id, item.id]
                if labeled:
                    _drop_stale_labels(conn, run_id, item.id, result.responses)
                conn.execute("DELETE FROM responses WHERE run_id = ? AND item_id = ?", key)
                conn.execute("DELETE FROM scores WHERE run_id = ? AND item_id = ?", key)
                conn.execute(
                    "INSERT OR REPLACE INTO items (run_id, item_id, row, input, reference, "
                    "context, metadata, prompt) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    [
                        run_id,
                        item.id,
                        item.row,
                        item.input,
                        dumps(list(item.references)),
                        item.context,
                        dumps(item.metadata),
                        dumps(list(result.messages)),
                    ],
                )
                conn.executemany(
                    "INSERT INTO responses (run_id, item_id, sample, text, error, latency_ms, "
                    "prompt_tokens, completion_tokens, finish_reason, attempts, cached) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    [
                        [
                            run_id,
                            item.id,
                            sample,
                            r.text,
                            r.error,
                            r.latency_ms,
                            r.prompt_tokens,
                            r.completion_tokens,
                            r.finish_reason,
                            r.attempts,
                            int(r.cached),
                        ]
                        for sample, r in enumerate(result.responses)
                    ],
                )
                self._insert_scores(conn, run_id, result.scores)
            if labeled:
                from harness.review.human_scores import write_human_scores

                write_human_scores(conn, run_id)

    def _insert_scores(
        self,
        conn: sqlite3.Connection,
        run_id: str,
        scores: Sequence[tuple[str, str, ScoreRecord]],
        table: str = "scores",
    ) -> None:
        conn.executemany(
            f"INSERT OR REPLACE INTO {table} (run_id, item_id, sample, scorer, metric, value, "
            "label, details, signature) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                [
                    run_id,
                    s.item_id,
                    s.sample,
                    scorer,
                    s.metric,
                    s.value,
                    s.label,
                    dumps(s.details),
                    signature,
                ]
                for scorer, signature, s in scores
            ],
        )

    def start_staging(self, run_id: str) -> None:
        """An empty temporary table for scores computed before they replace stored ones
        (`harness score`): nothing stored changes until `swap_staged_scores`. The run's
        responses as they are now are noted, so that the swap can tell whether another
        process rewrote or added any meanwhile."""
        self.conn.execute("DROP TABLE IF EXISTS temp.staged_scores")
        self.conn.execute("DROP TABLE IF EXISTS temp.staged_items")
        self.conn.execute("DROP TABLE IF EXISTS temp.staged_responses")
        self.conn.execute(f"CREATE TEMP TABLE staged_responses AS {_RESPONSE_MARKS}", [run_id])
        self.conn.execute(
            "CREATE TEMP TABLE staged_scores AS SELECT run_id, item_id, sample, scorer, metric, "
            "value, label, details, signature FROM scores LIMIT 0"
        )
        self.conn.execute("CREATE TEMP TABLE staged_items (item_id TEXT PRIMARY KEY)")

    def stage_scores(
        self,
        run_id: str,
        scores: Sequence[tuple[str, str, ScoreRecord]],
        item_ids: Sequence[str] = (),
    ) -> None:
        """Stage the scores of the items `item_ids` (every item scored, with scores or not)."""
        with self.transaction(temp_only=True) as conn:
            self._insert_scores(conn, run_id, scores, table="temp.staged_scores")
            conn.executemany(
                "INSERT OR IGNORE INTO temp.staged_items (item_id) VALUES (?)",
                [(i,) for i in item_ids],
            )

    def swap_staged_scores(self, run_id: str, scorers: Sequence[str]) -> None:
        """Replace the named scorers' scores of the staged items (and the run metrics) with
        the staged ones, in one transaction (or inside the caller's). If another process
        rewrote or added responses since staging began (a `run --retry-errors` or
        `--resume`), nothing is swapped: the staged scores would belong to old responses,
        or leave new items scored with other settings."""
        marks = ", ".join("?" for _ in scorers)
        with self.transaction() as conn:
            _require_run(conn, run_id)
            changed = conn.execute(
                f"SELECT count(*) FROM ({_RESPONSE_MARKS} EXCEPT "
                "SELECT * FROM temp.staged_responses)",
                [run_id],
            ).fetchone()[0]
            gone = conn.execute(
                f"SELECT count(*) FROM (SELECT * FROM temp.staged_responses EXCEPT "
                f"{_RESPONSE_MARKS})",
                [run_id],
            ).fetchone()[0]
            if changed or gone:
                raise RunChanged(
                    f"{changed or gone} items of run {run_id} were written by another process "
                    "while it was being scored (a run resumed or retrying errors?): its scores "
                    "are as they were; score it again when that run has finished"
                )
            conn.execute(
                f"DELETE FROM scores WHERE run_id = ? AND scorer IN ({marks}) "
                "AND item_id IN (SELECT item_id FROM temp.staged_items)",
                [run_id, *scorers],
            )
            conn.execute(
                f"DELETE FROM run_metrics WHERE run_id = ? AND scorer IN ({marks})",
                [run_id, *scorers],
            )
            conn.execute(
                "INSERT OR REPLACE INTO scores (run_id, item_id, sample, scorer, metric, value, "
                "label, details, signature) SELECT run_id, item_id, sample, scorer, metric, value, "
                "label, details, signature FROM temp.staged_scores"
            )
        self.conn.execute("DROP TABLE IF EXISTS temp.staged_scores")
        self.conn.execute("DROP TABLE IF EXISTS temp.staged_items")
        self.conn.execute("DROP TABLE IF EXISTS temp.staged_responses")

    def iter_results(self, run_id: str) -> Iterator[tuple[Item, list[dict[str, Any]]]]:
        """Stored items with their response rows, in dataset order, streamed."""
        cursor = self.conn.cursor()
        cursor.execute(
            "SELECT item_id, row, input, reference, context, metadata FROM items "
            "WHERE run_id = ? ORDER BY row",
            [run_id],
        )
        while rows := cursor.fetchmany(500):
            for item_id, row, text, reference, context, metadata in rows:
                item = Item(
                    id=item_id,
                    input=text,
                    references=tuple(json.loads(reference or "[]")),
                    context=context,
                    metadata=json.loads(metadata or "{}"),
                    row=row,
                )
                responses = list(
                    self.db.query(
                        "SELECT * FROM responses WHERE run_id = ? AND item_id = ? ORDER BY sample",
                        [run_id, item_id],
                    )
                )
                yield item, responses

    def item_means(self, run_id: str, scorer: str) -> dict[str, tuple[array[float], int]]:
        """Per metric: each item's mean over its scored samples (compact), and unscored count.

        Streams from SQLite, so a 200k-item run costs a few MB rather than a record each.
        """
        means: dict[str, tuple[array[float], int]] = {}
        rows = self.conn.execute(
            "SELECT metric, avg(value), count(value) < count(*) FROM scores "
            "WHERE run_id = ? AND scorer = ? GROUP BY metric, item_id",
            [run_id, scorer],
        )
        unscored: dict[str, int] = {}
        for metric, mean, _ in rows:
            values = means.setdefault(metric, (array("d"), 0))[0]
            if mean is not None:
                values.append(mean)
        for metric, count in self.conn.execute(
            "SELECT metric, count(*) FROM scores WHERE run_id = ? AND scorer = ? "
            "AND value IS NULL GROUP BY metric",
            [run_id, scorer],
        ):
            unscored[metric] = count
        return {metric: (values, unscored.get(metric, 0)) for metric, (values, _) in means.items()}

    def load_scores(self, run_id: str, scorer: str) -> list[ScoreRecord]:
        rows = self.conn.execute(
            "SELECT item_id, sample, metric, value, label, details FROM scores "
            "WHERE run_id = ? AND scorer = ?",
            [run_id, scorer],
        )
        return [
            ScoreRecord(
                item_id, sample, metric, value, label, json.loads(details) if details else None
            )
            for item_id, sample, metric, value, label, details in rows
        ]

    def replace_run_metrics(
        self, run_id: str, scorer: str, signature: str, metrics: Sequence[RunMetric]
    ) -> None:
        with self.transaction() as conn:
            _require_run(conn, run_id)
            conn.execute(
                "DELETE FROM run_metrics WHERE run_id = ? AND scorer = ?", [run_id, scorer]
            )
            conn.executemany(
                "INSERT INTO run_metrics (run_id, scorer, metric, value, ci_low, ci_high, n, "
                "details, signature) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    [
                        run_id,
                        scorer,
                        m.metric,
                        m.value,
                        m.ci_low,
                        m.ci_high,
                        m.n,
                        dumps(m.details),
                        signature,
                    ]
                    for m in metrics
                ],
            )

    # response cache ------------------------------------------------------

    def cache_get(self, key: str) -> Response | None:
        row = self.conn.execute(
            "SELECT text, prompt_tokens, completion_tokens, finish_reason FROM response_cache "
            "WHERE key = ?",
            [key],
        ).fetchone()
        if row is None:
            return None
        return Response(
            text=row[0],
            prompt_tokens=row[1],
            completion_tokens=row[2],
            finish_reason=row[3],
            latency_ms=None,
            cached=True,
        )

    def cache_put(self, key: str, response: Response) -> None:
        """Buffered: written with the next batch of results, in the same transaction."""
        self._pending_cache.append((key, response))

    @staticmethod
    def _flush_cache(conn: sqlite3.Connection, pending: list[tuple[str, Response]]) -> None:
        if not pending:
            return
        stamp = now()
        conn.executemany(
            "INSERT OR REPLACE INTO response_cache (key, text, prompt_tokens, "
            "completion_tokens, finish_reason, created_at) VALUES (?, ?, ?, ?, ?, ?)",
            [
                [k, r.text, r.prompt_tokens, r.completion_tokens, r.finish_reason, stamp]
                for k, r in pending
            ],
        )


class StoreCache:
    """The response cache of a store, in the shape the managed adapter expects.

    Lookups read `store`; new entries wait in `writer` (by default the same store) and
    are committed with its next batch of results.
    """

    def __init__(self, store: Store, writer: Store | None = None) -> None:
        self.store = store
        self.writer = writer or store

    def get(self, key: str) -> Response | None:
        return self.store.cache_get(key)

    def put(self, key: str, response: Response) -> None:
        self.writer.cache_put(key, response)
