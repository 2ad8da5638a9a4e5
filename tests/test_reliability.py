"""Faults, kills and secrets against a real loopback HTTP server and the real CLI."""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from harness.mockserver import MockConfig, running_mock_server
from harness.runner import RunOptions, execute
from harness.store.db import Store
from harness.summary import run_summary
from tests.conftest import write_jsonl

TEMPLATE = "{{input}}\nANSWER: {{reference}}"


def dataset(tmp_path: Path, n: int) -> Path:
    rows = [
        {"id": f"item-{i:05d}", "question": f"question number {i}", "answer": f"a{i}"}
        for i in range(n)
    ]
    return write_jsonl(tmp_path / f"data{n}.jsonl", rows)


def harness_cli(*args: str, env: dict[str, str] | None = None) -> list[str]:
    return [sys.executable, "-m", "harness", *args]


def counts(db: Path) -> tuple[int, int, int]:
    with sqlite3.connect(db) as conn:
        items = conn.execute("SELECT count(*) FROM items").fetchone()[0]
        responses = conn.execute("SELECT count(*) FROM responses").fetchone()[0]
        distinct = conn.execute("SELECT count(DISTINCT item_id) FROM responses").fetchone()[0]
    return items, responses, distinct


def test_injected_429_and_500_lose_nothing_and_double_nothing(
    tmp_path: Path, db_path: Path
) -> None:
    config = MockConfig(rate_429=0.05, rate_500=0.02, retry_after_s=0.01, seed=3)
    with running_mock_server(config) as server:
        run = asyncio.run(
            execute(
                RunOptions(
                    dataset=str(dataset(tmp_path, 300)),
                    model="openai:mock-model",
                    base_url=server.base_url,
                    template=TEMPLATE,
                    scorers=["exact_match"],
                    concurrency=32,
                    max_retries=12,
                    db=db_path,
                    cache=False,
                )
            )
        )
        stats = server.stats
    assert stats.faults.get(429, 0) > 0 and stats.faults.get(500, 0) > 0
    assert stats.duplicates == {}
    assert len(stats.completions) == 300
    summary = run_summary(Store(db_path), run["id"])
    assert summary["stats"]["items"] == summary["stats"]["responses"] == 300
    assert summary["stats"]["errors"] == 0
    assert summary["stats"]["calls"]["retries"] == sum(stats.faults.values())
    assert summary["metrics"][0]["value"] == 1.0


def wait_for_items(db: Path, at_least: int, timeout: float = 60.0) -> int:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if db.exists():
            try:
                items = counts(db)[0]
            except sqlite3.OperationalError:
                items = 0
            if items >= at_least:
                return items
        time.sleep(0.05)
    raise AssertionError(f"fewer than {at_least} items stored in {timeout}s")


