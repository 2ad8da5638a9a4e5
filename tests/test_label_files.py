"""Reading label files: Label Studio's JSON and JSON-MIN exports, label names and values."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from harness.errors import DataError
from harness.review.agreement_report import human_agreement
from harness.review.labels import import_labels
from harness.store.db import Store
from tests.test_labels import stored_labels
from tests.test_review import invoke, make_run

CONTROLS = {"quality": "Rating", "prob": "Number", "verdict": "Choices", "note": "TextArea"}
"""Each label's control in the Label Studio project, as its config names the tag."""


@pytest.fixture
def run_db(qa_file: Path, db_path: Path) -> tuple[Path, str]:
    return db_path, make_run(qa_file, db_path)


def ls_export(answers: dict[str, list[dict[str, Any]]], user: Any = 7) -> list[dict[str, Any]]:
    """A Label Studio JSON export: per item, one annotation by `user` with these results."""
    return [
        {
            "id": 100 + t,
            "data": {"item_id": item},
            "annotations": [
                {
                    "id": t,
                    "completed_by": user,
                    "was_cancelled": False,
                    "created_at": "2026-01-01T00:00:00Z",
                    "updated_at": "2026-01-01T00:00:00Z",
                    "lead_time": 1.0,
                    "result": [
                        {"from_name": name, "to_name": "response", "type": kind, "value": value}
                        for name, kind, value in (
                            (r["name"], CONTROLS[r["name"]].lower(), r["value"]) for r in results
                        )
                    ],
                }
            ],
        }
        for t, (item, results) in enumerate(sorted(answers.items()))
    ]


