"""Read a file of human labels: CSV, JSON lines or Label Studio JSON, into entries.

Accepted files:

- CSV or JSON lines with `item_id`, `annotator` and one column per label (the other
  export columns are ignored; an empty cell is no label);
- Label Studio's JSON export (tasks with `data.item_id` and `annotations`; cancelled
  annotations are skipped; the annotator is the user's email, else `label-studio:ID`),
  or its JSON-MIN export (flat rows, read like JSON lines).

Nothing is checked against the run here: every value becomes an `Entry` with the place it
came from, and a problem of the file's shape becomes a `Problem`.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.errors import ConfigError, DataError
from harness.records import JsonValueError, csv_table, json_value, kind_of
from harness.review.blind_keys import KEY_COLUMN
from harness.review.export import JUDGE_PREFIX, RESERVED, SCORE_PREFIX

_IGNORED = RESERVED | {"annotation_id", "created_at", "updated_at", "lead_time", "id"}
_MIN_IGNORED = {"agreement"}
"""JSON-MIN columns Label Studio adds besides those of every export (Enterprise's score)."""


@dataclass(frozen=True)
class Entry:
    """One label value as read from the file, before validation."""

    row: str
    """Where it is: `row 3`, `line 4`, `task 2 (id 17), annotation 1`."""
    item_id: str | None
    annotator: str | None
    name: str
    raw: Any
    field: str
    versus: str | None = None
    """For a pair: the other side (run id or `sample:K`), from the export's `versus`."""
    order: str = ""
    """For a pair: `AB`, or `BA` when response A as shown was the other side's."""
    shown: str | None = None
    """The response the file says was labelled (its `response` column), where it has one."""
    key: str | None = None
    """For a pair of a blind export: its `pair_key`, which stands for `versus` and `order`."""

    @property
    def label(self) -> str:
        """The stored label name: a pair's label carries its other side, `NAME@VERSUS`."""
        return f"{self.name}@{self.versus}" if self.versus else self.name


@dataclass
class Problem:
    row: str
    field: str
    message: str

    def __str__(self) -> str:
        return f"{self.row}, field '{self.field}': {self.message}"


@dataclass
class Parsed:
    """What a file holds: its label values, the problems of its shape, rows with no label."""

    entries: list[Entry] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    skipped: int = 0


def detect_format(path: Path) -> str:
    suffix = path.suffix.lower()
    if suffix == ".csv":
        return "csv"
    if suffix in (".jsonl", ".ndjson"):
        return "jsonl"
    if suffix == ".json":
        return "json"
    raise ConfigError(
        f"{path}: cannot tell the format from '{suffix}'; name it .csv, .jsonl or .json"
    )


def _unescape(text: str) -> str:
    """Undo the CSV export's spreadsheet-formula guard: the quote it put before a text
    starting with = + - @, a tab, a carriage return or a quote."""
    if len(text) > 1 and text[0] == "'" and text[1] in "=+-@\t\r'":
        return text[1:]
    return text


def _as_written(text: str) -> str:
    """JSON files are exported without the guard: every text is read as written."""
    return text


def _label_columns(columns: Sequence[str], only: Sequence[str]) -> list[str]:
    if only:
        return list(only)
    return [
        c
        for c in columns
        if c not in _IGNORED and not c.startswith((SCORE_PREFIX, JUDGE_PREFIX)) and c.strip()
    ]


def _flat_rows(
    rows: Iterator[tuple[str, dict[str, Any]]],
    columns: Sequence[str] | None,
    only: Sequence[str],
    annotator: str | None,
    parsed: Parsed,
    unescape: Callable[[str], str] = _as_written,
    *,
    json_min: bool = False,
) -> None:
    """Rows of `item_id`, `annotator` and label columns (CSV, JSON lines, JSON-MIN).

    `json_min`: Label Studio's JSON-MIN export, whose cells are unwrapped (`_min_value`)
    and whose annotator ids are named as its JSON export's (`label-studio:ID`)."""
    fixed = _label_columns(columns, only) if columns is not None else None
    for where, row in rows:
        names = fixed if fixed is not None else _label_columns(list(row), only)
        if json_min:
            names = [n for n in names if n not in _MIN_IGNORED]
        values: dict[str, Any] = {}
        nested = row.get("labels")
        if isinstance(nested, dict):
            values.update(nested)
        values.update({n: row[n] for n in names if n in row and n != "labels"})
        values = {k: v for k, v in values.items() if v is not None and str(v).strip() != ""}
        if not values:
            parsed.skipped += 1
            continue
        item_id, who = row.get("item_id"), row.get("annotator")
        wrong = [(k, v) for k, v in (("item_id", item_id), ("annotator", who)) if _not_scalar(v)]
        if wrong:
            name, value = wrong[0]
            parsed.problems.append(Problem(where, name, f"expected text, got {kind_of(value)}"))
            continue
        item_text = unescape(str(item_id)) if item_id not in (None, "") else None
        if json_min and isinstance(who, int):
            who = _ls_annotator(who)
        who_text = str(who).strip() if who not in (None, "") else annotator
        sides = _sides(row, unescape, where, parsed)
        if sides is None:
            continue
        for name, raw in values.items():
            if json_min:
                try:
                    raw = _min_value(raw)
                except ValueError as exc:
                    parsed.problems.append(Problem(where, name, str(exc)))
                    continue
            if isinstance(raw, dict | list):
                parsed.problems.append(Problem(where, name, "a label must be a single value"))
                continue
            raw = unescape(raw) if isinstance(raw, str) else raw
            parsed.entries.append(Entry(where, item_text, who_text, name, raw, name, *sides))


def _not_scalar(value: Any) -> bool:
    """An id or annotator that is no single text or number (an object, a list, true/false)."""
    return isinstance(value, dict | list | bool)


Sides = tuple[str | None, str, str | None, str | None]
"""A row's `versus`, `shown_order`, shown `response` and blind `pair_key`."""


def _sides(
    row: dict[str, Any], unescape: Callable[[str], str], where: str, parsed: Parsed
) -> Sides | None:
    """What a row says of the responses it labels, or None with the problem recorded."""
    try:
        versus, order, key = _pair(row, unescape)
    except ValueError as exc:
        parsed.problems.append(Problem(where, KEY_COLUMN, str(exc)))
        return None
    return versus, order, _shown(row, unescape), key


def _shown(row: dict[str, Any], unescape: Callable[[str], str]) -> str | None:
    """The exported `response` cell, as the export wrote it (None where there is none)."""
    value = row.get("response")
    return unescape(value) if isinstance(value, str) else None


def _pair(
    row: dict[str, Any], unescape: Callable[[str], str]
) -> tuple[str | None, str, str | None]:
    """The `versus`, `shown_order` and blind `pair_key` of a pair's row (None, '', None for
    a single response); ValueError for a pair's row with neither its sides nor its key."""
    versus, order, key = (row.get(k) for k in ("versus", "shown_order", KEY_COLUMN))
    sides = (
        unescape(str(versus)) if versus not in (None, "") else None,
        str(order).strip().upper() if order not in (None, "") else "",
        unescape(str(key)).strip() if key not in (None, "") else None,
    )
    if "response_a" in row and sides[0] is None and sides[2] is None:
        raise ValueError(
            "a pair's row without 'versus' and 'shown_order', or the 'pair_key' of a blind "
            "export: which response was this run's is unknown; keep the columns as exported"
        )
    return sides


def _read_csv(path: Path, only: Sequence[str], annotator: str | None, parsed: Parsed) -> None:
    """A CSV export: its records are checked as the dataset reader checks them (as many
    cells as the header, every quote closed), rows counted as a spreadsheet shows them."""
    with path.open(encoding="utf-8-sig", newline="") as handle:
        raw, records = csv_table(handle, str(path), first_row=2)
        if not raw:
            raise DataError("the file is empty", path=str(path))
        header = [h.strip() for h in raw]
        repeated = sorted({h for h in header if header.count(h) > 1})
        if repeated:
            raise DataError(f"columns appear twice: {', '.join(repeated)}", path=str(path), row=1)
        _check_columns(path, header, only)

        def rows() -> Iterator[tuple[str, dict[str, Any]]]:
            for number, record in records:
                if any(cell.strip() for cell in record):
                    yield f"row {number}", dict(zip(header, record, strict=True))

        _flat_rows(rows(), header, only, annotator, parsed, _unescape)


def _check_columns(path: Path, columns: Sequence[str], only: Sequence[str]) -> None:
    if "item_id" not in columns:
        raise DataError(
            f"no 'item_id' column (columns: {', '.join(columns)}); "
            "labels need the id the export wrote",
            path=str(path),
        )
    missing = [name for name in only if name not in columns]
    if missing:
        raise DataError(f"no column {', '.join(missing)} for --label", path=str(path))


def _read_jsonl(path: Path, only: Sequence[str], annotator: str | None, parsed: Parsed) -> None:
    def rows() -> Iterator[tuple[str, dict[str, Any]]]:
        with path.open(encoding="utf-8-sig") as handle:
            for number, line in enumerate(handle, start=1):
                if not line.strip():
                    continue
                try:
                    row = json_value(line)
                except json.JSONDecodeError as exc:
                    raise DataError(f"not JSON: {exc.msg}", path=str(path), row=number) from exc
                except JsonValueError as exc:
                    raise DataError(
                        exc.detail, path=str(path), row=number, field=exc.field
                    ) from exc
                if not isinstance(row, dict):
                    raise DataError("each line must be a JSON object", path=str(path), row=number)
                yield f"line {number}", row

    _flat_rows(rows(), None, only, annotator, parsed)


def _ls_annotator(completed_by: Any) -> str | None:
    """A Label Studio user: the email where the export has it, else `label-studio:ID` (the
    JSON export's `completed_by`, or the id JSON-MIN writes as `annotator`)."""
    if isinstance(completed_by, dict):
        email = completed_by.get("email")
        if email and isinstance(email, str):
            return email
        completed_by = completed_by.get("id")
    if completed_by is None or _not_scalar(completed_by):
        return None
    return f"label-studio:{completed_by}"


def _ls_value(result: dict[str, Any]) -> Any:
    """The label in one result of a Label Studio annotation."""
    value = result.get("value") or {}
    if not isinstance(value, dict):
        raise ValueError(f"'value' should be an object, got {kind_of(value)}")
    return _result_value(value, f"result of type '{result.get('type')}'")


def _result_value(value: dict[str, Any], what: str) -> Any:
    """The single choice, rating, number or text of a result's value (ValueError for none,
    or for several)."""
    for key in ("choices", "rating", "number", "text", "textarea"):
        if key in value:
            found = value[key]
            if isinstance(found, list):
                if len(found) != 1:
                    raise ValueError(f"{key} holds {len(found)} values; a label takes one")
                found = found[0]
            if isinstance(found, dict | list):
                raise ValueError(f"{key} holds {kind_of(found)}; a label is a single value")
            return found
    raise ValueError(f"{what} carries no choice, rating, number or text")


def _min_value(cell: Any) -> Any:
    """A JSON-MIN cell as one label: Label Studio writes one choice or text as itself, a
    rating or number as the list of its results' values (`[{"rating": 4}]`), and several
    choices or results as a list (refused: a label takes one value)."""
    if isinstance(cell, list):
        if len(cell) != 1:
            raise ValueError(f"a list of {len(cell)} values; a label takes one")
        cell = cell[0]
    if isinstance(cell, dict):
        return _result_value(cell, "the result")
    return cell


def _ls_part(value: Any, kind: type, where: str, name: str, parsed: Parsed) -> bool:
    """Whether a part of a Label Studio task has the JSON kind its export gives it (a
    problem is noted where it has not)."""
    if isinstance(value, kind):
        return True
    expected = "an object" if kind is dict else "a list"
    parsed.problems.append(Problem(where, name, f"expected {expected}, got {kind_of(value)}"))
    return False


def _read_json(path: Path, only: Sequence[str], annotator: str | None, parsed: Parsed) -> None:
    try:
        data = json_value(path.read_text(encoding="utf-8-sig"))
    except json.JSONDecodeError as exc:
        raise DataError(f"not JSON: {exc.msg} (line {exc.lineno})", path=str(path)) from exc
    except JsonValueError as exc:
        raise DataError(str(exc), path=str(path)) from exc
    if isinstance(data, dict):
        data = [data]
    if not isinstance(data, list) or not all(isinstance(t, dict) for t in data):
        raise DataError("expected a Label Studio export: a JSON list of tasks", path=str(path))
    if data and not any("data" in t or "annotations" in t for t in data):  # JSON-MIN
        rows = ((f"entry {i}", row) for i, row in enumerate(data, 1))
        _flat_rows(rows, None, only, annotator, parsed, json_min=True)
        return
    for t, task in enumerate(data, start=1):
        where = f"task {t}" + (f" (id {task['id']})" if "id" in task else "")
        _ls_task(task, where, only, annotator, parsed)


def _ls_task(
    task: dict[str, Any], where: str, only: Sequence[str], annotator: str | None, parsed: Parsed
) -> None:
    """The labels of one Label Studio task: one entry per result of each annotation."""
    data = task.get("data") or {}
    annotations = task.get("annotations") or []
    if not _ls_part(data, dict, where, "data", parsed):
        return
    if not _ls_part(annotations, list, where, "annotations", parsed):
        return
    item_id = data.get("item_id")
    if _not_scalar(item_id):
        parsed.problems.append(Problem(where, "item_id", f"expected text, got {kind_of(item_id)}"))
        return
    item_text = None if item_id in (None, "") else str(item_id)
    if not annotations:
        parsed.skipped += 1
        return
    sides = _sides(data, _as_written, where, parsed)
    if sides is None:
        return
    for a, annotation in enumerate(annotations, start=1):
        at = f"{where}, annotation {a}"
        if not _ls_part(annotation, dict, at, "annotations", parsed):
            continue
        if annotation.get("was_cancelled"):
            continue
        who = _ls_annotator(annotation.get("completed_by")) or annotator
        results = annotation.get("result") or []
        if not _ls_part(results, list, at, "result", parsed):
            continue
        for result in results:
            if not _ls_part(result, dict, at, "result", parsed):
                continue
            name = result.get("from_name", "")
            name = name if isinstance(name, str) else ""
            if only and name not in only:
                continue
            try:
                raw = _ls_value(result)
            except ValueError as exc:
                parsed.problems.append(Problem(at, name or "-", str(exc)))
                continue
            parsed.entries.append(Entry(at, item_text, who, name, raw, name, *sides))


def read_entries(
    path: Path, *, annotator: str | None = None, only: Sequence[str] = (), fmt: str | None = None
) -> Parsed:
    """Every label value in the file, with the problems found while reading."""
    if not path.is_file():
        raise DataError("no such file", path=str(path))
    parsed = Parsed()
    kind = fmt or detect_format(path)
    reader = {"csv": _read_csv, "jsonl": _read_jsonl, "json": _read_json}.get(kind)
    if reader is None:
        raise ConfigError(f"--format '{kind}': choose csv, jsonl or json (Label Studio)")
    try:
        reader(path, only, annotator, parsed)
    except UnicodeDecodeError as exc:
        raise DataError(f"not UTF-8 text: {exc.reason}", path=str(path)) from exc
    return parsed
