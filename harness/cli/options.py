"""Options shared by several commands."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

DbOption = Annotated[
    Path, typer.Option("--db", help="SQLite database of runs.", envvar="HARNESS_DB")
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print one JSON object instead.")]
ScorerOption = Annotated[
    list[str] | None,
    typer.Option(help="Scorer setting SCORER.KEY=VALUE, e.g. bleu.tokenize=intl (repeatable)."),
]
ToxicityThresholdOption = Annotated[
    float | None,
    typer.Option(
        help="Flag threshold of the toxicity scorer (default 0.5); the same as "
        "--scorer-option toxicity.threshold=X.",
        min=0,
        max=1,
    ),
]


def split_names(values: list[str] | None) -> list[str]:
    """'a,b' and repeated options alike -> ['a', 'b']."""
    names: list[str] = []
    for value in values or []:
        names.extend(part.strip() for part in value.split(",") if part.strip())
    return names


def scorer_options(
    values: list[str] | None, toxicity_threshold: float | None, scorers: list[str]
) -> dict[str, dict[str, Any]]:
    """`--scorer-option` values, with `--toxicity-threshold` as the toxicity scorer's
    threshold (refused without that scorer, or beside a different threshold)."""
    from harness.errors import ConfigError
    from harness.runner import parse_scorer_options

    options = parse_scorer_options(values or [])
    if toxicity_threshold is None:
        return options
    if "toxicity" not in {name.partition(":")[0] for name in scorers}:
        raise ConfigError(
            "--toxicity-threshold sets the toxicity scorer's threshold: add --scorers toxicity"
        )
    given = options.get("toxicity", {}).get("threshold")
    if given is not None and given != toxicity_threshold:
        raise ConfigError(
            f"--toxicity-threshold {toxicity_threshold:g} and --scorer-option "
            f"toxicity.threshold={given} disagree: give one"
        )
    options.setdefault("toxicity", {})["threshold"] = toxicity_threshold
    return options
