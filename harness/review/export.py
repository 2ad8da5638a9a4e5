"""Export a run's items for human review: CSV, JSON lines, or a Label Studio project.

Each row carries the item's stable id (the way back for `import-labels`), its input,
context, reference(s), the first response, the current scores (unless blind), one empty
column per label and an empty `annotator`. The run's config (model, endpoint, adapter
options) is never read, so no credential can reach an export.
"""

from __future__ import annotations

import csv
import json
import random
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from harness.errors import ConfigError
from harness.files import check_target, write_files
from harness.review import blind_keys, label_studio, source
from harness.review.sample import Selection, select
from harness.review.scale import Scale, parse_spec, resolve
from harness.store.db import Store

FORMATS = ("csv", "jsonl", "label-studio")
RESERVED = frozenset(
    {
        "item_id",
        "annotator",
        "input",
        "context",
        "reference",
        "references",
        "response",
        "response_a",
        "response_b",
        "versus",
        "shown_order",
        blind_keys.KEY_COLUMN,
        "metadata",
        "scores",
        "judges",
        "stratum",
        "selected_because",
        "labels",
        "id",
        "data",
        "annotations",
        "predictions",
    }
)
"""Columns an export writes that are not labels (a label may not take these names)."""
SCORE_PREFIX = "score:"
JUDGE_PREFIX = "judge:"
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
PAIR_SCALE = parse_spec("A,B,tie", "pair default")
"""A pair's label: A better, B better (as shown), or a tie."""


@dataclass
class ExportOptions:
    """What to export and how."""

    format: str = "csv"
    strategy: str = "random"
    sample: int | None = None
    by: str | None = None
    metrics: Sequence[str] = ()
    lower_is_better: frozenset[str] = frozenset()
    blind: bool = False
    seed: int = 0
    labels: Sequence[str] = ()
    """Label columns; default: the rubrics judged in the run, else `label`."""
    scales: dict[str, Scale] = field(default_factory=dict)
    force: bool = False
    versus: str | None = None
    """Export pairs: this run's response against another run's (`RUN`) or sample (`sample:K`)."""


@dataclass
class ExportResult:
    """What was written."""

    paths: list[Path]
    rows: int
    labels: list[str]
    selection: Selection


def label_names(
    store: Store, run_id: str, given: Sequence[str], versus: source.Versus | None = None
) -> list[str]:
    """The label columns: as given, else the rubrics judged (pointwise, or pairwise against
    `versus`), else `label` (`preference` for pairs)."""
    default = "preference" if versus else "label"
    judged = source.judged_rubrics(store, run_id, versus.key if versus else None)
    names = list(dict.fromkeys(given)) or judged or [default]
    for name in names:
        problem = label_name_problem(name)
        if problem:
            raise ConfigError(
                f"{problem}; choose another (taken: {', '.join(sorted(RESERVED))}, "
                f"{SCORE_PREFIX}*, {JUDGE_PREFIX}*)"
            )
    return names


def label_name_problem(name: str) -> str | None:
    """Why `name` cannot name a label (None if it can): empty, an export column's, or
    holding '@', which marks a pair's label (`NAME@VERSUS`)."""
    if not name.strip():
        return "a label name cannot be empty"
    if name in RESERVED or name.startswith((SCORE_PREFIX, JUDGE_PREFIX)):
        return f"label name '{name}' is taken by an export column"
    if "@" in name:
        return f"label name '{name}' holds '@', which marks a pair's label (NAME@VERSUS)"
    return None


def label_scales(
    names: Sequence[str],
    options: dict[str, Scale],
    versus: str | None = None,
    stored: dict[str, str] | None = None,
) -> dict[str, Scale]:
    """Each label's scale: --scale, else the scale its labels of this run were imported on
    (`stored`, where a pair's label against `versus` is `NAME@VERSUS`), else a pair's
    A,B,tie or the rubric's (never a pointwise label's or rubric's scale for pairs)."""
    unknown = sorted(set(options) - set(names))
    if unknown:
        raise ConfigError(
            f"--scale given for {', '.join(unknown)}, which is not a label column "
            f"({', '.join(names)}); add --label NAME"
        )
    scales = {}
    for name in names:
        key = f"{name}@{versus}" if versus else name
        if name not in options and stored and stored.get(key):
            scales[name] = parse_spec(stored[key], f"labels of '{key}' already imported")
        elif versus:
            scales[name] = options.get(name, PAIR_SCALE)
        else:
            scales[name] = resolve(name, options)
    return scales


def stored_scales(store: Store, run_id: str) -> dict[str, str]:
    """The scale each label name of the run was imported on."""
    return dict(
        store.conn.execute(
            "SELECT label_name, min(scale) FROM labels WHERE run_id = ? GROUP BY label_name",
            [run_id],
        ).fetchall()
    )


