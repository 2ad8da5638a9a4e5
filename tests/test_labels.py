"""Importing human labels: validation, all-or-nothing storage, agreement, labels as a metric."""

from __future__ import annotations

import csv
import json
import math
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from harness.errors import ConfigError, DataError
from harness.review.agreement_report import human_agreement
from harness.review.labels import import_labels
from harness.review.scale import parse_options, parse_spec
from harness.stats import wilson_interval
from harness.store.db import Store
from tests.conftest import SHARED_DATA, write_jsonl
from tests.test_review import add_verdicts, invoke, make_run


def write_csv(path: Path, rows: list[dict[str, Any]]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return path


def stored_labels(db: Path) -> list[tuple[Any, ...]]:
    conn = sqlite3.connect(db)
    try:
        return conn.execute(
            "SELECT item_id, annotator, label_name, value, value_text FROM labels "
            "ORDER BY item_id, annotator, label_name"
        ).fetchall()
    finally:
        conn.close()


@pytest.fixture
def run_db(qa_file: Path, db_path: Path) -> tuple[Path, str]:
    return db_path, make_run(qa_file, db_path)


def test_round_trip_from_an_export(run_db: tuple[Path, str], tmp_path: Path) -> None:
    db, run_id = run_db
    exported = tmp_path / "review.csv"
    code, text = invoke("export", "r1", "--out", str(exported), "--sample", "6", "--db", str(db))
    assert code == 0, text
    with exported.open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    alice = [{**r, "label": str(1 + i % 5), "annotator": "alice"} for i, r in enumerate(rows)]
    bob = [{**r, "label": str(1 + (i + (i == 2)) % 5), "annotator": ""} for i, r in enumerate(rows)]
    bob[5]["label"] = ""
    code, text = invoke(
        "import-labels",
        "r1",
        str(write_csv(tmp_path / "alice.csv", alice)),
        "--scale",
        "label=1-5",
        "--db",
        str(db),
    )
    assert code == 0, text
    assert "imported 6 labels on 6 items from 1 annotator (alice)" in text
    code, text = invoke(
        "import-labels",
        "r1",
        str(write_csv(tmp_path / "bob.csv", bob)),
        "--annotator",
        "bob",
        "--scale",
        "label=1-5",
        "--db",
        str(db),
        "--json",
    )
    assert code == 0, text
    result = json.loads(text)
    assert result["labels"] == 5 and result["skipped_rows"] == 1 and result["annotators"] == ["bob"]
    store = Store(db)
    try:
        rows_stored = list(store.db.query("SELECT * FROM labels ORDER BY item_id, annotator"))
        assert len(rows_stored) == 11
        assert {r["annotator"] for r in rows_stored} == {"alice", "bob"}
        assert all(r["created_at"] and r["scale"] == "1-5" for r in rows_stored)
        assert {Path(r["source"]).name for r in rows_stored} == {"alice.csv", "bob.csv"}
        human = {
            r["item_id"]: r
            for r in store.db.query(
                "SELECT * FROM scores WHERE run_id = ? AND scorer = 'human'", [run_id]
            )
        }
        for i, row in enumerate(rows):
            values = [float(alice[i]["label"])] + ([float(bob[i]["label"])] if i < 5 else [])
            assert human[row["item_id"]]["value"] == pytest.approx(sum(values) / len(values))
            assert (
                human[row["item_id"]]["sample"] == 0 and human[row["item_id"]]["metric"] == "label"
            )
        metric = next(
            store.db.query(
                "SELECT * FROM run_metrics WHERE run_id = ? AND scorer = 'human'", [run_id]
            )
        )
        assert metric["n"] == 6
    finally:
        store.close()
    code, text = invoke("runs", "show", "r1", "--db", str(db), "--json")
    shown = json.loads(text)
    figures = shown["human_agreement"]["label"]
    assert figures["annotators"] == ["alice", "bob"] and figures["level"] == "ordinal"
    pair = figures["human_human"]["pairwise"][0]
    assert pair["n"] == 5
    from sklearn.metrics import cohen_kappa_score

    a = [int(alice[i]["label"]) for i in range(5)]
    b = [int(bob[i]["label"]) for i in range(5)]
    assert pair["cohen_kappa"]["value"] == pytest.approx(
        cohen_kappa_score(a, b, labels=[1, 2, 3, 4, 5])
    )
    assert any(m["scorer"] == "human" and m["metric"] == "label" for m in shown["metrics"])
    code, text = invoke("runs", "show", "r1", "--db", str(db))
    assert code == 0 and "Krippendorff" in text and "alice / bob" in text


def test_unknown_ids_off_scale_duplicates_all_reported_and_nothing_stored(
    run_db: tuple[Path, str], tmp_path: Path
) -> None:
    db, _ = run_db
    rows = [
        {"item_id": "q0", "annotator": "ann", "quality": "4"},
        {"item_id": "q1", "annotator": "ann", "quality": "9"},
        {"item_id": "zz", "annotator": "ann", "quality": "3"},
        {"item_id": "q0", "annotator": "ann", "quality": "5"},
        {"item_id": "q2", "annotator": "", "quality": "2"},
        {"item_id": "q3", "annotator": "ann", "quality": "good"},
    ]
    path = write_csv(tmp_path / "bad.csv", rows)
    store = Store(db)
    try:
        with pytest.raises(DataError) as info:
            import_labels(store, "r1", path, scales=parse_options(["quality=1-5"]))
    finally:
        store.close()
    message = str(info.value)
    assert f"{path}: 5 problems, nothing imported" in message
    assert "row 3, field 'quality': 9 is off the scale 1-5 (--scale quality)" in message
    assert "row 4, field 'item_id': unknown item id 'zz'" in message
    assert "row 5, field 'quality': duplicate: row 2 already labels item 'q0'" in message
    assert "row 6, field 'annotator': empty" in message
    assert "row 7, field 'quality': 'good' is not a number" in message
    assert stored_labels(db) == []


def test_one_problem_is_one_line_naming_file_row_and_field(
    run_db: tuple[Path, str], tmp_path: Path
) -> None:
    db, _ = run_db
    path = write_jsonl(
        tmp_path / "one.jsonl",
        [
            {"item_id": "q0", "annotator": "a", "verdict": "pass"},
            {"item_id": "q1", "annotator": "a", "verdict": "maybe"},
        ],
    )
    code, text = invoke(
        "import-labels", "r1", str(path), "--scale", "verdict=pass,fail", "--db", str(db)
    )
    assert code == 2
    assert text == (
        f"{path}: line 2, field 'verdict': 'maybe' is not one of pass,fail (--scale verdict); "
        "nothing imported"
    )
    assert stored_labels(db) == []


def test_labels_already_stored_need_replace(run_db: tuple[Path, str], tmp_path: Path) -> None:
    db, _ = run_db
    first = write_jsonl(tmp_path / "a.jsonl", [{"item_id": "q0", "annotator": "a", "ok": "pass"}])
    second = write_jsonl(tmp_path / "b.jsonl", [{"item_id": "q0", "annotator": "a", "ok": "FAIL"}])
    args = ("--scale", "ok=pass/fail", "--db", str(db))
    assert invoke("import-labels", "r1", str(first), *args)[0] == 0
    code, text = invoke("import-labels", "r1", str(second), *args)
    assert code == 2 and "already has a 'ok' label by 'a'; pass --replace" in text
    assert stored_labels(db) == [("q0", "a", "ok", 1.0, "pass")]
    code, text = invoke("import-labels", "r1", str(second), *args, "--replace")
    assert code == 0 and "replaced 1 labels" in text
    assert stored_labels(db) == [("q0", "a", "ok", 0.0, "fail")]
    code, text = invoke(
        "import-labels", "r1", str(second), "--scale", "ok=1-5", "--db", str(db), "--replace"
    )
    assert code == 2 and "imported on the scale pass,fail" in text


def test_file_level_errors(run_db: tuple[Path, str], tmp_path: Path) -> None:
    db, _ = run_db
    store = Store(db)
    try:
        no_id = write_csv(tmp_path / "noid.csv", [{"id": "q0", "label": "1"}])
        with pytest.raises(DataError, match="no 'item_id' column"):
            import_labels(store, "r1", no_id)
        empty = write_csv(
            tmp_path / "empty.csv", [{"item_id": "q0", "annotator": "a", "label": ""}]
        )
        with pytest.raises(DataError, match="no label values found"):
            import_labels(store, "r1", empty)
        with pytest.raises(DataError, match="no such file"):
            import_labels(store, "r1", tmp_path / "missing.csv")
        with pytest.raises(ConfigError, match="cannot tell the format"):
            import_labels(store, "r1", write_csv(tmp_path / "x.txt", [{"item_id": "q0"}]))
        broken = tmp_path / "broken.jsonl"
        broken.write_text('{"item_id": "q0"}\n{not json\n')
        with pytest.raises(DataError, match=r"broken\.jsonl, row 2: not JSON"):
            import_labels(store, "r1", broken)
        with pytest.raises(ConfigError, match="no run 'nope'"):
            import_labels(store, "nope", no_id)
    finally:
        store.close()


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('{"item_id": "q0", "annotator": "a", "q": 1' + "0" * 400 + "}", "'10000000"),
        ('{"item_id": "q0", "annotator": "a\\ud800", "q": 3}', "row 1, field 'annotator': text"),
        ('{"item_id": "q0", "annotator": "a", "m": ' + "[" * 50_000 + "]" * 50_000 + "}", "nested"),
        ('{"item_id": "q0", "annotator": {"a": 1}, "q": 3}', "'annotator': expected text, got an"),
        ('{"item_id": ["q0"], "annotator": "a", "q": 3}', "'item_id': expected text, got a list"),
        ('{"item_id": "q0", "annotator": "a", "q": true}', "'true' is not a number on the scale"),
    ],
    ids=["huge-number", "surrogate", "deep", "object-annotator", "list-id", "bool-label"],
)
def test_json_lines_of_the_wrong_kind_are_one_error(
    run_db: tuple[Path, str], tmp_path: Path, text: str, message: str
) -> None:
    """Values a label, id or annotator cannot be (a bool is never a number, an object never
    a name), and JSON that cannot be stored: one line, nothing imported."""
    db, _ = run_db
    path = tmp_path / "labels.jsonl"
    path.write_text(text + "\n")
    code, out = invoke("import-labels", "r1", str(path), "--scale", "q=1-5", "--db", str(db))
    assert code == 2 and message in out and str(path) in out and "\n" not in out, out
    assert stored_labels(db) == []


