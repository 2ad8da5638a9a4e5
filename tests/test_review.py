"""Export for human review: item selection, file formats, safety of the written files."""

from __future__ import annotations

import csv
import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from harness.cli import app
from harness.errors import ConfigError, DataError
from harness.review.export import ExportOptions, export_run
from harness.review.sample import _allocate, select
from harness.store.db import Store
from tests.conftest import write_jsonl

runner = CliRunner()

WRONG = {"q1": "3", "q3": "6 apples", "q4": "nine", "q7": "fourteen and more words here"}
"""Replies that miss the reference: all score 0 on exact match; q3 gets token F1 2/3."""


def invoke(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, list(args))
    if result.exception and not isinstance(result.exception, SystemExit):
        from harness.errors import HarnessError

        if isinstance(result.exception, HarnessError):
            return 2, str(result.exception)
        raise result.exception
    return result.exit_code, result.output


def make_run(data: Path, db: Path, name: str = "r1", replies: dict[str, str] | None = None) -> str:
    """A stored run of the fake adapter (replying the reference, or `replies`) with scores."""
    reply_file = write_jsonl(
        data.parent / f"{name}-replies.jsonl",
        [{"id": f"q{i}", "response": (replies or {}).get(f"q{i}", str(2 * i))} for i in range(10)],
    )
    code, out = invoke(
        "run",
        str(data),
        "--model",
        f"replay:{reply_file}",
        "--scorers",
        "exact_match,token_f1",
        "--db",
        str(db),
        "--name",
        name,
        "--json",
        "--no-progress",
    )
    assert code == 0, out
    return str(json.loads(out)["run_id"])


def replay_runs(data: Path, db: Path) -> None:
    """Runs ra and rb replaying the dataset's columns resp_a and resp_b."""
    for name, column in (("ra", "resp_a"), ("rb", "resp_b")):
        code, out = invoke("run", str(data), "--model", f"replay:{column}", "--db", str(db),
                           "--name", name, "--no-progress")  # fmt: skip
        assert code == 0, out


def add_verdicts(
    db: Path,
    run_id: str,
    rows: list[tuple[Any, ...]],
    *,
    versus: str = "",
    sample: int = 0,
) -> None:
    """Judge verdicts (item, judge, rubric, repeat, score[, order]) as the judge code stores
    them: pointwise, or pairwise against `versus` (scored from A's side)."""
    Store(db).close()
    conn = sqlite3.connect(db)
    mode = "pairwise" if versus else "pointwise"
    conn.executemany(
        "INSERT INTO judgments (run_id, item_id, sample, scorer, mode, versus, judge, rubric, "
        "rubric_hash, repeat, position_order, score, parsed_ok) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'h', ?, ?, ?, ?)",
        [
            (
                run_id,
                row[0],
                sample,
                f"{mode}:{row[2]}",
                mode,
                versus,
                row[1],
                row[2],
                row[3],
                row[5] if len(row) > 5 else "",
                row[4],
                int(row[4] is not None),
            )
            for row in rows
        ],
    )
    conn.commit()
    conn.close()


@pytest.fixture
def run_db(qa_file: Path, db_path: Path) -> tuple[Path, str]:
    return db_path, make_run(qa_file, db_path, replies=WRONG)


