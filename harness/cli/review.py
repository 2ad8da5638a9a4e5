"""`harness export` and `harness import-labels`: the human review round trip."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from harness.cli.options import DbOption, JsonOption, split_names
from harness.store.db import DEFAULT_DB

if TYPE_CHECKING:
    from rich.console import Console

RunArgument = Annotated[str, typer.Argument(help="Run id or name.")]
ScaleOption = Annotated[
    list[str] | None,
    typer.Option(
        "--scale",
        help="A label's scale, NAME=SPEC (1-5, 0.0-1.0, pass,fail or free); repeatable. "
        "A rubric of that name in rubrics/ sets it already.",
    ),
]
LabelOption = Annotated[
    list[str] | None,
    typer.Option(
        "--label", help="Label column name (repeatable; default: judged rubrics, else 'label')."
    ),
]


def export(
    run: RunArgument,
    out: Annotated[Path, typer.Option("--out", help="File to write (its folder must exist).")],
    out_format: Annotated[
        str,
        typer.Option("--format", help="csv, jsonl or label-studio (tasks .json + config .xml)."),
    ] = "csv",
    sample: Annotated[
        int | None, typer.Option("--sample", help="How many items (default: all).", min=1)
    ] = None,
    strategy: Annotated[
        str,
        typer.Option(help="random, stratified (--by), worst (--metric), disagreement, unstable."),
    ] = "random",
    by: Annotated[str | None, typer.Option("--by", help="Metadata field to stratify by.")] = None,
    metric: Annotated[
        list[str] | None,
        typer.Option("--metric", help="Metric for worst/disagreement (scorer/metric or metric)."),
    ] = None,
    lower_is_better: Annotated[
        list[str] | None,
        typer.Option("--lower-is-better", help="Metrics where lower is better (worst = highest)."),
    ] = None,
    blind: Annotated[
        bool, typer.Option("--blind", help="Leave out current scores and shuffle the rows.")
    ] = False,
    seed: Annotated[int, typer.Option(help="Seed of the sampling and the blind shuffle.")] = 0,
    versus: Annotated[
        str | None,
        typer.Option(
            "--versus",
            help="Export pairs: this run's response and another run's (RUN) or sample (sample:K).",
        ),
    ] = None,
    label: LabelOption = None,
    scale: ScaleOption = None,
    force: Annotated[bool, typer.Option("--force", help="Overwrite an existing file.")] = False,
    db: DbOption = DEFAULT_DB,
    json_output: JsonOption = False,
) -> None:
    """Export items of a run for human review, with empty label columns to fill in."""
    from harness.review.export import ExportOptions, export_run
    from harness.review.scale import parse_options
    from harness.store.db import Store

    options = ExportOptions(
        format=out_format,
        strategy=strategy,
        sample=sample,
        by=by,
        metrics=split_names(metric),
        lower_is_better=frozenset(split_names(lower_is_better)),
        blind=blind,
        seed=seed,
        labels=split_names(label),
        scales=parse_options(scale),
        force=force,
        versus=versus,
    )
    store = Store.existing(db)
    try:
        result = export_run(store, run, out, options)
    finally:
        store.close()
    paths = [str(p) for p in result.paths]
    summary = {
        "paths": paths,
        "rows": result.rows,
        "strategy": result.selection.strategy,
        "available": result.selection.available,
        "labels": result.labels,
        "notes": result.selection.notes,
    }
    if json_output:
        typer.echo(json.dumps(summary, indent=2))
        return
    typer.echo(
        f"wrote {result.rows} items ({result.selection.strategy}, of {result.selection.available}) "
        f"to {', '.join(paths)}; label columns: {', '.join(result.labels)}"
    )
    for note in result.selection.notes:
        typer.echo(f"note: {note}")


def import_labels(
    run: RunArgument,
    file: Annotated[
        Path, typer.Argument(help="Filled CSV/JSONL export, or a Label Studio JSON export.")
    ],
    annotator: Annotated[
        str | None,
        typer.Option("--annotator", help="Annotator for rows that name none."),
    ] = None,
    scale: ScaleOption = None,
    label: Annotated[
        list[str] | None,
        typer.Option("--label", help="Import only these label columns (repeatable)."),
    ] = None,
    replace: Annotated[
        bool, typer.Option("--replace", help="Overwrite labels already stored for the same key.")
    ] = False,
    file_format: Annotated[
        str | None,
        typer.Option("--format", help="csv, jsonl or json (default: from the file name)."),
    ] = None,
    db: DbOption = DEFAULT_DB,
    json_output: JsonOption = False,
) -> None:
    """Validate and store human labels for a run: all of them, or none."""
    from dataclasses import asdict

    from harness.review.labels import import_labels as run_import
    from harness.review.scale import parse_options
    from harness.store.db import Store

    store = Store.existing(db)
    try:
        result = run_import(
            store,
            run,
            file,
            annotator=annotator,
            scales=parse_options(scale),
            only=split_names(label),
            replace=replace,
            fmt=file_format,
        )
    finally:
        store.close()
    if json_output:
        typer.echo(json.dumps(asdict(result), indent=2))
        return
    typer.echo(
        f"imported {result.labels} labels on {result.items} items from "
        f"{len(result.annotators)} annotator{'' if len(result.annotators) == 1 else 's'} "
        f"({', '.join(result.annotators)}); "
        f"labels: {', '.join(f'{n} [{result.scales[n]}]' for n in result.names)}"
    )
    if result.replaced:
        typer.echo(f"replaced {result.replaced} labels stored before")
    if result.skipped_rows:
        typer.echo(f"skipped {result.skipped_rows} rows with no label filled in")
    typer.echo(f"{result.human_scores} item scores of scorer 'human' for compare")


def _fmt(estimate: dict[str, Any] | None) -> str:
    if not estimate or estimate.get("value") is None:
        return "-"
    text = f"{estimate['value']:.3f}"
    if estimate.get("ci_low") is not None:
        text += f" [{estimate['ci_low']:.3f}, {estimate['ci_high']:.3f}]"
    return text


def print_human_agreement(report: dict[str, Any], console: Console) -> None:
    """Tables of human-human and judge-human agreement (from `human_agreement`)."""
    from rich.markup import escape
    from rich.table import Table

    for name, figures in report.items():
        hh = figures["human_human"]
        console.print(
            f"[bold]human labels '{escape(name)}'[/bold]  scale "
            f"{escape(str(figures['scale']))} ({figures['level']})  "
            f"{figures['items']} items, {figures['ratings']} ratings, "
            f"{len(figures['annotators'])} annotators, {hh['items_with_2_or_more']} items with 2+"
        )
        table = Table(title=f"human-human agreement on '{escape(name)}' (95% CI)")
        for column in ("figure", "value", "n"):
            table.add_column(column, justify="left" if column == "figure" else "right")
        fleiss = hh.get("fleiss_kappa")
        if fleiss:
            table.add_row(
                f"Fleiss' kappa ({fleiss['raters_per_item']} ratings/item)",
                _fmt(fleiss),
                str(fleiss["n"]),
            )
        alpha = hh["krippendorff_alpha"]
        table.add_row(f"Krippendorff's alpha ({figures['level']})", _fmt(alpha), str(alpha["n"]))
        for pair in hh["pairwise"]:
            table.add_row(
                f"Cohen's kappa {escape(pair['a'])} / {escape(pair['b'])}",
                _fmt(pair["cohen_kappa"]),
                str(pair["n"]),
            )
            if "weighted_kappa" in pair:
                table.add_row(
                    f"  quadratic-weighted {escape(pair['a'])} / {escape(pair['b'])}",
                    _fmt(pair["weighted_kappa"]),
                    str(pair["n"]),
                )
        console.print(table)
        for judge in figures.get("judge_human", []):
            jt = Table(
                title=f"judge {escape(judge['judge'])} vs humans on '{escape(name)}' (95% CI)"
            )
            for column in ("figure", "value", "n"):
                jt.add_column(column, justify="left" if column == "figure" else "right")
            weights = judge.get("kappa_weights")
            for row in judge["per_annotator"]:
                kind = f"{weights}-weighted kappa" if weights else "kappa"
                jt.add_row(
                    f"{kind} vs {escape(row['annotator'])}",
                    _fmt(row["cohen_kappa"]),
                    str(row["n"]),
                )
                jt.add_row(
                    f"exact agreement vs {escape(row['annotator'])}",
                    _fmt(row["exact_agreement"]),
                    str(row["n"]),
                )
            for key, title in (
                ("spearman", "Spearman vs human mean"),
                ("kendall", "Kendall tau-b"),
            ):
                if key in judge:
                    jt.add_row(title, _fmt(judge[key]), str(judge[key]["n"]))
            jt.add_row(
                "alpha, humans only", _fmt(judge["alpha_humans"]), str(judge["alpha_humans"]["n"])
            )
            jt.add_row(
                "alpha, judge as one more rater",
                _fmt(judge["alpha_with_judge"]),
                str(judge["alpha_with_judge"]["n"]),
            )
            console.print(jt)