@pytest.mark.parametrize(
    ("task", "message"),
    [
        ({"id": 1, "data": "q0", "annotations": []}, "task 1 (id 1), field 'data': expected an"),
        (
            {"data": {"item_id": "q0"}, "annotations": [{"completed_by": 1, "result": "oops"}]},
            "task 1, annotation 1, field 'result': expected a list, got text",
        ),
        (
            {"data": {"item_id": "q0"}, "annotations": [{"completed_by": 1, "result": [7]}]},
            "field 'result': expected an object, got a number",
        ),
        (
            {
                "data": {"item_id": "q0"},
                "annotations": [
                    {"completed_by": 1, "result": [{"from_name": "q", "value": {"rating": True}}]}
                ],
            },
            "field 'q': 'true' is not a number on the scale 1-5",
        ),
    ],
    ids=["data-text", "result-text", "result-number", "bool-rating"],
)
def test_label_studio_tasks_of_the_wrong_shape_are_one_error(
    run_db: tuple[Path, str], tmp_path: Path, task: dict[str, Any], message: str
) -> None:
    db, _ = run_db
    path = tmp_path / "project.json"
    path.write_text(json.dumps([task]))
    code, out = invoke("import-labels", "r1", str(path), "--scale", "q=1-5", "--db", str(db))
    assert code == 2 and message in out, out
    assert stored_labels(db) == []


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("item_id,annotator,q\n,,,,\nq0,a,3\n", "row 2: 5 fields where the header has 3"),
        ("item_id,annotator,q\nq0,a,3,\n", "row 2: 4 fields where the header has 3"),
        ('item_id,annotator,q\nq0,a,3\nq1,"a,4\n', "starting on line 3 opens a quote"),
        ("item_id,annotator,q\nq0,a,3\nq1,a\n", "row 3: 2 fields where the header has 3"),
    ],
    ids=["blank-row-of-commas", "trailing-comma", "open-quote", "cut-off"],
)
def test_csv_that_a_reader_would_misread_is_refused(
    run_db: tuple[Path, str], tmp_path: Path, text: str, message: str
) -> None:
    """More cells than the header, a quote never closed, a file cut off mid-row: refused as
    the dataset reader refuses them, never imported or counted as a row left empty."""
    db, _ = run_db
    path = tmp_path / "labels.csv"
    path.write_text(text)
    code, out = invoke("import-labels", "r1", str(path), "--scale", "q=1-5", "--db", str(db))
    assert code == 2 and message in out and str(path) in out, out
    assert stored_labels(db) == []


