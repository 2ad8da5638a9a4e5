"""Show a comparison report: rich tables for the terminal, Markdown for a pull request.

Both render the dict of `ComparisonReport.to_dict()`, so what is shown is what `--json`
prints.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from rich.console import Console
from rich.markup import escape as rich_escape
from rich.table import Table
from rich.text import Text

from harness.markdown_text import escape, escape_html, shorten

CORRECTIONS = {"holm": "Holm-Bonferroni", "bh": "Benjamini-Hochberg"}


def num(value: Any, signed: bool = False, digits: int = 4) -> str:
    if value is None:
        return "-"
    return f"{value:+.{digits}g}" if signed else f"{value:.{digits}g}"


def with_ci(estimate: dict[str, Any], signed: bool = False, sep: str = " ") -> str:
    value = num(estimate.get("value"), signed)
    if estimate.get("ci_low") is None:
        return value
    low, high = num(estimate["ci_low"], signed, 3), num(estimate["ci_high"], signed, 3)
    return f"{value}{sep}[{low}, {high}]"


def label(entry: dict[str, Any]) -> str:
    """SCORER/METRIC, or just METRIC where the scorer has the metric's name."""
    scorer, metric = entry["scorer"], entry["metric"]
    return metric if scorer == metric else f"{scorer}/{metric}"


def p_text(p: Any) -> str:
    if p is None:
        return "-"
    return "<0.001" if p < 0.001 else f"{p:.3g}"


def _title(comparison: dict[str, Any]) -> str:
    base, cand, items = comparison["baseline"], comparison["candidate"], comparison["items"]
    return (
        f"{cand['name']} ({cand['run_id']}) vs baseline {base['name']} ({base['run_id']}): "
        f"{items['shared']} shared items, {items['only_baseline']} only in the baseline, "
        f"{items['only_candidate']} only in the candidate"
    )


def verdict(metric: dict[str, Any]) -> str:
    """better / worse where the test finds a change, `mixed` where the test's own direction
    (Wilcoxon's ranks) and the mean difference disagree, else n.s."""
    if not metric.get("significant"):
        return "n.s."
    better = (metric["difference"]["value"] > 0) == metric["higher_is_better"]
    direction = metric.get("test_direction", 0)
    if direction and (direction > 0) != better:
        return "mixed"
    return "better" if better else "worse"


def _metric_rows(comparison: dict[str, Any], sep: str = " ") -> Iterator[list[str]]:
    for m in comparison["metrics"]:
        yield [
            label(m),
            m["test"],
            str(m["n"]),
            with_ci(m["baseline"], sep=sep),
            with_ci(m["candidate"], sep=sep),
            with_ci(m["difference"], signed=True, sep=sep),
            f"{p_text(m['p_value'])}{sep}({p_text(m['p_adjusted'])})",
            f"{m['wins']}/{m['ties']}/{m['losses']}",
            verdict(m),
        ]


METRIC_COLUMNS = (
    "metric",
    "test",
    "n",
    "baseline",
    "candidate",
    "difference",
    "p (adj.)",
    "win/tie/loss",
    "verdict",
)


def _slice_rows(metric: dict[str, Any], min_slice: int, sep: str = " ") -> Iterator[list[str]]:
    for s in metric["slices"]:
        yield [
            s["slice"],
            str(s["n"]) + (f" (< {min_slice})" if s["small"] else ""),
            with_ci(s["baseline"], sep=sep),
            with_ci(s["candidate"], sep=sep),
            with_ci(s["difference"], signed=True, sep=sep),
        ]


def _fairness_rows(slices: dict[str, Any], sep: str = " ") -> Iterator[list[str]]:
    for metric in slices["metrics"]:
        fairness = metric["fairness"]
        for run in ("baseline", "candidate"):
            figures = fairness.get(run)
            if not figures:
                continue
            ratio = figures["ratio"]
            ratio_text = "-"
            if ratio is not None:
                ratio_text = with_ci(ratio, sep=sep)
                ratio_text += " (< 0.8)" if ratio["below_four_fifths"] else ""
            yield [
                label(metric),
                run,
                f"{figures['worst']}: {num(figures['values'][figures['worst']])}",
                f"{figures['best']}: {num(figures['values'][figures['best']])}",
                with_ci(figures["gap"], sep=sep),
                p_text(figures["gap"]["p_value"]),
                ratio_text,
            ]
        if "gap_change" in fairness:
            yield [
                label(metric),
                "gap change",
                "",
                "",
                with_ci(fairness["gap_change"], signed=True, sep=sep),
                "",
                "",
            ]


def _no_fairness(slices: dict[str, Any]) -> str:
    return (
        f"No fairness figures across {slices['field']}: fewer than two slices have "
        f"--min-slice {slices['min_slice']} items with a value."
    )


FAIRNESS_COLUMNS = (
    "metric",
    "run",
    "worst slice",
    "best slice",
    "largest gap",
    "p (any gap)",
    "min/max rate",
)
SLICE_COLUMNS = ("slice", "n", "baseline", "candidate", "difference")
REGRESSION_COLUMNS = ("item", "baseline", "candidate", "delta", "input", "candidate response")


