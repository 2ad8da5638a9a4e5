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
    """Entry point: usage and domain errors become one line and a non-zero exit (2 for
    bad input); `typer.Exit` codes and Ctrl-C are left to typer."""
    sys.exit(_main())


def _main() -> int:
    """Run the command line; its exit code (commands that end otherwise call sys.exit)."""
    click_errors = sys.modules[typer.BadParameter.__module__]  # click's, or typer's copy
    try:
        code = app(standalone_mode=False)
    except HarnessError as exc:
        if os.environ.get("HARNESS_TRACEBACK"):
            raise
        return _error(str(exc), exc.exit_code)
    except typer.Abort:  # a confirmation answered no
        return _error("aborted", 1)
    except click_errors.ClickException as exc:
        if type(exc).__name__ == "NoArgsIsHelpError":  # the help is printed already
            return int(exc.exit_code)
        return _error(exc.format_message(), exc.exit_code)
    return code if isinstance(code, int) else 0


def _error(message: str, code: int) -> int:
    """Print `message` as one line on stderr; return `code`."""
    print(f"error: {' '.join(message.split())}", file=sys.stderr)
    return code