def read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def test_csv_export_has_what_a_reviewer_needs(run_db: tuple[Path, str], tmp_path: Path) -> None:
    db, _ = run_db
    out = tmp_path / "review.csv"
    code, text = invoke(
        "export", "r1", "--out", str(out), "--sample", "4", "--seed", "3", "--db", str(db)
    )
    assert code == 0, text
    rows = read_csv(out)
    assert len(rows) == 4
    columns = list(rows[0])
    assert columns[:6] == ["item_id", "input", "context", "reference", "response", "metadata"]
    assert columns[-2:] == ["label", "annotator"]
    assert "score:exact_match/exact_match" in columns and "score:token_f1/token_f1" in columns
    for row in rows:
        i = int(row["item_id"][1:])
        assert row["input"] == f"What is {i} plus {i}?"
        assert row["reference"] == str(2 * i)
        assert row["response"] == WRONG.get(row["item_id"], str(2 * i))
        assert float(row["score:exact_match/exact_match"]) == (row["item_id"] not in WRONG)
        assert json.loads(row["metadata"]) == {"category": "even" if i % 2 == 0 else "odd"}
        assert row["label"] == "" and row["annotator"] == ""
    again = tmp_path / "again.csv"
    invoke("export", "r1", "--out", str(again), "--sample", "4", "--seed", "3", "--db", str(db))
    assert read_csv(again) == rows
    other = tmp_path / "other.csv"
    invoke("export", "r1", "--out", str(other), "--sample", "4", "--seed", "4", "--db", str(db))
    assert [r["item_id"] for r in read_csv(other)] != [r["item_id"] for r in rows]


def test_blind_export_hides_scores_and_order(run_db: tuple[Path, str], tmp_path: Path) -> None:
    db, _ = run_db
    out = tmp_path / "blind.jsonl"
    code, text = invoke(
        "export",
        "r1",
        "--out",
        str(out),
        "--format",
        "jsonl",
        "--strategy",
        "worst",
        "--metric",
        "token_f1",
        "--blind",
        "--db",
        str(db),
    )
    assert code == 0, text
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(rows) == 10
    assert all(
        "scores" not in r and "judges" not in r and "selected_because" not in r for r in rows
    )
    assert {r["item_id"] for r in rows} == {f"q{i}" for i in range(10)}
    assert [r["item_id"] for r in rows][:2] != ["q1", "q4"]


def test_stratified_sampling_keeps_every_group(run_db: tuple[Path, str], tmp_path: Path) -> None:
    db, run_id = run_db
    store = Store(db)
    try:
        selection = select(store, run_id, "stratified", n=4, by="category", seed=1)
        groups = [selection.why[i]["stratum"] for i in selection.item_ids]
        assert sorted(groups) == ["even", "even", "odd", "odd"]
        for item_id, group in zip(selection.item_ids, groups, strict=True):
            assert (int(item_id[1:]) % 2 == 0) == (group == "even")
        with pytest.raises(ConfigError, match="fields: category"):
            select(store, run_id, "stratified", n=4, by="language")
        with pytest.raises(ConfigError, match="needs --by"):
            select(store, run_id, "stratified", n=4)
    finally:
        store.close()


def test_allocation_is_proportional_with_room_for_every_group() -> None:
    assert _allocate({"a": 80, "b": 15, "c": 5}, 10) == {"a": 7, "b": 2, "c": 1}
    assert sum(_allocate({"a": 3, "b": 3, "c": 3}, 2).values()) == 2
    assert _allocate({"a": 2, "b": 1}, 5) == {"a": 2, "b": 1}


def test_worst_by_metric(run_db: tuple[Path, str], tmp_path: Path) -> None:
    db, run_id = run_db
    store = Store(db)
    try:
        selection = select(store, run_id, "worst", n=3, metrics=["token_f1"])
        assert selection.item_ids[:2] == ["q1", "q4"]
        assert selection.item_ids[2] == "q7"
        assert selection.why["q1"] == {"token_f1/token_f1": 0.0}
        flipped = select(
            store,
            run_id,
            "worst",
            n=1,
            metrics=["token_f1"],
            lower_is_better=frozenset({"token_f1"}),
        )
        assert flipped.item_ids[0] not in WRONG
        with pytest.raises(ConfigError, match="has exact_match/exact_match, token_f1/token_f1"):
            select(store, run_id, "worst", metrics=["bleu"])
        with pytest.raises(ConfigError, match="exactly one --metric"):
            select(store, run_id, "worst")
    finally:
        store.close()