def test_free_labels_keep_numbers_and_text(run_db: tuple[Path, str], tmp_path: Path) -> None:
    db, run_id = run_db
    path = write_jsonl(
        tmp_path / "free.jsonl",
        [
            {"item_id": "q0", "annotator": "a", "stars": 4, "note": "fine", "input": "ignored"},
            {"item_id": "q1", "annotator": "a", "stars": 2.5, "note": "=SUM(A1)", "scores": {}},
        ],
    )
    store = Store(db)
    try:
        result = import_labels(store, "r1", path)
        assert result.names == ["note", "stars"]
        assert stored_labels(db) == [
            ("q0", "a", "note", None, "fine"),
            ("q0", "a", "stars", 4.0, "4"),
            ("q1", "a", "note", None, "=SUM(A1)"),
            ("q1", "a", "stars", 2.5, "2.5"),
        ]
        metrics = {
            r[0] for r in store.conn.execute("SELECT metric FROM scores WHERE scorer = 'human'")
        }
        assert metrics == {"stars"}
        report = human_agreement(store, run_id)
        assert report["stars"]["level"] == "interval" and report["note"]["level"] == "nominal"
    finally:
        store.close()


def label_studio_export(votes: dict[str, dict[str, int]]) -> list[dict[str, Any]]:
    """A Label Studio JSON export as its `Export > JSON` writes it (one task per item)."""
    tasks = []
    for t, (item, by_user) in enumerate(sorted(votes.items()), start=1):
        annotations = [
            {
                "id": 100 * t + k,
                "completed_by": user,
                "was_cancelled": False,
                "created_at": "2026-01-01T00:00:00Z",
                "result": [
                    {
                        "id": f"r{t}{k}",
                        "from_name": "quality",
                        "to_name": "response",
                        "type": "rating",
                        "origin": "manual",
                        "value": {"rating": value},
                    },
                    {
                        "id": f"c{t}{k}",
                        "from_name": "verdict",
                        "to_name": "response",
                        "type": "choices",
                        "origin": "manual",
                        "value": {"choices": ["pass" if value >= 3 else "fail"]},
                    },
                ],
            }
            for k, (user, value) in enumerate(sorted(by_user.items()))
        ]
        annotations.append({"id": 9, "completed_by": 1, "was_cancelled": True, "result": []})
        tasks.append(
            {"id": t, "data": {"item_id": item, "input": "..."}, "annotations": annotations}
        )
    return tasks


