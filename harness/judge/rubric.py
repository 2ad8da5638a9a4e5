"""Rubrics: YAML data that tells a judge what to grade and on which scale, with a hash.

A rubric names the criteria, a scale whose every point has an anchor description,
optional few-shot examples, whether the judge sees the reference or the context, and
the JSON schema of a verdict (built from the scale unless given). Its `hash` covers every
field that reaches the judge, so two judgments are only compared when they used the same
rubric text. Names resolve to `rubrics/NAME.yaml` in the harness checkout; anything
else is read as a file path.
"""

from __future__ import annotations

import hashlib
import json
import re
from functools import cached_property
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    FiniteFloat,
    ValidationError,
    model_validator,
)

from harness.errors import ConfigError
from harness.templates import yaml_problem

RUBRICS_DIR = Path(__file__).resolve().parents[2] / "rubrics"
_NAME = re.compile(r"^[A-Za-z0-9_\-]+$")


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, use_attribute_docstrings=True)


class ScalePoint(_Model):
    """One point of a scale and what it means."""

    score: FiniteFloat
    """The number this verdict counts as in statistics (e.g. 4, or 1 for pass)."""
    description: str = Field(min_length=1)
    """The anchor: what a response must be like to earn this point."""
    label: str | None = None
    """What the judge writes for this point, when not the number itself (e.g. 'pass')."""

    @property
    def token(self) -> str:
        """The verdict value the judge is asked to write."""
        if self.label is not None:
            return self.label
        return str(int(self.score)) if float(self.score).is_integer() else str(self.score)


class Scale(_Model):
    """The verdict values a judge may give, each with its anchor."""

    kind: Literal["ordinal", "binary", "nominal"] = "ordinal"
    """ordinal (e.g. 1-5; weighted kappa applies), binary (pass/fail) or nominal."""
    points: tuple[ScalePoint, ...] = Field(min_length=2)
    """Every allowed verdict, best last by convention."""

    @model_validator(mode="after")
    def _distinct(self) -> Scale:
        scores = [p.score for p in self.points]
        tokens = [p.token.lower() for p in self.points]
        if len(set(scores)) != len(scores) or len(set(tokens)) != len(tokens):
            raise ValueError("scale points must have distinct scores and labels")
        if self.kind == "binary" and len(self.points) != 2:
            raise ValueError("a binary scale has exactly two points")
        return self

    @property
    def scores(self) -> list[float]:
        return sorted(p.score for p in self.points)

    @property
    def numeric(self) -> bool:
        """True when the judge writes numbers (no point has a label)."""
        return all(p.label is None for p in self.points)

    def lookup(self, value: Any) -> ScalePoint | None:
        """The point a written verdict value names (number or label), if any."""
        if isinstance(value, bool):
            return None
        if isinstance(value, int | float):
            for point in self.points:
                if point.label is None and point.score == float(value):
                    return point
            return None
        text = str(value).strip().strip("\"'*[]().").strip().lower()
        for point in self.points:
            if point.token.lower() == text:
                return point
        try:
            number = float(text)
        except ValueError:
            return None
        return self.lookup(number) if self.numeric else None

    def describe(self) -> str:
        """'1, 2, 3, 4, 5' or 'pass, fail'."""
        return ", ".join(p.token for p in self.points)


class FewShot(_Model):
    """A graded example shown to the judge before the real response."""

    input: str
    """The task or question."""
    response: str
    """The answer being graded."""
    reasoning: str
    """Why it earns its verdict (shown before the verdict, as the judge should write)."""
    verdict: str | int | float
    """The verdict value (a scale number or label)."""
    reference: str | None = None
    """Shown when the rubric shows references."""
    context: str | None = None
    """Shown when the rubric shows context."""


