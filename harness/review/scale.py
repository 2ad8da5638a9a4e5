"""The scale of a human label: where it comes from and which values it accepts.

A label's scale is, in this order: the scale of the rubric of the same name in `rubrics/`
(its points; a binary or nominal rubric's labels count as their scores), a
`--scale NAME=SPEC` option, or free (any number, else any text). Specs:

- `1-5`: integer points 1 to 5 (ordinal);
- `0.0-1.0`: any number in the range (interval);
- `pass,fail` (or `pass/fail`): categories (nominal); a pass/fail, yes/no or true/false
  pair also counts as 1/0, so it can be averaged and compared; `A,B,tie` (a pair's
  preference) counts as 1/0/0.5 from A's side, as the pairwise judge scores it;
- `free`: numbers where every value is one, else text.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from harness.errors import ConfigError

Kind = Literal["ordinal", "interval", "nominal", "free"]

RUBRICS_DIR = Path(__file__).resolve().parents[2] / "rubrics"
"""Rubrics shipped with the tool (the judge's YAML files)."""

_BINARY = {
    ("pass", "fail"),
    ("yes", "no"),
    ("true", "false"),
    ("good", "bad"),
    ("correct", "incorrect"),
}
_RANGE = re.compile(r"^\s*(-?\d+(?:\.\d+)?)\s*(?:-|\.\.|to)\s*(-?\d+(?:\.\d+)?)\s*$")


@dataclass(frozen=True)
class Scale:
    """Which values a label accepts, and how they are stored and compared."""

    kind: Kind
    points: tuple[float, ...] = ()
    """Ordinal: every allowed value, ascending."""
    low: float | None = None
    high: float | None = None
    """Interval: the closed range allowed (None: unbounded)."""
    categories: dict[str, float | None] = field(default_factory=dict)
    """Nominal: canonical category -> its number (1/0 for a binary pair, else None).
    Ordinal: words a rubric's points are written as (e.g. 'good' -> 3), also accepted."""
    source: str = "free"
    """Where the scale came from, for error messages."""

    def describe(self) -> str:
        if self.kind == "ordinal":
            lo, hi = self.points[0], self.points[-1]
            contiguous = self.points == tuple(float(v) for v in range(int(lo), int(hi) + 1))
            if contiguous:
                return f"{_num(lo)}-{_num(hi)}"
            return ",".join(_num(p) for p in self.points)
        if self.kind == "interval":
            return f"{self.low!r}-{self.high!r}"
        if self.kind == "nominal":
            return ",".join(self.categories)
        return "free"

    @property
    def bounds(self) -> tuple[float, float] | None:
        """The lowest and highest number a value can take (None: open or not numeric)."""
        if self.kind == "ordinal":
            return self.points[0], self.points[-1]
        if self.kind == "interval" and self.low is not None and self.high is not None:
            return self.low, self.high
        numbers = [v for v in self.categories.values() if v is not None]
        if self.kind == "nominal" and self.numeric and numbers:
            return min(numbers), max(numbers)
        return None

    @property
    def numeric(self) -> bool:
        """Whether every accepted value has a number (so it can be a compare metric)."""
        if self.kind == "nominal":
            return all(v is not None for v in self.categories.values())
        return self.kind != "free"

    def parse(self, raw: Any) -> tuple[float | None, str]:
        """A raw cell -> (number or None, canonical text). Raises ValueError when off scale."""
        text = _text(raw)
        shown = _shorten(text)
        if self.kind == "nominal":
            key = text.lower()
            for category, number in self.categories.items():
                if category.lower() == key:
                    return number, category
            raise ValueError(f"'{shown}' is not one of {self.describe()} ({self.source})")
        if self.kind == "ordinal":
            for category, alias in self.categories.items():
                if alias is not None and category.lower() == text.lower():
                    return alias, _num(alias)
        number = _number(raw)
        if self.kind == "free":  # a number as one text, so "4" and "4.0" compare equal
            return number, text if number is None else _num(number)
        if number is None:
            raise ValueError(
                f"'{shown}' is not a number on the scale {self.describe()} ({self.source})"
            )
        if self.kind == "ordinal" and number not in self.points:
            raise ValueError(f"{shown} is off the scale {self.describe()} ({self.source})")
        if self.kind == "interval" and not (
            (self.low is None or number >= self.low) and (self.high is None or number <= self.high)
        ):
            raise ValueError(f"{shown} is off the scale {self.describe()} ({self.source})")
        return number, _num(number) if self.kind == "ordinal" else text


FREE = Scale("free")


def _num(value: float | None) -> str:
    if value is None:
        return "?"
    return str(int(value)) if float(value).is_integer() else repr(float(value))


def _shorten(text: str, limit: int = 40) -> str:
    """A value as an error message shows it: a long one cut short."""
    return text if len(text) <= limit else f"{text[: limit - 3]}..."


def _text(raw: Any) -> str:
    if isinstance(raw, bool):
        return "true" if raw else "false"
    if isinstance(raw, float) and raw.is_integer():
        return str(int(raw))
    return str(raw).strip()


def _number(raw: Any) -> float | None:
    """A value as a finite number, else None: true/false is never a number (nor is CSV's
    "True"), and an integer too large for a float is none either."""
    if isinstance(raw, bool):
        return None
    try:
        value = float(raw) if isinstance(raw, int | float) else float(str(raw).strip())
    except (ValueError, OverflowError):
        return None
    return value if math.isfinite(value) else None


def parse_spec(spec: str, source: str) -> Scale:
    """`1-5`, `0.0-1.0`, `pass,fail`, `pass/fail` or `free` -> a Scale."""
    spec = spec.strip()
    if not spec:
        raise ConfigError(f"{source}: empty scale; use e.g. 1-5, 0.0-1.0, pass,fail or free")
    if spec.lower() == "free":
        return Scale("free", source=source)
    match = _RANGE.match(spec)
    if match:
        lo_text, hi_text = match.groups()
        lo, hi = float(lo_text), float(hi_text)
        if lo >= hi:
            raise ConfigError(f"{source}: scale '{spec}' is empty (low must be below high)")
        if "." not in lo_text and "." not in hi_text:
            if hi - lo > 100:
                raise ConfigError(
                    f"{source}: scale '{spec}' has over 100 points; "
                    "write it as a range with decimals"
                )
            return Scale(
                "ordinal",
                points=tuple(float(v) for v in range(int(lo), int(hi) + 1)),
                source=source,
            )
        return Scale("interval", low=lo, high=hi, source=source)
    parts = [p.strip() for p in re.split(r"[,/|]", spec) if p.strip()]
    if len(parts) < 2:
        raise ConfigError(
            f"{source}: cannot read scale '{spec}'; use e.g. 1-5, 0.0-1.0, pass,fail or free"
        )
    return categorical(parts, source)


def categorical(values: list[Any], source: str) -> Scale:
    """Categories; numeric ones become ordinal points, a binary word pair 1/0, A/B/tie 1/0/0.5."""
    numbers = [_number(v) for v in values]
    if all(n is not None for n in numbers):
        points = tuple(sorted({float(n) for n in numbers if n is not None}))
        return Scale("ordinal", points=points, source=source)
    names = [_text(v) for v in values]
    if len({n.lower() for n in names}) != len(names):
        raise ConfigError(f"{source}: categories repeat: {', '.join(names)}")
    lowered = tuple(n.lower() for n in names)
    mapping: dict[str, float | None] = dict.fromkeys(names)
    for good, bad in _BINARY:
        if set(lowered) == {good, bad}:
            mapping = {n: 1.0 if n.lower() == good else 0.0 for n in names}
    if set(lowered) == {"a", "b", "tie"}:
        mapping = {n: {"a": 1.0, "b": 0.0, "tie": 0.5}[n.lower()] for n in names}
    return Scale("nominal", categories=mapping, source=source)


def parse_options(values: list[str] | None) -> dict[str, Scale]:
    """`--scale NAME=SPEC` options -> {label name: Scale}."""
    scales: dict[str, Scale] = {}
    for value in values or []:
        name, sep, spec = value.partition("=")
        if not sep or not name.strip():
            raise ConfigError(f"--scale '{value}': expected NAME=SPEC, e.g. relevance=1-5")
        scales[name.strip()] = parse_spec(spec, f"--scale {name.strip()}")
    return scales


def rubric_scale(name: str, folder: Path | None = None) -> Scale | None:
    """The scale of the rubric `NAME.yaml` in `folder` (default: the shipped rubrics)."""
    if not re.fullmatch(r"[A-Za-z0-9_\-]+", name):
        return None
    path = (folder or RUBRICS_DIR) / f"{name}.yaml"
    if not path.is_file():
        return None
    from harness.judge.rubric import load_rubric

    scale = load_rubric(str(path)).scale
    source = f"rubric {path.name}"
    aliases: dict[str, float | None] = {p.token: float(p.score) for p in scale.points}
    if scale.kind == "ordinal":
        points = tuple(float(p) for p in scale.scores)
        labelled = {k: v for k, v in aliases.items() if not scale.numeric}
        return Scale("ordinal", points=points, categories=labelled, source=source)
    return Scale("nominal", categories=aliases, source=source)


def resolve(name: str, options: dict[str, Scale], folder: Path | None = None) -> Scale:
    """A label's scale: the rubric of that name, else the `--scale` option, else free."""
    from_rubric = rubric_scale(name, folder)
    given = options.get(name)
    if from_rubric is not None:
        if given is not None and given.describe() != from_rubric.describe():
            raise ConfigError(
                f"label '{name}': {given.source} says {given.describe()} but "
                f"{from_rubric.source} has the scale {from_rubric.describe()}; drop the option"
            )
        return from_rubric
    return given or FREE