def _judge_means(verdicts: list[source.Verdict], wanted: set[str]) -> dict[str, dict[str, float]]:
    sums: dict[tuple[str, str], list[float]] = defaultdict(list)
    for v in verdicts:
        if v.item_id in wanted and v.score is not None:
            sums[(v.item_id, f"{v.judge}/{v.rubric}")].append(v.score)
    judges: dict[str, dict[str, float]] = defaultdict(dict)
    for (item_id, key), values in sums.items():
        judges[item_id][key] = sum(values) / len(values)
    return judges


def build_rows(
    store: Store,
    run_id: str,
    selection: Selection,
    labels: Sequence[str],
    *,
    blind: bool,
    seed: int = 0,
    versus: source.Versus | None = None,
) -> list[dict[str, Any]]:
    """One dict per chosen item: the reviewer's view plus empty label fields.

    For pairs, `response_a` and `response_b` are the two responses as shown; `shown_order`
    is `AB` when A is this run's (always, unless blind: then a coin from the system's
    random source decides, which no seed or item order can replay, and `export_run`
    replaces `versus` and `shown_order` by a key before anything is written).
    """
    ids = selection.item_ids
    scores: dict[str, dict[str, float | None]] = {}
    judges: dict[str, dict[str, float]] = {}
    if not blind:
        scores = source.first_sample_scores(store, run_id, ids)
        if versus is not None:
            other = source.first_sample_scores(store, versus.run_id, ids, versus.sample)
            scores = {
                i: {f"A {k}": v for k, v in scores.get(i, {}).items()}
                | {f"B {k}": v for k, v in other.get(i, {}).items()}
                for i in ids
            }
        judges = _judge_means(
            source.verdicts(store, run_id, versus.key if versus else None), set(ids)
        )
    coin = random.SystemRandom()
    rows = []
    for item in source.review_items(store, run_id, ids, versus):
        row: dict[str, Any] = {
            "item_id": item.item_id,
            "input": item.input,
            "context": item.context or "",
            "references": list(item.references),
        }
        if versus is None:
            row["response"] = item.response
        else:
            swap = blind and coin.random() < 0.5
            first, second = (
                (item.response_b, item.response) if swap else (item.response, item.response_b)
            )
            row.update(
                response_a=first,
                response_b=second,
                versus=versus.key,
                shown_order="BA" if swap else "AB",
            )
        row["metadata"] = item.metadata
        if blind:  # a dataset column holding a response (replay:FIELD) would name its run
            shown = {r for r in (item.response, item.response_b) if r is not None}
            row["metadata"] = {
                k: v for k, v in item.metadata.items() if not _holds_response(v, shown)
            }
        why = selection.why.get(item.item_id, {})
        if "stratum" in why:
            row["stratum"] = why["stratum"]
        if not blind:
            row["scores"] = scores.get(item.item_id, {})
            row["judges"] = judges.get(item.item_id, {})
            because = {k: v for k, v in why.items() if k != "stratum"}
            if because:
                row["selected_because"] = "; ".join(f"{k}={_fmt(v)}" for k, v in because.items())
        for name in labels:
            row[name] = None
        row["annotator"] = None
        rows.append(row)
    if blind:
        random.Random(f"blind:{seed}").shuffle(rows)
    return rows


def _holds_response(value: Any, shown: set[str]) -> bool:
    """Whether a metadata value is a shown response as `replay:FIELD` reads one: the text,
    a number's digits, or a list of them (one per sample)."""
    if isinstance(value, list):
        return any(_holds_response(v, shown) for v in value)
    if isinstance(value, str | int | float) and not isinstance(value, bool):
        return str(value) in shown
    return False


def _fmt(value: Any) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def _cell(value: Any) -> str:
    """A text cell that a spreadsheet will not run as a formula: a quote goes before a
    formula's first character, and before a quote (so that import can always undo it)."""
    text = "" if value is None else str(value)
    return "'" + text if text.startswith((*_FORMULA_START, "'")) else text


def write_jsonl(rows: Sequence[dict[str, Any]], handle: TextIO) -> None:
    for row in rows:
        handle.write(json.dumps(row, ensure_ascii=False) + "\n")


