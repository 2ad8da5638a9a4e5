"""Tests for harness.data: sources, field mapping, items and validation."""

from __future__ import annotations

import csv
import datetime as dt
import importlib
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from harness.data import DatasetInfo, FieldMapping, content_id, open_dataset
from harness.errors import ConfigError, DataError

REPO = Path(__file__).resolve().parent.parent
QA: list[dict[str, Any]] = [
    {"id": "q1", "question": "Capital of France?", "answer": "Paris", "category": "geo"},
    {"id": "q2", "question": "2 + 2?", "answer": ["4", "four"], "category": "math"},
    {"id": "q3", "question": "Colour of the sky?", "answer": "blue", "category": "general"},
]


@pytest.fixture(autouse=True)
def isolated_hf_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Point both Hugging Face caches at an empty temporary folder."""
    ds_config: Any = importlib.import_module("datasets.config")
    from huggingface_hub import constants

    cache = tmp_path / "hf-cache"
    monkeypatch.setattr(ds_config, "HF_DATASETS_CACHE", str(cache / "datasets"))
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(cache / "hub"))
    return cache


def write_jsonl(path: Path, rows: Sequence[Mapping[str, Any]]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def write_csv(path: Path, header: list[str], rows: list[list[Any]]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)
    return path


# -- detection and mapping -----------------------------------------------------------------


def test_auto_detects_fields_and_keeps_other_columns_as_metadata(tmp_path: Path) -> None:
    data = open_dataset(str(write_jsonl(tmp_path / "qa.jsonl", QA)))
    assert data.columns == ["id", "question", "answer", "category"]
    assert data.mapping == FieldMapping(input="question", references=("answer",), id="id")
    assert data.split == "train"
    items = list(data)
    assert [i.id for i in items] == ["q1", "q2", "q3"]
    assert items[0].input == "Capital of France?"
    assert items[0].references == ("Paris",)
    assert items[1].references == ("4", "four")
    assert items[0].context is None
    assert items[0].metadata == {"category": "geo"}
    assert [i.row for i in items] == [1, 2, 3]
    assert data.fields() == ["input", "id", "reference", "references", "category"]


def test_detection_ignores_case_spaces_and_dashes(tmp_path: Path) -> None:
    path = write_csv(
        tmp_path / "tqa.csv",
        ["Type", "Question", "Best Answer", "Passage"],
        [["Adversarial", "What happens if you crack your knuckles?", "Nothing bad", "p1"]],
    )
    data = open_dataset(str(path))
    assert data.mapping == FieldMapping(
        input="Question", references=("Best Answer",), context="Passage"
    )
    (item,) = list(data)
    assert item.references == ("Nothing bad",)
    assert item.context == "p1"
    assert item.metadata == {"Type": "Adversarial"}


def test_explicit_mapping_wins_over_detection(tmp_path: Path) -> None:
    rows = [{"key": "a", "question": "ignored", "prompt_text": "Hi", "gold": "Hello", "doc": "d"}]
    path = write_jsonl(tmp_path / "x.jsonl", rows)
    mapping = FieldMapping(input="prompt_text", references=("gold",), context="doc", id="key")
    data = open_dataset(str(path), mapping)
    assert data.mapping == mapping
    (item,) = list(data)
    assert (item.id, item.input, item.references, item.context) == ("a", "Hi", ("Hello",), "d")
    assert item.metadata == {"question": "ignored"}
    assert data.describe()["mapping"] == {
        "input": "prompt_text",
        "references": ["gold"],
        "context": "doc",
        "id": "key",
    }


def test_explicit_field_that_is_not_a_column(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "qa.jsonl", QA)
    with pytest.raises(DataError) as err:
        open_dataset(str(path), FieldMapping(references=("gold",)))
    message = str(err.value)
    assert str(path) in message
    assert "'gold'" in message
    assert "id, question, answer, category" in message
    assert err.value.field == "reference"


def test_no_input_column_says_how_to_name_it(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "odd.jsonl", [{"q": "Hi", "a": "Hello"}])
    with pytest.raises(DataError, match="--input-field") as err:
        open_dataset(str(path))
    assert "columns: q, a" in str(err.value)
    assert open_dataset(str(path), FieldMapping(input="q")).mapping.input == "q"


def test_references_from_two_columns_drop_empty_values(tmp_path: Path) -> None:
    rows: list[dict[str, Any]] = [
        {"prompt": "p1", "a1": "x", "a2": ["y", "", None]},
        {"prompt": "p2", "a1": None, "a2": "z"},
        {"prompt": "p3", "a1": " ", "a2": []},
    ]
    path = write_jsonl(tmp_path / "refs.jsonl", rows)
    data = open_dataset(str(path), FieldMapping(references=("a1", "a2")))
    assert [i.references for i in data] == [("x", "y"), ("z",), ()]


def test_squad_style_answers_use_their_text(tmp_path: Path) -> None:
    rows = [{"question": "q", "answers": {"text": ["a", "b"], "answer_start": [1, 5]}}]
    (item,) = list(open_dataset(str(write_jsonl(tmp_path / "s.jsonl", rows))))
    assert item.references == ("a", "b")


def test_metadata_values_stay_json_serialisable(tmp_path: Path) -> None:
    table = pa.table(
        {
            "prompt": ["a", "b"],
            "when": [dt.datetime(2024, 1, 2, 3, 4, 5), None],
            "score": [1.5, float("nan")],
            "tags": [["x", "y"], []],
        }
    )
    pq.write_table(table, tmp_path / "m.parquet")
    items = list(open_dataset(str(tmp_path / "m.parquet")))
    assert items[0].metadata == {"when": "2024-01-02T03:04:05", "score": 1.5, "tags": ["x", "y"]}
    assert items[1].metadata == {"when": None, "score": None, "tags": []}
    json.dumps([i.metadata for i in items], allow_nan=False)


def test_numbers_become_text(tmp_path: Path) -> None:
    rows: list[dict[str, Any]] = [
        {"id": 7, "input": 12, "target": 144.0},
        {"id": 8, "input": 3, "target": [9, "nine"]},
    ]
    items = list(open_dataset(str(write_jsonl(tmp_path / "n.jsonl", rows))))
    assert [(i.id, i.input, i.references) for i in items] == [
        ("7", "12", ("144.0",)),
        ("8", "3", ("9", "nine")),
    ]


def test_csv_cells_stay_as_written(tmp_path: Path) -> None:
    path = tmp_path / "z.csv"
    path.write_text("\ufeffid,question,answer,level\n007,What is NA?,None,3\n008,Empty?,,\n")
    items = list(open_dataset(str(path)))
    assert [(i.id, i.input, i.references, i.metadata) for i in items] == [
        ("007", "What is NA?", ("None",), {"level": "3"}),
        ("008", "Empty?", (), {"level": None}),
    ]


# -- ids ------------------------------------------------------------------------------------


def test_content_hash_ids_are_stable_and_distinct(tmp_path: Path) -> None:
    rows = [{"input": "a", "answer": "x"}, {"input": "b", "answer": "x"}]
    path = write_jsonl(tmp_path / "noid.jsonl", rows)
    first = [i.id for i in open_dataset(str(path))]
    again = [i.id for i in open_dataset(str(path))]
    assert first == again
    assert len(set(first)) == 2
    assert all(len(i) == 16 and int(i, 16) >= 0 for i in first)
    assert first[0] == content_id("a", ["x"], None, {})
    moved = write_jsonl(tmp_path / "other" / "copy.jsonl", rows[::-1])
    assert [i.id for i in open_dataset(str(moved))] == first[::-1]


def test_duplicate_ids_name_both_rows(tmp_path: Path) -> None:
    rows = [{"id": i, "input": f"q{n}"} for n, i in enumerate(["a", "b", "c", "b", "a"])]
    path = write_jsonl(tmp_path / "dup.jsonl", rows)
    with pytest.raises(DataError, match="duplicate id 'b' at rows 2 and 4") as err:
        open_dataset(str(path)).validate()
    assert err.value.row == 4
    assert err.value.path == str(path)


def test_duplicate_content_without_ids(tmp_path: Path) -> None:
    rows = [{"input": "same"}, {"input": "other"}, {"input": "same"}]
    path = write_jsonl(tmp_path / "dup.jsonl", rows)
    with pytest.raises(DataError, match=r"at rows 1 and 3 .*same content"):
        open_dataset(str(path)).validate()


def test_missing_id_value_is_an_error(tmp_path: Path) -> None:
    path = write_jsonl(
        tmp_path / "ids.jsonl", [{"id": "a", "input": "x"}, {"id": "", "input": "y"}]
    )
    with pytest.raises(DataError, match="id is missing") as err:
        open_dataset(str(path)).validate()
    assert (err.value.row, err.value.field) == (2, "id")


# -- validation -----------------------------------------------------------------------------


def test_validate_counts_rows_and_fingerprints_content(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "qa.jsonl", QA)
    info = open_dataset(str(path)).validate(needs=["reference"])
    assert isinstance(info, DatasetInfo)
    assert info.n_rows == 3
    assert len(info.fingerprint) == 64
    assert open_dataset(str(path)).validate().fingerprint == info.fingerprint
    changed = write_jsonl(tmp_path / "changed.jsonl", [*QA[:2], {**QA[2], "answer": "grey"}])
    assert open_dataset(str(changed)).validate().fingerprint != info.fingerprint
    reordered = write_jsonl(tmp_path / "reordered.jsonl", QA[::-1])
    assert open_dataset(str(reordered)).validate().fingerprint != info.fingerprint


def test_missing_input_names_file_row_and_field(tmp_path: Path) -> None:
    rows: list[dict[str, Any]] = [
        {"question": "a"},
        {"question": "b"},
        {"question": "  "},
        {"question": None},
    ]
    path = write_jsonl(tmp_path / "gaps.jsonl", rows)
    data = open_dataset(str(path))
    with pytest.raises(DataError) as err:
        data.validate()
    assert (err.value.path, err.value.row, err.value.field) == (str(path), 3, "question")
    assert str(err.value).startswith(f"{path}, row 3, field 'question': ")
    with pytest.raises(DataError, match="row 3"):
        list(data)


def test_input_that_is_not_text(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "list.jsonl", [{"input": ["a", "b"]}])
    with pytest.raises(DataError, match="expected text, got a list"):
        open_dataset(str(path)).validate()


def test_empty_datasets(tmp_path: Path) -> None:
    (tmp_path / "empty.jsonl").write_text("")
    (tmp_path / "blank.jsonl").write_text("\n\n")
    write_csv(tmp_path / "header.csv", ["id", "question"], [])
    for name in ("empty.jsonl", "blank.jsonl", "header.csv"):
        with pytest.raises(DataError, match="no rows"):
            open_dataset(str(tmp_path / name)).validate()


def test_malformed_jsonl_line_is_named(tmp_path: Path) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text('{"input": "a"}\n\n{"input": "b"}\n{"input": "c", oops}\n{"input": "d"}\n')
    with pytest.raises(DataError, match="line 4: invalid JSON") as err:
        open_dataset(str(path)).validate()
    assert err.value.path == str(path)


def test_jsonl_line_that_is_not_an_object(tmp_path: Path) -> None:
    path = tmp_path / "arr.jsonl"
    path.write_text('{"input": "a"}\n[1, 2]\n')
    with pytest.raises(DataError, match="line 2: expected a JSON object"):
        open_dataset(str(path)).validate()


def test_a_one_line_array_is_not_a_jsonl_dataset(tmp_path: Path) -> None:
    path = tmp_path / "arr.jsonl"
    path.write_text('["a", "b"]\n')
    with pytest.raises(DataError, match="line 1: expected a JSON object, got list"):
        open_dataset(str(path)).validate()


@pytest.mark.parametrize(
    ("name", "text", "message"),
    [
        (
            "s.jsonl",
            '{"question": "q\\ud800"}\n',
            "line 1: field 'question': text with an unpaired",
        ),
        ("k.jsonl", '{"question": "q", "m": {"\\udc00": 1}}\n', "field 'm': text with an unpaired"),
        ("s.json", '[{"question": "q"}, {"question": "q\\udfff x"}]', "row 2, field 'question'"),
        ("d.jsonl", '{"question": "q", "m": ' + "[" * 100_000 + "]" * 100_000 + "}\n", "nested"),
        ("d.json", '[{"question": "q", "m": ' + "[" * 100_000 + "]" * 100_000 + "}]", "nested"),
        ("n.jsonl", '{"question": "q", "m": ' + "9" * 5000 + "}\n", "a number of over"),
    ],
    ids=["surrogate", "surrogate-key", "surrogate-json", "deep-jsonl", "deep-json", "long-number"],
)
def test_json_that_cannot_be_stored_is_one_error(
    tmp_path: Path, name: str, text: str, message: str
) -> None:
    """A lone surrogate escape (no Unicode text), nesting that would exhaust the stack, or a
    number of thousands of digits: one DataError naming the file, not a traceback."""
    path = tmp_path / name
    path.write_text(text)
    with pytest.raises(DataError, match=message) as err:
        data = open_dataset(str(path))
        data.validate()
        list(data)
    assert err.value.path == str(path)


@pytest.mark.parametrize("name", ["emoji.jsonl", "emoji.json"])
def test_paired_surrogate_escapes_are_text(tmp_path: Path, name: str) -> None:
    path = tmp_path / name
    path.write_text('{"question": "smile \\ud83d\\ude00"}\n')
    assert [item.input for item in open_dataset(str(path))] == ["smile \U0001f600"]


@pytest.mark.parametrize(
    ("value", "kind"), [({"x": 1}, "an object"), ([1], "a list"), (True, "true/false")]
)
def test_an_id_must_be_text_or_a_number(tmp_path: Path, value: Any, kind: str) -> None:
    path = write_jsonl(
        tmp_path / "ids.jsonl", [{"id": "a", "question": "q"}, {"id": value, "question": "q"}]
    )
    with pytest.raises(DataError, match=f"expected text or a whole number, got {kind}") as err:
        open_dataset(str(path)).validate()
    assert (err.value.row, err.value.field) == (2, "id")


def test_a_json_array_row_that_is_no_object_is_named(tmp_path: Path) -> None:
    path = tmp_path / "rows.json"
    path.write_text('[{"question": "q"}, 5]')
    with pytest.raises(DataError, match="expected a JSON object, got a number") as err:
        open_dataset(str(path)).validate()
    assert (err.value.path, err.value.row) == (str(path), 2)


@pytest.mark.parametrize(
    ("text", "message", "row"),
    [
        ("id,question,answer\na,q1,x\nb,q2,y,\n", "4 fields where the header has 3", 2),
        ("id,question,answer\na,q1\n", "2 fields where the header has 3", 1),
        ("id,question,answer,answer\na,q1,x,z\n", "names 'answer' twice", None),
        ("id,question,answer,\na,q1,x,\n", "column 4 of the header has no name", None),
    ],
)
def test_csv_that_a_reader_would_shift_or_drop_is_refused(
    tmp_path: Path, text: str, message: str, row: int | None
) -> None:
    path = tmp_path / "bad.csv"
    path.write_text(text)
    with pytest.raises(DataError, match=message) as err:
        open_dataset(str(path)).validate()
    assert err.value.path == str(path) and err.value.row == row


def test_malformed_csv_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "bad.csv"
    path.write_text('id,question\n1,"a\n2,b\n')
    with pytest.raises(DataError, match="cannot read") as err:
        open_dataset(str(path)).validate()
    assert err.value.path == str(path)


def test_a_quote_never_closed_names_its_line(tmp_path: Path) -> None:
    """The open quote swallows the rest of the file into the last cell, so the row has as
    many fields as the header: only the quote tells."""
    path = tmp_path / "open.csv"
    path.write_text('id,question\n1,a\n2,"b\n3,c\n')
    with pytest.raises(DataError, match="the record starting on line 3 opens a quote") as err:
        open_dataset(str(path)).validate()
    assert (err.value.path, err.value.row) == (str(path), 2)


def test_needs_reference_without_a_reference_column(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "prompts.jsonl", [{"prompt": "Tell me a joke"}])
    data = open_dataset(str(path))
    assert data.validate().n_rows == 1
    with pytest.raises(DataError, match=r"needs a reference.*--reference-field"):
        data.validate(needs=["reference"])


def test_needs_reference_finds_the_row_without_one(tmp_path: Path) -> None:
    rows: list[dict[str, Any]] = [
        {"input": "a", "answer": "x"},
        {"input": "b", "answer": ["", None]},
    ]
    path = write_jsonl(tmp_path / "r.jsonl", rows)
    data = open_dataset(str(path))
    assert data.validate().n_rows == 2
    with pytest.raises(DataError, match="no reference") as err:
        data.validate(needs={"reference"})
    assert (err.value.row, err.value.field) == (2, "answer")


def test_needs_context(tmp_path: Path) -> None:
    no_column = write_jsonl(tmp_path / "a.jsonl", [{"input": "q"}])
    with pytest.raises(DataError, match=r"needs a context.*--context-field"):
        open_dataset(str(no_column)).validate(needs=["context"])
    rows = [{"input": "q", "passage": "p"}, {"input": "r", "passage": ""}]
    empty_cell = write_jsonl(tmp_path / "b.jsonl", rows)
    with pytest.raises(DataError, match="context is empty") as err:
        open_dataset(str(empty_cell)).validate(needs=["context"])
    assert (err.value.row, err.value.field) == (2, "passage")


def test_limit_caps_iteration_and_validation(tmp_path: Path) -> None:
    rows = [{"input": f"q{i}"} for i in range(2500)]
    path = write_jsonl(tmp_path / "many.jsonl", rows)
    data = open_dataset(str(path), limit=1001)
    items = list(data)
    assert len(items) == 1001
    assert items[-1].row == 1001
    assert data.validate().n_rows == 1001
    assert data.describe()["limit"] == 1001
    assert open_dataset(str(path)).validate().n_rows == 2500
    with pytest.raises(ConfigError):
        open_dataset(str(path), limit=0)


# -- sources --------------------------------------------------------------------------------


def test_csv_and_parquet_give_the_same_items(tmp_path: Path) -> None:
    header = ["id", "question", "answer", "category"]
    values = [[r["id"], r["question"], r["answer"], r["category"]] for r in QA if r["id"] != "q2"]
    csv_path = write_csv(tmp_path / "qa.csv", header, values)
    table = pa.table({h: [v[i] for v in values] for i, h in enumerate(header)})
    pq.write_table(table, tmp_path / "qa.parquet")
    from_csv = list(open_dataset(str(csv_path)))
    from_parquet = list(open_dataset(str(tmp_path / "qa.parquet")))
    assert from_csv == from_parquet
    assert [i.id for i in from_csv] == ["q1", "q3"]


def test_folder_reads_all_files_with_continuous_rows(tmp_path: Path) -> None:
    write_jsonl(tmp_path / "data" / "part-a.jsonl", QA[:2])
    write_jsonl(tmp_path / "data" / "part-b.jsonl", QA[2:])
    (tmp_path / "data" / "notes.txt").write_text("not data")
    data = open_dataset(str(tmp_path / "data"))
    assert data.describe()["kind"] == "folder"
    items = list(data)
    assert sorted(i.id for i in items) == ["q1", "q2", "q3"]
    assert [i.row for i in items] == [1, 2, 3]


def test_folder_with_split_files(tmp_path: Path) -> None:
    write_jsonl(tmp_path / "d" / "train.jsonl", QA[:1])
    write_jsonl(tmp_path / "d" / "test.jsonl", QA[1:])
    assert [i.id for i in open_dataset(str(tmp_path / "d"))] == ["q1"]
    assert [i.id for i in open_dataset(str(tmp_path / "d"), split="test")] == ["q2", "q3"]
    with pytest.raises(DataError, match="validation"):
        open_dataset(str(tmp_path / "d"), split="validation")
    write_jsonl(tmp_path / "d" / "notes.jsonl", [{"question": "in no split"}])
    with pytest.raises(DataError, match=r"notes\.jsonl belong"):  # never dropped silently
        open_dataset(str(tmp_path / "d"))


def test_folder_with_mixed_or_no_data_files(tmp_path: Path) -> None:
    write_jsonl(tmp_path / "mixed" / "a.jsonl", QA)
    write_csv(tmp_path / "mixed" / "b.csv", ["question"], [["q"]])
    with pytest.raises(DataError, match="mixed file types"):
        open_dataset(str(tmp_path / "mixed"))
    (tmp_path / "none").mkdir()
    with pytest.raises(DataError, match="no data files"):
        open_dataset(str(tmp_path / "none"))


def test_glob_source(tmp_path: Path) -> None:
    write_jsonl(tmp_path / "g" / "a1.jsonl", QA[:1])
    write_jsonl(tmp_path / "g" / "a2.jsonl", QA[1:])
    write_jsonl(tmp_path / "g" / "b.jsonl", [{"question": "elsewhere"}])
    data = open_dataset(str(tmp_path / "g" / "a*.jsonl"))
    assert data.describe()["kind"] == "glob"
    assert [i.id for i in data] == ["q1", "q2", "q3"]
    with pytest.raises(DataError, match="no data files match"):
        open_dataset(str(tmp_path / "g" / "z*.jsonl"))


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="file not found"):
        open_dataset(str(tmp_path / "nope.jsonl"))
    with pytest.raises(DataError, match="file not found"):
        open_dataset("data/sets/qa")


def test_split_does_not_apply_to_a_file(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "qa.jsonl", QA)
    with pytest.raises(DataError, match="split 'test'"):
        open_dataset(str(path), split="test")


def _offline_flags() -> tuple[Any, ...]:
    ds_config: Any = importlib.import_module("datasets.config")
    from huggingface_hub import constants

    env = (os.environ.get("HF_HUB_OFFLINE"), os.environ.get("HF_DATASETS_OFFLINE"))
    return ds_config.HF_HUB_OFFLINE, constants.HF_HUB_OFFLINE, *env


def test_hub_name_not_in_cache(isolated_hf_cache: Path) -> None:
    before = _offline_flags()
    with pytest.raises(DataError) as err:
        open_dataset("someone/not-downloaded")
    message = str(err.value)
    assert "neither a local path nor a dataset in the Hugging Face cache" in message
    assert str(isolated_hf_cache / "datasets") in message
    assert "load_dataset('someone/not-downloaded')" in message
    assert _offline_flags() == before


def _fake_hub_cache(cache: Path, source: Path, repo: str) -> None:
    """Lay out `source` the way `datasets` caches a downloaded Hub dataset `repo`."""
    datasets: Any = importlib.import_module("datasets")
    build = cache.parent / "build"
    datasets.load_dataset("json", data_files={"train": str(source)}, cache_dir=str(build))
    (prepared,) = [p for p in (build / "json").glob("*/*/*") if p.is_dir()]
    name = repo.split("/")[1]
    target = cache / "datasets" / repo.replace("/", "___") / "default" / "0.0.0" / "abc"
    shutil.copytree(prepared, target)
    for arrow in target.glob("json-*.arrow"):
        arrow.rename(target / arrow.name.replace("json-", f"{name}-"))
    info = json.loads((target / "dataset_info.json").read_text())
    info.update(config_name="default", dataset_name=name)
    (target / "dataset_info.json").write_text(json.dumps(info))


def test_hub_dataset_from_the_datasets_cache(tmp_path: Path, isolated_hf_cache: Path) -> None:
    _fake_hub_cache(isolated_hf_cache, write_jsonl(tmp_path / "qa.jsonl", QA), "someone/tiny-qa")
    before = _offline_flags()
    data = open_dataset("someone/tiny-qa")
    assert _offline_flags() == before
    assert data.describe()["kind"] == "hub"
    assert [i.id for i in data] == ["q1", "q2", "q3"]
    assert data.validate(needs=["reference"]).n_rows == 3
    with pytest.raises(DataError, match="test"):
        open_dataset("someone/tiny-qa", split="test")


def test_hub_dataset_from_a_downloaded_snapshot(isolated_hf_cache: Path) -> None:
    snapshot = isolated_hf_cache / "hub" / "datasets--someone--snap" / "snapshots" / "0123abc"
    write_jsonl(snapshot / "data" / "train.jsonl", QA)
    assert [i.id for i in open_dataset("someone/snap")] == ["q1", "q2", "q3"]


# -- bundled sets ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "needs"),
    [("factual_qa.jsonl", ["reference"]), ("grounded_qa.jsonl", ["reference", "context"])],
)
def test_bundled_datasets_validate(name: str, needs: list[str]) -> None:
    data = open_dataset(str(REPO / "datasets" / name))
    info = data.validate(needs=needs)
    assert info.n_rows >= 25
    assert data.mapping.input == "question"
    assert data.mapping.references == ("answer",)
    assert data.mapping.id == "id"
    items = list(data)
    assert all(i.metadata.keys() == {"category"} for i in items)
    if "context" in needs:
        assert data.mapping.context == "context"
        assert all(i.context for i in items)


def test_importing_does_not_load_the_datasets_library() -> None:
    code = "import sys, harness.data, harness.templates; print('datasets' in sys.modules)"
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, check=False
    )
    assert result.stdout.strip() == "False", result.stderr


def test_datasets_folder_never_shadows_the_library() -> None:
    assert not (REPO / "datasets" / "__init__.py").exists()


def test_jsonl_rows_keep_their_own_types_past_the_first_chunk(tmp_path: Path) -> None:
    rows: list[dict[str, Any]] = [
        {"id": f"r{k}", "question": f"question {k} " + "x" * 60, "answer": "a"}
        for k in range(20_000)  # over a megabyte before the odd rows
    ]
    rows.append(
        {"id": "late", "question": "Largest ocean?", "answer": ["Pacific", "Pacific Ocean"]}
    )
    rows.append({"id": "r-last", "question": "Capital of France?", "answer": "Paris", "extra": 4})
    data = open_dataset(str(write_jsonl(tmp_path / "big.jsonl", rows)))
    items = {item.id: item for item in data}
    assert items["late"].references == ("Pacific", "Pacific Ocean")
    assert items["r-last"].references == ("Paris",) and items["r-last"].metadata["extra"] == 4
    assert items["r19999"].references == ("a",) and "extra" not in items["r0"].metadata


def test_a_column_named_for_two_fields_is_refused(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "qa.jsonl", [{"question": "q", "answer": "a"}])
    for mapping in (
        FieldMapping(input="question", references=("question",)),
        FieldMapping(references=("answer", "answer")),
        FieldMapping(input="question", context="question"),
    ):
        with pytest.raises(DataError, match="named for two fields"):
            open_dataset(str(path), mapping)


def test_a_row_without_a_value_for_a_template_field_is_named(tmp_path: Path) -> None:
    rows = [{"question": "q1", "topic": "maths"}, {"question": "q2"}]
    data = open_dataset(str(write_jsonl(tmp_path / "t.jsonl", rows)))
    with pytest.raises(DataError, match=r"uses \{\{topic\}\} but this row has no value") as err:
        data.validate(placeholders={"topic", "input"})
    assert (err.value.row, err.value.field) == (2, "topic")
    assert data.validate(placeholders={"input"}).n_rows == 2


def test_errors_in_a_glob_name_the_file_and_its_own_row(tmp_path: Path) -> None:
    write_jsonl(tmp_path / "g" / "part1.jsonl", [{"question": "a"}, {"question": "b"}])
    write_jsonl(tmp_path / "g" / "part2.jsonl", [{"question": "c"}, {"question": ""}])
    with pytest.raises(DataError, match="input is missing") as err:
        open_dataset(str(tmp_path / "g" / "*.jsonl")).validate()
    assert (Path(err.value.path).name, err.value.row) == ("part2.jsonl", 2)
    write_jsonl(tmp_path / "h" / "a.jsonl", [{"id": "x", "question": "a"}])
    write_jsonl(
        tmp_path / "h" / "b.jsonl", [{"id": "y", "question": "b"}, {"id": "x", "question": "c"}]
    )
    with pytest.raises(
        DataError, match=r"duplicate id 'x' at .*a\.jsonl row 1 and .*b\.jsonl row 2"
    ):
        open_dataset(str(tmp_path / "h" / "*.jsonl")).validate()


def test_errors_in_csv_and_parquet_globs_name_the_file_and_its_own_row(tmp_path: Path) -> None:
    (tmp_path / "c").mkdir()
    write_csv(tmp_path / "c" / "part1.csv", ["question"], [["a"], ["b"]])
    write_csv(tmp_path / "c" / "part2.csv", ["question"], [["c"], [""]])
    with pytest.raises(DataError, match="input is missing") as err:
        open_dataset(str(tmp_path / "c" / "*.csv")).validate()
    assert (Path(err.value.path).name, err.value.row) == ("part2.csv", 2)
    folder = tmp_path / "p"
    folder.mkdir()
    pq.write_table(pa.table({"id": ["x", "y"], "question": ["a", "b"]}), folder / "a.parquet")
    pq.write_table(pa.table({"id": ["z", "x"], "question": ["c", "d"]}), folder / "b.parquet")
    with pytest.raises(
        DataError, match=r"duplicate id 'x' at .*a\.parquet row 1 and .*b\.parquet row 2"
    ):
        open_dataset(str(folder)).validate()


def test_a_glob_file_that_cannot_be_read_or_has_other_columns_is_named(tmp_path: Path) -> None:
    pq.write_table(pa.table({"question": ["a"]}), tmp_path / "a.parquet")
    pq.write_table(pa.table({"prompt": ["b"]}), tmp_path / "b.parquet")
    with pytest.raises(
        DataError, match=r"columns differ from a\.parquet's: has 'prompt'; lacks 'question'"
    ) as err:
        open_dataset(str(tmp_path / "*.parquet")).validate()
    assert Path(err.value.path).name == "b.parquet"
    (tmp_path / "b.parquet").write_bytes(b"not parquet")
    with pytest.raises(DataError, match="cannot open the data") as err:
        open_dataset(str(tmp_path / "*.parquet")).validate()
    assert Path(err.value.path).name == "b.parquet"
    pq.write_table(pa.table({"question": ["b", "c"]}), tmp_path / "b.parquet")
    assert open_dataset(str(tmp_path / "*.parquet")).validate().n_rows == 3


def test_infinite_ids_stay_apart(tmp_path: Path) -> None:
    path = tmp_path / "inf.jsonl"
    path.write_text('{"id": Infinity, "question": "a"}\n{"id": -Infinity, "question": "b"}\n')
    assert [item.id for item in open_dataset(str(path))] == ["inf", "-inf"]
