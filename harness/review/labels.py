"""Import human labels: read a filled export, validate all of it, then store it in one go.

Accepted files:

- CSV or JSON lines with `item_id`, `annotator` and one column per label (the other
  export columns are ignored; an empty cell is no label);
- Label Studio's JSON export (tasks with `data.item_id` and `annotations`; cancelled
  annotations are skipped; the annotator is the user's email, else `label-studio:ID`),
  or its JSON-MIN export (flat rows, read like JSON lines).

Every problem in the file (unknown id, value off the scale, missing annotator, duplicate,
label already stored) is reported with its row and field, and nothing is written unless
there is none. The labels and the `human` scores they imply are written in one transaction.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.errors import ConfigError, DataError
from harness.records import JsonValueError, csv_table, json_value, kind_of
from harness.review.export import JUDGE_PREFIX, PAIR_SCALE, RESERVED, SCORE_PREFIX
from harness.review.human_scores import write_human_scores
from harness.review.scale import Scale, resolve
from harness.store.db import Store, now

MAX_SHOWN = 20
"""Problems listed in one error; the rest are counted."""
_IGNORED = RESERVED | {"annotation_id", "created_at", "updated_at", "lead_time", "id"}


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
class ImportResult:
    """What an import stored."""

    labels: int
    items: int
    annotators: list[str]
    names: list[str]
    replaced: int = 0
    skipped_rows: int = 0
    """Rows with no label filled in."""
    scales: dict[str, str] = field(default_factory=dict)
    human_scores: int = 0


@dataclass
class _Parsed:
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
    parsed: _Parsed,
    unescape: Callable[[str], str] = _as_written,
) -> None:
    """Rows of `item_id`, `annotator` and label columns (CSV, JSON lines, JSON-MIN)."""
    fixed = _label_columns(columns, only) if columns is not None else None
    for where, row in rows:
        names = fixed if fixed is not None else _label_columns(list(row), only)
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
        who_text = str(who).strip() if who not in (None, "") else annotator
        versus, order = _pair(row, unescape)
        shown = _shown(row, unescape)
        for name, raw in values.items():
            if isinstance(raw, dict | list):
                parsed.problems.append(Problem(where, name, "a label must be a single value"))
                continue
            raw = unescape(raw) if isinstance(raw, str) else raw
            parsed.entries.append(
                Entry(where, item_text, who_text, name, raw, name, versus, order, shown)
            )


def _not_scalar(value: Any) -> bool:
    """An id or annotator that is no single text or number (an object, a list, true/false)."""
    return isinstance(value, dict | list | bool)


def _shown(row: dict[str, Any], unescape: Callable[[str], str]) -> str | None:
    """The exported `response` cell, as the export wrote it (None where there is none)."""
    value = row.get("response")
    return unescape(value) if isinstance(value, str) else None


def _pair(row: dict[str, Any], unescape: Callable[[str], str]) -> tuple[str | None, str]:
    """The `versus` and `shown_order` of a pair's row (None, '' for a single response)."""
    versus = row.get("versus")
    order = row.get("shown_order")
    return (
        unescape(str(versus)) if versus not in (None, "") else None,
        str(order).strip().upper() if order not in (None, "") else "",
    )


def _read_csv(path: Path, only: Sequence[str], annotator: str | None, parsed: _Parsed) -> None:
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


def _read_jsonl(path: Path, only: Sequence[str], annotator: str | None, parsed: _Parsed) -> None:
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
    if isinstance(completed_by, dict):
        email = completed_by.get("email")
        if email and isinstance(email, str):
            return email
        completed_by = completed_by.get("id")
    if completed_by is None or _not_scalar(completed_by):
        return None
    return f"label-studio:{completed_by}"


def _ls_value(result: dict[str, Any]) -> Any:
    value = result.get("value") or {}
    if not isinstance(value, dict):
        raise ValueError(f"'value' should be an object, got {kind_of(value)}")
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
    raise ValueError(
        f"result of type '{result.get('type')}' carries no choice, rating, number or text"
    )


def _ls_part(value: Any, kind: type, where: str, name: str, parsed: _Parsed) -> bool:
    """Whether a part of a Label Studio task has the JSON kind its export gives it (a
    problem is noted where it has not)."""
    if isinstance(value, kind):
        return True
    expected = "an object" if kind is dict else "a list"
    parsed.problems.append(Problem(where, name, f"expected {expected}, got {kind_of(value)}"))
    return False


