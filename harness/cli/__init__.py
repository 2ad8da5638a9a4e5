"""The `harness` command line: one module per command group, thin over the library."""

from __future__ import annotations

import os
import sys

import typer

from harness.errors import HarnessError

app = typer.Typer(
    name="harness",
    help="Evaluate LLMs: run datasets through models, score, store, compare.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _register() -> None:
    from harness.cli import compare, judge, report, review, run, runs, score

    app.command("run")(run.run)
    app.command("compare")(compare.compare)
    app.command("gate")(compare.gate)
    app.command("report")(report.report)
    app.command("score")(score.score)
    app.command("export")(review.export)
    app.command("import-labels")(review.import_labels)
    app.command("judge-report")(judge.judge_report)
    app.command("judge-pairwise")(judge.judge_pairwise)
    app.add_typer(runs.app, name="runs")


_register()


def main() -> None:
    """Entry point: domain errors become one line and a non-zero exit.

    Usage errors, `typer.Exit` codes and Ctrl-C are handled by typer's standalone mode.
    """
    try:
        app()
    except HarnessError as exc:
        if os.environ.get("HARNESS_TRACEBACK"):
            raise
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(exc.exit_code)