def test_disagreement_between_metrics_and_between_judges(run_db: tuple[Path, str]) -> None:
    db, run_id = run_db
    store = Store(db)
    try:
        with pytest.raises(ConfigError, match="two or more"):
            select(store, run_id, "disagreement", metrics=["token_f1"])
        metrics = select(store, run_id, "disagreement", metrics=["exact_match", "token_f1"])
        # exact match ranks q1 q3 q4 q7 (0) below the rest (1), scaled to 0 and 1; token F1
        # puts q3 (2/3) between: average ranks 2 (three zeros), 4 (q3), 7.5 (six ones),
        # so q3's scaled rank is (4 - 2) / (7.5 - 2) and every other item agrees exactly
        assert metrics.item_ids[0] == "q3"
        assert metrics.why["q3"]["disagreement"] == pytest.approx(2 / 5.5, abs=1e-6)
        assert all(metrics.why[i]["disagreement"] == 0 for i in metrics.item_ids[1:])
        tied = metrics.why[metrics.item_ids[1]]["between"]  # not "exact_match vs exact_match"
        assert tied == "none (exact_match/exact_match = token_f1/token_f1)", tied
    finally:
        store.close()
    verdicts = []
    for i in range(10):
        a = float(i % 5 + 1)
        b = a if i not in (2, 6) else 6.0 - a
        verdicts += [(f"q{i}", "ja", "helpfulness", 0, a), (f"q{i}", "jb", "helpfulness", 0, b)]
    add_verdicts(db, run_id, verdicts)
    store = Store(db)
    try:
        judged = select(store, run_id, "disagreement", n=2)
        assert sorted(judged.item_ids) == ["q2", "q6"]
        assert "judge ja on helpfulness" in str(judged.why["q2"]["between"])
    finally:
        store.close()


def test_a_metric_that_never_varies_cannot_disagree(qa_file: Path, db_path: Path) -> None:
    """Every answer right: exact match ranks every item 0.5, so any other source's rank
    alone would make the 'disagreement'; it is left out, and said so."""
    run_id = make_run(qa_file, db_path, "right")
    store = Store(db_path)
    try:
        with pytest.raises(ConfigError, match="token_f1 give every item the same value"):
            select(store, run_id, "disagreement", metrics=["exact_match", "token_f1"])
    finally:
        store.close()
    verdicts = []
    for i in range(10):
        a = float(i % 5 + 1)
        b = a if i != 4 else 1.0
        verdicts += [(f"q{i}", "ja", "helpfulness", 0, a), (f"q{i}", "jb", "helpfulness", 0, b)]
    add_verdicts(db_path, run_id, verdicts)
    store = Store(db_path)
    try:
        judged = select(store, run_id, "disagreement", n=1, metrics=["exact_match"])
    finally:
        store.close()
    assert judged.item_ids == ["q4"] and "exact_match" not in str(judged.why["q4"]["between"])
    assert any("exact_match gives every item the same value" in n for n in judged.notes)


def test_unstable_needs_judgments_and_finds_changing_verdicts(run_db: tuple[Path, str]) -> None:
    db, run_id = run_db
    store = Store(db)
    try:
        with pytest.raises(ConfigError, match="no judge verdicts"):
            select(store, run_id, "unstable")
    finally:
        store.close()
    rows = []
    for i in range(10):
        scores = [3.0, 3.0, 3.0]
        if i == 5:
            scores = [1.0, 5.0, 3.0]
        if i == 8:
            scores = [2.0, 3.0, None]
        rows += [(f"q{i}", "ja", "correctness", k, s) for k, s in enumerate(scores)]
    add_verdicts(db, run_id, rows)
    store = Store(db)
    try:
        selection = select(store, run_id, "unstable", n=5)
        assert selection.item_ids == ["q5", "q8"]
        assert selection.why["q5"]["spread"] == 4.0
        assert selection.why["q8"]["spread"] == 1.0
    finally:
        store.close()


def test_unstable_with_steady_judge_says_so(run_db: tuple[Path, str]) -> None:
    db, run_id = run_db
    add_verdicts(db, run_id, [(f"q{i}", "ja", "c", k, 4.0) for i in range(10) for k in range(2)])
    store = Store(db)
    try:
        with pytest.raises(DataError, match="nothing unstable"):
            select(store, run_id, "unstable")
    finally:
        store.close()


