"""Prompt templates: `{{ field }}` placeholders filled from an Item, hashed for the run record.

Only double braces are placeholders, so single braces (JSON examples in a prompt) stay as
they are. A placeholder names a field of `Item.fields()`: input, reference, references,
context, id, or a metadata column. Lists render one value per line.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from harness.errors import ConfigError
from harness.item import Item

DEFAULT_PROMPT = "{{input}}"

#: `{{ name }}`: any column name ("Best Answer", "answer.text", "Étape"). Anything between
#: double braces is a placeholder, so `{{ input | upper }}` is an unknown field at start,
#: never text left silently in the prompt.
PLACEHOLDER = re.compile(r"\{\{\s*([^{}]+?)\s*\}\}")

_YAML_SUFFIXES = (".yaml", ".yml")
_PATH_SUFFIXES = (*_YAML_SUFFIXES, ".txt", ".md", ".j2", ".jinja", ".prompt")
_YAML_KEYS = {"prompt", "system", "name", "description", "version"}


@dataclass(frozen=True)
class PromptTemplate:
    """A user prompt and optional system prompt with `{{ field }}` placeholders."""

    prompt: str
    system: str | None = None
    source: str = "inline"

    @classmethod
    def load(cls, template: str | None, system: str | None = None) -> PromptTemplate:
        """From a file path (.yaml/.yml with `prompt`/`system`, else plain text), inline
        text containing `{{`, or None for the default `{{input}}`. `system` overrides."""
        if template is None:
            prompt, file_system, source = DEFAULT_PROMPT, None, "default"
        elif _is_file(template):
            path = Path(template).expanduser()
            prompt, file_system = _read_file(path)
            source = str(path)
        elif "{{" in template:
            prompt, file_system, source = template, None, "inline"
        elif _looks_like_path(template):
            raise ConfigError(f"template file not found: {template}")
        else:
            raise ConfigError(
                f"template {template!r} is neither a file nor a template with placeholders;"
                " write the item's text as {{input}}"
            )
        chosen = system if system is not None else file_system
        made = cls(prompt=_clean(prompt), system=_clean(chosen) or None, source=source)
        for text in (made.system or "", made.prompt):
            rest = PLACEHOLDER.sub("", text)
            if "{{" in rest:
                start = rest.index("{{")
                raise ConfigError(
                    f"template {source} has a '{{{{' that no '}}}}' closes, near "
                    f"{rest[start : start + 30]!r}; a placeholder is written {{{{field}}}}"
                )
        if not made.placeholders():
            raise ConfigError(
                f"template {source} has no placeholders, so every item would get the same"
                " prompt; write the item's text as {{input}}"
            )
        return made

    def placeholders(self) -> set[str]:
        """Every field name the template uses, in the system and user prompts."""
        return {m.strip() for m in PLACEHOLDER.findall(self.system or "")} | {
            m.strip() for m in PLACEHOLDER.findall(self.prompt)
        }

    def check(self, available: Iterable[str]) -> None:
        """Raise ConfigError if the template uses a field the dataset cannot provide."""
        fields = list(available)
        unknown = sorted(self.placeholders() - set(fields))
        if unknown:
            names = ", ".join("{{" + u + "}}" for u in unknown)
            raise ConfigError(
                f"template {self.source} uses unknown placeholder {names};"
                f" available fields: {', '.join(fields)}"
            )

    def render(self, item: Item) -> tuple[dict[str, str], ...]:
        """Chat messages for one item: the system message when there is one, then the user."""
        values = item.fields()
        messages: list[dict[str, str]] = []
        if self.system:
            messages.append({"role": "system", "content": self._fill(self.system, values, item)})
        messages.append({"role": "user", "content": self._fill(self.prompt, values, item)})
        return tuple(messages)

    @property
    def hash(self) -> str:
        """16 hex chars of sha256 over the text alone, so the same text hashes the same."""
        canonical = json.dumps(
            {"prompt": self.prompt, "system": self.system},
            sort_keys=True,
            ensure_ascii=False,
            separators=(",", ":"),
        )
        return hashlib.sha256(canonical.encode()).hexdigest()[:16]

    def to_dict(self) -> dict[str, Any]:
        """Plain form for the run config."""
        return {
            "prompt": self.prompt,
            "system": self.system,
            "source": self.source,
            "hash": self.hash,
        }

    def _fill(self, text: str, values: dict[str, Any], item: Item) -> str:
        def replace(match: re.Match[str]) -> str:
            name = match.group(1).strip()
            if name not in values:
                raise ConfigError(
                    f"template {self.source} uses {{{{{name}}}}} but item {item.id!r}"
                    f" (row {item.row}) has no such field; available: {', '.join(values)}"
                )
            return _as_text(values[name])

        return PLACEHOLDER.sub(replace, text)


def _is_file(text: str) -> bool:
    """Whether `text` names a file (a long inline template is no file name: no OSError)."""
    try:
        return Path(text).expanduser().is_file()
    except (OSError, ValueError):
        return False


def _as_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, list | tuple):
        return "\n".join(_as_text(v) for v in value)
    if isinstance(value, dict):
        return json.dumps(value, ensure_ascii=False)
    return str(value)


def _clean(text: str | None) -> str:
    """Unix newlines and no trailing whitespace, so a file and inline text hash alike."""
    return (text or "").replace("\r\n", "\n").rstrip()


def _looks_like_path(text: str) -> bool:
    if text.lower().endswith(_PATH_SUFFIXES):
        return True
    return not any(c.isspace() for c in text) and ("/" in text or "\\" in text)


def yaml_problem(exc: yaml.YAMLError) -> str:
    """A YAML parse error in one line: ' at line L, column C: problem'."""
    where = getattr(exc, "problem_mark", None)
    at = f" at line {where.line + 1}, column {where.column + 1}" if where else ""
    problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
    return f"{at}: {problem}"


def _read_file(path: Path) -> tuple[str, str | None]:
    """(prompt, system) from a template file."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read template file {path}: {exc}") from exc
    if path.suffix.lower() not in _YAML_SUFFIXES:
        if not text.strip():
            raise ConfigError(f"template file {path} is empty")
        return text, None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"template file {path} is not valid YAML{yaml_problem(exc)}") from exc
    if not isinstance(data, dict) or not isinstance(data.get("prompt"), str):
        raise ConfigError(f"template file {path} needs a 'prompt' key holding text")
    unknown = sorted(set(map(str, data)) - _YAML_KEYS)
    if unknown:
        allowed = ", ".join(sorted(_YAML_KEYS))
        raise ConfigError(
            f"template file {path} has unknown key '{unknown[0]}' (allowed: {allowed})"
        )
    system = data.get("system")
    if system is not None and not isinstance(system, str):
        raise ConfigError(f"template file {path}: 'system' must be text")
    return data["prompt"], system
