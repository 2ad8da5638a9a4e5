"""The project's own `evaluate` metric modules, usable offline.

The evaluate wheel ships no metric scripts and the hub is unreachable offline, so each
public module file here (``bleu.py``, ``chrf.py``, ``rouge.py``, ...) is an
`evaluate.Metric` that ``evaluate.load`` accepts by path::

    import evaluate
    from harness.metrics import module_path

    bleu = evaluate.load(module_path("bleu"), tokenize="intl")
    bleu.add_batch(predictions=["a cat"], references=[["a cat", "the cat"]])
    bleu.compute()
    evaluate.combine([module_path("bleu"), module_path("rouge")])

or, shorter, ``harness.metrics.load("bleu", tokenize="intl")``. The modules and the harness
scorers share their implementation (`_sacrebleu`, `_rouge`), so a module's corpus score
and a run's corpus score are the same number. This package imports nothing heavy.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from harness.errors import ConfigError

METRICS_DIR = Path(__file__).resolve().parent


def available() -> list[str]:
    """Names of the metric modules in this folder."""
    return sorted(p.stem for p in METRICS_DIR.glob("*.py") if not p.stem.startswith("_"))


def module_path(name: str) -> str:
    """The file path that ``evaluate.load`` takes for the module `name`."""
    path = METRICS_DIR / f"{name}.py"
    if name.startswith("_") or not path.is_file():
        raise ConfigError(f"no metric module '{name}'; available: {', '.join(available())}")
    return str(path)


def load(name: str, **options: Any) -> Any:
    """``evaluate.load`` of the module `name`; `options` go to the module's constructor."""
    import evaluate

    return evaluate.load(module_path(name), **options)


def combine(names: Sequence[str], **options: Any) -> Any:
    """``evaluate.combine`` of several modules by name (each with its default settings)."""
    import evaluate

    return evaluate.combine([module_path(name) for name in names], **options)


__all__ = ["METRICS_DIR", "available", "combine", "load", "module_path"]
