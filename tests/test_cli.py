"""The CLI end to end with the in-process fake adapter and a real SQLite file."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from harness.cli import app
from tests.conftest import write_jsonl

runner = CliRunner()


def invoke(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, list(args))
    if result.exception and not isinstance(result.exception, SystemExit):
        from harness.errors import HarnessError

        if isinstance(result.exception, HarnessError):
            return 2, str(result.exception)
        raise result.exception
    return result.exit_code, result.output


def run_json(*args: str) -> dict:
    """The JSON summary on stdout (warnings go to stderr)."""
    result = runner.invoke(app, ["run", *args, "--json", "--no-progress"])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


@pytest.mark.usefixtures("fake_registered")
def test_run_stores_and_summarises(qa_file: Path, db_path: Path) -> None:
    summary = run_json(
        str(qa_file),
        "--model",
        "fake",
        "--scorers",
        "exact_match,token_f1",
        "--db",
        str(db_path),
        "--name",
        "first",
    )
    assert summary["status"] == "completed"
    assert summary["stats"]["items"] == 10
    metrics = {m["metric"]: m for m in summary["metrics"]}
    assert metrics["exact_match"]["value"] == 1.0
    assert metrics["exact_match"]["n"] == 10
    assert metrics["token_f1"]["ci_low"] is not None
    code, out = invoke("runs", "list", "--db", str(db_path), "--json")
    assert code == 0 and json.loads(out)[0]["name"] == "first"
    code, out = invoke("runs", "show", "first", "--db", str(db_path), "--json")
    shown = json.loads(out)
    assert shown["run_id"] == summary["run_id"]
    assert shown["config"]["template_hash"] == summary["template_hash"]


@pytest.mark.usefixtures("fake_registered")
def test_rescore_adds_scorers_without_calling_the_model(qa_file: Path, db_path: Path) -> None:
    from tests.fakes import FakeAdapter

    run_json(str(qa_file), "--model", "fake", "--db", str(db_path), "--name", "plain")
    calls = sum(len(a.calls) for a in FakeAdapter.instances)
    code, out = invoke("score", "plain", "--scorers", "exact_match", "--db", str(db_path), "--json")
    assert code == 0, out
    assert json.loads(out)["metrics"][0]["metric"] == "exact_match"
    assert sum(len(a.calls) for a in FakeAdapter.instances) == calls


@pytest.mark.usefixtures("fake_registered")
@pytest.mark.parametrize("swallowed", [False, True])
def test_ctrl_c_stops_harness_score_in_one_line(
    qa_file: Path,
    db_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    swallowed: bool,
) -> None:
    """SIGINT during `harness score`: exit 130, one line, the old scores kept; also when the
    KeyboardInterrupt never reaches the command (Python swallows one raised in __del__)."""
    import os
    import signal

    from harness.scorers.text import ExactMatch

    run_json(str(qa_file), "--model", "fake", "--scorers", "exact_match", "--db", str(db_path),
             "--name", "r")  # fmt: skip
    before = sqlite3.connect(db_path).execute("SELECT * FROM scores ORDER BY item_id").fetchall()
    original = ExactMatch.score

    def interrupted(self: ExactMatch, batch: Any) -> Any:
        try:
            os.kill(os.getpid(), signal.SIGINT)
        except KeyboardInterrupt:
            if not swallowed:
                raise
        return original(self, batch)

    monkeypatch.setattr(ExactMatch, "score", interrupted)
    code, out, err = main_output(
        ["score", "r", "--scorers", "exact_match", "--db", str(db_path)], capsys, monkeypatch
    )
    assert (code, out) == (130, ""), out
    assert err == "error: interrupted: the scores of r are as they were\n", err  # once
    after = sqlite3.connect(db_path).execute("SELECT * FROM scores ORDER BY item_id").fetchall()
    assert after == before


@pytest.mark.usefixtures("fake_registered")
def test_interrupted_rescore_leaves_the_run_as_it_was(
    qa_file: Path, db_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from harness.rescore import rescore_run
    from harness.scorers.text import ExactMatch
    from harness.store.db import Store

    run_json(str(qa_file), "--model", "fake", "--scorers", "exact_match", "--db", str(db_path),
             "--name", "r", "--scorer-option", "exact_match.normalize=false")  # fmt: skip
    table = "SELECT item_id, value, signature FROM scores ORDER BY item_id"
    store = Store(db_path)
    before = (store.conn.execute(table).fetchall(), store.list_runs()[0]["config"])
    metrics = store.conn.execute("SELECT * FROM run_metrics").fetchall()
    calls = {"n": 0}
    original = ExactMatch.score

    def interrupted(self: ExactMatch, batch: Any) -> Any:
        calls["n"] += 1
        if calls["n"] == 2:
            raise KeyboardInterrupt
        return original(self, batch)

    monkeypatch.setattr(ExactMatch, "score", interrupted)
    with pytest.raises(KeyboardInterrupt):
        rescore_run(store, "r", ["exact_match"], batch_size=3)
    assert (store.conn.execute(table).fetchall(), store.list_runs()[0]["config"]) == before
    assert store.conn.execute("SELECT * FROM run_metrics").fetchall() == metrics
    # a Ctrl-C whose KeyboardInterrupt Python swallowed (inside a __del__) still stops it
    monkeypatch.setattr(ExactMatch, "score", original)
    with pytest.raises(KeyboardInterrupt):
        rescore_run(store, "r", ["exact_match"], batch_size=3, stopped=lambda: True)
    assert (store.conn.execute(table).fetchall(), store.list_runs()[0]["config"]) == before
    rescore_run(store, "r", ["exact_match"], batch_size=3)  # default options this time
    config = json.loads(store.list_runs()[0]["config"])
    assert "exact_match" not in config["scorer_options"]
    assert "normalize:True" in config["scorers"]["exact_match"]
    assert {row[2] for row in store.conn.execute(table)} == {config["scorers"]["exact_match"]}
    store.close()


@pytest.mark.usefixtures("fake_registered")
@pytest.mark.parametrize("written", ["new item", "rewritten item"])
def test_rescore_beside_a_process_writing_the_run_swaps_nothing(
    qa_file: Path, db_path: Path, monkeypatch: pytest.MonkeyPatch, written: str
) -> None:
    """Another process commits while `score` reads (a run still writing adds an item; a
    --retry-errors rewrites one): staging must not need the write lock, and the swap is
    refused, since the staged scores would belong to old responses or leave an item
    scored with other settings. The run keeps what it had; scoring again then works."""
    import harness.rescore as rescore
    from harness.adapters.base import Response
    from harness.item import Item
    from harness.scorers.base import ScoreRecord
    from harness.store.db import ItemResult, RunChanged, Store

    summary = run_json(str(qa_file), "--model", "fake", "--scorers", "exact_match",
                       "--db", str(db_path), "--name", "live")  # fmt: skip
    run_id, signature = summary["run_id"], summary["metrics"][0]["signature"]
    original = rescore._write
    item_id = "late" if written == "new item" else "q3"

    def meanwhile(store: Store, run: str, batch: Any, scorers: Any) -> None:
        if batch and batch[0].item.row == 1:  # while the read of the items is still open
            other = Store(db_path)
            item = Item(id=item_id, input="q", references=("a",), row=99)
            record = ScoreRecord(item_id, 0, "exact_match", 1.0, None, None)
            other.write_results(
                run,
                [ItemResult(item, (), [Response(text="a")], [("exact_match", signature, record)])],
            )
            other.close()
        original(store, run, batch, scorers)

    monkeypatch.setattr(rescore, "_write", meanwhile)
    table = "SELECT item_id, value FROM scores ORDER BY item_id"
    store = Store(db_path)
    try:
        with pytest.raises(RunChanged, match=r"1 items of run .* written by another process"):
            rescore.rescore_run(store, "live", ["exact_match"], batch_size=3)
        before = store.conn.execute(table).fetchall()
        assert (item_id, 1.0) in before  # as the other process wrote it
        monkeypatch.setattr(rescore, "_write", original)
        rescore.rescore_run(store, "live", ["exact_match"], batch_size=3)
        after = dict(store.conn.execute(table).fetchall())
        (n,) = store.conn.execute(
            "SELECT n FROM run_metrics WHERE run_id = ? AND scorer = 'exact_match'", [run_id]
        ).fetchone()
    finally:
        store.close()
    assert after[item_id] == 1.0 and n == len(after) == (11 if written == "new item" else 10)


@pytest.mark.usefixtures("fake_registered")
def test_name_clash_needs_resume_and_resume_needs_same_config(qa_file: Path, db_path: Path) -> None:
    run_json(str(qa_file), "--model", "fake", "--db", str(db_path), "--name", "n1")
    code, out = invoke(
        "run",
        str(qa_file),
        "--model",
        "fake",
        "--db",
        str(db_path),
        "--name",
        "n1",
        "--no-progress",
    )
    assert code == 2 and "--resume" in out
    code, out = invoke(
        "run",
        str(qa_file),
        "--model",
        "fake",
        "--db",
        str(db_path),
        "--name",
        "n1",
        "--resume",
        "--template",
        "Q: {{input}}",
        "--no-progress",
    )
    assert code == 2 and "template_hash changed" in out
    code, out = invoke("run", str(qa_file), "--model", "fake", "--db", str(db_path), "--name",
                       "n1", "--resume", "--input-field", "answer", "--no-progress")  # fmt: skip
    assert code == 2 and "field_mapping (input, references) changed" in out, out
    code, out = invoke("run", str(qa_file), "--model", "fake", "--db", str(db_path), "--name",
                       "n1", "--resume", "--max-tokens", "7", "--no-progress")  # fmt: skip
    assert code == 2 and "params (max_tokens) changed" in out, out  # which setting, by name
    summary = run_json(
        str(qa_file), "--model", "fake", "--db", str(db_path), "--name", "n1", "--resume"
    )
    assert summary["stats"]["items"] == 10
    from harness.store.db import Store

    store = Store(db_path)
    (run,) = store.list_runs()
    store.close()
    prefix = run["id"][:6]  # a new name that happens to start another run's id
    run_json(str(qa_file), "--model", "fake", "--db", str(db_path), "--name", prefix)
    store = Store(db_path)
    assert sorted(r["name"] for r in store.list_runs()) == sorted(["n1", prefix])
    store.close()


@pytest.mark.usefixtures("fake_registered")
def test_delete_run(qa_file: Path, db_path: Path) -> None:
    run_json(str(qa_file), "--model", "fake", "--db", str(db_path), "--name", "gone")
    code, _ = invoke("runs", "delete", "gone", "--yes", "--db", str(db_path))
    assert code == 0
    code, out = invoke("runs", "show", "gone", "--db", str(db_path))
    assert code == 2 and "no run 'gone'" in out


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--model", "nosuch"], "unknown adapter 'nosuch'"),
        (["--model", "fake", "--scorers", "nosuch"], "unknown scorer 'nosuch'"),
        (["--model", "fake", "--template", "Say {{nope}}"], "nope"),
        (["--model", "fake", "--input-field", "prompt_text"], "prompt_text"),
        (["--model", "openai:gpt-4o"], "OPENAI_API_KEY"),
        (["--model", "openai:m", "--base-url", "http://127.0.0.1:9/v1"], "cannot reach"),
    ],
)
@pytest.mark.usefixtures("fake_registered")
def test_bad_input_is_one_clear_error_and_no_run(
    qa_file: Path, db_path: Path, args: list[str], expected: str
) -> None:
    code, out = invoke("run", str(qa_file), *args, "--db", str(db_path), "--no-progress")
    assert code == 2
    assert expected in out
    if db_path.exists():
        from harness.store.db import Store

        assert Store(db_path).list_runs() == []


@pytest.mark.usefixtures("fake_registered")
def test_bad_rows_name_file_row_and_field(tmp_path: Path, db_path: Path) -> None:
    bad = write_jsonl(
        tmp_path / "bad.jsonl",
        [
            {"id": "a", "question": "q1", "answer": "x"},
            {"id": "a", "question": "q2", "answer": "y"},
        ],
    )
    code, out = invoke("run", str(bad), "--model", "fake", "--db", str(db_path), "--no-progress")
    assert code == 2 and "bad.jsonl" in out and "duplicate" in out
    empty = tmp_path / "empty.jsonl"
    empty.write_text("")
    code, out = invoke("run", str(empty), "--model", "fake", "--db", str(db_path), "--no-progress")
    assert code == 2 and "empty.jsonl" in out
    missing = tmp_path / "missing.jsonl"
    code, out = invoke(
        "run", str(missing), "--model", "fake", "--db", str(db_path), "--no-progress"
    )
    assert code == 2 and "missing.jsonl" in out
    noref = write_jsonl(tmp_path / "noref.jsonl", [{"question": "q1"}])
    code, out = invoke(
        "run",
        str(noref),
        "--model",
        "fake",
        "--scorers",
        "exact_match",
        "--db",
        str(db_path),
        "--no-progress",
    )
    assert code == 2 and "reference" in out


@pytest.mark.usefixtures("fake_registered")
def test_replay_from_a_column_and_a_file(tmp_path: Path, db_path: Path) -> None:
    rows = [
        {"id": f"r{i}", "question": "q", "answer": "yes", "output_text": "yes" if i else "no"}
        for i in range(4)
    ]
    data = write_jsonl(tmp_path / "logs.jsonl", rows)
    summary = run_json(
        str(data), "--model", "replay:output_text", "--scorers", "exact_match", "--db", str(db_path)
    )
    assert summary["metrics"][0]["value"] == 0.75
    replies = write_jsonl(
        tmp_path / "replies.jsonl", [{"id": f"r{i}", "response": "yes"} for i in range(4)]
    )
    summary = run_json(
        str(data), "--model", f"replay:{replies}", "--scorers", "exact_match", "--db", str(db_path)
    )
    assert summary["metrics"][0]["value"] == 1.0
    code, out = invoke(
        "run", str(data), "--model", "replay:nocolumn", "--db", str(db_path), "--no-progress"
    )
    assert code == 2 and "nocolumn" in out
    for bad, message in (
        ([{"id": "r0", "response": "a"}, {"id": "r0", "response": "b"}], "a second response"),
        ([{"id": "r0", "response": "a", "sample": None}], "sample must be a whole number"),
    ):
        path = write_jsonl(tmp_path / "bad_replies.jsonl", bad)
        code, out = invoke("run", str(data), "--model", f"replay:{path}", "--db", str(db_path),
                           "--no-progress")  # fmt: skip
        assert code == 2 and message in out and f"row {len(bad)}" in out
    for raw, message in ((b'{"id": "r0", "response": "\xff"}\n', "not UTF-8"),
                         (b"5\n", "expected a JSON object")):  # fmt: skip
        path = tmp_path / "raw_replies.jsonl"
        path.write_bytes(raw)
        code, out = invoke("run", str(data), "--model", f"replay:{path}", "--db", str(db_path),
                           "--no-progress")  # fmt: skip
        assert code == 2 and message in out and "row 1" in out, out
    numbered = write_jsonl(tmp_path / "n.jsonl", [{"id": 1, "question": "q", "answer": "yes"}])
    floats = write_jsonl(tmp_path / "f.jsonl", [{"id": 1.0, "response": "yes"}])
    summary = run_json(str(numbered), "--model", f"replay:{floats}", "--scorers", "exact_match",
                       "--db", str(db_path))  # fmt: skip
    assert summary["stats"]["failed_items"] == 0 and summary["metrics"][0]["value"] == 1.0


def main_output(
    args: list[str], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> tuple[int, str, str]:
    """Exit code, stdout and stderr of the `harness` entry point (main) given `args`."""
    import signal

    from harness.cli import main

    monkeypatch.setattr("sys.argv", ["harness", *args])
    handler = signal.getsignal(signal.SIGINT)  # main ignores Ctrl-C once its command ended
    try:
        with pytest.raises(SystemExit) as exited:
            main()
    finally:
        signal.signal(signal.SIGINT, handler)
    out, err = capsys.readouterr()
    code = exited.value.code
    return (code if isinstance(code, int) else 0), out, err


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["run", "d.jsonl", "--concurrency", "0"], "Invalid value for '--concurrency': "),
        (["run", "d.jsonl", "--bogus-option"], "No such option: --bogus-option"),
        (["run", "d.jsonl", "--temperature", "nan"], "Invalid value for '--temperature': "),
        (["run", "d.jsonl", "--top-p", "nan"], "Invalid value for '--top-p': "),
        (["export", "a", "--sample", "0"], "Invalid value for '--sample': "),
        (["run"], "Missing argument 'dataset'"),
        (["nosuch"], "No such command 'nosuch'"),
    ],
)
def test_usage_errors_are_one_line_and_exit_2(
    args: list[str],
    expected: str,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    code, out, err = main_output(args, capsys, monkeypatch)
    assert code == 2 and out == ""
    assert len(err.splitlines()) == 1 and err.startswith(f"error: {expected}"), err


def test_help_and_no_arguments_still_show_help(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    code, out, err = main_output(["run", "--help"], capsys, monkeypatch)
    assert code == 0 and "--concurrency" in out and err == ""
    for args in ([], ["runs"]):
        code, out, err = main_output(args, capsys, monkeypatch)
        assert code == 2 and "Usage:" in out + err and "error" not in err, args


def test_ctrl_c_in_a_command_is_one_line_and_exit_130(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from harness.store.db import Store

    def interrupted(path: object) -> Store:
        raise KeyboardInterrupt

    monkeypatch.setattr(Store, "existing", interrupted)
    code, out, err = main_output(
        ["runs", "list", "--db", str(tmp_path / "h.db")], capsys, monkeypatch
    )
    assert (code, out, err) == (130, "", "interrupted\n")


def test_every_command_has_help() -> None:
    for args in (["run"], ["score"], ["runs", "list"], ["runs", "show"], ["runs", "delete"]):
        result = runner.invoke(app, [*args, "--help"])
        assert result.exit_code == 0, args
        assert len(result.output) > 100


@pytest.mark.usefixtures("fake_registered")
def test_retry_errors_redoes_only_failed_items(
    qa_file: Path, db_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.fakes import FakeAdapter

    monkeypatch.setattr(FakeAdapter, "failing_ids", {"q1", "q2"})
    summary = run_json(
        str(qa_file),
        "--model",
        "fake",
        "--scorers",
        "exact_match",
        "--db",
        str(db_path),
        "--name",
        "flaky",
    )
    assert summary["stats"]["failed_items"] == 2
    assert summary["metrics"][0]["n"] == 8
    result = runner.invoke(
        app, ["run", str(qa_file), "--model", "fake", "--db", str(db_path), "--name", "flaky2"]
    )
    assert result.exit_code == 0 and "redo only those with --name flaky2 --retry-errors" in (
        result.stderr
    )
    monkeypatch.setattr(FakeAdapter, "failing_ids", set())
    FakeAdapter.instances.clear()
    summary = run_json(
        str(qa_file),
        "--model",
        "fake",
        "--scorers",
        "exact_match",
        "--db",
        str(db_path),
        "--name",
        "flaky",
        "--retry-errors",
    )
    assert summary["stats"]["failed_items"] == 0
    assert summary["stats"]["items"] == summary["stats"]["responses"] == 10
    assert summary["metrics"][0]["n"] == 10
    redone = sorted(c.item.id for a in FakeAdapter.instances for c in a.calls if c.item)
    assert redone == ["q1", "q2"]


@pytest.mark.usefixtures("fake_registered")
def test_an_interrupted_retry_errors_keeps_true_stats_and_names_retry_errors(
    qa_file: Path, db_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Ctrl-C in the middle of `--retry-errors`: the run's stored stats count the failures
    left (not those before the retry), and the hint continues with --retry-errors (with
    --resume no failed item would be redone)."""
    import asyncio
    import os
    import signal

    from harness.store.db import Store
    from harness.summary import response_stats, run_summary
    from tests.fakes import FakeAdapter

    monkeypatch.setattr(FakeAdapter, "failing_ids", {f"q{i}" for i in range(10)})
    args = ["run", str(qa_file), "--model", "fake", "--scorers", "exact_match",
            "--db", str(db_path), "--name", "r", "--no-progress", "--concurrency", "1"]  # fmt: skip
    assert runner.invoke(app, args).exit_code == 1  # every item failed
    monkeypatch.setattr(FakeAdapter, "failing_ids", set())
    original = FakeAdapter.generate

    async def interrupted(self: FakeAdapter, request: Any) -> Any:
        if len(self.calls) == 4:
            os.kill(os.getpid(), signal.SIGINT)  # Ctrl-C after four items are redone
            await asyncio.sleep(5)  # the cancel lands here
        return await original(self, request)

    monkeypatch.setattr(FakeAdapter, "generate", interrupted)
    code, out = invoke(*args, "--retry-errors")
    assert (
        code == 2
        and out.startswith("interrupted: ")
        and out.endswith("run the same command with --name r --retry-errors")
    ), out
    store = Store(db_path)
    try:
        summary = run_summary(store, "r")
        live = response_stats(store, summary["run_id"])
    finally:
        store.close()
    assert summary["status"] == "interrupted"
    assert 0 < live["failed_items"] < 10
    assert summary["stats"]["failed_items"] == live["failed_items"]
    assert summary["metrics"][0]["n"] == 10 - live["failed_items"]