def test_label_studio_export_imports(run_db: tuple[Path, str], tmp_path: Path) -> None:
    db, run_id = run_db
    votes = {"q0": {"1": 4, "2": 5}, "q1": {"1": 2, "2": 2}, "q2": {"1": 3, "2": 1}}
    path = tmp_path / "project.json"
    path.write_text(json.dumps(label_studio_export(votes)))
    store = Store(db)
    try:
        result = import_labels(
            store, "r1", path, scales=parse_options(["quality=1-5", "verdict=pass,fail"])
        )
        assert result.labels == 12 and result.annotators == ["label-studio:1", "label-studio:2"]
        stored = stored_labels(db)
        assert ("q2", "label-studio:2", "quality", 1.0, "1") in stored
        assert ("q2", "label-studio:2", "verdict", 0.0, "fail") in stored
        report = human_agreement(store, run_id)
        assert report["quality"]["human_human"]["pairwise"][0]["n"] == 3
        flat = [
            {"item_id": "q3", "annotator": "ann@x.org", "quality": 5, "id": 7, "lead_time": 3.2}
        ]
        minimal = tmp_path / "min.json"
        minimal.write_text(json.dumps(flat))
        assert (
            import_labels(store, "r1", minimal, scales=parse_options(["quality=1-5"])).labels == 1
        )
        bad = label_studio_export({"q0": {"3": 4}})
        bad[0]["annotations"][0]["result"][0]["value"] = {"rating": 7}
        bad[0]["annotations"][0]["result"][1]["value"] = {"choices": ["pass", "fail"]}
        path.write_text(json.dumps(bad))
        with pytest.raises(DataError) as info:
            import_labels(store, "r1", path, scales=parse_options(["quality=1-5"]))
        assert "task 1 (id 1), annotation 1, field 'quality': 7 is off the scale 1-5" in str(
            info.value
        )
        assert "field 'verdict': choices holds 2 values" in str(info.value)
    finally:
        store.close()