def _regression_rows(metric: dict[str, Any]) -> Iterator[list[str]]:
    for r in metric["regressions"]:
        yield [
            r["item_id"],
            num(r["baseline"]),
            num(r["candidate"]),
            num(r["delta"], signed=True),
            r.get("input") or "",
            r.get("candidate_response") or "",
        ]


def _table(title: str, columns: tuple[str, ...], rows: Iterator[list[str]]) -> Table:
    """A table whose title and cells are shown as written (never read as Rich markup)."""
    table = Table(title=Text(title), title_justify="left")
    for column in columns:
        table.add_column(column, overflow="fold")
    for row in rows:
        table.add_row(*(Text(cell) for cell in row))
    return table


def print_report(report: dict[str, Any], console: Console) -> None:
    """The report as rich tables."""
    settings = report["settings"]
    level = f"{settings['confidence']:.0%}"
    correction = CORRECTIONS[settings["correction"]]
    for comparison in report["comparisons"]:
        console.print(Text(_title(comparison), style="bold"))
        if comparison["metrics"]:
            console.print(
                _table(
                    f"metrics ({level} CI; p adjusted by {correction})",
                    METRIC_COLUMNS,
                    _metric_rows(comparison, sep="\n"),
                )
            )
        for metric in comparison["metrics"]:
            if metric["regressions"]:
                console.print(
                    _table(
                        f"most regressed items: {label(metric)}",
                        REGRESSION_COLUMNS,
                        _regression_rows(metric),
                    )
                )
        slices = comparison.get("slices")
        if slices:
            for metric in slices["metrics"]:
                console.print(
                    _table(
                        f"{label(metric)} by {slices['field']} ({level} CI)",
                        SLICE_COLUMNS,
                        _slice_rows(metric, slices["min_slice"], sep="\n"),
                    )
                )
            rows = list(_fairness_rows(slices, sep="\n"))
            if not rows:
                console.print(_no_fairness(slices), highlight=False, markup=False)
            else:
                console.print(
                    _table(
                        f"fairness across {slices['field']} ({level} CIs: the gap's leans up, "
                        "the ratio's down; p: "
                        "permutation test of 'no slice differs'; slices of at least "
                        f"{slices['min_slice']} items with a value)",
                        FAIRNESS_COLUMNS,
                        iter(rows),
                    )
                )
    for warning in report["warnings"]:
        console.print(f"[yellow]warning[/yellow] {rich_escape(warning)}", highlight=False)
    console.print(
        f"seed {settings['seed']}, {settings['resamples']} bootstrap resamples, "
        f"{settings['trials']} randomization trials",
        style="dim",
    )


def _markdown_table(columns: tuple[str, ...], rows: Iterator[list[str]]) -> list[str]:
    """A table whose every cell is escaped and free text (input, response) shortened."""
    lines = ["| " + " | ".join(escape(c) for c in columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(escape(shorten(c)) for c in row) + " |" for row in rows]
    return lines


def markdown_report(report: dict[str, Any]) -> str:
    """The report as GitHub-flavoured Markdown, fit for a pull-request comment."""
    settings = report["settings"]
    level = f"{settings['confidence']:.0%}"
    correction = CORRECTIONS[settings["correction"]]
    lines = ["## Run comparison", ""]
    for comparison in report["comparisons"]:
        lines += [f"### {escape(_title(comparison))}", ""]
        if comparison["metrics"]:
            lines += [
                f"Intervals are {level} paired-bootstrap CIs; p adjusted by {correction}.",
                "",
            ]
            lines += _markdown_table(METRIC_COLUMNS, _metric_rows(comparison))
            lines.append("")
        for metric in comparison["metrics"]:
            if metric["regressions"]:
                lines += [
                    "<details><summary>most regressed items: "
                    f"{escape_html(label(metric))}</summary>",
                    "",
                    *_markdown_table(REGRESSION_COLUMNS, _regression_rows(metric)),
                    "",
                    "</details>",
                    "",
                ]
        slices = comparison.get("slices")
        if slices:
            lines += [f"#### By {escape(slices['field'])}", ""]
            for metric in slices["metrics"]:
                lines += [f"**{escape(label(metric))}**", ""]
                lines += _markdown_table(SLICE_COLUMNS, _slice_rows(metric, slices["min_slice"]))
                lines.append("")
            rows = list(_fairness_rows(slices))
            if not rows:
                lines += [escape(_no_fairness(slices)), ""]
            else:
                lines += [
                    f"**Fairness across {escape(slices['field'])}** (slices of at least "
                    f"{slices['min_slice']} items with a value; the gap's interval leans "
                    "upward and the min/max ratio's downward, so either may miss its own "
                    "estimate: they size a gap; p tests whether any slice differs, by "
                    "shuffling slice labels)",
                    "",
                ]
                lines += _markdown_table(FAIRNESS_COLUMNS, iter(rows))
                lines.append("")
    if report["warnings"]:
        lines += ["**Warnings**", ""]
        lines += [f"- {escape(w)}" for w in report["warnings"]]
        lines.append("")
    lines.append(
        f"<sub>seed {settings['seed']}, {settings['resamples']} bootstrap resamples, "
        f"{settings['trials']} randomization trials</sub>"
    )
    return "\n".join(lines) + "\n"