@pytest.mark.usefixtures("fake_registered")
def test_a_ctrl_c_as_the_finished_run_closes_its_adapter_leaves_it_completed(
    qa_file: Path, db_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A signal just after every item is stored and the run marked completed lands in the
    adapter's close: the close runs to its end, and the run is reported completed with its
    summary and exit 0 (not "interrupted", exit 130, with client sessions left open)."""
    import asyncio
    import os
    import signal

    from tests.fakes import FakeAdapter

    async def close(self: FakeAdapter) -> None:
        os.kill(os.getpid(), signal.SIGINT)
        await asyncio.sleep(0.2)  # the cancel lands here
        self.closed = True

    monkeypatch.setattr(FakeAdapter, "close", close)
    args = ["run", str(qa_file), "--model", "fake", "--scorers", "exact_match",
            "--db", str(db_path), "--json", "--no-progress"]  # fmt: skip
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["status"] == "completed" and summary["stats"]["items"] == 10
    assert FakeAdapter.instances[-1].closed


@pytest.mark.usefixtures("fake_registered")
def test_a_run_with_every_item_failed_is_failed_until_retried(
    qa_file: Path, db_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.fakes import FakeAdapter

    monkeypatch.setattr(FakeAdapter, "failing_ids", {f"q{i}" for i in range(10)})
    args = ["run", str(qa_file), "--model", "fake", "--scorers", "exact_match",
            "--db", str(db_path), "--name", "down", "--json"]  # fmt: skip
    result = runner.invoke(app, args)
    assert result.exit_code == 1
    assert json.loads(result.stdout)["status"] == "failed"
    code, out = invoke("gate", "down", "--baseline", "down", "--metric", "exact_match",
                       "--max-drop", "0.1", "--db", str(db_path))  # fmt: skip
    assert code == 2 and "is failed" in out and "--name down --retry-errors" in out, out
    monkeypatch.setattr(FakeAdapter, "failing_ids", set())
    result = runner.invoke(app, [*args, "--retry-errors"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["status"] == "completed" and summary["metrics"][0]["n"] == 10


@pytest.mark.usefixtures("fake_registered")
def test_failed_extra_samples_leave_a_scored_run_completed(
    qa_file: Path, db_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every item's main response answered and scored, only sample 1 failed: a result."""
    from tests.fakes import FakeAdapter

    monkeypatch.setattr(FakeAdapter, "failing_samples", {1})
    result = runner.invoke(app, ["run", str(qa_file), "--model", "fake", "--samples", "2",
                                 "--scorers", "exact_match", "--db", str(db_path),
                                 "--name", "half", "--json"])  # fmt: skip
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["status"] == "completed" and summary["metrics"][0]["n"] == 10
    assert summary["stats"]["failed_items"] == 10 and summary["stats"]["unanswered_items"] == 0
    assert "--retry-errors" in result.stderr


@pytest.mark.usefixtures("fake_registered")
def test_scorer_options_reach_the_scorer_and_its_signature(qa_file: Path, db_path: Path) -> None:
    summary = run_json(
        str(qa_file),
        "--model",
        "fake",
        "--scorers",
        "exact_match",
        "--scorer-option",
        "exact_match.normalize=false",
        "--db",
        str(db_path),
    )
    assert "normalize:False" in summary["metrics"][0]["signature"]
    code, out = invoke(
        "run",
        str(qa_file),
        "--model",
        "fake",
        "--scorers",
        "exact_match",
        "--scorer-option",
        "exact_match.nosuch=1",
        "--db",
        str(db_path),
        "--no-progress",
    )
    assert code == 2 and "nosuch" in out
    code, out = invoke(
        "run",
        str(qa_file),
        "--model",
        "fake",
        "--scorer-option",
        "bad",
        "--db",
        str(db_path),
        "--no-progress",
    )
    assert code == 2 and "SCORER.KEY=VALUE" in out


@pytest.mark.usefixtures("fake_registered")
def test_toxicity_threshold_flag_sets_the_scorer_threshold(qa_file: Path, db_path: Path) -> None:
    summary = run_json(
        str(qa_file),
        "--model",
        "fake",
        "--scorers",
        "toxicity",
        "--toxicity-threshold",
        "0.9",
        "--db",
        str(db_path),
    )
    signatures = {m["signature"] for m in summary["metrics"]}
    assert signatures and all("threshold:0.9" in s for s in signatures)


@pytest.mark.usefixtures("fake_registered")
def test_sample_temperature_and_min_samples(
    qa_file: Path, db_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from harness.scorers.text import ExactMatch
    from tests.fakes import FakeAdapter

    FakeAdapter.instances.clear()
    run_json(
        str(qa_file),
        "--model",
        "fake",
        "--samples",
        "2",
        "--temperature",
        "0",
        "--sample-temperature",
        "0.9",
        "--db",
        str(db_path),
    )
    temps = {(c.sample, c.params.temperature) for a in FakeAdapter.instances for c in a.calls}
    assert temps == {(0, 0.0), (1, 0.9)}
    from harness.store.db import Store

    store = Store(db_path)
    try:
        (run,) = store.list_runs()
    finally:
        store.close()
    config = json.loads(run["config"])
    assert config["params"]["temperature"] == 0.0
    assert config["sample_params"]["temperature"] == 0.9
    common = ["--model", "fake", "--samples", "2", "--db", str(db_path), "--no-progress"]
    code, out = invoke("run", str(qa_file), *common, "--name", run["name"], "--resume",
                       "--sample-temperature", "0.5")  # fmt: skip
    assert code == 2 and "sample_params (temperature) changed" in out
    monkeypatch.setattr(ExactMatch, "min_samples", 3)
    code, out = invoke(
        "run",
        str(qa_file),
        "--model",
        "fake",
        "--scorers",
        "exact_match",
        "--db",
        str(db_path),
        "--no-progress",
    )
    assert code == 2 and "--samples 3" in out


def test_cli_start_loads_no_heavy_library() -> None:
    import subprocess
    import sys

    heavy = ["pandas", "torch", "transformers", "datasets", "openai", "scipy", "sklearn"]
    code = f"import sys, harness.cli.commands; print([m for m in {heavy!r} if m in sys.modules])"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


def test_store_works_with_pandas_already_imported(tmp_path: Path) -> None:
    import subprocess
    import sys

    code = (
        "import pandas, sys\n"
        "from harness.store import Store\n"
        f"store = Store({str(tmp_path / 'h.db')!r})\n"
        "print(store.list_runs(), 'pandas' in sys.modules)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[] True"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            '{"id": "q0", "response": "x\\ud800"}\n',
            "row 1, field 'response': text with an unpaired",
        ),
        ('{"id": "q0", "response": {"a": 1}}\n', "row 1, field 'response': expected text, got an"),
        ('{"id": "q0", "output": ["a"]}\n', "row 1, field 'output': expected text, got a list"),
        ('{"id": {"a": 1}, "response": "x"}\n', "row 1, field 'id': expected text or a whole"),
        ('{"id": "q0", "response": "x", "m": ' + "[" * 50_000 + "]" * 50_000 + "}\n", "nested"),
        ("\n", "no responses"),
    ],
    ids=["surrogate", "object", "list", "object-id", "deep", "empty"],
)
def test_a_bad_replay_file_is_refused_before_the_run(
    qa_file: Path, db_path: Path, tmp_path: Path, text: str, message: str
) -> None:
    """One error line, and no run, no database: the file is read before either exists."""
    replies = tmp_path / "replies.jsonl"
    replies.write_text(text)
    code, out = invoke("run", str(qa_file), "--model", f"replay:{replies}", "--db", str(db_path),
                       "--no-progress")  # fmt: skip
    assert code == 2 and message in out and str(replies) in out, out
    assert not db_path.exists()


