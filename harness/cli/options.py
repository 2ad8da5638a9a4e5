"""Options shared by several commands."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

DbOption = Annotated[
    Path, typer.Option("--db", help="SQLite database of runs.", envvar="HARNESS_DB")
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print one JSON object instead.")]


def split_names(values: list[str] | None) -> list[str]:
    """'a,b' and repeated options alike -> ['a', 'b']."""
    names: list[str] = []
    for value in values or []:
        names.extend(part.strip() for part in value.split(",") if part.strip())
    return names
