"""The `harness` command line: one module per command group, thin over the library.

Importing this package is light: the typer application (`app`) is built by
`harness.cli.commands` on first use, so that `main` can catch a Ctrl-C during the imports.
"""

from __future__ import annotations

import os
import signal
import sys
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from harness.cli.commands import app as app


def __getattr__(name: str) -> Any:
    """`app`, imported on first use."""
    if name == "app":
        from harness.cli.commands import app

        return app
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def main() -> None:
    """Entry point: usage and domain errors become one line and a non-zero exit (2 for
    bad input); Ctrl-C, at start-up too, becomes the line "interrupted" and exit 130."""
    try:
        try:
            code = _main()
        finally:  # the command has ended: a Ctrl-C now would only kill the exit (status -2)
            signal.signal(signal.SIGINT, signal.SIG_IGN)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        code = 130
    sys.exit(code)


def _main() -> int:
    """Run the command line; its exit code (commands that end otherwise call sys.exit)."""
    import sqlite3

    import typer

    from harness.cli.commands import app
    from harness.errors import HarnessError

    click_errors = sys.modules[typer.BadParameter.__module__]  # click's, or typer's copy
    try:
        code = app(standalone_mode=False)
    except HarnessError as exc:
        if os.environ.get("HARNESS_TRACEBACK"):
            raise
        return _error(str(exc), exc.exit_code)
    except sqlite3.Error as exc:  # the open database locked, read-only, full or damaged
        from harness.store.failures import store_error

        error = store_error(exc)
        if error is None or os.environ.get("HARNESS_TRACEBACK"):
            raise
        return _error(str(error), error.exit_code)
    except typer.Abort:  # a confirmation answered no
        return _error("aborted", 1)
    except click_errors.ClickException as exc:
        if type(exc).__name__ == "NoArgsIsHelpError":  # the help is printed already
            return int(exc.exit_code)
        return _error(exc.format_message(), exc.exit_code)
    if code == 130:  # typer's exit code for a KeyboardInterrupt inside a command
        raise KeyboardInterrupt
    return code if isinstance(code, int) else 0


def _error(message: str, code: int) -> int:
    """Print `message` as one line on stderr; return `code`."""
    print(f"error: {' '.join(message.split())}", file=sys.stderr)
    return code
