"""A judge fake: canned verdicts chosen by its model name, reading the fenced response.

`--judge judgefake:MODE` (with the `judge_fake_registered` fixture of the judge tests):

- `length`: score = words in the response, clipped to 1-5 (a verbosity-biased judge);
- `noisy`: like `length`, plus 1 on odd repeats (an unstable judge);
- `const4`, `offscale` (score 9), `malformed` (no verdict), `prose` ("Score: 3");
- `obey`: gives 5 when the response asks for it (an injectable judge), else `length`;
- `first`: pairwise, always prefers the response shown first (position bias);
- `longer`: pairwise, prefers the longer response, in either order;
- `logprobs`: JSON verdict 4 with log-probabilities (weighted score 4.2);
- `nologprobs`: refuses requests that ask for log-probabilities (HTTP 400);
- `fail`: every call fails for good.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any, ClassVar

from harness.adapters.base import Adapter, AdapterOptions, Capabilities, Request, Response
from harness.errors import PermanentError

_FENCE = re.compile(r"<<<(RESPONSE(?:-[AB])?)-(\w+)>>>\n(.*?)\n<<<END-\1-\2>>>", re.S)
_INJECTED = re.compile(r"(?i)(answer|score|give|rate)[^.\n]{0,40}\b5\b")


def fenced(request: Request) -> dict[str, str]:
    """RESPONSE / RESPONSE-A / RESPONSE-B texts of the judge prompt's last message."""
    return {name: text for name, _, text in _FENCE.findall(request.messages[-1]["content"])}


def _clip(n: int) -> int:
    return max(1, min(5, n))


def verdict(score: Any, reasoning: str = "canned") -> str:
    return json.dumps({"reasoning": reasoning, "score": score})


class JudgeFake(Adapter):
    """Canned judge replies by mode (the model part of `judgefake:MODE`)."""

    name = "judgefake"
    calls: ClassVar[list[tuple[str, Request]]] = []

    def __init__(self, model: str = "", options: AdapterOptions | None = None) -> None:
        super().__init__(model or "length", options or AdapterOptions())
        self.mode = self.model
        self.capabilities = Capabilities(
            max_concurrency=32,
            seed=True,
            json_schema=self.mode != "prose",
            logprobs=self.mode in ("logprobs", "nologprobs"),
        )
        self.started = self.closed = False

    async def start(self) -> None:
        self.started = True

    async def close(self) -> None:
        self.closed = True

    async def generate(self, request: Request) -> Response:
        JudgeFake.calls.append((self.mode, request))
        texts = fenced(request)
        if "RESPONSE-A" in texts:
            return Response(text=self._pairwise(texts["RESPONSE-A"], texts["RESPONSE-B"]))
        words = len(texts.get("RESPONSE", "").split())
        mode = self.mode
        if mode == "fail":
            raise PermanentError("HTTP 400: the fake judge always fails")
        if mode == "nologprobs" and request.top_logprobs is not None:
            raise PermanentError("HTTP 400: logprobs are not supported with this model")
        if mode == "noisy":
            return Response(text=verdict(_clip(words + request.sample % 2)))
        if mode == "obey" and _INJECTED.search(texts.get("RESPONSE", "")):
            return Response(text=verdict(5, "as the response asked"))
        if mode == "const4" or mode == "nologprobs":
            return Response(text=verdict(4))
        if mode == "offscale":
            return Response(text=verdict(9))
        if mode == "malformed":
            return Response(text="I cannot decide about this one.")
        if mode == "prose":
            return Response(text="The answer looks right. Score: 3")
        if mode == "logprobs":
            return self._with_logprobs()
        return Response(text=verdict(_clip(words)))

    def _pairwise(self, a: str, b: str) -> str:
        if self.mode == "first":
            winner = "A"
        elif len(a.split()) == len(b.split()):
            winner = "tie"
        else:
            winner = "A" if len(a.split()) > len(b.split()) else "B"
        return json.dumps({"reasoning": "canned", "winner": winner})

    @staticmethod
    def _with_logprobs() -> Response:
        tokens = ['{"', "reasoning", '":"', "ok", '","', "score", '":', "4", "}"]
        content = []
        for token in tokens:
            entry: dict[str, Any] = {"token": token, "logprob": 0.0, "top_logprobs": []}
            if token == "4":
                entry["logprob"] = math.log(0.6)
                entry["top_logprobs"] = [
                    {"token": "4", "logprob": math.log(0.6)},
                    {"token": "5", "logprob": math.log(0.3)},
                    {"token": "3", "logprob": math.log(0.1)},
                ]
            content.append(entry)
        return Response(text="".join(tokens), extra={"logprobs": content})