def test_a_replayed_column_that_is_no_text_is_refused_before_the_run(
    tmp_path: Path, db_path: Path
) -> None:
    rows = [{"id": "a", "question": "q", "said": "x"}, {"id": "b", "question": "q", "said": {}}]
    data = write_jsonl(tmp_path / "said.jsonl", rows)
    code, out = invoke("run", str(data), "--model", "replay:said", "--db", str(db_path),
                       "--no-progress")  # fmt: skip
    assert code == 2 and "row 2, field 'said': expected text, got an object" in out, out
    assert not db_path.exists()
    data = write_jsonl(tmp_path / "samples.jsonl", [{"question": "q", "said": ["x", None]}])
    code, out = invoke("run", str(data), "--model", "replay:said", "--samples", "2",
                       "--db", str(db_path), "--no-progress")  # fmt: skip
    assert code == 2 and "field 'said': expected text, got null" in out, out


def test_replaying_a_column_read_as_another_field_is_refused(qa_file: Path, db_path: Path) -> None:
    code, out = invoke("run", str(qa_file), "--model", "replay:answer", "--db", str(db_path),
                       "--no-progress")  # fmt: skip
    assert code == 2 and "column 'answer' is read as the reference" in out
    assert "--reference-field" in out


def test_reading_commands_never_create_a_database(tmp_path: Path) -> None:
    missing = tmp_path / "typo" / "h.db"
    for args in (
        ["runs", "list"],
        ["compare", "a", "b"],
        ["gate", "a", "--baseline", "b", "--metric", "m", "--max-drop", "0.1"],
        ["report", "a", "--format", "json"],
        ["score", "a", "--scorers", "exact_match"],
    ):
        code, out = invoke(*args, "--db", str(missing))
        assert code == 2 and "no database at" in out, (args, out)
    assert not missing.parent.exists()