def write_csv(rows: Sequence[dict[str, Any]], labels: Sequence[str], handle: TextIO) -> None:
    many = any(len(r["references"]) > 1 for r in rows)
    score_keys = sorted({k for r in rows for k in r.get("scores", {})})
    judge_keys = sorted({k for r in rows for k in r.get("judges", {})})
    columns = ["item_id"]
    if any("stratum" in r for r in rows):
        columns.append("stratum")
    columns += ["input", "context", "references" if many else "reference"]
    if rows and "response_a" in rows[0]:
        columns += ["response_a", "response_b"]
        columns += ["versus", "shown_order"] if "versus" in rows[0] else [blind_keys.KEY_COLUMN]
    else:
        columns.append("response")
    columns.append("metadata")
    columns += [SCORE_PREFIX + k for k in score_keys] + [JUDGE_PREFIX + k for k in judge_keys]
    if any("selected_because" in r for r in rows):
        columns.append("selected_because")
    columns += [*labels, "annotator"]
    # CRLF as RFC 4180 has it; it also makes the writer quote a cell holding a lone CR.
    writer = csv.writer(handle, lineterminator="\r\n")
    writer.writerow(columns)
    for r in rows:
        refs = r["references"]
        cells: dict[str, Any] = {
            "item_id": _cell(r["item_id"]),
            "stratum": _cell(r.get("stratum")),
            "input": _cell(r["input"]),
            "context": _cell(r["context"]),
            "reference": _cell(refs[0] if refs else ""),
            "references": _cell("\n---\n".join(refs)),
            "response": _cell(r.get("response")),
            "response_a": _cell(r.get("response_a")),
            "response_b": _cell(r.get("response_b")),
            "versus": _cell(r.get("versus")),
            "shown_order": r.get("shown_order", ""),
            blind_keys.KEY_COLUMN: r.get(blind_keys.KEY_COLUMN, ""),
            "metadata": json.dumps(r["metadata"], ensure_ascii=False) if r["metadata"] else "",
            "selected_because": _cell(r.get("selected_because")),
        }
        for key in score_keys:
            value = r["scores"].get(key)
            cells[SCORE_PREFIX + key] = "" if value is None else repr(float(value))
        for key in judge_keys:
            value = r["judges"].get(key)
            cells[JUDGE_PREFIX + key] = "" if value is None else repr(float(value))
        writer.writerow([cells.get(c, "") for c in columns])


def export_run(store: Store, ref: str, out: Path, options: ExportOptions) -> ExportResult:
    """Select items of run `ref` and write them to `out` (and, for Label Studio, its config)."""
    if options.format not in FORMATS:
        raise ConfigError(f"--format '{options.format}': choose one of {', '.join(FORMATS)}")
    run_id = str(store.get_run(ref)["id"])
    versus = source.resolve_versus(store, run_id, options.versus) if options.versus else None
    labels = label_names(store, run_id, options.labels, versus)
    other = versus.key if versus else None
    scales = label_scales(labels, options.scales, other, stored_scales(store, run_id))
    targets_paths = [out]
    if options.format == "label-studio":
        targets_paths.append(out.with_suffix(".xml"))  # the labeling config, beside it
    for path in targets_paths:
        check_target(path, force=options.force)
    suffixes = {"csv": (".csv",), "jsonl": (".jsonl", ".ndjson"), "label-studio": (".json",)}
    expected = suffixes.get(options.format, ())
    if expected and out.suffix.lower() not in expected:
        raise ConfigError(
            f"--out {out}: a {options.format} file is written; name it {expected[0]} "
            f"(or choose another --format: {', '.join(FORMATS)})"
        )
    selection = select(
        store,
        run_id,
        options.strategy,
        n=options.sample,
        seed=options.seed,
        by=options.by,
        metrics=options.metrics,
        lower_is_better=options.lower_is_better,
        versus=versus,
    )
    rows = build_rows(
        store, run_id, selection, labels, blind=options.blind, seed=options.seed, versus=versus
    )
    keys = blind_keys.hide_sides(rows) if options.blind and versus else []
    if keys:
        selection.notes.append(
            f"each pair's order is kept in {store.path} (table review_keys), not in the file: "
            "import the labels into this database"
        )
    if options.format == "csv":
        targets = [(out, lambda h: write_csv(rows, labels, h))]
    elif options.format == "jsonl":
        targets = [(out, lambda h: write_jsonl(rows, h))]
    else:
        tasks = label_studio.tasks(rows)
        config = label_studio.config(rows, labels, scales)
        targets = [
            (out, lambda h: h.write(json.dumps(tasks, ensure_ascii=False, indent=1) + "\n")),
            (targets_paths[1], lambda h: h.write(config)),
        ]
    if not keys:  # the database is only read
        paths = write_files(targets, force=options.force)
    else:
        with store.transaction() as conn:  # keys and files together: a failed write keeps none
            blind_keys.store_keys(conn, run_id, keys)
            paths = write_files(targets, force=options.force)
    return ExportResult(paths, len(rows), labels, selection)
