"""`harness judge-report` and `harness judge-pairwise`, and the `--judge` options of run/score."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape

from harness.cli.options import DbOption, JsonOption, split_names
from harness.store.db import DEFAULT_DB

JudgeOption = Annotated[
    list[str] | None,
    typer.Option(
        "--judge",
        help="Judge model for judge scorers: local, openai:MODEL or openai:MODEL@BASE_URL "
        "(repeatable: several judges).",
    ),
]
JudgeRepeatsOption = Annotated[
    int, typer.Option("--judge-repeats", help="Verdicts per response and judge.", min=1)
]
JudgeTemperatureOption = Annotated[
    float, typer.Option("--judge-temperature", help="Judge sampling temperature.", min=0.0)
]
JudgeSeedOption = Annotated[
    int | None, typer.Option("--judge-seed", help="Judge seed (repeat k uses seed+k).")
]
ResamplesOption = Annotated[
    int, typer.Option("--resamples", help="Bootstrap resamples for the CIs.", min=0)
]


def judge_report(
    run: Annotated[str, typer.Argument(help="Run id or name.")],
    top: Annotated[int, typer.Option(help="How many least stable items to list.", min=0)] = 10,
    resamples: ResamplesOption = 1000,
    seed: Annotated[int, typer.Option(help="Bootstrap seed.")] = 0,
    confidence: Annotated[float, typer.Option(help="Confidence level of the CIs.")] = 0.95,
    db: DbOption = DEFAULT_DB,
    json_output: JsonOption = False,
) -> None:
    """How far RUN's judges can be trusted: stability, agreement, biases, with CIs."""
    from harness.judge.report import judge_report as build
    from harness.store.db import Store

    store = Store.existing(db)
    try:
        report = build(store, run, n_resamples=resamples, seed=seed, confidence=confidence, top=top)
    finally:
        store.close()
    if json_output:
        typer.echo(json.dumps(report, indent=2, default=str))
    else:
        print_report(report)


def judge_pairwise(
    run_a: Annotated[str, typer.Argument(help="Run A (id or name).")],
    run_b: Annotated[
        str | None, typer.Argument(help="Run B; omit to compare two samples of run A.")
    ] = None,
    rubric: Annotated[str, typer.Option(help="Rubric name or YAML file.")] = "helpfulness",
    judge: JudgeOption = None,
    repeats: Annotated[int, typer.Option(help="Verdicts per pair, order and judge.", min=1)] = 1,
    temperature: Annotated[float, typer.Option(help="Judge temperature.", min=0.0)] = 0.0,
    judge_seed: JudgeSeedOption = None,
    max_tokens: Annotated[int, typer.Option(help="Judge reply budget.", min=1)] = 400,
    sample_a: Annotated[int, typer.Option(help="Sample of run A.", min=0)] = 0,
    sample_b: Annotated[int, typer.Option(help="Sample of run B (or of A).", min=0)] = 0,
    concurrency: Annotated[int, typer.Option(help="Judge requests in flight.", min=1)] = 16,
    timeout: Annotated[float, typer.Option(help="Seconds per judge request.")] = 120.0,
    api_key_env: Annotated[
        str, typer.Option(help="Environment variable holding the judge's API key.")
    ] = "OPENAI_API_KEY",
    resamples: ResamplesOption = 1000,
    db: DbOption = DEFAULT_DB,
    json_output: JsonOption = False,
) -> None:
    """Judge RUN_A against RUN_B item by item, in both orders (position bias shows)."""
    from harness.adapters.base import GenerationParams
    from harness.judge.consistency import pairwise_by_judge
    from harness.judge.pairwise import run_pairwise
    from harness.judge.rubric import load_rubric
    from harness.judge.runner import JudgeRunner
    from harness.store.db import Store
    from harness.store.judgments import load_judgments

    loaded = load_rubric(rubric)
    params = GenerationParams(temperature=temperature, max_tokens=max_tokens, seed=judge_seed)
    store = Store.existing(db)
    runner = JudgeRunner(
        split_names(judge) or ["local"],
        concurrency=concurrency,
        timeout=timeout,
        api_key_env=api_key_env,
        cache_path=Path(db),
    )
    try:
        a_id, versus, scorer, counts = run_pairwise(
            store,
            run_a,
            run_b,
            loaded,
            runner,
            sample_a=sample_a,
            sample_b=sample_b,
            repeats=repeats,
            params=params,
        )
        rows = [
            row
            for row in load_judgments(
                store.conn, a_id, mode="pairwise", scorer=scorer, versus=versus, sample=sample_a
            )
            if row["judge"] in runner.judges
        ]
        sections = [
            {"run_a": a_id, "sample_a": sample_a, "versus": versus, "scorer": scorer} | section
            for section in pairwise_by_judge(rows, n_resamples=resamples)
        ]
        report: dict[str, Any] = {
            "run_a": a_id,
            "versus": versus,
            "scorer": scorer,
            **counts,
            "judges": sections,
            "notes": runner.notes(),
        }
    finally:
        runner.close()
        store.close()
    if json_output:
        typer.echo(json.dumps(report, indent=2, default=str))
    else:
        _print_pairwise(report["judges"])


# rendering --------------------------------------------------------------------------


def _fmt(estimate: dict[str, Any] | None, digits: int = 3) -> str:
    """'0.712 [0.650, 0.770]' or '-' where undefined."""
    if not estimate or estimate.get("value") is None:
        return "-"
    text = f"{estimate['value']:.{digits}f}"
    if estimate.get("ci_low") is not None and estimate.get("ci_high") is not None:
        text += f" [{estimate['ci_low']:.{digits}f}, {estimate['ci_high']:.{digits}f}]"
    return text