@pytest.mark.parametrize(
    "signals",
    [[signal.SIGKILL], [signal.SIGINT], [signal.SIGTERM], [signal.SIGINT, signal.SIGINT]],
    ids=["kill", "ctrl-c", "term", "ctrl-c-twice"],
)
def test_killed_run_resumes_with_every_item_exactly_once(
    tmp_path: Path, db_path: Path, signals: list[signal.Signals]
) -> None:
    n = 400
    data = dataset(tmp_path, n)
    with running_mock_server(MockConfig(latency_ms=20)) as server:
        args = [
            "run",
            str(data),
            "--model",
            "openai:mock-model",
            "--base-url",
            server.base_url,
            "--template",
            TEMPLATE,
            "--scorers",
            "exact_match",
            "--concurrency",
            "4",
            "--db",
            str(db_path),
            "--name",
            "killed",
            "--no-progress",
            "--no-cache",
        ]
        process = subprocess.Popen(
            harness_cli(*args), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        stored = wait_for_items(db_path, 40)
        for sig in signals:  # a second Ctrl-C lands while the first one's cleanup runs
            process.send_signal(sig)
        _, err = process.communicate(timeout=60)
        assert stored < n
        if len(signals) == 2:
            assert process.returncode == 130 and "Traceback" not in err, err
            assert "--resume" in err
        elif sig in (signal.SIGINT, signal.SIGTERM):  # SIGTERM stops a run as Ctrl-C does
            assert process.returncode == 130
            assert "--name killed --resume" in err
            interrupted = run_summary(Store(db_path), "killed")
            assert interrupted["status"] == "interrupted"
            (metric,) = interrupted["metrics"]  # figures of what was stored
            assert metric["n"] == counts(db_path)[0] and metric["value"] == 1.0
        else:
            assert process.returncode == -signal.SIGKILL
        before = counts(db_path)
        assert before[0] == before[2] and before[0] < n
        resumed = subprocess.run(
            harness_cli(*args, "--resume", "--json"), capture_output=True, text=True, timeout=120
        )
        assert resumed.returncode == 0, resumed.stderr
    assert counts(db_path) == (n, n, n)
    summary = run_summary(Store(db_path), "killed")
    assert summary["status"] == "completed"
    assert summary["metrics"][0]["n"] == n


def test_an_ignored_interrupt_stays_ignored(tmp_path: Path, db_path: Path) -> None:
    """A background job of a script starts with SIGINT ignored: the run must not stop."""
    data = dataset(tmp_path, 300)
    with running_mock_server(MockConfig(latency_ms=20)) as server:
        args = ["run", str(data), "--model", "openai:mock-model", "--base-url",
                server.base_url, "--template", TEMPLATE, "--concurrency", "4",
                "--db", str(db_path), "--no-progress", "--no-cache"]  # fmt: skip
        process = subprocess.Popen(
            harness_cli(*args), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN),
        )  # fmt: skip
        stored = wait_for_items(db_path, 40)
        process.send_signal(signal.SIGINT)
        _, err = process.communicate(timeout=60)
    assert stored < 300 and process.returncode == 0, err
    assert counts(db_path) == (300, 300, 300)


def test_api_key_never_reaches_the_database_or_output(tmp_path: Path, db_path: Path) -> None:
    secret = "sk-test-" + os.urandom(12).hex()
    data = dataset(tmp_path, 20)
    env = {**os.environ, "MY_KEY": secret}
    with running_mock_server(MockConfig(require_api_key=secret)) as server:
        args = [
            "run",
            str(data),
            "--model",
            "openai:mock-model",
            "--base-url",
            server.base_url,
            "--api-key-env",
            "MY_KEY",
            "--template",
            TEMPLATE,
            "--db",
            str(db_path),
            "--no-progress",
            "--json",
        ]
        result = subprocess.run(
            harness_cli(*args), capture_output=True, text=True, env=env, timeout=120
        )
        assert result.returncode == 0, result.stderr
        assert server.stats.successes == 20
        wrong = subprocess.run(
            harness_cli(*args),
            capture_output=True,
            text=True,
            env={**env, "MY_KEY": "wrong"},
            timeout=120,
        )
        in_url = subprocess.run(
            harness_cli(
                *args[:5], server.base_url.replace("http://", f"http://u:{secret}@"), *args[6:]
            ),
            capture_output=True,
            text=True,
            env=env,
            timeout=120,
        )
    assert wrong.returncode == 2 and "rejected the API key in MY_KEY" in wrong.stderr
    assert in_url.returncode == 2 and "no credentials" in in_url.stderr
    assert secret not in in_url.stdout + in_url.stderr
    assert secret not in result.stdout + result.stderr + wrong.stdout + wrong.stderr
    for path in db_path.parent.iterdir():
        assert secret.encode() not in path.read_bytes(), path


