"""Pair exports (`--versus`): their labels' scales, and what a blind export lets a reviewer see."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from harness.store.db import Store
from tests.conftest import write_jsonl
from tests.test_labels import write_csv
from tests.test_review import WRONG, invoke, make_run, read_csv, replay_runs


def rows_of(db_path: Path, sql: str) -> list[tuple[Any, ...]]:
    """Every row a query gives, read through a Store (which closes again)."""
    store = Store(db_path)
    try:
        return store.conn.execute(sql).fetchall()
    finally:
        store.close()


def label_studio_answers(
    tasks: list[dict[str, Any]], name: str, choose: Callable[[dict[str, Any]], str]
) -> str:
    """A Label Studio JSON export where one reviewer chose `choose(task data)` in every task."""
    done = []
    for n, task in enumerate(tasks, 1):
        value = {"choices": [choose(task["data"])]}
        result = {"from_name": name, "to_name": "response_a", "type": "choices", "value": value}
        annotation = {"completed_by": 3, "result": [result]}
        done.append({"id": n, "data": task["data"], "annotations": [annotation]})
    return json.dumps(done)


def test_a_pair_label_never_takes_the_pointwise_labels_scale(
    qa_file: Path, db_path: Path, tmp_path: Path
) -> None:
    """Pointwise `quality` labels on 1-5 leave a pair export's `quality` on A,B,tie; the
    scale a pair's labels were imported on is the one a later pair export takes."""
    make_run(qa_file, db_path, "ra", replies=WRONG)
    b_id = make_run(qa_file, db_path, "rb")
    pointwise = [{"item_id": f"q{i}", "annotator": "p", "quality": 1 + i % 5} for i in range(10)]
    path = write_csv(tmp_path / "pointwise.csv", pointwise)
    code, text = invoke("import-labels", "ra", str(path), "--scale", "quality=1-5",
                        "--db", str(db_path))  # fmt: skip
    assert code == 0, text
    out = tmp_path / "pairs.json"
    code, text = invoke("export", "ra", "--versus", "rb", "--label", "quality", "--format",
                        "label-studio", "--out", str(out), "--db", str(db_path))  # fmt: skip
    assert code == 0, text
    config = out.with_suffix(".xml").read_text()
    assert '<Choices name="quality"' in config and "Rating" not in config, config
    done = tmp_path / "done.json"
    tasks = json.loads(out.read_text())
    done.write_text(label_studio_answers(tasks, "quality", lambda _: "A"))
    code, text = invoke("import-labels", "ra", str(done), "--db", str(db_path))
    assert code == 0, text
    stored = rows_of(db_path, "SELECT DISTINCT label_name, value, scale FROM labels "
                     "WHERE annotator != 'p'")  # fmt: skip
    assert stored == [(f"quality@{b_id}", 1.0, "A,B,tie")]

    # a pair label stored on its own scale (1-3 here) is exported on that scale again
    filled = [{"item_id": f"q{i}", "versus": b_id, "shown_order": "AB", "annotator": "s",
               "rank": 1 + i % 3} for i in range(10)]  # fmt: skip
    path = write_csv(tmp_path / "ranked.csv", filled)
    code, text = invoke("import-labels", "ra", str(path), "--scale", "rank=1-3",
                        "--db", str(db_path))  # fmt: skip
    assert code == 0, text
    code, text = invoke("export", "ra", "--versus", "rb", "--label", "rank", "--format",
                        "label-studio", "--out", str(tmp_path / "again.json"),
                        "--db", str(db_path))  # fmt: skip
    assert code == 0, text
    assert 'maxRating="3"' in (tmp_path / "again.xml").read_text()


def test_a_blind_export_keeps_list_and_object_metadata(db_path: Path, tmp_path: Path) -> None:
    """List and object metadata pass a blind export (it crashed on them: unhashable); a
    column that replayed a response, one per sample as a list, is left out."""
    rows = [
        {"id": f"q{i}", "question": f"q {i}", "answer": "x", "tags": ["t", str(i)],
         "info": {"k": i}, "resp_a": [f"a{i}", f"a{i} again"], "resp_b": 100 + i}
        for i in range(6)
    ]  # fmt: skip
    replay_runs(write_jsonl(tmp_path / "d.jsonl", rows), db_path)
    for versus in ((), ("--versus", "rb")):
        out = tmp_path / f"blind{len(versus)}.jsonl"
        code, text = invoke("export", "ra", *versus, "--blind", "--format", "jsonl",
                            "--out", str(out), "--db", str(db_path))  # fmt: skip
        assert code == 0, text
        for line in out.read_text().splitlines():
            row = json.loads(line)
            i = int(row["item_id"][1:])
            kept = {"tags": ["t", str(i)], "info": {"k": i}}
            # alone, run ra's response is shown: rb's column names nothing
            assert row["metadata"] == kept | ({} if versus else {"resp_b": 100 + i}), row


def _blind_pairs(qa_file: Path, db_path: Path, fmt: str) -> tuple[str, str, Path]:
    """Runs ra (wrong on WRONG's items) and rb (always right), exported as blind pairs."""
    a_id = make_run(qa_file, db_path, "ra", replies=WRONG)
    b_id = make_run(qa_file, db_path, "rb")
    suffix = {"csv": ".csv", "jsonl": ".jsonl", "label-studio": ".json"}[fmt]
    out = qa_file.with_name(f"blind{suffix}")
    code, text = invoke("export", "ra", "--versus", "rb", "--blind", "--seed", "5", "--format",
                        fmt, "--out", str(out), "--db", str(db_path))  # fmt: skip
    assert code == 0, text
    assert "review_keys" in text  # the note: the order is in the database, not in the file
    return a_id, b_id, out