@pytest.mark.usefixtures("fake_registered")
def test_resume_of_a_name_that_does_not_exist_says_so(qa_file: Path, db_path: Path) -> None:
    code, out = invoke(
        "run", str(qa_file), "--model", "fake", "--db", str(db_path), "--name", "nosuch", "--resume"
    )
    assert code == 2 and "no run named 'nosuch'" in out, out


def test_an_adapter_option_the_adapter_would_ignore_is_refused(
    qa_file: Path, db_path: Path
) -> None:
    code, out = invoke(
        "run", str(qa_file), "--model", "replay:answer", "--db", str(db_path),
        "--adapter-option", "paralel=4",
    )  # fmt: skip
    assert code == 2 and "unknown --adapter-option paralel for the replay adapter" in out, out
    from harness.adapters.local import LocalAdapter
    from harness.adapters.openai_compat import OpenAIAdapter

    assert "parallel" in (LocalAdapter.option_names or ())
    assert OpenAIAdapter.option_names == frozenset({"transport"})


def test_unknown_scorer_option_and_bad_timeout_get_one_plain_line(
    qa_file: Path, db_path: Path
) -> None:
    base = ["run", str(qa_file), "--model", "replay:answer", "--db", str(db_path)]
    code, out = invoke(*base, "--scorers", "bleu", "--scorer-option", "bleu.nope=1")
    assert code == 2 and "scorer 'bleu' has no option nope (its options: tokenize," in out, out
    assert "__init__" not in out
    for timeout in ("0", "-1"):
        code, out = invoke(*base, "--timeout", timeout)
        assert code == 2 and "--timeout must be a number of seconds above 0" in out, out