class Rubric(_Model):
    """A grading rubric, loaded from YAML."""

    name: str = Field(min_length=1)
    """Short identifier; also the metric name of the scores it produces."""
    description: str = Field(min_length=1)
    """What quality the rubric measures, in a sentence or two."""
    criteria: tuple[str, ...] = Field(min_length=1)
    """What the judge must check, one point per entry."""
    scale: Scale
    """The verdict values and their anchors."""
    examples: tuple[FewShot, ...] = ()
    """Optional few-shot examples."""
    shows_reference: bool = False
    """Show the item's reference answer(s) to the judge (reference-guided grading)."""
    shows_context: bool = False
    """Show the item's context to the judge (grounded grading)."""
    verdict_schema: dict[str, Any] | None = None
    """JSON schema of a verdict; default: {reasoning: string, score: one of the scale}."""
    version: str = "1"
    """Bumped by hand when the meaning changes without the text changing."""

    @model_validator(mode="after")
    def _check(self) -> Rubric:
        if not re.fullmatch(r"[A-Za-z0-9_][A-Za-z0-9_.-]*", self.name):
            raise ValueError(
                f"name {self.name!r} must be letters, digits, _, - and . (it names the "
                "metric on the command line, in `--metric judge:NAME` and in label files)"
            )
        for example in self.examples:
            if self.scale.lookup(example.verdict) is None:
                raise ValueError(
                    f"example verdict {example.verdict!r} is not on the scale "
                    f"({self.scale.describe()})"
                )
        if self.verdict_schema is not None:
            properties = self.verdict_schema.get("properties")
            if not isinstance(properties, dict) or "score" not in properties:
                raise ValueError("verdict_schema must define properties.score")
        return self

    @cached_property
    def hash(self) -> str:
        """sha256 (first 16 hex digits) of everything that reaches the judge."""
        payload = json.dumps(self.model_dump(mode="json"), sort_keys=True, ensure_ascii=False)
        return hashlib.sha256(payload.encode()).hexdigest()[:16]

    def verdict_json_schema(self, reasoning_chars: int | None = None) -> dict[str, Any]:
        """The verdict's JSON schema: reasoning (at most `reasoning_chars`) first, then the score.

        A length cap keeps small models from looping inside the reasoning until `max_tokens`
        cuts the verdict off; not every endpoint accepts `maxLength` in strict mode.
        """
        if self.verdict_schema is not None:
            return self.verdict_schema
        if self.scale.numeric:
            scores = [int(s) if float(s).is_integer() else s for s in self.scale.scores]
            kind = "integer" if all(isinstance(s, int) for s in scores) else "number"
            score: dict[str, Any] = {"type": kind, "enum": scores}
        else:
            score = {"type": "string", "enum": [p.token for p in self.scale.points]}
        reasoning: dict[str, Any] = {"type": "string"}
        if reasoning_chars is not None:
            reasoning["maxLength"] = reasoning_chars
        return {
            "type": "object",
            "properties": {"reasoning": reasoning, "score": score},
            "required": ["reasoning", "score"],
            "additionalProperties": False,
        }

    @property
    def requires(self) -> frozenset[str]:
        """Item fields the judge needs to see."""
        needs = set()
        if self.shows_reference:
            needs.add("reference")
        if self.shows_context:
            needs.add("context")
        return frozenset(needs)


def available_rubrics() -> list[str]:
    """Names of the rubrics shipped in `rubrics/`."""
    if not RUBRICS_DIR.is_dir():
        return []
    return sorted(p.stem for p in RUBRICS_DIR.glob("*.yaml"))


def rubric_path(ref: str) -> Path:
    """The YAML file a rubric name or path refers to."""
    path = Path(ref).expanduser()
    if path.is_file():
        return path
    if _NAME.match(ref):
        shipped = RUBRICS_DIR / f"{ref}.yaml"
        if shipped.is_file():
            return shipped
        raise ConfigError(
            f"no rubric named '{ref}'; shipped rubrics: {', '.join(available_rubrics())} "
            "(or give the path of a YAML rubric file)"
        )
    raise ConfigError(f"rubric file not found: {ref}")


def load_rubric(ref: str) -> Rubric:
    """A rubric by shipped name (`correctness`) or YAML file path."""
    path = rubric_path(ref)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError as exc:
        raise ConfigError(
            f"cannot read rubric {path}: not UTF-8 text (byte {exc.start}); save it as UTF-8"
        ) from exc
    except yaml.YAMLError as exc:
        raise ConfigError(f"rubric {path} is not valid YAML{yaml_problem(exc)}") from exc
    except OSError as exc:
        raise ConfigError(f"cannot read rubric {path}: {exc}") from exc
    if not isinstance(data, dict):
        raise ConfigError(f"rubric {path}: expected a mapping with name, description, ...")
    try:
        return Rubric.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in error['loc']) or 'rubric'}: "
            f"{error['msg'].removeprefix('Value error, ')}"
            for error in exc.errors()
        )
        raise ConfigError(f"rubric {path}: {problems}") from exc
