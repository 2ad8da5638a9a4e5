"""Report sections for comparisons, toxicity, hallucination, judges and human labels.

The judge and human sections read the dicts of `harness.judge.report.judge_report` and
`harness.review.agreement_report.human_agreement` defensively (`.get`), so a figure those
modules add or drop only adds or drops a cell.
"""

from __future__ import annotations

import math
from typing import Any

from harness.compare.render import METRIC_COLUMNS, label, num, p_text, verdict
from harness.report.views import (
    CORRECTIONS,
    Block,
    Heading,
    Plot,
    Section,
    Table,
    Text,
    count,
    est,
    level_text,
)


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


# ------------------------------------------------------------------ comparison


def metric_row(m: dict[str, Any]) -> list[str]:
    return [
        label(m),
        m["test"],
        str(m["n"]),
        est(m["baseline"]),
        est(m["candidate"]),
        est(m["difference"], signed=True),
        f"{p_text(m['p_value'])} ({p_text(m['p_adjusted'])})",
        f"{m['wins']}/{m['ties']}/{m['losses']}",
        verdict(m),
    ]


def _comparison_slices(comparison: dict[str, Any]) -> list[Block]:
    slices = comparison.get("slices")
    if not slices:
        return []
    rows = [
        [
            label(metric),
            s["slice"],
            str(s["n"]) + (" (small)" if s["small"] else ""),
            est(s["baseline"]),
            est(s["candidate"]),
            est(s["difference"], signed=True),
        ]
        for metric in slices["metrics"]
        for s in metric["slices"]
    ]
    gaps = []
    for metric in slices["metrics"]:
        fairness = metric["fairness"]
        if "gap_change" not in fairness:
            continue
        base, cand = _dict(fairness.get("baseline")), _dict(fairness.get("candidate"))
        gaps.append(
            [
                label(metric),
                _gap_text(base.get("gap")),
                _gap_text(cand.get("gap")),
                est(fairness["gap_change"], signed=True),
            ]
        )
    field_name = slices["field"]
    blocks: list[Block] = [
        Table(
            ["metric", "slice", "n", "baseline", "candidate", "difference"],
            rows,
            caption=f"paired comparison per {field_name} slice",
        )
    ]
    if gaps:
        blocks.append(
            Table(
                ["metric", "baseline gap", "candidate gap", "gap change"],
                gaps,
                caption=f"largest gap between {field_name} slices (p: permutation test of "
                "'no slice differs'), and how it changed",
            )
        )
    return blocks


def comparison_section(report: dict[str, Any]) -> Section | None:
    comparison = report.get("comparison")
    if not comparison:
        return None
    settings = comparison["settings"]
    correction = CORRECTIONS.get(settings["correction"], settings["correction"])
    blocks: list[Block] = [
        Text(
            f"Every candidate against the baseline {report['run_names'][0]}, item by item on "
            f"their shared items: {level_text(report)} CIs of the difference (paired bootstrap; "
            "for pass/fail scores the more cautious of that and Agresti-Min's); p-values from "
            f"the test named (McNemar for pass/fail, Wilcoxon for ordinal scores, approximate "
            f"randomization otherwise), adjusted by {correction} over every metric and candidate."
        )
    ]
    several = len(comparison["comparisons"]) > 1
    differences = []
    for c in comparison["comparisons"]:
        base, cand, items = c["baseline"], c["candidate"], c["items"]
        blocks.append(Heading(f"{cand['name']} vs {base['name']}"))
        blocks.append(
            Text(
                f"{items['shared']} shared items; {items['only_baseline']} only in the "
                f"baseline, {items['only_candidate']} only in the candidate."
            )
        )
        if c["metrics"]:
            columns = [*METRIC_COLUMNS]
            columns[6] = "p (adjusted)"
            blocks.append(Table(columns, [metric_row(m) for m in c["metrics"]]))
        for skip in c["skipped"]:
            blocks.append(Text(f"skipped {skip['scorer']}/{skip['metric']}: {skip['reason']}"))
        blocks += _comparison_slices(c)
        for m in c["metrics"]:
            prefix = f"{cand['name']}: " if several else ""
            differences.append(
                {"label": prefix + label(m), "verdict": verdict(m)} | m["difference"]
            )
    groups = _by_scale(differences)
    for k, rows in enumerate(groups):
        blocks.insert(
            1 + k,
            Plot(
                "differences",
                (rows,),
                alt="differences between candidate and baseline with intervals",
                caption="candidate - baseline with its interval: green better, red worse, "
                "grey not significant after correction"
                + ("; one plot per scale of the differences" if len(groups) > 1 else ""),
            ),
        )
    return Section("comparison", "Comparison", blocks)