@pytest.mark.usefixtures("fake_registered")
def test_the_summary_counts_the_errors_it_does_not_show(
    qa_file: Path, db_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.fakes import FakeAdapter

    monkeypatch.setattr(FakeAdapter, "failing_ids", {f"q{i}" for i in range(8)})
    result = runner.invoke(
        app, ["run", str(qa_file), "--model", "fake", "--db", str(db_path), "--no-progress"]
    )
    assert result.exit_code == 0, result.output
    assert result.stdout.count("error item") == 5 and "... and 3 more failed" in result.stdout
    listed = runner.invoke(app, ["runs", "list", "--db", str(db_path), "--json"])
    (row,) = json.loads(listed.stdout)
    assert (row["items"], row["failed_items"]) == (10, 8)


@pytest.mark.usefixtures("fake_registered")
def test_resume_after_score_names_the_scorers_the_run_has_now(qa_file: Path, db_path: Path) -> None:
    base = [str(qa_file), "--model", "fake", "--db", str(db_path), "--name", "rs"]
    run_json(*base, "--scorers", "exact_match")
    assert invoke("score", "rs", "--scorers", "token_f1", "--db", str(db_path))[0] == 0
    code, out = invoke("run", *base, "--scorers", "exact_match", "--resume")
    assert code == 2 and "resume with --scorers exact_match,token_f1" in out, out
    run_json(*base, "--scorers", "exact_match,token_f1", "--resume")


@pytest.mark.parametrize("spelling", ["False", "no", "off", "false"])
def test_a_boolean_option_written_in_words_is_a_boolean(
    spelling: str, tmp_path: Path, db_path: Path
) -> None:
    """`normalize=False` switched normalising off, not on (the text 'False' is true)."""
    rows = [{"id": "a", "question": "q", "answer": "a cat", "response": "the cat"}]
    data = write_jsonl(tmp_path / "d.jsonl", rows)
    summary = run_json(str(data), "--model", "replay:response", "--scorers", "exact_match",
                       "--scorer-option", f"exact_match.normalize={spelling}",
                       "--db", str(db_path), "--name", spelling)  # fmt: skip
    (metric,) = summary["metrics"]
    assert metric["value"] == 0.0 and "normalize:False" in metric["signature"]
    option = "bleu.max_ngram_order=true"
    code, out = invoke("run", str(data), "--model", "replay:response", "--scorers", "bleu",
                       "--scorer-option", option, "--db", str(db_path))  # fmt: skip
    assert code == 2 and "max_ngram_order takes a whole number, not True" in out, out
