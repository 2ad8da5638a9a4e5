"""`harness report`: one self-contained HTML file with plots, or a Markdown summary."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from harness.cli.options import DbOption, split_names
from harness.store.db import DEFAULT_DB

FORMATS = ("html", "markdown", "json")


def write_file(path: Path, text: str, force: bool) -> None:
    """Write atomically into `path`'s folder (which must exist); replace only with `force`."""
    from harness.files import write_files

    write_files([(path, lambda handle: handle.write(text))], force=force)


def report(
    runs: Annotated[
        list[str],
        typer.Argument(help="RUN [RUN ...]: run ids or names; the first is the baseline."),
    ],
    out: Annotated[
        Path | None,
        typer.Option(
            "--out", "-o", help="File to write (required for html; markdown/json print without)."
        ),
    ] = None,
    output_format: Annotated[
        str, typer.Option("--format", help="html (with plots), markdown (tables) or json.")
    ] = "html",
    by: Annotated[
        str | None, typer.Option("--by", help="Metadata field to slice by (e.g. category).")
    ] = None,
    force: Annotated[bool, typer.Option("--force", help="Overwrite --out if it exists.")] = False,
    top: Annotated[
        int, typer.Option(help="Worst items per metric and run; regressions per metric.", min=0)
    ] = 10,
    seed: Annotated[int, typer.Option(help="Seed of the bootstrap (reproducible).")] = 12345,
    resamples: Annotated[int, typer.Option(help="Bootstrap resamples.", min=1)] = 1000,
    confidence: Annotated[float, typer.Option(help="Confidence level of the CIs.")] = 0.95,
    correction: Annotated[
        str, typer.Option(help="Multiple-comparison correction: holm or bh.")
    ] = "holm",
    min_slice: Annotated[
        int, typer.Option(help="Slices smaller than this are marked small.", min=1)
    ] = 30,
    lower_is_better: Annotated[
        list[str] | None,
        typer.Option(
            "--lower-is-better",
            help="Metric (NAME or SCORER/NAME) where lower is better (repeatable).",
        ),
    ] = None,
    db: DbOption = DEFAULT_DB,
) -> None:
    """Write a report of RUN, or of several runs compared with the first.

    Configuration, metrics with CIs, distributions, slices, judges, latency, worst items."""
    from harness.errors import ConfigError
    from harness.files import check_target
    from harness.report import ReportOptions, gather_report
    from harness.store.db import Store

    if output_format not in FORMATS:
        raise ConfigError(f"--format must be one of {', '.join(FORMATS)}, not '{output_format}'")
    if out is None and output_format == "html":
        raise ConfigError("name the HTML file with --out FILE (e.g. --out report.html)")
    if out is not None:
        check_target(out, force=force)  # before the work: a folder that exists, a new file
    options = ReportOptions(
        by=by,
        top=top,
        resamples=resamples,
        seed=seed,
        confidence=confidence,
        correction=correction,
        min_slice=min_slice,
        lower_is_better=frozenset(split_names(lower_is_better)),
    )
    store = Store.existing(db)
    try:
        data = gather_report(store, runs, options)
    finally:
        store.close()
    if output_format == "html":
        from harness.report import render_html

        text = render_html(data)
    elif output_format == "markdown":
        from harness.report import render_markdown

        text = render_markdown(data)
    else:
        text = json.dumps(data, indent=2, ensure_ascii=False) + "\n"
    if out is None:
        typer.echo(text, nl=False)
        return
    write_file(out, text, force)
    typer.echo(f"wrote {out} ({len(text.encode('utf-8')) / 1024:.0f} KiB)", err=True)