def test_cli_errors_are_one_line_with_non_zero_exit(tmp_path: Path, db_path: Path) -> None:
    result = subprocess.run(
        harness_cli("run", str(tmp_path / "nope.jsonl"), "--db", str(db_path)),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and "nope.jsonl" in lines[0]


def _open_store(path: str, results: Any) -> None:
    from harness.store.db import Store

    try:
        Store(path).close()
        results.put("ok")
    except Exception as exc:  # reported to the test, which names it
        results.put(f"{type(exc).__name__}: {exc}")


def test_processes_opening_a_new_database_at_once_all_succeed(tmp_path: Path) -> None:
    """The first opening migrates under the write lock; the others wait, then see it done."""
    import multiprocessing

    context = multiprocessing.get_context("spawn")
    outcomes = []
    for trial in range(3):
        path = str(tmp_path / f"new{trial}.db")
        results = context.Queue()
        workers = [context.Process(target=_open_store, args=(path, results)) for _ in range(3)]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join(60)
        outcomes += [results.get(timeout=10) for _ in workers]
    assert outcomes == ["ok"] * 9, outcomes


def test_a_name_taken_between_check_and_insert_is_one_clear_error(tmp_path: Path) -> None:
    from harness.errors import ConfigError
    from harness.store.db import Store

    store = Store(tmp_path / "h.db")
    store.create_run({"id": "a", "name": "same", "status": "running", "created_at": "t"})
    with pytest.raises(ConfigError, match="a run named 'same' exists"):
        store.create_run({"id": "b", "name": "same", "status": "running", "created_at": "t"})
    store.close()


def test_a_database_from_a_newer_harness_is_refused_untouched(tmp_path: Path) -> None:
    """A migration this version does not know: one line, exit 2, for reading and writing
    commands alike, and the file is not changed (no run row, no migration applied)."""
    db = tmp_path / "h.db"
    Store(db).close()
    with sqlite3.connect(db) as conn:
        conn.execute(
            "INSERT INTO _sqlite_migrations (migration_set, name, applied_at) "
            "VALUES ('harness', '0099_future', '2030')"
        )
    conn.close()
    before = db.read_bytes()
    data = write_jsonl(tmp_path / "d.jsonl", [{"question": "q", "answer": "a", "reply": "a"}])
    for args in (
        ["run", str(data), "--model", "replay:reply", "--scorers", "exact_match"],
        ["runs", "list"],
        ["runs", "delete", "x", "--yes"],
    ):
        result = subprocess.run(
            harness_cli(*args, "--db", str(db)), capture_output=True, text=True, timeout=120
        )
        assert result.returncode == 2, (args, result.stderr)
        assert result.stderr.splitlines() == [
            f"error: database {db} was written by a newer harness (migration 0099_future); "
            "upgrade harness"
        ], args
    assert db.read_bytes() == before


def test_ctrl_c_at_start_up_is_one_line_and_exit_130(tmp_path: Path) -> None:
    """SIGINT at moments through start-up (imports) and the command: never a traceback.

    A signal in Python's own start-up (before any harness code) is not harness's to handle.
    """
    args = ["gate", "a", "--baseline", "b", "--metric", "m", "--max-drop", "0.1",
            "--db", str(tmp_path / "none.db")]  # fmt: skip
    handled = 0
    for delay in (0.05, 0.1, 0.15, 0.2, 0.3, 0.4, 0.6):
        process = subprocess.Popen(
            harness_cli(*args), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        time.sleep(delay)
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=60)
        code, output = process.returncode, out + err
        if output.startswith("Fatal Python error: init_import_site") or output == "":
            continue  # Python's own start-up
        # -signal.SIGINT: Python re-raises SIGINT when it saw one it did not hand to the code
        handled += code in (130, -signal.SIGINT) and output == "interrupted\n"
        assert output == "interrupted\n" or (
            code == 2 and output.startswith("error: no database at")
        ), (delay, code, output)
    assert handled


def _database_with_a_run(db: Path, items: int = 0) -> None:
    """A harness database holding run 'A' (id 'a') with `items` items of 2 kB each."""
    store = Store(db)
    store.create_run({"id": "a", "name": "A", "status": "completed", "created_at": "t"})
    with store.transaction() as conn:
        conn.executemany(
            "INSERT INTO items (run_id, item_id, input) VALUES ('a', ?, ?)",
            [(f"q{i}", "x" * 2000) for i in range(items)],
        )
    store.close()


def test_a_database_locked_past_the_timeout_is_one_line_naming_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another process holds the write lock longer than the busy timeout: the write fails
    with one line that names the file and says to retry, never a traceback."""
    from tests.test_cli import main_output

    db = tmp_path / "h.db"
    _database_with_a_run(db)
    monkeypatch.setattr("harness.store.db.BUSY_TIMEOUT_MS", 50)
    other = sqlite3.connect(db, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    try:
        code, out, err = main_output(
            ["runs", "delete", "A", "--yes", "--db", str(db)], capsys, monkeypatch
        )
    finally:
        other.execute("ROLLBACK")
        other.close()
    assert code == 2 and out == ""
    assert err.splitlines() == [
        f"error: database {db}: database is locked: another process is writing it; "
        "retry when that process finishes"
    ]
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT count(*) FROM runs").fetchone() == (1,)
    conn.close()


def test_a_damaged_data_page_is_one_line_naming_the_file_and_the_recovery(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Schema pages intact, the last data pages garbage: the database opens, then a read
    hits "database disk image is malformed", which says how to salvage the file."""
    from tests.test_cli import main_output

    db = tmp_path / "h.db"
    _database_with_a_run(db, items=200)
    with sqlite3.connect(db) as conn:
        conn.execute("PRAGMA journal_mode=DELETE")
    conn.close()
    size = db.stat().st_size
    with db.open("r+b") as file:
        file.seek(size - 4096 * 40)
        file.write(b"\xa5" * 4096 * 40)
    code, out, err = main_output(
        ["runs", "delete", "A", "--yes", "--db", str(db)], capsys, monkeypatch
    )
    assert code == 2 and out == ""
    assert err.splitlines() == [
        f"error: database {db}: database disk image is malformed: the file is damaged: "
        f"`sqlite3 {db} .recover | sqlite3 NEW.db` salvages what it can into NEW.db, "
        "to pass as --db"
    ]


@pytest.mark.parametrize(
    ("schema", "tables"),
    [
        (["CREATE TABLE users (id INTEGER PRIMARY KEY, email TEXT)"], "users"),
        (["CREATE TABLE runs (x)"], "runs"),
        (  # another sqlite-utils application: migrations of its own, none of harness's
            [
                "CREATE TABLE _sqlite_migrations (migration_set TEXT, name TEXT, applied_at TEXT)",
                "INSERT INTO _sqlite_migrations VALUES ('llm', 'm001_initial', 't')",
                *(f"CREATE TABLE t{i} (x)" for i in range(6)),
            ],
            "_sqlite_migrations, t0, t1, t2, t3, ...",
        ),
    ],
)
def test_another_applications_database_is_refused_untouched(
    schema: list[str],
    tables: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A --db pointing at a non-empty SQLite file that harness never wrote: reading and
    writing commands refuse it in one line and leave it byte for byte as it was (no
    harness tables, still in its rollback-journal mode)."""
    from tests.test_cli import main_output

    db = tmp_path / "other.db"
    with sqlite3.connect(db) as conn:
        for statement in schema:
            conn.execute(statement)
    conn.close()
    before = db.read_bytes()
    data = write_jsonl(tmp_path / "d.jsonl", [{"question": "q", "answer": "a", "reply": "a"}])
    for args in (
        ["runs", "list"],
        ["runs", "show", "A"],
        ["run", str(data), "--model", "replay:reply", "--scorers", "exact_match"],
    ):
        code, out, err = main_output([*args, "--db", str(db)], capsys, monkeypatch)
        assert code == 2 and out == "", args
        assert err.splitlines() == [
            f"error: {db}: not a harness database (it holds tables {tables}): "
            "pass --db with a harness database or a new path"
        ], args
    assert db.read_bytes() == before
    assert not list(tmp_path.glob("other.db-*"))  # no WAL left beside it
