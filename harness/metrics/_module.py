"""Pieces shared by the project's `evaluate` metric modules (bleu, chrf, rouge, bertscore).

Imported by the module files with absolute imports, so that `evaluate.load(<path>)`,
which copies a module file into its cache, still runs the one implementation in the
installed `harness` package.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

#: Keyword arguments that `evaluate.EvaluationModule.__init__` itself understands.
EVALUATE_INIT_ARGS = frozenset(
    {
        "config_name",
        "keep_in_memory",
        "cache_dir",
        "num_process",
        "process_id",
        "seed",
        "experiment_id",
        "hash",
        "max_concurrent_cache_files",
        "timeout",
    }
)


def evaluate_kwargs(module: str, kwargs: dict[str, Any], options: Sequence[str]) -> dict[str, Any]:
    """The kwargs left for `evaluate.EvaluationModule.__init__`; unknown names fail.

    evaluate's base class silently swallows unknown keyword arguments, so a misspelt
    option (``tokenise='intl'``) would otherwise be ignored.
    """
    unknown = sorted(set(kwargs) - EVALUATE_INIT_ARGS)
    if unknown:
        raise TypeError(
            f"{module}: unknown option(s) {', '.join(unknown)}; options: {', '.join(options)}"
        )
    return kwargs


def reference_features() -> list[Any]:
    """Input formats: one string per prediction, and one or several references each."""
    import importlib

    datasets: Any = importlib.import_module("datasets")
    listed = getattr(datasets, "List", None) or datasets.Sequence
    return [
        datasets.Features(
            {
                "predictions": datasets.Value("string", id="sequence"),
                "references": listed(datasets.Value("string", id="sequence")),
            }
        ),
        datasets.Features(
            {
                "predictions": datasets.Value("string", id="sequence"),
                "references": datasets.Value("string", id="sequence"),
            }
        ),
    ]


def as_reference_lists(references: Sequence[Any]) -> list[list[str]]:
    """References as one list per prediction, whether given as strings or lists."""
    return [[ref] if isinstance(ref, str) else list(ref) for ref in references]


def merged(settings: dict[str, Any], overrides: dict[str, Any]) -> dict[str, Any]:
    """Settings given at load time, overridden by those given to `compute` (not None)."""
    return {**settings, **{k: v for k, v in overrides.items() if v is not None}}


class OneReferenceForm:
    """Mixed into the metric modules: a batch whose references mix strings and lists is
    refused (evaluate fixes the form from the first one and silently mangles the others: a
    later string split into characters, a later list turned into its text)."""

    def add_batch(self, *, predictions: Any = None, references: Any = None, **kwargs: Any) -> Any:
        """Add a batch of predictions and references (evaluate appends the inputs' help)."""
        if references is not None:
            kinds = {isinstance(ref, str) for ref in references}
            if len(kinds) > 1:
                raise ValueError(
                    "references mix strings and lists: give every prediction a list of "
                    "references (or every one a single string)"
                )
        return super().add_batch(  # type: ignore[misc]
            predictions=predictions, references=references, **kwargs
        )
