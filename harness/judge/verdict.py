"""Verdicts: ask for JSON where the endpoint can enforce it, parse robustly where not.

A verdict that cannot be read, or whose score is not on the rubric's scale, is
unscored (`score=None`, `parsed_ok=False`, the raw text kept): never a number. Where
the endpoint returns token log-probabilities, `weighted_score` is the expected score
under the judge's distribution over scale values at the score token (as G-Eval).
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from typing import Any

from harness.judge.rubric import Rubric, ScalePoint

_DECODER = json.JSONDecoder()
_SCORE_KEYS = ("score", "rating", "grade", "verdict", "label", "result")
_REASON_KEYS = ("reasoning", "reason", "explanation", "rationale", "justification", "analysis")
_WINNER_KEYS = ("winner", "better", "preferred", "choice", "verdict", "answer")
_LOOSE_SCORE = re.compile(
    r"(?i)\b(?:score|rating|grade|verdict)\b[\s\"'*:=\[]*(?:is|of)?[\s\"'*:=\[]*"
    r"([A-Za-z]+|-?\d+(?:\.\d+)?)"
)
_LABELLED_SCORE = re.compile(
    r"(?i)\b(?:score|rating|grade|verdict)\b[\s\"'*]*[:=][\s\"'*\[]*([A-Za-z]+|-?\d+(?:\.\d+)?)"
)
"""`Score: 4`, `**Rating** = 3`: a score the reply states, as opposed to one it mentions."""
_KEY_SCORE = re.compile(
    r"(?i)\"(?:score|rating|grade|verdict)\"\s*:\s*\"?([A-Za-z]+|-?\d+(?:\.\d+)?)"
)
_KEY_REASONING = re.compile(r'(?i)"(?:reasoning|explanation|rationale)"\s*:\s*"((?:[^"\\]|\\.)*)"')
_BRACKETED = re.compile(r"\[\[\s*(A|B|C|tie)\s*\]\]", re.IGNORECASE)
_LOOSE_WINNER = re.compile(
    r"(?i)\b(?:winner|better|verdict|prefer(?:red)?)\b[\s\"'*:=]*(?:is)?[\s\"'*:=]*"
    r"(?:response\s+)?(A|B|tie)\b"
)
_SCORE_VALUE = re.compile(r"\"score\"\s*:\s*\"?")


@dataclass(slots=True)
class Verdict:
    """One parsed judge reply."""

    score: float | None
    """The scale score (pointwise), or 1/0/0.5 for A/B/tie as presented (pairwise)."""
    label: str | None
    """The value the judge wrote: a scale token, or 'A', 'B', 'tie'."""
    reasoning: str | None
    parsed_ok: bool
    error: str | None = None
    weighted_score: float | None = None


def response_format(rubric: Rubric, reasoning_chars: int | None = None) -> dict[str, Any]:
    """OpenAI `response_format` with the rubric's verdict schema (strict)."""
    schema = rubric.verdict_json_schema(reasoning_chars)
    return {
        "type": "json_schema",
        "json_schema": {"name": "verdict", "strict": True, "schema": schema},
    }


PAIRWISE_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "reasoning": {"type": "string"},
        "winner": {"type": "string", "enum": ["A", "B", "tie"]},
    },
    "required": ["reasoning", "winner"],
    "additionalProperties": False,
}


def pairwise_format() -> dict[str, Any]:
    """OpenAI `response_format` for a pairwise verdict."""
    return {
        "type": "json_schema",
        "json_schema": {"name": "pairwise_verdict", "strict": True, "schema": PAIRWISE_SCHEMA},
    }


def json_objects(text: str) -> list[dict[str, Any]]:
    """Every JSON object in the text (whole, fenced in ``` blocks, or embedded), in order."""
    stripped = text.strip()
    if stripped.startswith("{"):
        try:
            whole = json.loads(stripped)
        except ValueError:
            pass
        else:
            if isinstance(whole, dict):
                return [whole]
    found: list[dict[str, Any]] = []
    position = text.find("{")
    while position != -1:
        try:
            value, end = _DECODER.raw_decode(text, position)
        except ValueError:
            position = text.find("{", position + 1)
            continue
        if isinstance(value, dict):
            found.append(value)
        position = text.find("{", end)
    return found


def _first_key(obj: dict[str, Any], keys: tuple[str, ...]) -> tuple[bool, Any]:
    lowered = {str(k).lower(): v for k, v in obj.items()}
    for key in keys:
        if key in lowered:
            return True, lowered[key]
    return False, None


def _reasoning(obj: dict[str, Any]) -> str | None:
    found, value = _first_key(obj, _REASON_KEYS)
    return str(value) if found and value is not None else None


_FENCED = re.compile(r"```.*?(?:```|$)", re.DOTALL)


def _prose(text: str) -> str:
    """The reply without its fenced blocks and JSON objects: what is written around them."""
    out: list[str] = []
    depth, in_string, escaped = 0, False, False
    for ch in _FENCED.sub(" ", text):
        if depth == 0:
            if ch == "{":
                depth = 1
            else:
                out.append(ch)
        elif in_string:
            escaped, in_string = (False, True) if escaped else (ch == "\\", ch != '"')
        elif ch == '"':
            in_string = True
        elif ch in "{}":
            depth += 1 if ch == "{" else -1
    return "".join(out)


