"""The report as a list of sections of plain blocks (headings, text, tables, plots).

Both renderers walk the same sections, so the HTML report and the Markdown summary show the
same figures; Markdown leaves the plots out. Every cell is a plain string here: escaping
is the renderer's job (Jinja autoescape for HTML, entity and pipe escaping for Markdown).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from harness.compare.render import FAIRNESS_COLUMNS, num, p_text, with_ci

CORRECTIONS = {"holm": "Holm-Bonferroni", "bh": "Benjamini-Hochberg"}
Estimate = dict[str, Any]


@dataclass
class Heading:
    text: str
    kind: str = "heading"


@dataclass
class Text:
    text: str
    kind: str = "text"


@dataclass
class Table:
    columns: list[str]
    rows: list[list[str]]
    caption: str = ""
    searchable: bool = False
    """Shown with a filter box (HTML)."""
    long: frozenset[int] = frozenset()
    """Columns of free text (inputs, responses): wrapped in HTML, shortened in Markdown."""
    id: str = ""
    kind: str = "table"


@dataclass
class Plot:
    plot: str
    """Function of `harness.report.plots`: histogram, slice_bars or differences."""
    args: tuple[Any, ...]
    alt: str
    caption: str = ""
    uri: str = ""
    """Filled by the HTML renderer."""
    kind: str = "plot"


@dataclass
class Grid:
    plots: list[Plot]
    kind: str = "grid"


Block = Heading | Text | Table | Plot | Grid


@dataclass
class Section:
    id: str
    title: str
    blocks: list[Block] = field(default_factory=list)


def est(value: Estimate | None, signed: bool = False) -> str:
    """value [low, high], or '-'."""
    if not isinstance(value, dict):
        return "-"
    return with_ci(value, signed=signed)


def count(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return num(value) if not value.is_integer() else str(int(value))
    return str(value)


def direction(lower_is_better: bool) -> str:
    return "lower" if lower_is_better else "higher"


def level_text(report: dict[str, Any]) -> str:
    return f"{report['settings']['confidence']:.0%}"


STORED_LEVEL = "95%"
"""The level of the intervals runs store (run metrics, toxicity, hallucination):
--confidence does not recompute them."""


# ------------------------------------------------------------------ runs and metrics


def runs_section(report: dict[str, Any]) -> Section:
    blocks: list[Block] = []
    for run in report["runs"]:
        blocks.append(Heading(f"{run['name']} ({run['run_id']})"))
        stored = f"{run['items_stored']} items stored"
        if run["n_items"] is not None:
            stored += f" of {run['n_items']}"
        times = f"created {run['created_at']}"
        if run["finished_at"]:
            times += f", finished {run['finished_at']}"
        blocks.append(Text(f"status {run['status']}; {stored}; {times}."))
        rows = [list(r) for r in run["configuration"]]
        blocks.append(
            Table(["setting", "value"], rows, caption="configuration", long=frozenset({1}))
        )
        if run["scorers"]:
            blocks.append(
                Table(
                    ["scorer", "signature", "options"],
                    [[s["name"], s["signature"], s["options"]] for s in run["scorers"]],
                    caption="scorers and their signatures",
                )
            )
        if run["versions"]:
            versions = ", ".join(f"{k} {v}" for k, v in sorted(run["versions"].items()))
            blocks.append(Text(f"versions: {versions}"))
    return Section("runs", "Runs", blocks)


def metrics_section(report: dict[str, Any]) -> Section:
    names = report["run_names"]
    rows = []
    for metric in report["metrics"]:
        row = [metric["label"], direction(metric["lower_is_better"])]
        for name in names:
            figures = metric["runs"].get(name)
            if figures is None:
                row.append("-")
                continue
            cell = f"{est(figures)} (n={count(figures['n'])})"
            if figures.get("source") == "item means":
                cell += ", item means"
            elif figures.get("source") == "corpus statistics":
                cell += ", from stored statistics"
            if figures.get("unscored"):
                cell += f", {figures['unscored']} unscored"
            row.append(cell)
        rows.append(row)
    caption = (
        f"value [{STORED_LEVEL} CI] per run, as the run stored it (item means unless the "
        "scorer aggregates otherwise); 'item means' and 'from stored statistics' mark figures "
        "recomputed for a run that did not finish"
    )
    blocks: list[Block] = [Table(["metric", "better", *names], rows, caption=caption)]
    unscored = [
        name
        for name in names
        if not any((m["runs"].get(name) or {}).get("n") for m in report["metrics"])
    ]
    if unscored:
        blocks.append(
            Text(f"No item of {', '.join(unscored)} was scored (its errors: `harness runs show`).")
        )
    return Section("metrics", "Metrics", blocks)


def distributions_section(report: dict[str, Any]) -> Section | None:
    if not report["distributions"]:
        return None
    plots = [
        Plot("histogram", (dist,), alt=f"histogram of {dist['label']}", caption=dist["label"])
        for dist in report["distributions"]
    ]
    text = Text("Per-item values (an item's samples averaged); unscored items left out.")
    return Section("distributions", "Distributions", [text, Grid(plots)])


# ------------------------------------------------------------------ slices


def fairness_rows(metric: dict[str, Any]) -> Iterable[list[str]]:
    for run in metric["runs"]:
        figures = run.get("fairness")
        if not figures:
            continue
        ratio = figures.get("ratio")
        ratio_text = "-"
        if ratio and ratio.get("value") is not None:
            ratio_text = est(ratio) + (" (< 0.8)" if ratio.get("below_four_fifths") else "")
        yield [
            run["run"],
            figures["worst"],
            figures["best"],
            est(figures["gap"]),
            p_text(figures["gap"].get("p_value")),
            ratio_text,
        ]


def slices_section(report: dict[str, Any]) -> Section | None:
    slices = report["slices"]
    if not slices:
        return None
    level = level_text(report)
    field_name = slices["field"]
    blocks: list[Block] = [
        Text(
            f"Each run sliced by '{field_name}': value per slice with its {level} CI (Wilson's "
            "for pass/fail scores, else bootstrap; none where a slice's values do not vary); "
            f"slices under {slices['min_slice']} items are marked small."
        )
    ]
    fairness = []
    without = []  # (metric, run) pairs with fewer than two slices large enough to compare
    for metric in slices["metrics"]:
        without += [
            f"{metric['label']} ({r['run']})" for r in metric["runs"] if not r.get("fairness")
        ]
        blocks.append(Heading(metric["label"]))
        blocks.append(
            Plot(
                "slice_bars",
                (metric, slices["groups"]),
                alt=f"{metric['label']} by {field_name}",
            )
        )
        rows = []
        for group in slices["groups"]:
            row = [group]
            for run in metric["runs"]:
                g = next((g for g in run["groups"] if g["slice"] == group), None)
                if g is None:
                    row.append("-")
                else:
                    small = " small" if g["small"] else ""
                    row.append(f"{est(g)} (n={g['n']}{small})")
            rows.append(row)
        blocks.append(Table(["slice", *(r["run"] for r in metric["runs"])], rows))
        fairness += [[metric["label"], *row] for row in fairness_rows(metric)]
    if fairness:
        blocks.append(Heading(f"Fairness across {field_name}"))
        blocks.append(
            Table(
                list(FAIRNESS_COLUMNS),
                fairness,
                caption=f"gap = highest - lowest slice value ({level} stratified-bootstrap CI, "
                "which leans upward: it sizes a gap, it does not show one exists); p = "
                "permutation test of 'no slice differs' (slice labels shuffled across items, "
                "uncorrected for the number of metrics); min/max "
                "rate for pass/fail metrics, flagged under the four-fifths rule (its interval "
                "leans downward, as the gap's upward: either may miss its estimate); only slices "
                f"of at least {slices['min_slice']} items with a value count",
            )
        )
    if without:
        blocks.append(
            Text(
                f"No fairness figures for {', '.join(without)}: fewer than two slices of at "
                f"least {slices['min_slice']} items with a value (--min-slice)."
            )
        )
    return Section("slices", f"Slices by {field_name}", blocks)


# ------------------------------------------------------------------ latency, items


LATENCY_ROWS = (
    ("items", "tokens", "items"),
    ("responses", "tokens", "responses"),
    ("errors", "tokens", "errors"),
    ("cached answers", "tokens", "cached"),
    ("timed calls", "latency", "n"),
    ("latency mean (ms)", "latency", "mean_ms"),
    ("latency p50 (ms)", "latency", "p50_ms"),
    ("latency p90 (ms)", "latency", "p90_ms"),
    ("latency p95 (ms)", "latency", "p95_ms"),
    ("latency p99 (ms)", "latency", "p99_ms"),
    ("latency max (ms)", "latency", "max_ms"),
    ("prompt tokens", "tokens", "prompt_tokens"),
    ("prompt tokens per response", "tokens", "prompt_tokens_mean"),
    ("completion tokens", "tokens", "completion_tokens"),
    ("completion tokens per response", "tokens", "completion_tokens_mean"),
    ("longest completion (tokens)", "tokens", "completion_tokens_max"),
)


def latency_section(report: dict[str, Any]) -> Section:
    runs = report["runs"]
    rows = [
        [name, *(count(run[group].get(key)) for run in runs)] for name, group, key in LATENCY_ROWS
    ]
    blocks: list[Block] = [Table(["figure", *report["run_names"]], rows)]
    latency = report["latency"]
    if latency:
        dist = latency | {"label": "latency (ms)", "runs": report["run_names"]}
        blocks.append(
            Plot(
                "histogram",
                (dist, "latency (ms)"),
                alt="histogram of latency",
                caption=f"latency of answered calls; slower than "
                f"{num(latency['clipped_above'])} ms counted in the last bin",
            )
        )
    return Section("latency", "Latency and tokens", blocks)


def _scores_text(scores: dict[str, float]) -> str:
    return ", ".join(f"{k} {num(v)}" for k, v in scores.items())


def worst_section(report: dict[str, Any]) -> Section | None:
    rows = []
    for run in report["runs"]:
        for w in run["worst"]:
            response = w["response"] if w["response"] is not None else f"(error) {w['error']}"
            rows.append(
                [
                    run["name"],
                    w["metric"],
                    w["item_id"],
                    num(w["value"]),
                    w["input"],
                    response or "",
                    _scores_text(w["scores"]),
                ]
            )
    if not rows:
        return None
    top = report["settings"]["top"]
    table = Table(
        ["run", "metric", "item", "value", "input", "response", "scores"],
        rows,
        caption=f"the {top} lowest-scoring items per metric (highest where lower is better)",
        searchable=True,
        long=frozenset({4, 5}),
        id="worst-items",
    )
    return Section("worst", "Worst items", [table])


def regressions_section(report: dict[str, Any]) -> Section | None:
    rows = [
        [
            r["candidate_run"],
            r["metric"],
            r["item_id"],
            num(r["baseline"]),
            num(r["candidate"]),
            num(r["delta"], signed=True),
            r["input"],
            r["baseline_response"] or "",
            r["candidate_response"] or "",
        ]
        for r in report["regressions"]
    ]
    if not rows:
        return None
    table = Table(
        [
            "candidate",
            "metric",
            "item",
            "baseline",
            "candidate value",
            "delta",
            "input",
            "baseline response",
            "candidate response",
        ],
        rows,
        caption="items that lost most against the baseline, per metric",
        searchable=True,
        long=frozenset({6, 7, 8}),
        id="regressions",
    )
    return Section("regressions", "Largest regressions", [table])


def settings_text(report: dict[str, Any]) -> str:
    s = report["settings"]
    return (
        f"generated {report['generated_at']} by harness {report['harness_version']}; "
        f"{s['confidence']:.0%} intervals for comparisons, slices, judges and human agreement "
        f"({STORED_LEVEL} for run metrics, toxicity and hallucination, as stored); "
        f"seed {s['seed']}, {s['resamples']} bootstrap "
        f"resamples; p-values adjusted by {CORRECTIONS.get(s['correction'], s['correction'])}"
    )


def build_sections(report: dict[str, Any]) -> list[Section]:
    """Every section the report has data for, in reading order."""
    from harness.report import views_extra as extra

    candidates: Sequence[Section | None] = (
        runs_section(report),
        metrics_section(report),
        extra.comparison_section(report),
        distributions_section(report),
        slices_section(report),
        extra.toxicity_section(report),
        extra.hallucination_section(report),
        extra.judge_section(report),
        extra.human_section(report),
        latency_section(report),
        worst_section(report),
        regressions_section(report),
    )
    sections = [s for s in candidates if s is not None]
    for section in sections:  # a table without rows is a header with nothing under it
        section.blocks = [b for b in section.blocks if not (isinstance(b, Table) and not b.rows)]
    return sections