def test_judged_rubrics_become_label_columns(run_db: tuple[Path, str], tmp_path: Path) -> None:
    db, run_id = run_db
    add_verdicts(db, run_id, [(f"q{i}", "ja", "helpfulness", 0, 4.0) for i in range(10)])
    out = tmp_path / "judged.csv"
    code, text = invoke("export", "r1", "--out", str(out), "--db", str(db))
    assert code == 0, text
    rows = read_csv(out)
    assert list(rows[0])[-2:] == ["helpfulness", "annotator"]
    assert rows[0]["judge:ja/helpfulness"] == "4.0"


def test_never_overwrites_without_force_and_leaves_no_temp_files(
    run_db: tuple[Path, str], tmp_path: Path
) -> None:
    db, _ = run_db
    folder = tmp_path / "out"
    folder.mkdir()
    target = folder / "review.csv"
    target.write_text("precious\n")
    code, text = invoke("export", "r1", "--out", str(target), "--db", str(db))
    assert code == 2 and "--force" in text
    assert target.read_text() == "precious\n"
    code, text = invoke("export", "r1", "--out", str(target), "--db", str(db), "--force")
    assert code == 0, text
    assert read_csv(target)[0]["item_id"].startswith("q")
    assert sorted(p.name for p in folder.iterdir()) == ["review.csv"]
    code, text = invoke(
        "export", "r1", "--out", str(tmp_path / "nowhere" / "x.csv"), "--db", str(db)
    )
    assert code == 2 and "does not exist" in text
    assert not (tmp_path / "nowhere").exists()
    code, text = invoke("export", "r1", "--out", str(folder), "--db", str(db))
    assert code == 2 and "is a folder" in text
    ls = folder / "tasks.json"
    (folder / "tasks.xml").write_text("<View/>")
    code, text = invoke(
        "export", "r1", "--out", str(ls), "--format", "label-studio", "--db", str(db)
    )
    assert code == 2 and "tasks.xml already exists" in text
    assert not ls.exists() and (folder / "tasks.xml").read_text() == "<View/>"


def test_a_failed_export_leaves_nothing(run_db: tuple[Path, str], tmp_path: Path) -> None:
    db, _ = run_db
    store = Store(db)
    try:
        with pytest.raises(ConfigError, match="--strategy"):
            export_run(store, "r1", tmp_path / "x.csv", ExportOptions(strategy="best"))
    finally:
        store.close()
    assert not (tmp_path / "x.csv").exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".x.csv")]


