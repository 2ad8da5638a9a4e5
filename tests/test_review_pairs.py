"""Pair exports (`--versus`): their labels' scales, and what a blind export lets a reviewer see."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from harness.store.db import Store
from tests.conftest import write_jsonl
from tests.test_labels import write_csv
from tests.test_review import WRONG, invoke, make_run


def label_studio_answers(tasks: list[dict[str, Any]], name: str, value: dict[str, Any]) -> str:
    """A Label Studio JSON export where one reviewer gave every task the same `value`."""
    result = {"from_name": name, "to_name": "response_a", "type": "choices", "value": value}
    done = [
        {"id": n, "data": t["data"], "annotations": [{"completed_by": 3, "result": [result]}]}
        for n, t in enumerate(tasks, 1)
    ]
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
    done.write_text(label_studio_answers(tasks, "quality", {"choices": ["A"]}))
    code, text = invoke("import-labels", "ra", str(done), "--db", str(db_path))
    assert code == 0, text
    store = Store(db_path)
    try:
        stored = store.conn.execute(
            "SELECT DISTINCT label_name, value, scale FROM labels WHERE annotator != 'p'"
        ).fetchall()
    finally:
        store.close()
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
    data = write_jsonl(tmp_path / "d.jsonl", rows)
    for name, column in (("ra", "resp_a"), ("rb", "resp_b")):
        code, out = invoke("run", str(data), "--model", f"replay:{column}", "--db", str(db_path),
                           "--name", name, "--no-progress")  # fmt: skip
        assert code == 0, out
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