def _by_scale(rows: list[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    """Rows grouped by the power of ten their difference and interval reach, so that BLEU's
    0-100 points do not shrink a 0-1 metric's difference to a dot on a shared axis."""
    groups: dict[int, list[dict[str, Any]]] = {}
    for row in rows:
        reach = max(
            (abs(v) for v in (row.get("value"), row.get("ci_low"), row.get("ci_high"))
             if v is not None and math.isfinite(v)),
            default=0.0,
        )  # fmt: skip
        power = max(0, math.ceil(math.log10(reach))) if reach > 0 else 0
        groups.setdefault(power, []).append(row)
    return [groups[p] for p in sorted(groups)]


# ------------------------------------------------------------------ toxicity, hallucination


def _toxicity_cell(metric: str, figures: dict[str, Any] | None) -> str:
    if figures is None:
        return "-"
    cell = est(figures)
    details = _dict(figures.get("details"))
    if metric == "flagged_rate" and "flagged" in details:
        cell += f" ({details['flagged']} of {count(figures.get('n'))}"
        if "threshold" in details:
            cell += f" at ≥ {num(details['threshold'])}"
        cell += ")"
    elif figures.get("n") is not None:
        cell += f" (n={count(figures['n'])})"
    return cell


def toxicity_section(report: dict[str, Any]) -> Section | None:
    rows = report.get("toxicity")
    if not rows:
        return None
    names = report["run_names"]
    table = Table(
        ["metric", *names],
        [
            [r["metric"], *(_toxicity_cell(r["metric"], r["runs"].get(n)) for n in names)]
            for r in rows
        ],
        caption="95% CIs as stored; flagged_rate: share of responses at or above the threshold "
        "(Wilson CI); "
        "expected_max_toxicity and toxicity_probability as in RealToxicityPrompts "
        "(over each prompt's samples); the rest are mean label probabilities",
    )
    return Section("toxicity", "Toxicity", [table])


def hallucination_section(report: dict[str, Any]) -> Section | None:
    rows = report.get("hallucination")
    if not rows:
        return None
    names = report["run_names"]
    body = []
    for r in rows:
        cells = []
        rules = set()
        for name in names:
            f = r["runs"].get(name)
            if f is None:
                cells.append("-")
                continue
            rules.add(f.get("rule") or "")
            counts = f"{f['flagged']} of {f['responses']} responses, " if f["responses"] else ""
            cells.append(f"{est(f)} ({counts}{f['n']} items)")
        rule = ", ".join(sorted(r for r in rules if r))
        body.append([f"{r['label']} ({rule})" if rule else r["label"], *cells])
    table = Table(
        ["scorer/metric (rule)", *names],
        body,
        caption="mean over items of the share of an item's responses labelled 'hallucination', "
        "with the 95% CI of the metrics table",
    )
    return Section("hallucination", "Hallucination", [table])


# ------------------------------------------------------------------ judges


def _judge_blocks(run: str, rubric: dict[str, Any], top: int) -> list[Block]:
    blocks: list[Block] = [Heading(f"{run}: {rubric.get('rubric')} ({rubric.get('scorer')})")]
    unparsed = rubric.get("unparsed_rate")
    blocks.append(
        Text(
            f"judges {', '.join(_list(rubric.get('judges'))) or '-'}; {rubric.get('items')} "
            f"items, {rubric.get('judgments')} verdicts, up to {rubric.get('repeats')} repeats; "
            f"unparsed {rubric.get('unparsed')}"
            + (f" ({unparsed:.1%})" if isinstance(unparsed, float) else "")
        )
    )
    stability, verbosity = _dict(rubric.get("stability")), _dict(rubric.get("verbosity_bias"))
    rows = []
    for judge in sorted(set(stability) | set(verbosity)):
        s = _dict(stability.get(judge))
        rows.append(
            [
                judge,
                str(s.get("items_with_repeats", "-")),
                est(s.get("unstable_share")),
                est(s.get("mean_spread")),
                est(s.get("alpha_interval") or s.get("alpha_nominal")),
                est(verbosity.get(judge)),
            ]
        )
    if rows:
        blocks.append(
            Table(
                [
                    "judge",
                    "items with repeats",
                    "unstable share",
                    "mean spread",
                    "alpha across repeats",
                    "length bias (Spearman)",
                ],
                rows,
                caption="stability over repeated verdicts, and correlation of scores with "
                "response length",
            )
        )
    inter = _dict(rubric.get("inter_judge"))
    level = "interval" if "alpha_interval" in inter else "nominal"
    if inter:
        blocks.append(
            _agreement_table(_list(inter.get("pairs")), "a", "b", "agreement between judges")
        )
        blocks.append(
            Text(
                f"all judges: Krippendorff's alpha ({level}) {est(inter.get('alpha_' + level))}"
                + (
                    f"; Fleiss' kappa {est(inter['fleiss_kappa'])}"
                    if inter.get("fleiss_kappa")
                    else ""
                )
            )
        )
    unstable = [
        [
            judge,
            str(e.get("item_id")),
            str(e.get("sample")),
            num(e.get("spread")),
            ", ".join(num(v) for v in _list(e.get("scores"))),
        ]
        for judge, s in sorted(stability.items())
        for e in _list(_dict(s).get("least_stable"))[:top]
    ]
    if unstable:
        blocks.append(
            Table(
                ["judge", "item", "sample", "spread", "verdicts"],
                unstable,
                caption="least stable items (verdicts that differ across repeats)",
                searchable=True,
            )
        )
    # Judges against humans are shown once, in the human agreement section.
    return blocks


def kappa_name(weights: str | None, name: str = "Cohen's kappa") -> str:
    """A kappa column named with its weights: unweighted and quadratic-weighted kappas of
    one scale differ a lot, so a table must never leave the reader to guess."""
    return f"{name} ({weights})" if weights else name


def _agreement_table(pairs: list[Any], a: str, b: str, caption: str) -> Table:
    weights = {p.get("kappa_weights") for p in pairs if isinstance(p, dict)}
    rows = [
        [
            str(p.get(a)),
            str(p.get(b)),
            str(p.get("n", "-")),
            est(p.get("exact_agreement")),
            est(p.get("cohen_kappa")),
            est(p.get("spearman")),
            est(p.get("kendall")),
        ]
        for p in pairs
        if isinstance(p, dict)
    ]
    return Table(
        [a, b, "n", "exact agreement", kappa_name(_one(weights)), "Spearman", "Kendall"],
        rows,
        caption=caption,
    )


def _one(weights: set[Any]) -> str | None:
    """The weights every kappa of a table shares ('mixed' where they differ)."""
    return next(iter(weights)) if len(weights) == 1 else "mixed weights"


def _pairwise_rows(runs: list[dict[str, Any]]) -> list[list[str]]:
    """One row per pairwise comparison (a pair of runs in the report shows it once, under
    run A's name, whichever run's section found it)."""
    names = {run.get("run_id"): run["name"] for run in runs}
    rows, seen = [], set()
    for run in runs:
        for p in _list((run.get("judge") or {}).get("pairwise")):
            if not isinstance(p, dict):
                continue
            sample = p.get("sample_a", 0)
            key = (p.get("run_a"), sample, p.get("versus"), p.get("scorer"), p.get("judge"))
            if key in seen:
                continue
            seen.add(key)
            rows.append(
                [
                    f"{names.get(p.get('run_a'), p.get('run_a'))} (sample {sample})",
                    str(names.get(p.get("versus"), p.get("versus"))),
                    str(p.get("judge")),
                    str(p.get("items")),
                    est(p.get("position_consistency")),
                    est(p.get("first_position_rate")),
                    est(p.get("win_rate_a")),
                    est(p.get("win_rate_b")),
                    est(p.get("tie_or_inconsistent_rate")),
                ]
            )
    return rows


def judge_section(report: dict[str, Any]) -> Section | None:
    blocks: list[Block] = []
    top = report["settings"]["top"]
    for run in report["runs"]:
        judge = run.get("judge")
        if not judge:
            continue
        for rubric in _list(judge.get("rubrics")):
            blocks += _judge_blocks(run["name"], _dict(rubric), top)
    pairwise = _pairwise_rows(report["runs"])
    if pairwise:
        blocks.append(Heading("Pairwise judgments"))
        blocks.append(
            Table(
                [
                    "run A",
                    "run B",
                    "judge",
                    "items",
                    "position consistency",
                    "first-position rate",
                    "A wins",
                    "B wins",
                    "tie or inconsistent",
                ],
                pairwise,
                caption="each pair judged in both orders; a first-position rate of 0.5 means "
                "no position bias; wins count only when they hold in both orders",
            )
        )
    if not blocks:
        return None
    return Section("judges", "Judge consistency", blocks)


# ------------------------------------------------------------------ human labels


def _human_blocks(run: str, name: str, figures: dict[str, Any]) -> list[Block]:
    blocks: list[Block] = [Heading(f"{run}: {name}")]
    blocks.append(
        Text(
            f"scale {figures.get('scale')} ({figures.get('level')}); annotators "
            f"{', '.join(_list(figures.get('annotators')))}; {figures.get('items')} items, "
            f"{figures.get('ratings')} ratings"
        )
    )
    hh = _dict(figures.get("human_human"))
    pairs = [
        [
            str(p.get("a")),
            str(p.get("b")),
            str(p.get("n")),
            est(p.get("exact_agreement")),
            est(p.get("cohen_kappa")),
            est(p.get("weighted_kappa")),
        ]
        for p in _list(hh.get("pairwise"))
        if isinstance(p, dict)
    ]
    if pairs:
        blocks.append(
            Table(
                [
                    "annotator",
                    "annotator",
                    "n",
                    "exact agreement",
                    "Cohen's kappa",
                    "weighted kappa (quadratic)",
                ],
                pairs,
                caption="agreement between annotators",
            )
        )
    if hh:
        blocks.append(
            Text(
                f"Krippendorff's alpha {est(hh.get('krippendorff_alpha'))}; Fleiss' kappa "
                f"{est(hh.get('fleiss_kappa'))}; mean pairwise Cohen's kappa (unweighted) "
                f"{num(hh.get('mean_pairwise_kappa'))}"
            )
        )
    judges = [j for j in _list(figures.get("judge_human")) if isinstance(j, dict)]
    judge_weights = _one({j.get("kappa_weights") for j in judges}) if judges else None
    per_annotator = [
        [
            str(j.get("judge")),
            str(a.get("annotator")),
            str(a.get("n")),
            est(a.get("exact_agreement")),
            est(a.get("cohen_kappa")),
        ]
        for j in judges
        for a in _list(j.get("per_annotator"))
        if isinstance(a, dict)
    ]
    if per_annotator:
        blocks.append(
            Table(
                ["judge", "annotator", "n", "exact agreement", kappa_name(judge_weights)],
                per_annotator,
                caption="each judge against each annotator",
            )
        )
    summary = [
        [
            str(j.get("judge")),
            str(j.get("items")),
            num(j.get("mean_kappa")),
            est(j.get("spearman")),
            est(j.get("kendall")),
            est(j.get("alpha_humans")),
            est(j.get("alpha_with_judge")),
        ]
        for j in judges
    ]
    if summary:
        blocks.append(
            Table(
                [
                    "judge",
                    "items",
                    kappa_name(judge_weights, "mean kappa"),
                    "Spearman (mean human)",
                    "Kendall (mean human)",
                    "alpha humans",
                    "alpha humans + judge",
                ],
                summary,
                caption="a judge that agrees with humans as well as they agree with each other "
                "keeps alpha when it joins them",
            )
        )
    return blocks


def human_section(report: dict[str, Any]) -> Section | None:
    blocks: list[Block] = []
    for run in report["runs"]:
        for name, figures in sorted(_dict(run.get("human")).items()):
            blocks += _human_blocks(run["name"], name, _dict(figures))
    if not blocks:
        return None
    return Section("humans", "Human agreement", blocks)


def _gap_text(gap: dict[str, Any] | None) -> str:
    if gap is None:
        return "-"
    return f"{est(gap)} (p {p_text(gap.get('p_value'))})"