def _read_json(path: Path, only: Sequence[str], annotator: str | None, parsed: _Parsed) -> None:
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
    if data and not any("data" in t or "annotations" in t for t in data):
        _flat_rows(
            ((f"entry {i}", row) for i, row in enumerate(data, 1)), None, only, annotator, parsed
        )
        return
    for t, task in enumerate(data, start=1):
        where = f"task {t}" + (f" (id {task['id']})" if "id" in task else "")
        _ls_task(task, where, only, annotator, parsed)


def _ls_task(
    task: dict[str, Any], where: str, only: Sequence[str], annotator: str | None, parsed: _Parsed
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
    versus, order = _pair(data, _as_written)
    shown = _shown(data, _as_written)
    if not annotations:
        parsed.skipped += 1
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
            parsed.entries.append(Entry(at, item_text, who, name, raw, name, versus, order, shown))


def read_entries(
    path: Path, *, annotator: str | None = None, only: Sequence[str] = (), fmt: str | None = None
) -> _Parsed:
    """Every label value in the file, with the problems found while reading."""
    if not path.is_file():
        raise DataError("no such file", path=str(path))
    parsed = _Parsed()
    kind = fmt or detect_format(path)
    reader = {"csv": _read_csv, "jsonl": _read_jsonl, "json": _read_json}.get(kind)
    if reader is None:
        raise ConfigError(f"--format '{kind}': choose csv, jsonl or json (Label Studio)")
    try:
        reader(path, only, annotator, parsed)
    except UnicodeDecodeError as exc:
        raise DataError(f"not UTF-8 text: {exc.reason}", path=str(path)) from exc
    return parsed


@dataclass(frozen=True)
class _Valid:
    item_id: str
    annotator: str
    name: str
    value: float | None
    text: str
    row: str


def _validate(
    store: Store,
    run_id: str,
    parsed: _Parsed,
    scales: dict[str, Scale],
    replace: bool,
) -> tuple[list[_Valid], list[Problem]]:
    problems = list(parsed.problems)
    known = {
        row[0] for row in store.conn.execute("SELECT item_id FROM items WHERE run_id = ?", [run_id])
    }
    stored = {
        (item, who, name)
        for item, who, name in store.conn.execute(
            "SELECT item_id, annotator, label_name FROM labels WHERE run_id = ?", [run_id]
        )
    }
    runs = {row[0] for row in store.conn.execute("SELECT id FROM runs")}
    answers = {
        item: " ".join((text or "").split())
        for item, text in store.conn.execute(
            "SELECT item_id, text FROM responses WHERE run_id = ? AND sample = 0", [run_id]
        )
    }
    seen: dict[tuple[str, str, str], str] = {}
    valid: list[_Valid] = []
    for e in parsed.entries:
        if e.versus is not None and not (e.versus.startswith("sample:") or e.versus in runs):
            problems.append(Problem(e.row, "versus", f"unknown run '{e.versus}'"))
            continue
        if e.order not in ("", "AB", "BA"):
            problems.append(Problem(e.row, "shown_order", f"'{e.order}' is neither AB nor BA"))
            continue
        if e.item_id is None:
            problems.append(
                Problem(e.row, "item_id", "empty; every label needs the item id the export wrote")
            )
            continue
        if e.item_id not in known:
            problems.append(
                Problem(e.row, "item_id", f"unknown item id '{e.item_id}' (not in run {run_id})")
            )
            continue
        if (
            e.shown is not None
            and e.versus is None
            and " ".join(e.shown.split()) != answers.get(e.item_id)
        ):
            problems.append(
                Problem(
                    e.row,
                    "response",
                    f"not the response run {run_id} stored for item '{e.item_id}': was the "
                    "file exported from another run?",
                )
            )
            continue
        if not e.annotator:
            problems.append(
                Problem(e.row, "annotator", "empty; fill it in or pass --annotator NAME")
            )
            continue
        if not e.name:
            problems.append(Problem(e.row, "-", "a result without a label name (from_name)"))
            continue
        scale = scales[e.label]
        try:
            value, text = scale.parse(e.raw)
        except ValueError as exc:
            problems.append(Problem(e.row, e.field, str(exc)))
            continue
        if e.order == "BA":
            sides = {c.lower() for c in scale.categories}
            if not {"a", "b"} <= sides:
                problems.append(
                    Problem(
                        e.row,
                        e.field,
                        "shown in order BA, but the label's scale has no A and B to swap back "
                        "(use --scale NAME=A,B,tie for pair labels)",
                    )
                )
                continue
            value, text = _unswap(scale, value, text)
        key = (e.item_id, e.annotator, e.label)
        if key in seen:
            problems.append(
                Problem(
                    e.row,
                    e.field,
                    f"duplicate: {seen[key]} already labels item '{e.item_id}' "
                    f"for annotator '{e.annotator}'",
                )
            )
            continue
        seen[key] = e.row
        if key in stored and not replace:
            problems.append(
                Problem(
                    e.row,
                    e.field,
                    f"item '{e.item_id}' already has a '{e.label}' label by '{e.annotator}'; "
                    "pass --replace to overwrite",
                )
            )
            continue
        valid.append(_Valid(e.item_id, e.annotator, e.label, value, text, e.row))
    return valid, problems


def _unswap(scale: Scale, value: float | None, text: str) -> tuple[float | None, str]:
    """A preference given with B's response shown first, back to this run's side."""
    other = {"a": "b", "b": "a"}.get(text.lower())
    if other is None:
        return value, text
    for category, number in scale.categories.items():
        if category.lower() == other:
            return number, category
    return value, other.upper()


def _check_stored_scales(store: Store, run_id: str, scales: dict[str, Scale]) -> None:
    """A label keeps one scale per run: its earlier imports must have used the same."""
    for name, scale in scales.items():
        for (spec,) in store.conn.execute(
            "SELECT DISTINCT scale FROM labels WHERE run_id = ? AND label_name = ?", [run_id, name]
        ):
            if spec != scale.describe():
                raise ConfigError(
                    f"label '{name}' of this run was imported on the scale {spec}; this import "
                    f"reads it as {scale.describe()} ({scale.source}); use --scale {name}={spec}"
                )


def _raise(path: Path, problems: list[Problem]) -> None:
    if len(problems) == 1:
        p = problems[0]
        raise DataError(
            f"{p.row}, field '{p.field}': {p.message}; nothing imported", path=str(path)
        )
    shown = "\n".join(f"  {p}" for p in problems[:MAX_SHOWN])
    more = f"\n  ... and {len(problems) - MAX_SHOWN} more" if len(problems) > MAX_SHOWN else ""
    raise DataError(f"{path}: {len(problems)} problems, nothing imported:\n{shown}{more}")


def import_labels(
    store: Store,
    ref: str,
    path: Path,
    *,
    annotator: str | None = None,
    scales: dict[str, Scale] | None = None,
    only: Sequence[str] = (),
    replace: bool = False,
    fmt: str | None = None,
) -> ImportResult:
    """Validate every label in `path` against run `ref`, then store all of them, or none."""
    run_id = str(store.get_run(ref)["id"])
    parsed = read_entries(path, annotator=annotator, only=only, fmt=fmt)
    given = scales or {}
    resolved: dict[str, Scale] = {}
    for e in parsed.entries:
        if e.name and e.label not in resolved:
            pair = e.versus is not None
            resolved[e.label] = given.get(e.name, PAIR_SCALE) if pair else resolve(e.name, given)
    names = sorted(resolved)
    if not names and not parsed.problems:
        raise DataError(
            "no label values found: fill in the label columns (every one is empty)", path=str(path)
        )
    _check_stored_scales(store, run_id, resolved)
    valid, problems = _validate(store, run_id, parsed, resolved, replace)
    if problems:
        _raise(path, problems)
    unknown = sorted(set(given) - {e.name for e in parsed.entries})
    if unknown:
        raise ConfigError(
            f"--scale given for {', '.join(unknown)}, which the file has no values for"
        )
    stamp = now()
    source = str(path)
    specs = {name: scale.describe() for name, scale in resolved.items()}
    replaced = 0
    with store.transaction() as conn:
        if replace:
            for v in valid:
                replaced += conn.execute(
                    "DELETE FROM labels WHERE run_id = ? AND item_id = ? AND annotator = ? "
                    "AND label_name = ?",
                    [run_id, v.item_id, v.annotator, v.name],
                ).rowcount
        conn.executemany(
            "INSERT INTO labels (run_id, item_id, annotator, label_name, value, value_text, "
            "scale, created_at, source) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                [
                    run_id,
                    v.item_id,
                    v.annotator,
                    v.name,
                    v.value,
                    v.text,
                    specs[v.name],
                    stamp,
                    source,
                ]
                for v in valid
            ],
        )
        human = write_human_scores(conn, run_id)
    per_item: dict[str, set[str]] = defaultdict(set)
    for v in valid:
        per_item[v.item_id].add(v.annotator)
    return ImportResult(
        labels=len(valid),
        items=len(per_item),
        annotators=sorted({v.annotator for v in valid}),
        names=names,
        replaced=replaced,
        skipped_rows=parsed.skipped,
        scales={name: f"{s.describe()} ({s.source})" for name, s in resolved.items()},
        human_scores=human,
    )
