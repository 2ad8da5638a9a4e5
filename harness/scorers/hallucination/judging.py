"""Judge calls shared by `selfcheck` (prompt variant) and `faithfulness`.

The judge adapters run in a `harness.judge.runner.JudgeRunner` (any adapter, with the
harness's concurrency limit, retries, timeouts and cache), as for the `judge` scorer. The
prompts are data (`prompts.yaml`, hashed into the signature); whatever comes from a dataset
or a model is fenced with a nonce marker, as in `harness.judge.prompt`. Replies are read as
JSON where the endpoint enforces a schema and leniently where not; a reply that cannot be
read gives None, never a number.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import importlib.resources
import json
import re
import weakref
from collections.abc import Sequence
from dataclasses import dataclass
from string import Template
from typing import Any

import yaml

from harness.adapters.base import GenerationParams, Request, Response
from harness.errors import ConfigError
from harness.item import Item
from harness.judge.prompt import fence, nonce
from harness.judge.runner import JudgeCall, JudgeRunner
from harness.judge.verdict import json_objects

Messages = tuple[dict[str, str], ...]

YES_NO: tuple[dict[str, Any], str] = (
    {
        "type": "object",
        "properties": {"answer": {"type": "string", "enum": ["Yes", "No"]}},
        "required": ["answer"],
        "additionalProperties": False,
    },
    "yes_no",
)
CLAIMS: tuple[dict[str, Any], str] = (
    {
        "type": "object",
        "properties": {"claims": {"type": "array", "items": {"type": "string"}}},
        "required": ["claims"],
        "additionalProperties": False,
    },
    "claims",
)
VERDICT: tuple[dict[str, Any], str] = (
    {
        "type": "object",
        "properties": {
            "reasoning": {"type": "string"},
            "verdict": {"type": "string", "enum": ["yes", "no"]},
        },
        "required": ["reasoning", "verdict"],
        "additionalProperties": False,
    },
    "verdict",
)

_YES = frozenset({"yes", "y", "true", "supported", "entailed", "entailment", "consistent"})
_NO = frozenset(
    {"no", "n", "false", "unsupported", "not supported", "not_supported", "contradicted",
     "contradiction", "not entailed", "inconsistent"}
)  # fmt: skip
_VERDICT_KEYS = ("verdict", "answer", "supported", "label", "result")
_CLAIM_KEYS = ("claim", "text", "statement")
_ANSWER = r"(yes|no)\b(?![-'\u2019]\w)(?![ \t]+one\b)"
"""yes/no as an answer, not "no-one", "no one"."""
_LEADING = re.compile(rf"^[\s*_\"'`>#\-]*{_ANSWER}", re.IGNORECASE)
_LABELLED = re.compile(rf"(?i)\b(?:answer|verdict)\b[\s*_\"':=]*{_ANSWER}")
_STANDING = re.compile(rf"(?i)\b{_ANSWER}(?=[ \t*_\"'`)]*(?:[.!?;]|$))")
"""A yes/no that ends a sentence of its own within a line ("No?", "yes."), not a word of
a phrase ("no mention") or of a clause ("While yes, ...")."""
_BARE_LINE = re.compile(rf"(?im)^[ \t*_\"'`>#\-]*{_ANSWER}[ \t*_\"'`.!?]*$")
"""A line that is nothing but a yes or a no."""
_UNSUPPORTED = re.compile(
    r"(?i)(\bnot\s+(?:\w+ly\s+)?|n't\s+(?:\w+ly\s+)?|\bnever\s+|\bun)supported\b"
)
"""A negated 'supported': 'not supported', 'not directly supported', "isn't supported"."""
_SUPPORTED = re.compile(
    r"(?i)(\bnot\s+(?:\w+ly\s+|well\s+)?|n't\s+(?:\w+ly\s+)?|\bnever\s+|\bun|\w+ly\s+)?"
    r"supported\b"
)
"""'supported' with any negation or qualifier before it in group 1 ('partly', 'not')."""
_FIRST_SENTENCE = re.compile(r"^[\W_]*([^.!?\n]*)")
_JOINED = r"\W{0,3}(?:or|and|but|/)\W{0,3}"
_BOTH = re.compile(rf"(?i)(?:yes{_JOINED}no|no{_JOINED}yes)\b")
"""Both answers in one breath ("Yes or No", "yes/no", "Yes, but no"): not a verdict."""


@dataclass(frozen=True)
class Prompts:
    """The judge prompts of `prompts.yaml` and their hash."""

    templates: dict[str, Any]
    hash: str

    def messages(self, task: str, **fields: str) -> Messages:
        """System and user messages for `task` (selfcheck, claims, verify), data fenced."""
        tag = nonce(*fields.values())
        template = self.templates[task]
        guard = Template(self.templates["guard"]).substitute(nonce=tag)
        fenced = {name: fence(name.upper(), text, tag) for name, text in fields.items()}
        return (
            {"role": "system", "content": f"{template['system']}\n\n{guard}"},
            {"role": "user", "content": Template(template["user"]).substitute(fenced)},
        )


@functools.cache
def load_prompts() -> Prompts:
    """The shipped prompts (read once)."""
    raw = importlib.resources.files(__package__).joinpath("prompts.yaml").read_bytes()
    return Prompts(yaml.safe_load(raw), hashlib.sha256(raw).hexdigest()[:12])


def response_format(schema: dict[str, Any], name: str) -> dict[str, Any]:
    """An OpenAI `response_format` holding a strict JSON schema."""
    return {"type": "json_schema", "json_schema": {"name": name, "strict": True, "schema": schema}}


def _word(value: Any) -> bool | None:
    if isinstance(value, bool):
        return value
    text = str(value).strip().strip("\"'*.!`").strip().lower().replace("_", " ")
    if text in _YES:
        return True
    if text in _NO:
        return False
    return None


@dataclass(frozen=True, slots=True)
class YesNo:
    """A yes/no verdict: `value` None when the reply could not be read."""

    value: bool | None
    error: str | None = None
    reasoning: str | None = None


def parse_yes_no(text: str | None) -> YesNo:
    """Yes/No from a reply: a JSON verdict/answer key, else a leading or labelled yes/no.

    A reply that gives both answers (JSON objects that disagree, "Yes or No", "yes/no",
    "Yes, but no": often an echo of the question; "Yes? No?", "No, wait, yes."), or whose
    first sentence says the opposite ("Yes, it is not supported"), is unreadable, never a
    verdict.
    """
    if text is None or not text.strip():
        return YesNo(None, "empty reply")
    verdicts: list[YesNo] = []
    for obj in json_objects(text):
        lowered = {str(k).lower(): v for k, v in obj.items()}
        key = next((k for k in _VERDICT_KEYS if k in lowered), None)
        if key is None:
            continue
        value = _word(lowered[key])
        if value is None:
            return YesNo(None, f"{key} {lowered[key]!r} is not yes or no")
        reasoning = lowered.get("reasoning")
        verdicts.append(YesNo(value, None, str(reasoning) if reasoning is not None else None))
    if verdicts:
        if len({v.value for v in verdicts}) > 1:
            return YesNo(None, "the reply's JSON objects answer both yes and no")
        return verdicts[-1]
    match = _LEADING.match(text) or _LABELLED.search(text)
    if match is None:
        return YesNo(None, "no yes/no answer found in the reply")
    if _BOTH.match(text, match.start(1)):
        return YesNo(None, "the reply answers both yes and no (an echo of the question?)")
    value = match.group(1).lower() == "yes"
    line_end = text.find("\n", match.end())
    same_line = text[match.end() : line_end if line_end >= 0 else len(text)]
    others = [*_STANDING.finditer(same_line)]
    others += [m for m in _BARE_LINE.finditer(text) if m.start(1) != match.start(1)]
    if any((m.group(1).lower() == "yes") != value for m in others):
        return YesNo(None, "the reply answers both yes and no")
    # "Yes, it is not supported": a yes whose own sentence says the opposite ("No, it is
    # only partly supported" is a consistent no). A "No" running on into a word ("No
    # hallucination: it is supported") may be no answer at all: a plain "supported" there
    # contradicts it.
    rest = _FIRST_SENTENCE.match(text[match.end() :])
    sentence = rest.group(1) if rest else ""
    said = _UNSUPPORTED.search(sentence) if value else None
    if not value and re.match(r"[ \t]+[^\W\d_]", text[match.end() :]):
        said = next((m for m in _SUPPORTED.finditer(sentence) if m.group(1) is None), None)
    if said is not None:
        return YesNo(None, f"the reply answers {match.group(1)} but says '{said.group(0)}'")
    return YesNo(value)


def parse_claims(text: str | None) -> tuple[list[str] | None, str | None]:
    """The claims list of a reply ({"claims": [...]} or a bare list), or (None, why)."""
    if text is None or not text.strip():
        return None, "empty reply"
    candidates: list[Any] = []
    stripped = text.strip().removeprefix("```json").removeprefix("```").removesuffix("```")
    if stripped.strip().startswith("["):
        with contextlib.suppress(ValueError):
            candidates.append(json.loads(stripped))
    for obj in reversed(json_objects(text)):
        lowered = {str(k).lower(): v for k, v in obj.items()}
        if "claims" in lowered:
            candidates.append(lowered["claims"])
            break
    if not candidates:
        return None, "no claims list found in the reply"
    claims = []
    for entry in candidates[0] if isinstance(candidates[0], list) else [None]:
        if isinstance(entry, dict):
            lowered = {str(k).lower(): v for k, v in entry.items()}
            entry = next((lowered[k] for k in _CLAIM_KEYS if k in lowered), None)
        if not isinstance(entry, str):
            return None, "the claims list holds something other than text"
        if entry.strip():
            claims.append(entry.strip())
    return claims, None


class JudgeClient:
    """Judges started once for a scorer: `repeats` calls per judge per prompt."""

    def __init__(
        self,
        scorer: str,
        judges: Sequence[str] | str,
        *,
        repeats: int,
        temperature: float,
        seed: int | None,
        max_tokens: int,
        concurrency: int,
        timeout: float,
        max_retries: int,
        api_key_env: str,
        adapter_options: dict[str, Any] | None,
        cache_db: str | None,
        cache: bool,
    ) -> None:
        if isinstance(judges, str):
            judges = [part.strip() for part in judges.split(",") if part.strip()]
        if not judges:
            raise ConfigError(f"{scorer} needs a judge: --judge openai:gpt-4o or --judge local")
        if repeats < 1:
            raise ConfigError(f"{scorer}.repeats must be at least 1, not {repeats}")
        if max_tokens < 1:
            raise ConfigError(f"{scorer}.max_tokens must be at least 1, not {max_tokens}")
        self.repeats = repeats
        self.params = GenerationParams(temperature=temperature, max_tokens=max_tokens, seed=seed)
        self.prompts = load_prompts()
        self.runner = JudgeRunner(
            list(judges),
            concurrency=concurrency,
            timeout=timeout,
            max_retries=max_retries,
            api_key_env=api_key_env,
            adapter_options=adapter_options,
            cache_path=cache_db,
            read_cache=cache,
        )
        self.judges: list[str] = self.runner.judges
        self._finalizer = weakref.finalize(self, self.runner.close)

    def settings(self) -> dict[str, Any]:
        """What changes a judged number: judges, repeats, sampling, prompts."""
        return {
            "judges": ",".join(self.judges),
            "repeats": self.repeats,
            "temperature": self.params.temperature,
            "seed": self.params.seed,
            "max_tokens": self.params.max_tokens,
            "prompts": self.prompts.hash,
        }

    def call(
        self,
        judge: str,
        repeat: int,
        messages: Messages,
        item: Item,
        schema: tuple[dict[str, Any], str],
    ) -> JudgeCall:
        """One call to one judge; the JSON schema (and its name) where the judge takes one."""
        fmt = None
        if self.runner.capabilities(judge).json_schema:
            fmt = response_format(*schema)
        return JudgeCall(judge, Request(messages, self.params, repeat, item, fmt))

    def calls(
        self, messages: Messages, item: Item, schema: tuple[dict[str, Any], str]
    ) -> list[JudgeCall]:
        """One call per judge and repeat, judge-major."""
        return [
            self.call(judge, repeat, messages, item, schema)
            for judge in self.judges
            for repeat in range(self.repeats)
        ]

    def generate(self, calls: Sequence[JudgeCall]) -> list[Response]:
        return self.runner.generate(calls)

    def start(self) -> None:
        """Start the judge adapters (see `JudgeScorer.start`)."""
        self.runner.start()

    def close(self) -> None:
        """Stop the judge adapters (also done when the client is collected)."""
        self._finalizer()


def reply_text(response: Response) -> str | None:
    """The text a verdict is read from (None for a failed call)."""
    return None if response.error is not None else response.text


def unreadable(response: Response, parse_error: str | None) -> str:
    """Why a reply gave no verdict: the call's error, or the parse error (and a cut-off)."""
    if response.error is not None:
        return response.error
    why = parse_error or "unreadable reply"
    if response.finish_reason == "length":
        why += " (the reply was cut off at max_tokens: raise the scorer's max_tokens)"
    return why


__all__ = [
    "CLAIMS",
    "VERDICT",
    "YES_NO",
    "JudgeClient",
    "Prompts",
    "YesNo",
    "load_prompts",
    "parse_claims",
    "parse_yes_no",
    "reply_text",
    "unreadable",
]