def _pick(row: dict[str, Any]) -> str:
    """The reviewer's preference: the right answer (str(2 * i)) as shown, or a tie."""
    right = str(2 * int(row["item_id"][1:]))
    if row["response_a"] == row["response_b"]:
        return "tie"
    return "A" if row["response_a"] == right else "B"


def _fill(out: Path, fmt: str) -> Path:
    """The blind export as a reviewer returns it, every row labelled."""
    filled = out.with_name(f"filled{out.suffix}")
    if fmt == "csv":
        rows = [{**r, "preference": _pick(r), "annotator": "rev"} for r in read_csv(out)]
        write_csv(filled, rows)
    elif fmt == "jsonl":
        rows = [json.loads(line) for line in out.read_text().splitlines()]
        lines = [json.dumps({**r, "preference": _pick(r), "annotator": "rev"}) for r in rows]
        filled.write_text("\n".join(lines) + "\n")
    else:
        filled.write_text(label_studio_answers(json.loads(out.read_text()), "preference", _pick))
    return filled


@pytest.mark.parametrize("fmt", ["csv", "jsonl", "label-studio"])
def test_a_blind_pair_export_does_not_say_which_run_is_which(
    qa_file: Path, db_path: Path, fmt: str
) -> None:
    """No `versus` or `shown_order` (nor either run's id) in the file: a key per row, whose
    order the database keeps; import swaps the BA rows back with it."""
    a_id, b_id, out = _blind_pairs(qa_file, db_path, fmt)
    text = out.read_text()
    assert "versus" not in text and "shown_order" not in text
    assert a_id not in text and b_id not in text
    assert text.count("pair_key") == (1 if fmt == "csv" else 10)
    orders = {o for (o,) in rows_of(db_path, "SELECT shown_order FROM review_keys")}
    assert orders <= {"AB", "BA"}  # a random coin: both, but for 2 in 1024 exports
    code, text = invoke("import-labels", "ra", str(_fill(out, fmt)), "--db", str(db_path))
    assert code == 0, text
    stored = rows_of(db_path, "SELECT item_id, label_name, value_text FROM labels")
    expected = {(f"q{i}", f"preference@{b_id}", "B" if f"q{i}" in WRONG else "tie")
                for i in range(10)}  # fmt: skip
    assert set(stored) == expected


def test_the_blind_coin_is_no_function_of_the_seed(qa_file: Path, db_path: Path) -> None:
    """Three blind exports with one seed: the same items, but who is shown first is drawn
    anew (a seeded coin could be replayed from the seed and the item order)."""
    _blind_pairs(qa_file, db_path, "jsonl")
    for n in range(2):
        code, text = invoke("export", "ra", "--versus", "rb", "--blind", "--seed", "5",
                            "--format", "jsonl", "--out", str(qa_file.with_name(f"again{n}.jsonl")),
                            "--db", str(db_path))  # fmt: skip
        assert code == 0, text
    rows = rows_of(db_path, "SELECT item_id, shown_order FROM review_keys ORDER BY rowid")
    assert len(rows) == 30
    orders = [tuple(sorted(rows[k : k + 10])) for k in (0, 10, 20)]  # one export each
    assert len({tuple(item for item, _ in o) for o in orders}) == 1  # the same items
    assert len(set(orders)) > 1  # all three alike: 1 in a million


def test_a_blind_pair_file_without_its_keys_is_refused(
    qa_file: Path, db_path: Path, tmp_path: Path
) -> None:
    """Without the key column, with a key of another item, or in a database without the
    export's keys: one problem per row, naming row and field, and nothing imported."""
    _, _, out = _blind_pairs(qa_file, db_path, "csv")
    rows = [{**r, "preference": _pick(r), "annotator": "rev"} for r in read_csv(out)]
    keyless = write_csv(tmp_path / "keyless.csv", [
        {k: v for k, v in r.items() if k != "pair_key"} for r in rows
    ])  # fmt: skip
    code, text = invoke("import-labels", "ra", str(keyless), "--db", str(db_path))
    assert code == 2 and "row 2, field 'pair_key': a pair's row without 'versus'" in text, text
    swapped = [{**rows[0], "pair_key": rows[1]["pair_key"]}]
    code, text = invoke("import-labels", "ra", str(write_csv(tmp_path / "swapped.csv", swapped)),
                        "--db", str(db_path))  # fmt: skip
    assert code == 2 and "row 2, field 'item_id'" in text and "is not the item of key" in text
    conn = sqlite3.connect(db_path)  # as if the file went to another database
    conn.execute("DELETE FROM review_keys")
    conn.commit()
    conn.close()
    code, text = invoke("import-labels", "ra", str(write_csv(tmp_path / "all.csv", rows)),
                        "--db", str(db_path))  # fmt: skip
    assert code == 2 and f"row 2, field 'pair_key': unknown key '{rows[0]['pair_key']}'" in text
    assert rows_of(db_path, "SELECT count(*) FROM labels") == [(0,)]


def test_deleting_either_run_deletes_its_pair_keys(qa_file: Path, db_path: Path) -> None:
    _blind_pairs(qa_file, db_path, "jsonl")
    code, text = invoke("runs", "delete", "rb", "--yes", "--db", str(db_path))
    assert code == 0, text
    assert rows_of(db_path, "SELECT count(*) FROM review_keys") == [(0,)]


def test_the_keys_table_comes_to_an_older_database(tmp_path: Path) -> None:
    from sqlite_utils import Database

    from harness.store.migrations import migrations

    path = tmp_path / "old.db"
    old = Database(path)
    migrations.apply(old, stop_before="0004_review_keys")
    assert "review_keys" not in old.table_names() and "labels" in old.table_names()
    old.conn.close()
    store = Store(path)
    try:
        assert "review_keys" in store.db.table_names()
    finally:
        store.close()
