"""Terminal output: the progress bar and summary tables (rich, on stderr/stdout)."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskProgressColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table

from harness.pipeline import Tally


def _console(stderr: bool = False) -> Console:
    """A terminal's own width; piped or logged output (a CI log) gets 200 columns, not
    rich's 80, so tables keep ids, statuses and dates whole. COLUMNS still wins."""
    stream = sys.stderr if stderr else sys.stdout
    wide = not stream.isatty() and "COLUMNS" not in os.environ
    return Console(stderr=stderr, width=PIPED_WIDTH if wide else None)


PIPED_WIDTH = 200
err_console = _console(stderr=True)
console = _console()


@contextmanager
def run_progress(enabled: bool = True) -> Iterator[Callable[[Tally, int], None]]:
    """A progress bar (items/s, ETA, errors, tokens); yields the callback to feed it."""
    if not enabled:
        yield lambda tally, total: None
        return
    progress = Progress(
        TextColumn("[bold]run"),
        BarColumn(),
        MofNCompleteColumn(),
        TaskProgressColumn(),
        TextColumn("{task.fields[rate]:.1f} items/s"),
        TimeElapsedColumn(),
        TextColumn("ETA"),
        TimeRemainingColumn(),
        TextColumn("errors {task.fields[errors]}  tokens {task.fields[tokens]}"),
        console=err_console,
        transient=False,
    )
    task = progress.add_task("run", total=None, rate=0.0, errors=0, tokens=0)

    def update(tally: Tally, total: int) -> None:
        elapsed = progress.tasks[0].elapsed or 0.0
        progress.update(
            task,
            total=total,
            completed=tally.done + tally.skipped,
            rate=tally.done / elapsed if elapsed else 0.0,
            errors=tally.errors,
            tokens=tally.tokens,
        )

    with progress:
        yield update


def _fmt(value: Any, digits: int = 4) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.{digits}g}" if abs(value) < 1e5 else f"{value:.0f}"
    return str(value)


def print_summary(summary: dict[str, Any]) -> None:
    """The end-of-run table: metrics with 95% CIs, then errors, latency and tokens."""
    console.print(
        f"[bold]{escape(str(summary['name']))}[/bold]  id {summary['run_id']}  status "
        f"{summary['status']}  model {escape(str(summary['model']))}  dataset "
        f"{escape(str(summary['dataset']))}"
    )
    table = Table(title="metrics (95% CI)")
    for column in ("scorer", "metric", "mean", "95% CI", "n", "unscored"):
        table.add_column(column, justify="left" if column in ("scorer", "metric") else "right")
    for metric in summary["metrics"]:
        ci = (
            f"[{_fmt(metric['ci_low'])}, {_fmt(metric['ci_high'])}]"
            if metric["ci_low"] is not None
            else "-"
        )
        table.add_row(
            escape(metric["scorer"]),
            escape(metric["metric"]),
            _fmt(metric["value"]),
            ci,
            str(metric["n"]),
            str(metric["details"].get("unscored", 0)),
        )
    if summary["metrics"]:
        console.print(table)
    stats = summary["stats"]
    ops = Table(title="run")
    for column in (
        "items",
        "failed items",
        "cached",
        "latency p50 ms",
        "latency p95 ms",
        "prompt tokens",
        "completion tokens",
    ):
        ops.add_column(column, justify="right")
    ops.add_row(
        str(stats.get("items")),
        str(stats.get("failed_items")),
        str(stats.get("cached")),
        _fmt(stats.get("latency_p50_ms"), 5),
        _fmt(stats.get("latency_p95_ms"), 5),
        str(stats.get("prompt_tokens")),
        str(stats.get("completion_tokens")),
    )
    console.print(ops)
    shown = stats.get("first_errors", [])
    for error in shown:
        console.print(
            f"[red]error[/red] item {escape(str(error['item_id']))}: {escape(str(error['error']))}"
        )
    more = (stats.get("errors") or 0) - len(shown)
    if more > 0:
        console.print(f"... and {more} more failed response(s)")