def print_report(report: dict[str, Any]) -> None:
    """The judge report as tables."""
    from harness.cli.render import console

    intervals = (
        f"{report['confidence']:.0%} bootstrap CIs over items, {report['n_resamples']} "
        f"resamples, seed {report['seed']}"
        if report["n_resamples"] > 0
        else "no intervals (--resamples 0)"
    )
    console.print(
        f"[bold]judge report[/bold] {escape(str(report['name']))} ({report['run_id']}); {intervals}"
    )
    for section in report["rubrics"]:
        _print_rubric(section)
    if report["pairwise"]:
        _print_pairwise(report["pairwise"])


def _line(label: str, estimate: dict[str, Any] | None, indent: int = 4) -> str:
    return f"{' ' * indent}{label:<25}{_fmt(estimate)}"


def _print_rubric(section: dict[str, Any]) -> None:
    from harness.cli.render import console

    rate = section["unparsed_rate"]
    console.print(
        f"\n[bold]{escape(section['scorer'])}[/bold]  rubric {escape(section['rubric'])} "
        f"(hash {', '.join(section['rubric_hashes'])}); {section['responses']} responses, "
        f"{len(section['judges'])} judge(s), up to {section['repeats']} repeat(s); "
        f"temperature {section['temperatures'] or '-'}, seeds {section['seeds'] or 'none'}; "
        f"unparsed {section['unparsed']}/{section['judgments']}"
        + (f" ({rate:.1%})" if rate is not None else ""),
        highlight=False,
    )
    lines = ["[bold]stability across repeats, and verbosity bias[/bold]"]
    for judge, figures in section["stability"].items():
        lines.append(f"  {escape(judge)}")
        lines.append(_line("unstable share", figures["unstable_share"]))
        if figures.get("mean_spread") is not None:
            lines.append(_line("mean spread", figures["mean_spread"]))
        if figures.get("alpha_nominal") is not None:
            lines.append(_line("alpha (nominal)", figures["alpha_nominal"]))
        else:
            lines.append(_line("alpha (interval)", figures.get("alpha_interval")))
        lines.append(_line("score~length rho", section["verbosity_bias"].get(judge)))
    console.print("\n".join(lines), highlight=False)
    if "inter_judge" in section:
        _print_agreement("inter-judge agreement", section["inter_judge"])
    humans = section.get("humans")
    if humans:
        _print_pairs(
            f"judge vs human (label '{escape(str(section['label_name']))}', "
            f"{humans['items']} items)",
            humans["judge_vs_human"],
            "judge",
            "human",
        )
        if "human_human" in humans:
            _print_agreement("human-human agreement", humans["human_human"])
    listed = [
        (judge, entry)
        for judge, figures in section["stability"].items()
        for entry in figures["least_stable"]
    ]
    if listed:
        console.print("[bold]least stable items[/bold]")
        for judge, entry in listed:
            console.print(
                f"  {escape(str(entry['item_id']))} (sample {entry['sample']}, {escape(judge)}): "
                f"spread {entry['spread']:g}, scores {entry['scores']}",
                highlight=False,
            )


_PAIR_FIGURES = (
    ("exact agreement", "exact_agreement"),
    ("cohen kappa", "cohen_kappa"),
    ("spearman", "spearman"),
    ("kendall tau-b", "kendall"),
    ("alpha (interval)", "alpha_interval"),
)


def _print_pairs(title: str, pairs: list[dict[str, Any]], left: str, right: str) -> None:
    from harness.cli.render import console

    lines = [f"[bold]{title}[/bold]"]
    for pair in pairs:
        lines.append(f"  {escape(str(pair[left]))} vs {escape(str(pair[right]))} (n={pair['n']})")
        for label, key in _PAIR_FIGURES:
            if key in pair:
                weights = pair.get("kappa_weights") if key == "cohen_kappa" else None
                lines.append(_line(f"{label} ({weights})" if weights else label, pair[key]))
    console.print("\n".join(lines), highlight=False)


def _print_agreement(title: str, figures: dict[str, Any]) -> None:
    from harness.cli.render import console

    _print_pairs(title, figures["pairs"], "a", "b")
    lines = [f"  all of {escape(', '.join(figures['raters']))}"]
    for label, key in (
        ("alpha (interval)", "alpha_interval"),
        ("alpha (ordinal)", "alpha_ordinal"),
        ("alpha (nominal)", "alpha_nominal"),
        ("fleiss kappa", "fleiss_kappa"),
    ):
        if key in figures:
            lines.append(_line(label, figures[key]))
    console.print("\n".join(lines), highlight=False)


def _print_pairwise(sections: list[dict[str, Any]]) -> None:
    from harness.cli.render import console

    lines = ["[bold]pairwise[/bold] (a win counts only when it holds in both orders)"]
    for section in sections:
        lines.append(
            f"  {escape(section['run_a'])} sample {section.get('sample_a', 0)} (A) vs "
            f"{escape(section['versus'])} (B), rubric "
            f"{escape(section['scorer'].removeprefix('pairwise:'))}, "
            f"judge {escape(section['judge'])}: "
            f"{section['items']} items, unparsed {section['unparsed']}/{section['judgments']}"
        )
        lines.append(_line("A wins", section["win_rate_a"]))
        lines.append(_line("B wins", section["win_rate_b"]))
        lines.append(_line("tie or inconsistent", section["tie_or_inconsistent_rate"]))
        lines.append(_line("position consistency", section["position_consistency"]))
        lines.append(_line("first-position rate", section["first_position_rate"]))
    lines.append(
        "  first-position rate: per item, the share of its decisive verdicts for the response "
        "shown first, averaged over items"
    )
    console.print("\n".join(lines), highlight=False)