def parse_verdict(text: str | None, rubric: Rubric) -> Verdict:
    """A pointwise verdict from the judge's reply; unscored when unreadable or off-scale."""
    if text is None or not text.strip():
        return Verdict(None, None, None, False, "empty reply")
    candidates = []
    shaped = text.lstrip().startswith(("{", "```"))
    in_json: list[tuple[Any, str | None]] = []
    for obj in json_objects(text):
        found, value = _first_key(obj, _SCORE_KEYS)
        if found:
            in_json.append((value, _reasoning(obj)))
    stated = list(in_json)
    prose = _prose(text)  # a score written inside a JSON string is not stated
    stated += [(m.group(1), prose[: m.start()].strip() or None)
               for m in _LABELLED_SCORE.finditer(prose)]  # fmt: skip
    points = {p.score for p in (rubric.scale.lookup(v) for v, _ in stated) if p is not None}
    if len(points) > 1:
        listed = ", ".join(sorted({str(v) for v, _ in stated}))
        return Verdict(None, None, None, False, f"the reply states more than one score ({listed})")
    if stated:
        candidates.append(in_json[-1] if in_json else stated[-1])
    if not candidates:
        # a reply shaped as JSON that did not parse (often cut off by max_tokens) only
        # counts when it has a score key; free prose inside it proves nothing
        pattern = _KEY_SCORE if shaped else _LOOSE_SCORE
        matches = list(pattern.finditer(text))
        if shaped and matches and matches[-1].end() >= len(text.rstrip().rstrip(".")):
            cut = matches[-1].group(1).lower()
            longer = [p.token for p in rubric.scale.points if p.token.lower().startswith(cut)]
            if any(token.lower() != cut for token in longer):
                # cut off inside the value: `"score": 1` may have been 10
                return Verdict(None, None, None, False, "JSON verdict cut off inside its score")
        if matches:
            last = matches[-1]
            before = text[: last.start()].strip()
            if shaped:
                key = _KEY_REASONING.search(text)
                reasoning = key.group(1) if key else None
            else:
                reasoning = before or None
            candidates.append((last.group(1), reasoning))
    if not candidates:
        reason = "malformed or truncated JSON verdict" if shaped else "no score found in the reply"
        return Verdict(None, None, None, False, reason)
    value, reasoning = candidates[0]
    point = rubric.scale.lookup(value)
    if point is None:
        return Verdict(
            None,
            None,
            reasoning,
            False,
            f"score {value!r} is not on the scale ({rubric.scale.describe()})",
        )
    return Verdict(point.score, point.token, reasoning, True)


def parse_pairwise(text: str | None) -> Verdict:
    """A pairwise verdict: score 1 when A (shown first) wins, 0 for B, 0.5 for a tie."""
    if text is None or not text.strip():
        return Verdict(None, None, None, False, "empty reply")
    value: Any = None
    reasoning = None
    for obj in reversed(json_objects(text)):
        found, value = _first_key(obj, _WINNER_KEYS)
        if found:
            reasoning = _reasoning(obj)
            break
    else:
        match = _BRACKETED.findall(text) or _LOOSE_WINNER.findall(text)
        value = match[-1] if match else None
    winner = _winner(value)
    if winner is None:
        if value is None:
            return Verdict(None, None, reasoning, False, "no winner found in the reply")
        return Verdict(None, None, reasoning, False, f"winner {value!r} is not A, B or tie")
    return Verdict({"A": 1.0, "B": 0.0, "tie": 0.5}[winner], winner, reasoning, True)


def _winner(value: Any) -> str | None:
    if value is None:
        return None
    text = str(value).strip().strip("\"'*[]().").strip().lower()
    text = text.removeprefix("response").removeprefix("assistant").strip()
    if text in ("a", "1"):
        return "A"
    if text in ("b", "2"):
        return "B"
    if text in ("tie", "c", "draw", "equal", "both", "neither", "none"):
        return "tie"
    return None


def weighted_score(
    logprobs: list[dict[str, Any]] | None, rubric: Rubric, *, min_mass: float = 0.5
) -> float | None:
    """Expected score over the judge's top alternatives at the score token, or None.

    The score token is found after `"score":` in the generated text; its alternatives
    that name a scale value (whole, or as the unique start of a label) are renormalised.
    None when there are no log-probabilities, no score token, or the scale values hold
    less than `min_mass` of the probability there.
    """
    if not logprobs:
        return None
    tokens = [str(entry.get("token", "")) for entry in logprobs]
    text = "".join(tokens)
    matches = list(_SCORE_VALUE.finditer(text))
    if not matches:
        return None
    start = matches[-1].end()
    offset, index = 0, 0
    while index < len(tokens) and offset + len(tokens[index]) <= start:
        offset += len(tokens[index])
        index += 1
    if index == len(tokens):
        return None
    prefix = text[offset:start]
    alternatives = logprobs[index].get("top_logprobs") or [
        {"token": tokens[index], "logprob": logprobs[index].get("logprob", 0.0)}
    ]
    weights: dict[float, float] = {}
    for alternative in alternatives:
        candidate = str(alternative.get("token", ""))
        if not candidate.startswith(prefix):
            continue
        point = _point_for(candidate[len(prefix) :], rubric)
        if point is None:
            continue
        probability = math.exp(float(alternative.get("logprob", -math.inf)))
        weights[point.score] = weights.get(point.score, 0.0) + probability
    mass = sum(weights.values())
    if mass < min_mass or mass == 0:
        return None
    return sum(score * p for score, p in weights.items()) / mass


def _point_for(fragment: str, rubric: Rubric) -> ScalePoint | None:
    text = fragment.strip().strip('"').strip().lower()
    if not text:
        return None
    exact = [p for p in rubric.scale.points if p.token.lower() == text]
    if exact:
        # a digit that also starts a longer value (1 of 10) is ambiguous
        longer = [p for p in rubric.scale.points if p.token.lower().startswith(text)]
        return exact[0] if len(longer) == 1 else None
    starts = [p for p in rubric.scale.points if p.token.lower().startswith(text)]
    return starts[0] if len(starts) == 1 and not rubric.scale.numeric else None
