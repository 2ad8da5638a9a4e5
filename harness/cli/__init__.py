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
    from harness.cli import run, runs, score

    app.command("run")(run.run)
    app.command("score")(score.score)
    app.add_typer(runs.app, name="runs")


_register()


def main() -> None:
    """Entry point: domain errors become one line and a non-zero exit."""
    try:
        app(standalone_mode=False)
    except HarnessError as exc:
        if os.environ.get("HARNESS_TRACEBACK"):
            raise
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        sys.exit(130)
    except Exception as exc:
        import click

        if isinstance(exc, click.exceptions.Exit):
            sys.exit(exc.exit_code)
        if isinstance(exc, click.ClickException):
            exc.show()
            sys.exit(exc.exit_code)
        if isinstance(exc, click.exceptions.Abort):
            print("aborted", file=sys.stderr)
            sys.exit(130)
        raise
