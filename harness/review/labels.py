"""Import human labels: read a filled export, validate all of it, then store it in one go.

The file is read by `label_files` (CSV, JSON lines, Label Studio JSON or JSON-MIN). Every
problem in it (unknown id, value off the scale, missing annotator, duplicate, label already
stored) is reported with its row and field, and nothing is written unless there is none.
The labels and the `human` scores they imply are written in one transaction.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

from harness.errors import ConfigError, DataError
from harness.review.blind_keys import KEY_COLUMN, load_keys
from harness.review.export import PAIR_SCALE, label_name_problem
from harness.review.human_scores import write_human_scores
from harness.review.label_files import Parsed, Problem, read_entries
from harness.review.scale import Scale, resolve
from harness.store.db import Store, now

MAX_SHOWN = 20
"""Problems listed in one error; the rest are counted."""


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
    parsed: Parsed,
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


def _refuse_bad_names(parsed: Parsed) -> None:
    """A value under a name no export could write (one holding '@', an export column's) is
    a problem, not a label: `NAME@VERSUS` is how a pair's label is stored."""
    kept = []
    for e in parsed.entries:
        problem = label_name_problem(e.name) if e.name else None
        if problem:
            parsed.problems.append(Problem(e.row, e.field, f"{problem}; rename it"))
        else:
            kept.append(e)
    parsed.entries = kept


def _sides_from_keys(store: Store, run_id: str, parsed: Parsed) -> None:
    """A blind pair row's sides from its `pair_key`, as the export recorded them; a key
    this database does not hold, or one of another item, is a problem."""
    if not any(e.key for e in parsed.entries):
        return
    keys = load_keys(store, run_id)
    kept = []
    for e in parsed.entries:
        found = keys.get(e.key) if e.key else None
        if e.key and found is None:
            message = (
                f"unknown key '{e.key}': no blind export of run {run_id} in this database "
                "wrote it; import the file into the database it was exported from"
            )
            parsed.problems.append(Problem(e.row, KEY_COLUMN, message))
        elif found is not None and found.item_id != e.item_id:
            message = f"'{e.item_id}' is not the item of key '{e.key}' ('{found.item_id}')"
            parsed.problems.append(Problem(e.row, "item_id", message))
        else:
            sides = {"versus": found.versus, "order": found.shown_order} if found else {}
            kept.append(replace(e, **sides))
    parsed.entries = kept


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
    _refuse_bad_names(parsed)
    _sides_from_keys(store, run_id, parsed)
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
