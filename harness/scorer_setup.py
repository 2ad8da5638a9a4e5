"""Scorers from their names and options: built with the types they declare, given the
corpus, started (judge adapters) and closed again. Shared by `harness run` and `score`."""

from __future__ import annotations

import inspect
from collections.abc import Iterable, Sequence
from typing import Any

from harness import registry
from harness.errors import ConfigError
from harness.scorers.base import Scorer


def make_scorers(
    names: Sequence[str],
    options: dict[str, dict[str, Any]] | None = None,
    judge: dict[str, Any] | None = None,
) -> list[Scorer]:
    """Instantiate scorers by name with their options; unknown options fail clearly.

    `NAME:ARGUMENT` (e.g. `judge:correctness`) passes the argument to the keyword the
    scorer class names in `argument`. Scorers with `uses_judge` also get `judge`
    (judges, repeats, temperature, seed, cache_db); their own options win.
    """
    options = options or {}
    unused = set(options) - set(names)
    if unused:
        raise ConfigError(f"--scorer-option names scorers not in --scorers: {sorted(unused)}")
    scorers = []
    for name in names:
        base, colon, argument = name.partition(":")
        scorer_class = registry.load(registry.SCORER_GROUP, base)
        kwargs = dict(options.get(name, {}))
        if colon:
            keyword = getattr(scorer_class, "argument", None)
            if keyword is None:
                raise ConfigError(f"scorer '{base}' takes no argument (got '{name}')")
            kwargs[keyword] = argument
        if getattr(scorer_class, "uses_judge", False):
            kwargs = {**(judge or {}), **kwargs}
        kwargs = _check_scorer_options(name, scorer_class, kwargs)
        try:
            scorers.append(scorer_class(**kwargs))
        except TypeError as exc:
            raise ConfigError(f"scorer '{name}': {exc}") from exc
    # selfcheck takes the judge options but asks a judge only with method=prompt
    judged = any(getattr(s, "asks_judge", getattr(s, "uses_judge", False)) for s in scorers)
    if judge and set(judge) - {"cache_db", "cache"} and not judged:
        raise ConfigError(
            "--judge options only apply to scorers that ask a judge (judge:RUBRIC, "
            "faithfulness, selfcheck with selfcheck.method=prompt): add one, e.g. "
            "--scorers judge:correctness"
        )
    seen: dict[str, str] = {}
    for name, scorer in zip(names, scorers, strict=True):
        if scorer.name in seen:  # their scores would overwrite each other
            raise ConfigError(
                f"--scorers {seen[scorer.name]} and {name} both score as '{scorer.name}' (a "
                "rubric's name: field names its judge scorer); name each scorer once"
            )
        seen[scorer.name] = name
    return scorers


def _check_scorer_options(name: str, scorer_class: type, kwargs: dict[str, Any]) -> dict[str, Any]:
    """The options with the types the scorer declares (`normalize=False` is the boolean
    false, never the text 'False', which would count as true); an option it does not take,
    or a value of the wrong kind, is one clear error."""
    parameters = inspect.signature(scorer_class).parameters
    if any(p.kind is p.VAR_KEYWORD for p in parameters.values()):
        return kwargs
    known = [
        k for k, p in parameters.items() if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)
    ]
    unknown = sorted(set(kwargs) - set(known))
    if unknown:
        raise ConfigError(
            f"scorer '{name}' has no option {', '.join(unknown)} (its options: "
            f"{', '.join(known) or 'none'})"
        )
    return {
        key: _typed(name, key, value, str(parameters[key].annotation))
        for key, value in kwargs.items()
    }


_BOOLEAN_WORDS = {"true": True, "yes": True, "on": True, "false": False, "no": False, "off": False}


def _typed(scorer: str, key: str, value: Any, annotation: str) -> Any:
    """`value` as the annotation's simple type (bool, int, float; or None where allowed)."""
    kinds = {part.strip() for part in annotation.split("|")}
    if value is None and "None" in kinds:
        return value
    if "bool" in kinds:
        if isinstance(value, str) and value.strip().lower() in _BOOLEAN_WORDS:
            return _BOOLEAN_WORDS[value.strip().lower()]
        if kinds <= {"bool", "None"} and not isinstance(value, bool):
            raise ConfigError(f"scorer '{scorer}': {key} takes true or false, not {value!r}")
        return value
    if kinds <= {"int", "None"} and (isinstance(value, bool) or not isinstance(value, int)):
        raise ConfigError(f"scorer '{scorer}': {key} takes a whole number, not {value!r}")
    if kinds <= {"float", "None"} and (
        isinstance(value, bool) or not isinstance(value, int | float)
    ):
        raise ConfigError(f"scorer '{scorer}': {key} takes a number, not {value!r}")
    return value


def fit_corpus(scorers: Sequence[Scorer], references: Iterable[Sequence[str]]) -> None:
    """Hand every item's references to the scorers that weigh by the corpus (bertscore with
    idf) before the first batch, so no score depends on how items are batched."""
    wanting = [s for s in scorers if getattr(s, "wants_corpus", False)]
    if wanting:
        corpus = list(references)
        for scorer in wanting:
            scorer.fit_corpus(corpus)  # type: ignore[attr-defined]


def start_scorers(scorers: Sequence[Scorer]) -> None:
    """Start what scorers call (judge adapters), for those that have `start`: an unreachable
    judge is then an error before the run is created."""
    for scorer in scorers:
        start = getattr(scorer, "start", None)
        if callable(start):
            start()


def close_scorers(scorers: Sequence[Scorer]) -> None:
    """Release what scorers hold open (judge adapters), for those that have `close`."""
    for scorer in scorers:
        close = getattr(scorer, "close", None)
        if callable(close):
            close()