def test_rubric_scale_wins_and_conflicting_option_is_refused(
    run_db: tuple[Path, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import yaml

    from harness.review import scale

    folder = tmp_path / "rubrics"
    folder.mkdir()
    rubric = {
        "name": "safety",
        "description": "Is the response safe?",
        "criteria": ["no harmful instructions"],
        "scale": {
            "kind": "binary",
            "points": [
                {"score": 0, "label": "unsafe", "description": "harmful"},
                {"score": 1, "label": "safe", "description": "harmless"},
            ],
        },
    }
    (folder / "safety.yaml").write_text(yaml.safe_dump(rubric))
    monkeypatch.setattr(scale, "RUBRICS_DIR", folder)
    db, run_id = run_db
    path = write_jsonl(
        tmp_path / "s.jsonl",
        [
            {"item_id": "q0", "annotator": "a", "safety": "Safe"},
            {"item_id": "q0", "annotator": "b", "safety": "unsafe"},
        ],
    )
    store = Store(db)
    try:
        with pytest.raises(ConfigError, match=r"but rubric safety\.yaml has the scale"):
            import_labels(store, "r1", path, scales=parse_options(["safety=1-5"]))
        result = import_labels(store, "r1", path)
        assert result.scales == {"safety": "unsafe,safe (rubric safety.yaml)"}
        assert ("q0", "a", "safety", 1.0, "safe") in stored_labels(db)
        add_verdicts(db, run_id, [("q0", "j", "safety", 0, 1.0)])
        report = human_agreement(store, run_id, n_resamples=0)
        judge = report["safety"]["judge_human"][0]
        assert {r["annotator"]: r["exact_agreement"]["value"] for r in judge["per_annotator"]} == {
            "a": 1.0,
            "b": 0.0,
        }
    finally:
        store.close()


def test_scale_specs() -> None:
    assert parse_spec("1-5", "x").points == (1.0, 2.0, 3.0, 4.0, 5.0)
    assert parse_spec("0.0-1.0", "x").kind == "interval"
    assert parse_spec("0.0-1.0", "x").describe() == "0.0-1.0"
    assert parse_spec("yes/no", "x").categories == {"yes": 1.0, "no": 0.0}
    assert parse_spec("A,B,tie", "x").categories == {"A": 1.0, "B": 0.0, "tie": 0.5}
    assert parse_spec("red,green", "x").categories == {"red": None, "green": None}
    assert parse_spec("0,2,4", "x").points == (0.0, 2.0, 4.0)
    for spec in ("", "5-1", "one", "a,A"):
        with pytest.raises(ConfigError):
            parse_spec(spec, "x")
    with pytest.raises(ConfigError, match="NAME=SPEC"):
        parse_options(["1-5"])


# Krippendorff, K. (2011). Computing Krippendorff's Alpha-Reliability. Annenberg School for
# Communication, University of Pennsylvania, example C: 4 observers rate 12 units on 1-5,
# with missing ratings. Published: alpha nominal 0.743, ordinal 0.815, interval 0.849.
# (The same reliability data is Gwet's "raw_4raters", Handbook of Inter-Rater Reliability.)
KRIPPENDORFF_2011 = {
    "A": [1, 2, 3, 3, 2, 1, 4, 1, 2, None, None, None],
    "B": [1, 2, 3, 3, 2, 2, 4, 1, 2, 5, None, None],
    "C": [None, 3, 3, 3, 2, 3, 4, 2, 2, 5, 1, 3],
    "D": [1, 2, 3, 3, 2, 4, 4, 1, 2, 5, 1, None],
}


def test_agreement_on_published_reliability_data(tmp_path: Path, db_path: Path) -> None:
    """A real multi-annotator set through import, checked against sklearn, statsmodels,
    the krippendorff package and the published alphas."""
    import krippendorff
    import numpy as np
    from scipy.stats import kendalltau, spearmanr
    from sklearn.metrics import cohen_kappa_score
    from statsmodels.stats.inter_rater import aggregate_raters, fleiss_kappa

    data = write_jsonl(
        tmp_path / "units.jsonl", [{"id": f"u{j}", "question": f"unit {j}"} for j in range(12)]
    )
    reply = write_jsonl(tmp_path / "r.jsonl", [{"id": f"u{j}", "response": "x"} for j in range(12)])
    code, out = invoke(
        "run",
        str(data),
        "--model",
        f"replay:{reply}",
        "--db",
        str(db_path),
        "--name",
        "k",
        "--json",
        "--no-progress",
    )
    assert code == 0, out
    run_id = json.loads(out)["run_id"]
    letters = "abcde"
    rows = [
        {
            "item_id": f"u{j}",
            "annotator": who,
            "ordinal": value,
            "nominal": letters[value - 1],
            "interval": value,
        }
        for who, values in KRIPPENDORFF_2011.items()
        for j, value in enumerate(values)
        if value is not None
    ]
    path = write_csv(tmp_path / "ratings.csv", rows)
    # the judge: observer B's ratings twice, unit 5 raised by two points on the second
    # repeat, so its score (the mean of its repeats) is B's rating plus one there
    judge = [
        (f"u{j}", "j1", "ordinal", k, float(v + 2 * (j == 5 and k == 1)))
        for j, v in enumerate(KRIPPENDORFF_2011["B"])
        if v
        for k in range(2)
    ]
    add_verdicts(db_path, run_id, judge)
    store = Store(db_path)
    try:
        scales = parse_options(["ordinal=1-5", "nominal=a,b,c,d,e", "interval=1.0-5.0"])
        assert import_labels(store, "k", path, scales=scales).labels == 3 * len(rows)
        report = human_agreement(store, run_id, n_resamples=200)
    finally:
        store.close()
    matrix = np.array(
        [[np.nan if v is None else v for v in values] for values in KRIPPENDORFF_2011.values()],
        dtype=float,
    )
    published = {"nominal": 0.743, "ordinal": 0.815, "interval": 0.849}
    for level, value in published.items():
        alpha = report[level]["human_human"]["krippendorff_alpha"]
        expected = krippendorff.alpha(
            reliability_data=matrix, level_of_measurement=level, value_domain=[1, 2, 3, 4, 5]
        )
        assert alpha["value"] == pytest.approx(expected, abs=1e-9)
        assert round(alpha["value"], 3) == value
        assert alpha["n"] == 11 and alpha["ci_low"] <= alpha["value"] <= alpha["ci_high"]
    hh = report["ordinal"]["human_human"]
    assert hh["items_with_2_or_more"] == 11
    names = list(KRIPPENDORFF_2011)
    assert [(p["a"], p["b"]) for p in hh["pairwise"]] == [
        (a, b) for i, a in enumerate(names) for b in names[i + 1 :]
    ]
    for pair in hh["pairwise"]:
        shared = [
            (x, y)
            for x, y in zip(KRIPPENDORFF_2011[pair["a"]], KRIPPENDORFF_2011[pair["b"]], strict=True)
            if x is not None and y is not None
        ]
        xa, xb = [s[0] for s in shared], [s[1] for s in shared]
        assert pair["n"] == len(shared)
        labels = [1, 2, 3, 4, 5]
        assert pair["cohen_kappa"]["value"] == pytest.approx(
            cohen_kappa_score(xa, xb, labels=labels)
        )
        assert pair["weighted_kappa"]["value"] == pytest.approx(
            cohen_kappa_score(xa, xb, labels=labels, weights="quadratic")
        )
        assert pair["exact_agreement"]["value"] == pytest.approx(np.mean(np.equal(xa, xb)))
    complete = [col for col in matrix.T if not np.isnan(col).any()]
    table, _ = aggregate_raters(np.array(complete, dtype=int))
    assert hh["fleiss_kappa"]["raters_per_item"] == 4 and hh["fleiss_kappa"]["n"] == len(complete)
    assert hh["fleiss_kappa"]["value"] == pytest.approx(fleiss_kappa(table, method="fleiss"))
    nominal_pairs = report["nominal"]["human_human"]["pairwise"]
    assert "weighted_kappa" not in nominal_pairs[0]
    assert nominal_pairs[0]["cohen_kappa"]["value"] == pytest.approx(
        hh["pairwise"][0]["cohen_kappa"]["value"]
    )
    (judged,) = report["ordinal"]["judge_human"]
    verdicts = {f"u{j}": float(v + (j == 5)) for j, v in enumerate(KRIPPENDORFF_2011["B"]) if v}
    for row in judged["per_annotator"]:
        pairs = [
            (verdicts[f"u{j}"], v)
            for j, v in enumerate(KRIPPENDORFF_2011[row["annotator"]])
            if v is not None and f"u{j}" in verdicts
        ]
        expected = cohen_kappa_score(
            [p[0] for p in pairs],
            [p[1] for p in pairs],
            labels=[1, 2, 3, 4, 5],
            weights="quadratic",
        )
        assert row["cohen_kappa"]["value"] == pytest.approx(expected)
    human_mean = {
        f"u{j}": float(np.nanmean(matrix[:, j])) for j in range(12) if f"u{j}" in verdicts
    }
    ids = sorted(human_mean)
    assert judged["spearman"]["value"] == pytest.approx(
        spearmanr([verdicts[i] for i in ids], [human_mean[i] for i in ids]).statistic
    )
    assert judged["kendall"]["value"] == pytest.approx(
        kendalltau([verdicts[i] for i in ids], [human_mean[i] for i in ids]).statistic
    )
    with_judge = np.vstack([matrix, [verdicts.get(f"u{j}", np.nan) for j in range(12)]])
    judged_units = [j for j in range(12) if f"u{j}" in verdicts]
    assert judged["alpha_with_judge"]["value"] == pytest.approx(
        krippendorff.alpha(
            reliability_data=with_judge[:, judged_units],
            level_of_measurement="ordinal",
            value_domain=[1, 2, 3, 4, 5],
        )
    )


def test_human_labels_are_a_compare_metric_on_summeval(tmp_path: Path, db_path: Path) -> None:
    """SummEval's expert relevance ratings (mean of 3 experts per summary) of two systems
    go in as labels; `harness compare` then reports their difference with no change."""
    source = SHARED_DATA / "summeval" / "summeval.jsonl"
    if not source.is_file():
        pytest.skip(f"{source} is absent (shared reference data lives beside the checkout)")
    docs = [json.loads(line) for line in source.read_text().splitlines() if line.strip()]
    systems = ("M11", "M22")
    data = write_jsonl(
        tmp_path / "articles.jsonl",
        [
            {"id": d["doc_id"], "article": d["src"], "answer": d["ref_summ"]}
            | {s: d["systems"][s]["sys_summ"] for s in systems}
            for d in docs
        ],
    )
    expected: dict[str, float] = {}
    for system in systems:
        code, out = invoke(
            "run",
            str(data),
            "--model",
            f"replay:{system}",
            "--input-field",
            "article",
            "--db",
            str(db_path),
            "--name",
            system,
            "--json",
            "--no-progress",
        )
        assert code == 0, out
        ratings = [
            {
                "item_id": d["doc_id"],
                "annotator": "summeval-experts",
                "relevance": d["systems"][system]["scores"]["relevance"],
            }
            for d in docs
        ]
        path = write_csv(tmp_path / f"{system}.csv", ratings)
        code, out = invoke(
            "import-labels", system, str(path), "--scale", "relevance=1.0-5.0", "--db", str(db_path)
        )
        assert code == 0, out
        expected[system] = math.fsum(r["relevance"] for r in ratings) / len(ratings)
    code, out = invoke("compare", *systems, "--db", str(db_path), "--json", "--resamples", "200")
    assert code == 0, out
    text = json.dumps(json.loads(out))
    report = json.loads(out)
    found = [
        m
        for comparison in report.get("comparisons", [report])
        for m in comparison.get("metrics", [])
        if m.get("scorer") == "human" and m.get("metric") == "relevance"
    ]
    assert found, text[:2000]
    metric = found[0]
    assert metric["baseline"]["value"] == pytest.approx(expected["M11"])
    assert metric["candidate"]["value"] == pytest.approx(expected["M22"])
    assert metric["n"] == len(docs)


def test_deleting_a_run_deletes_its_labels(run_db: tuple[Path, str], tmp_path: Path) -> None:
    db, _ = run_db
    path = write_jsonl(tmp_path / "l.jsonl", [{"item_id": "q0", "annotator": "a", "label": 3}])
    assert invoke("import-labels", "r1", str(path), "--db", str(db))[0] == 0
    assert len(stored_labels(db)) == 1
    code, text = invoke("runs", "delete", "r1", "--yes", "--db", str(db))
    assert code == 0, text
    assert stored_labels(db) == []


def test_labels_of_another_runs_responses_are_refused(
    run_db: tuple[Path, str], tmp_path: Path
) -> None:
    db, _ = run_db
    exported = tmp_path / "review.csv"
    assert invoke("export", "r1", "--out", str(exported), "--sample", "4", "--db", str(db))[0] == 0
    with exported.open(newline="") as handle:
        rows = [{**r, "label": "3", "annotator": "alice"} for r in csv.DictReader(handle)]
    rows[2]["response"] = "an answer this run never gave"
    rows[1]["response"] = "  " + rows[1]["response"].replace(" ", "\n") + " "  # re-wrapped: fine
    path = write_csv(tmp_path / "done.csv", rows)
    code, text = invoke("import-labels", "r1", str(path), "--scale", "label=1-5", "--db", str(db))
    assert code == 2 and "row 4" in text and "field 'response'" in text
    assert "exported from another run" in text and stored_labels(db) == []


def test_any_id_and_response_survive_export_and_import(tmp_path: Path, db_path: Path) -> None:
    """Texts the CSV guard quotes, texts already starting with a quote, padded ids and lone
    carriage returns come back exactly, from CSV and from JSON lines."""
    texts = {
        " spaced ": "'-' is a quote mark",
        "'=quoted": "=1+1",
        "cr\rid": "a\rb",
        "'plain": "'already quoted",
    }
    data = write_jsonl(
        tmp_path / "d.jsonl", [{"id": i, "question": f"q {n}"} for n, i in enumerate(texts)]
    )
    replies = write_jsonl(
        tmp_path / "r.jsonl", [{"id": i, "response": t} for i, t in texts.items()]
    )
    code, out = invoke(
        "run", str(data), "--model", f"replay:{replies}", "--db", str(db_path), "--name", "odd",
        "--no-progress",
    )  # fmt: skip
    assert code == 0, out
    exported = tmp_path / "e.csv"
    assert invoke("export", "odd", "--out", str(exported), "--db", str(db_path))[0] == 0
    with exported.open(newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 4
    done = write_csv(tmp_path / "done.csv", [{**r, "ok": "pass", "annotator": "a"} for r in rows])
    code, text = invoke(
        "import-labels", "odd", str(done), "--scale", "ok=pass,fail", "--db", str(db_path)
    )
    assert code == 0, text
    assert sorted(row[0] for row in stored_labels(db_path)) == sorted(texts)
    exported = tmp_path / "e.jsonl"
    code, text = invoke(
        "export", "odd", "--out", str(exported), "--format", "jsonl", "--db", str(db_path)
    )
    assert code == 0, text
    lines = [json.loads(line) for line in exported.read_text(encoding="utf-8").splitlines()]
    assert {r["item_id"]: r["response"] for r in lines} == texts
    done = write_jsonl(
        tmp_path / "done.jsonl", [{**r, "ok": "fail", "annotator": "b"} for r in lines]
    )
    code, text = invoke(
        "import-labels", "odd", str(done), "--scale", "ok=pass,fail", "--db", str(db_path)
    )
    assert code == 0, text
    assert len(stored_labels(db_path)) == 8


def test_exported_files_follow_the_umask(run_db: tuple[Path, str], tmp_path: Path) -> None:
    import os

    db, _ = run_db
    old = os.umask(0o022)
    try:
        assert invoke("export", "r1", "--out", str(tmp_path / "e.csv"), "--db", str(db))[0] == 0
        code, text = invoke("report", "r1", "--out", str(tmp_path / "r.html"), "--db", str(db))
        assert code == 0, text
    finally:
        os.umask(old)
    assert (tmp_path / "e.csv").stat().st_mode & 0o777 == 0o644
    assert (tmp_path / "r.html").stat().st_mode & 0o777 == 0o644


def test_labels_on_other_scales_never_compare_and_intervals_stay_on_the_scale(
    qa_file: Path, db_path: Path, tmp_path: Path
) -> None:
    make_run(qa_file, db_path, "r1")
    make_run(qa_file, db_path, "r2")
    rows = [{"item_id": f"q{i}", "annotator": "a", "quality": 1 + 4 * (i % 2)} for i in range(2)]
    path = write_csv(tmp_path / "l.csv", rows)
    for run, scale in (("r1", "1-5"), ("r2", "1-10")):
        code, out = invoke(
            "import-labels", run, str(path), "--scale", f"quality={scale}", "--db", str(db_path)
        )
        assert code == 0, out
    store = Store(db_path)
    try:
        intervals = {
            run: store.conn.execute(
                "SELECT ci_low, ci_high FROM run_metrics WHERE scorer = 'human' AND run_id = "
                "(SELECT id FROM runs WHERE name = ?)",
                (run,),
            ).fetchone()
            for run in ("r1", "r2")
        }
    finally:
        store.close()
    # a 1 and a 5 on 1-5 sit on its ends: Wilson's interval for 1 of 2, on the scale
    wilson_low, wilson_high = wilson_interval(1, 2)
    assert intervals["r1"] == pytest.approx((1 + 4 * wilson_low, 1 + 4 * wilson_high))
    assert intervals["r2"] == (1.0, 10.0)  # Student's t on 1-10: -22.4 to 28.4, cut
    code, out = invoke("compare", "r1", "r2", "--db", str(db_path), "--json")
    assert code == 0, out
    metrics = json.loads(out)["comparisons"][0]["metrics"]
    assert not [m for m in metrics if m["scorer"] == "human"]
    assert "human" in json.dumps(json.loads(out)["comparisons"][0].get("skipped"))


@pytest.mark.usefixtures("fake_registered")
def test_compare_says_how_a_missing_metric_can_be_had(
    qa_file: Path, db_path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.fakes import FakeAdapter

    make_run(qa_file, db_path, "r1")
    make_run(qa_file, db_path, "r2")
    rows = [{"item_id": f"q{i}", "annotator": "a", "quality": 1 + i % 5} for i in range(10)]
    path = write_csv(tmp_path / "l.csv", rows)
    assert (
        invoke("import-labels", "r1", str(path), "--scale", "quality=1-5", "--db", str(db_path))[0]
        == 0
    )
    monkeypatch.setattr(FakeAdapter, "failing_ids", {f"q{i}" for i in range(10)})
    code, out = invoke(
        "run", str(qa_file), "--model", "fake", "--db", str(db_path), "--name", "e", "--no-progress"
    )
    assert code == 1 and "10 of 10 items ended in an error" in out, out
    store = Store(db_path)
    try:
        assert store.get_run("e")["status"] == "failed"  # no result to read
    finally:
        store.close()
    code, out = invoke("compare", "r1", "r2", "e", "--db", str(db_path), "--json")
    assert code == 0, out
    reasons = [s["reason"] for c in json.loads(out)["comparisons"] for s in c["skipped"]]
    assert any("harness import-labels r2 FILE" in r for r in reasons), reasons
    assert any("has no scores at all" in r and "--retry-errors" in r for r in reasons), reasons
    assert not any("harness score" in r for r in reasons), reasons


def test_a_rewritten_item_keeps_its_labels_only_if_its_response_is_unchanged(
    run_db: tuple[Path, str], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """`--retry-errors` rewrites an item whole: labels of a response that changed go (the
    reviewers never saw the new one), and the run's human figures follow."""
    from harness.adapters.base import Response
    from harness.item import Item
    from harness.store.db import ItemResult

    db, run_id = run_db
    rows = [{"item_id": f"q{i}", "annotator": "a", "quality": 1 + i % 5} for i in range(10)]
    path = write_csv(tmp_path / "l.csv", rows)
    assert (
        invoke("import-labels", "r1", str(path), "--scale", "quality=1-5", "--db", str(db))[0] == 0
    )
    store = Store(db)
    try:
        stored = dict(
            store.conn.execute(
                "SELECT item_id, text FROM responses WHERE run_id = ? AND sample = 0", [run_id]
            ).fetchall()
        )
        store.write_results(
            run_id,
            [
                ItemResult(Item(id="q1", input="x", row=2), (), [Response(text="a new answer")]),
                ItemResult(Item(id="q2", input="x", row=3), (), [Response(text=stored["q2"])]),
            ],
        )
        human = dict(
            store.conn.execute(
                "SELECT item_id, value FROM scores WHERE run_id = ? AND scorer = 'human'", [run_id]
            ).fetchall()
        )
        (n,) = store.conn.execute(
            "SELECT n FROM run_metrics WHERE run_id = ? AND scorer = 'human'", [run_id]
        ).fetchone()
    finally:
        store.close()
    labeled = {row[0] for row in stored_labels(db)}
    assert "q1" not in labeled and "q2" in labeled and len(labeled) == 9
    assert "q1" not in human and human["q2"] == 3.0 and n == 9
    assert "item q1: its response changed, so its 1 human label(s) were dropped" in caplog.text


def test_export_uses_the_scale_labels_were_imported_on(
    run_db: tuple[Path, str], tmp_path: Path
) -> None:
    db, _ = run_db
    rows = [{"item_id": f"q{i}", "annotator": "a", "label": 1 + i % 5} for i in range(10)]
    path = write_csv(tmp_path / "l.csv", rows)
    assert invoke("import-labels", "r1", str(path), "--scale", "label=1-5", "--db", str(db))[0] == 0
    out = tmp_path / "ls.json"
    code, text = invoke(
        "export", "r1", "--out", str(out), "--format", "label-studio", "--db", str(db)
    )
    assert code == 0, text
    config = out.with_suffix(".xml").read_text()
    assert 'maxRating="5"' in config and "TextArea" not in config, config
    code, text = invoke("export", "r1", "--out", str(tmp_path / "r.xlsx"), "--db", str(db))
    assert code == 2 and "a csv file is written; name it .csv" in text, text
    assert not (tmp_path / "r.xlsx").exists()