def json_min(export: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The JSON-MIN export of `export`, a row per annotation built as Label Studio's
    converter builds it, with the SDK's own `prettify_result` and `get_annotator`."""
    pytest.importorskip("label_studio_sdk", reason="label-studio-sdk not installed")
    from label_studio_sdk.converter.utils import get_annotator, prettify_result

    rows = []
    for task in export:
        for annotation in task["annotations"]:
            outputs: dict[str, list[dict[str, Any]]] = {}
            for result in annotation["result"]:
                value = {**result["value"], "type": CONTROLS[result["from_name"]]}
                outputs.setdefault(result["from_name"], []).append(value)
            row = {**task["data"], "id": task["id"]}
            row |= {name: prettify_result(values) for name, values in outputs.items()}
            who = get_annotator({"completed_by": annotation["completed_by"]}, int_id=True)
            row |= {"annotator": who, "annotation_id": annotation["id"], "lead_time": 1.0}
            rows.append(row)
    return rows


def write(path: Path, value: Any) -> Path:
    path.write_text(json.dumps(value))
    return path


def test_json_min_reads_like_the_json_export(run_db: tuple[Path, str], tmp_path: Path) -> None:
    """A rating or number (which JSON-MIN writes as `[{"rating": 4}]`), one choice and one
    text come out of JSON-MIN as the same labels as out of the JSON export."""
    db, _ = run_db
    answers = {
        f"q{i}": [
            {"name": "quality", "value": {"rating": 1 + i % 5}},
            {"name": "prob", "value": {"number": i / 10}},
            {"name": "verdict", "value": {"choices": ["pass" if i % 2 else "fail"]}},
            {"name": "note", "value": {"text": [f"note {i}"]}},
        ]
        for i in range(4)
    }
    export = ls_export(answers, user={"id": 7, "email": "ann@example.org"})
    rows = [row | {"agreement": 100.0} for row in json_min(export)]  # Enterprise adds it
    assert rows[0]["quality"] == [{"rating": 1}] and rows[0]["verdict"] == "fail"
    scales = ["--scale", "quality=1-5", "--scale", "prob=0.0-1.0", "--scale", "verdict=pass,fail"]
    full = write(tmp_path / "full.json", export)
    code, text = invoke("import-labels", "r1", str(full), *scales, "--db", str(db))
    assert code == 0, text
    from_json = stored_labels(db)
    minimal = write(tmp_path / "min.json", rows)
    code, text = invoke("import-labels", "r1", str(minimal), *scales, "--replace", "--db", str(db))
    assert code == 0, text
    assert stored_labels(db) == from_json and len(from_json) == 16


def test_json_min_refuses_a_cell_of_several_values(
    run_db: tuple[Path, str], tmp_path: Path
) -> None:
    db, _ = run_db
    two = [{"name": "verdict", "value": {"choices": ["pass", "fail"]}}]
    twice = [{"name": "quality", "value": {"rating": r}} for r in (2, 3)]
    rows = json_min(ls_export({"q0": two, "q1": twice}))
    path = write(tmp_path / "min.json", rows)
    store = Store(db)
    try:
        with pytest.raises(DataError) as info:
            import_labels(store, "r1", path)
    finally:
        store.close()
    message = str(info.value)
    assert "entry 1, field 'verdict': choices holds 2 values; a label takes one" in message
    assert "entry 2, field 'quality': a list of 2 values; a label takes one" in message
    assert stored_labels(db) == []


def test_one_label_studio_user_has_one_name_in_json_and_json_min(
    run_db: tuple[Path, str], tmp_path: Path
) -> None:
    """A user known only by id (`completed_by: 7`) is `label-studio:7` from either export,
    so importing the same annotations through the other one is a re-import, not a second
    annotator agreeing perfectly with the first."""
    db, _ = run_db
    answers = {f"q{i}": [{"name": "verdict", "value": {"choices": ["pass"]}}] for i in range(3)}
    export = ls_export(answers, user=7)
    full = write(tmp_path / "full.json", export)
    minimal = write(tmp_path / "min.json", json_min(export))
    store = Store(db)
    try:
        assert import_labels(store, "r1", full).annotators == ["label-studio:7"]
        with pytest.raises(DataError, match="already has a 'verdict' label by 'label-studio:7'"):
            import_labels(store, "r1", minimal)
        assert import_labels(store, "r1", minimal, replace=True).replaced == 3
        assert {row[1] for row in stored_labels(db)} == {"label-studio:7"}
    finally:
        store.close()


def test_a_label_name_an_export_could_not_write_is_refused(
    run_db: tuple[Path, str], tmp_path: Path
) -> None:
    """`quality@RUN` on a row of one response would be stored as a pair's label against
    RUN; a nested label named like an export column would shadow it. Both are refused,
    with file, row and field, and nothing is stored."""
    db, run_id = run_db
    path = tmp_path / "at.csv"
    path.write_text(f"item_id,annotator,quality@{run_id}\r\nq1,ivy,3\r\n")
    code, text = invoke("import-labels", "r1", str(path), "--db", str(db))
    assert code == 2, text
    assert f"{path}: row 2, field 'quality@{run_id}': label name 'quality@{run_id}' holds '@'" in (
        " ".join(text.split())
    )
    nested = tmp_path / "nested.jsonl"
    nested.write_text(json.dumps({"item_id": "q1", "annotator": "ivy", "labels": {"input": 2}}))
    code, text = invoke("import-labels", "r1", str(nested), "--db", str(db))
    assert code == 2 and "line 1, field 'input': label name 'input' is taken" in text, text
    assert stored_labels(db) == []


def test_a_free_labels_numbers_compare_as_numbers_beside_text(
    run_db: tuple[Path, str], tmp_path: Path
) -> None:
    """Free values "4" and "4.0" are one value, also when another value is text (the
    label is then nominal, compared as text): agreement 1, not 2/3."""
    db, run_id = run_db
    path = tmp_path / "free.csv"
    path.write_text(
        "item_id,annotator,quality\r\nq1,ann,4\r\nq2,ann,2\r\nq3,ann,n/a\r\n"
        "q1,ben,4.0\r\nq2,ben,2\r\nq3,ben,n/a\r\n"
    )
    store = Store(db)
    try:
        import_labels(store, "r1", path)
        texts = {row[4] for row in stored_labels(db) if row[0] == "q1"}
        assert texts == {"4"}
        for stored_before in (False, True):
            if stored_before:  # imports before this fix kept the text as typed
                store.conn.execute(
                    "UPDATE labels SET value_text = '4.0' WHERE annotator = 'ben' AND value = 4"
                )
            figures = human_agreement(store, run_id, n_resamples=0)["quality"]
            (pair,) = figures["human_human"]["pairwise"]
            assert figures["level"] == "nominal"
            assert pair["exact_agreement"]["value"] == 1.0 and pair["cohen_kappa"]["value"] == 1.0
    finally:
        store.close()