@pytest.mark.parametrize("fmt", ["csv", "jsonl", "html"])
def test_a_full_disk_is_one_line_naming_the_file(
    run_db: tuple[Path, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fmt: str
) -> None:
    """Export and report: the OSError of a full disk becomes one error line, and the
    half-written temporary file is gone."""
    import errno

    from harness import files

    def full(fd: int) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(files.os, "fsync", full)
    db, _ = run_db
    out = tmp_path / "out" / f"x.{fmt}"
    out.parent.mkdir()
    command = ["report", "r1"] if fmt == "html" else ["export", "r1", "--format", fmt]
    code, text = invoke(*command, "--out", str(out), "--db", str(db))
    assert code == 2 and text == f"cannot write {out}: No space left on device", text
    assert list(out.parent.iterdir()) == []


def test_exports_never_carry_secrets(
    qa_file: Path, db_path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    secret = "sk-proj-7Hq2LrT9xWcVb3NmKpZs4YdFgAe8Ju"
    monkeypatch.setenv("OPENAI_API_KEY", secret)
    monkeypatch.setenv("HARNESS_TEST_TOKEN", secret)
    make_run(qa_file, db_path)
    conn = sqlite3.connect(db_path)
    config = json.loads(conn.execute("SELECT config FROM runs").fetchone()[0])
    config["adapter_options"] = {"api_key": secret, "base_url": f"https://x/?key={secret}"}
    conn.execute("UPDATE runs SET config = ?", [json.dumps(config)])
    conn.commit()
    conn.close()
    paths = []
    for fmt, name in (("csv", "a.csv"), ("jsonl", "a.jsonl"), ("label-studio", "a.json")):
        out = tmp_path / name
        code, text = invoke(
            "export", "r1", "--out", str(out), "--format", fmt, "--db", str(db_path)
        )
        assert code == 0, text
        paths.append(out)
    paths.append(tmp_path / "a.xml")
    for path in paths:
        content = path.read_text()
        assert secret not in content and "api_key" not in content, path
        assert "replay" not in content, path


def test_csv_cells_cannot_run_as_formulas(qa_file: Path, db_path: Path, tmp_path: Path) -> None:
    make_run(qa_file, db_path, replies={"q2": '=HYPERLINK("http://x","click")'})
    out = tmp_path / "f.csv"
    invoke("export", "r1", "--out", str(out), "--db", str(db_path))
    row = next(r for r in read_csv(out) if r["item_id"] == "q2")
    assert row["response"] == "'" + '=HYPERLINK("http://x","click")'


def test_label_studio_export(run_db: tuple[Path, str], tmp_path: Path) -> None:
    db, _ = run_db
    out = tmp_path / "ls.json"
    code, text = invoke(
        "export",
        "r1",
        "--out",
        str(out),
        "--format",
        "label-studio",
        "--label",
        "quality",
        "--label",
        "verdict",
        "--scale",
        "quality=1-5",
        "--scale",
        "verdict=pass,fail",
        "--db",
        str(db),
    )
    assert code == 0, text
    tasks = json.loads(out.read_text())
    config = (tmp_path / "ls.xml").read_text()
    assert len(tasks) == 10
    assert {"item_id", "input", "reference", "response", "scores"} <= set(tasks[0]["data"])
    assert '<Rating name="quality" toName="response" maxRating="5"' in config
    assert '<Choice value="pass"' in config and '<Choice value="fail"' in config
    pytest.importorskip(
        "label_studio_sdk",
        reason="label-studio-sdk not installed (scripts/install.sh --dev installs it)",
    )
    from label_studio_sdk.label_interface import LabelInterface

    interface = LabelInterface(config)
    interface.validate()
    assert set(interface.controls and [c.name for c in interface.controls]) == {
        "quality",
        "verdict",
    }
    assert interface.get_control("verdict").labels == ["pass", "fail"]
    for task in tasks:
        assert interface.validate_task(task)
    annotation = {
        "result": [
            {
                "from_name": "quality",
                "to_name": "response",
                "type": "rating",
                "value": {"rating": 4},
            },
            {
                "from_name": "verdict",
                "to_name": "response",
                "type": "choices",
                "value": {"choices": ["pass"]},
            },
        ]
    }
    assert interface.validate_annotation(annotation)
    wrong = {"result": [{**annotation["result"][1], "value": {"choices": ["maybe"]}}]}
    assert not interface.validate_annotation(wrong)


def test_label_studio_config_for_free_and_range_labels(
    run_db: tuple[Path, str], tmp_path: Path
) -> None:
    db, _ = run_db
    out = tmp_path / "free.json"
    code, text = invoke(
        "export",
        "r1",
        "--out",
        str(out),
        "--format",
        "label-studio",
        "--label",
        "note",
        "--label",
        "prob",
        "--scale",
        "prob=0.0-1.0",
        "--blind",
        "--db",
        str(db),
    )
    assert code == 0, text
    config = (tmp_path / "free.xml").read_text()
    assert '<TextArea name="note"' in config and '<Number name="prob"' in config
    assert "scores" not in config and all(
        "scores" not in t["data"] for t in json.loads(out.read_text())
    )
    pytest.importorskip("label_studio_sdk", reason="label-studio-sdk not installed")
    from label_studio_sdk.label_interface import LabelInterface

    LabelInterface(config).validate()


def test_reserved_label_names_are_refused(run_db: tuple[Path, str], tmp_path: Path) -> None:
    db, _ = run_db
    code, text = invoke(
        "export", "r1", "--out", str(tmp_path / "x.csv"), "--label", "response", "--db", str(db)
    )
    assert code == 2 and "taken by an export column" in text


def test_export_and_import_help() -> None:
    for command in ("export", "import-labels"):
        code, text = invoke(command, "--help")
        assert code == 0 and "--db" in text


@pytest.mark.usefixtures("fake_registered")
def test_run_with_only_failed_calls_is_a_clear_error(
    qa_file: Path, db_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.fakes import FakeAdapter

    monkeypatch.setattr(FakeAdapter, "failing_ids", {f"q{i}" for i in range(10)})
    invoke(
        "run", str(qa_file), "--model", "fake", "--db", str(db_path), "--name", "e", "--no-progress"
    )
    store = Store(db_path)
    try:
        run_id = str(store.get_run("e")["id"])
        assert store.count_items(run_id) == 10
        with pytest.raises(DataError, match="no item with a response"):
            select(store, run_id, "random")
    finally:
        store.close()


def test_pairs_export_both_responses_and_come_back_unswapped(
    qa_file: Path, db_path: Path, tmp_path: Path
) -> None:
    from harness.review.agreement_report import human_agreement
    from harness.review.labels import import_labels

    a_id = make_run(qa_file, db_path, "ra", replies=WRONG)
    b_id = make_run(qa_file, db_path, "rb")
    out = tmp_path / "pairs.csv"
    code, text = invoke("export", "ra", "--versus", "rb", "--out", str(out), "--db", str(db_path))
    assert code == 0, text
    rows = read_csv(out)
    assert len(rows) == 10
    assert {"response_a", "response_b", "versus", "shown_order", "preference"} <= set(rows[0])
    assert "response" not in rows[0]
    for row in rows:
        i = int(row["item_id"][1:])
        assert (row["response_a"], row["response_b"]) == (
            WRONG.get(row["item_id"], str(2 * i)),
            str(2 * i),
        )
        assert row["versus"] == b_id and row["shown_order"] == "AB"
    assert "score:A exact_match/exact_match" in rows[0] and "score:B token_f1/token_f1" in rows[0]

    blind = tmp_path / "blind.csv"
    code, text = invoke(
        "export",
        "ra",
        "--versus",
        "rb",
        "--out",
        str(blind),
        "--blind",
        "--seed",
        "5",
        "--db",
        str(db_path),
    )
    assert code == 0, text
    shown = read_csv(blind)
    assert "versus" not in shown[0] and "shown_order" not in shown[0]  # they name the runs
    conn = sqlite3.connect(db_path)
    orders = dict(conn.execute("SELECT key, shown_order FROM review_keys").fetchall())
    conn.close()
    assert {orders[r["pair_key"]] for r in shown} == {"AB", "BA"}
    filled = []
    for row in shown:
        i = int(row["item_id"][1:])
        right = str(2 * i)
        assert {row["response_a"], row["response_b"]} == {WRONG.get(row["item_id"], right), right}
        # the reviewer prefers the correct response as shown, or calls a tie
        pick = (
            "tie"
            if row["response_a"] == row["response_b"]
            else "A"
            if row["response_a"] == right
            else "B"
        )
        filled.append({**row, "preference": pick, "annotator": "rev"})
    path = tmp_path / "filled.csv"
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(filled[0]))
        writer.writeheader()
        writer.writerows(filled)
    numeric = tmp_path / "numeric.csv"
    with numeric.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(filled[0]))
        writer.writeheader()
        writer.writerows([{**row, "preference": "2"} for row in filled])
    code, text = invoke("import-labels", "ra", str(numeric), "--scale", "preference=1-3",
                        "--db", str(db_path))  # fmt: skip
    assert code == 2 and "no A and B to swap back" in text
    add_verdicts(
        db_path,
        a_id,
        [
            (f"q{i}", "j", "preference", 0, s, o)
            for i in range(10)
            for o, s in (("AB", 0.0 if f"q{i}" in WRONG else 0.5), ("BA", 0.5))
        ],
        versus=b_id,
    )
    store = Store(db_path)
    try:
        result = import_labels(store, "ra", path)
        assert result.names == [f"preference@{b_id}"]
        stored = dict(
            store.conn.execute(
                "SELECT item_id, value_text FROM labels WHERE run_id = ?", [a_id]
            ).fetchall()
        )
        assert stored == {f"q{i}": "B" if f"q{i}" in WRONG else "tie" for i in range(10)}
        unstable = select(store, a_id, "unstable", versus=source_versus(store, a_id, "rb"))
        assert set(unstable.item_ids) == set(WRONG)
        report = human_agreement(store, a_id, n_resamples=0)
        (judge,) = report[f"preference@{b_id}"]["judge_human"]
        assert judge["per_annotator"][0]["exact_agreement"]["value"] == 1.0
    finally:
        store.close()


def source_versus(store: Store, run_id: str, ref: str) -> Any:
    from harness.review.source import resolve_versus

    return resolve_versus(store, run_id, ref)


def test_pairs_label_studio_config_is_valid(qa_file: Path, db_path: Path, tmp_path: Path) -> None:
    make_run(qa_file, db_path, "ra", replies=WRONG)
    make_run(qa_file, db_path, "rb")
    out = tmp_path / "pairs.json"
    code, text = invoke(
        "export",
        "ra",
        "--versus",
        "rb",
        "--out",
        str(out),
        "--format",
        "label-studio",
        "--db",
        str(db_path),
    )
    assert code == 0, text
    config = (tmp_path / "pairs.xml").read_text()
    assert '<Choices name="preference" toName="response_a,response_b"' in config
    tasks = json.loads(out.read_text())
    assert {"response_a", "response_b", "versus", "shown_order"} <= set(tasks[0]["data"])
    pytest.importorskip("label_studio_sdk", reason="label-studio-sdk not installed")
    from label_studio_sdk.label_interface import LabelInterface

    interface = LabelInterface(config)
    interface.validate()
    assert interface.get_control("preference").labels == ["A", "B", "tie"]
    assert all(interface.validate_task(task) for task in tasks)
    exported = [
        {
            "id": n,
            "data": task["data"],
            "annotations": [
                {
                    "completed_by": {"id": 4, "email": "rev@example.org"},
                    "result": [
                        {
                            "from_name": "preference",
                            "to_name": "response_a",
                            "type": "choices",
                            "value": {"choices": ["A"]},
                        }
                    ],
                }
            ],
        }
        for n, task in enumerate(tasks, 1)
    ]
    assert all(interface.validate_annotation(t["annotations"][0]) for t in exported)
    (tmp_path / "done.json").write_text(json.dumps(exported))
    code, text = invoke("import-labels", "ra", str(tmp_path / "done.json"), "--db", str(db_path))
    assert code == 0, text
    store = Store(db_path)
    try:
        stored = store.conn.execute("SELECT DISTINCT label_name, annotator, value FROM labels")
        b_id = store.get_run("rb")["id"]
        assert stored.fetchall() == [(f"preference@{b_id}", "rev@example.org", 1.0)]
    finally:
        store.close()
    code, text = invoke(
        "export", "ra", "--versus", "ra", "--out", str(tmp_path / "x.csv"), "--db", str(db_path)
    )
    assert code == 2 and "names the run itself" in text


def test_a_blind_pair_export_hides_metadata_that_holds_a_response(
    db_path: Path, tmp_path: Path
) -> None:
    rows = [
        {"id": f"q{i}", "question": f"q {i}", "answer": "x", "resp_a": f"a{i}", "resp_b": f"b{i}",
         "topic": "t"}
        for i in range(6)
    ]  # fmt: skip
    replay_runs(write_jsonl(tmp_path / "d.jsonl", rows), db_path)
    out = tmp_path / "blind.csv"
    code, text = invoke("export", "ra", "--versus", "rb", "--blind", "--out", str(out),
                        "--db", str(db_path))  # fmt: skip
    assert code == 0, text
    for row in read_csv(out):
        metadata = json.loads(row["metadata"])
        assert metadata == {"topic": "t"}, metadata
