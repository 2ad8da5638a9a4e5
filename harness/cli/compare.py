"""`harness compare` and `harness gate`: is the candidate better than the baseline?"""

from __future__ import annotations

import json
import sys
from typing import Annotated

import typer

from harness.cli.options import DbOption, JsonOption, split_names
from harness.store.db import DEFAULT_DB

SeedOption = Annotated[int, typer.Option(help="Seed of the resampling (reproducible).")]
ResamplesOption = Annotated[int, typer.Option(help="Bootstrap resamples.", min=1)]
LowerOption = Annotated[
    list[str] | None,
    typer.Option(
        "--lower-is-better",
        help="Metric (NAME or SCORER/NAME) where lower is better (repeatable); scorers may "
        "also declare it.",
    ),
]


def compare(
    runs: Annotated[
        list[str],
        typer.Argument(
            help="BASELINE CANDIDATE [MORE ...]: run ids or names; the first is the baseline."
        ),
    ],
    by: Annotated[
        str | None, typer.Option("--by", help="Metadata field to slice by (e.g. category).")
    ] = None,
    markdown: Annotated[
        bool, typer.Option("--markdown", help="Print Markdown for a pull-request comment.")
    ] = False,
    seed: SeedOption = 12345,
    resamples: ResamplesOption = 1000,
    trials: Annotated[
        int | None,
        typer.Option(help="Approximate-randomization trials (default: --resamples).", min=1),
    ] = None,
    confidence: Annotated[float, typer.Option(help="Confidence level of the CIs.")] = 0.95,
    correction: Annotated[
        str, typer.Option(help="Multiple-comparison correction: holm or bh.")
    ] = "holm",
    top: Annotated[int, typer.Option(help="Most regressed items shown per metric.", min=0)] = 5,
    min_slice: Annotated[
        int, typer.Option(help="Slices smaller than this are flagged as too small.", min=1)
    ] = 30,
    lower_is_better: LowerOption = None,
    db: DbOption = DEFAULT_DB,
    json_output: JsonOption = False,
) -> None:
    """Compare CANDIDATE runs with the BASELINE run, item by item, with paired tests."""
    from harness.cli.render import console
    from harness.compare import Settings, compare_runs
    from harness.compare.render import markdown_report, print_report
    from harness.errors import ConfigError
    from harness.store.db import Store

    if json_output and markdown:
        raise ConfigError("choose one of --json and --markdown")
    settings = Settings(
        resamples=resamples,
        trials=trials,
        seed=seed,
        confidence=confidence,
        correction=correction,
        top=top,
        by=by,
        min_slice=min_slice,
        lower_is_better=frozenset(split_names(lower_is_better)),
    )
    store = Store.existing(db)
    try:
        report = compare_runs(store, runs, settings).to_dict()
    finally:
        store.close()
    if json_output:
        typer.echo(json.dumps(report, indent=2))
    elif markdown:
        typer.echo(markdown_report(report), nl=False)
    else:
        print_report(report, console)


def gate(
    candidate: Annotated[str, typer.Argument(help="Candidate run id or name.")],
    baseline: Annotated[str, typer.Option("--baseline", help="Baseline run id or name.")],
    metric: Annotated[list[str], typer.Option("--metric", help="Metric to gate on (repeatable).")],
    max_drop: Annotated[
        list[float],
        typer.Option(
            "--max-drop", help="Largest allowed loss: one for all metrics, or one per --metric."
        ),
    ],
    confidence: Annotated[
        float, typer.Option(help="Confidence of the interval whose bound decides.")
    ] = 0.95,
    seed: SeedOption = 12345,
    resamples: ResamplesOption = 1000,
    lower_is_better: LowerOption = None,
    min_coverage: Annotated[
        float,
        typer.Option(
            help="Fail when fewer than this share of the baseline's items are scored in both runs."
        ),
    ] = 0.95,
    min_items: Annotated[
        int, typer.Option(help="Fail when fewer items than this are scored in both runs.")
    ] = 10,
    db: DbOption = DEFAULT_DB,
    json_output: JsonOption = False,
) -> None:
    """Non-inferiority gate for CI: exit 0 pass, 1 fail, 2 bad input.

    A metric passes when the CI bound of (candidate - baseline) rules out a --max-drop loss."""
    from dataclasses import asdict

    from harness.compare import run_gate
    from harness.errors import HarnessError
    from harness.store.db import Store

    try:
        store = Store.existing(db)
        try:
            results = run_gate(
                store,
                candidate,
                baseline,
                split_names(metric),
                max_drop,
                confidence=confidence,
                resamples=resamples,
                seed=seed,
                lower_is_better=frozenset(split_names(lower_is_better)),
                min_coverage=min_coverage,
                min_items=min_items,
            )
        finally:
            store.close()
    except HarnessError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(2)  # SystemExit, not typer.Exit: a non-standalone typer app returns the latter
    if json_output:
        typer.echo(json.dumps([asdict(r) | {"line": r.line()} for r in results], indent=2))
    else:
        for result in results:
            typer.echo(result.line())
    sys.exit(0 if all(r.passed for r in results) else 1)
