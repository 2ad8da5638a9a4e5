"""Fakes for the hallucination scorers: a model whose samples differ, a rule-based judge,
and a tiny NLI classifier built on the spot.

- `SampledFake` (`--model sampledfake`): answers item ID's sample k with
  `SampledFake.texts[ID][k]` (the last text for higher k).
- `HalluJudge` (`--judge hallujudge:MODE`): reads the fenced data of the hallucination
  prompts. A sentence or claim counts as supported when each of its words of 4+ letters
  appears in the context. MODE `json` answers in JSON (it declares JSON-schema support),
  `prose` in words ("Yes." / "No, it is not."), `garbage` unreadably, `cutoff` with JSON cut
  off at max_tokens, `badverdict` lists claims but answers checks unreadably, `fail` fails
  every call for good.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any, ClassVar

from harness.adapters.base import Adapter, AdapterOptions, Capabilities, Request, Response
from harness.errors import PermanentError
from harness.metrics._tokenize import split_sentences
from tests.fakes import FakeAdapter

_FENCE = re.compile(r"<<<([A-Z]+)-(\w+)>>>\n(.*?)\n<<<END-\1-\2>>>", re.S)
_WORD = re.compile(r"[a-z0-9]{4,}")


class SampledFake(FakeAdapter):
    """Different text per sample index, from the class-level `texts`."""

    name = "sampledfake"
    texts: ClassVar[dict[str, list[str]]] = {}

    async def generate(self, request: Request) -> Response:
        self.calls.append(request)
        assert request.item is not None
        options = SampledFake.texts.get(request.item.id, ["ok"])
        text = options[min(request.sample, len(options) - 1)]
        return Response(text=text, prompt_tokens=3, completion_tokens=len(text.split()))


def fenced(request: Request) -> dict[str, str]:
    return {name: text for name, _, text in _FENCE.findall(request.messages[-1]["content"])}


def supported(statement: str, context: str) -> bool:
    have = set(_WORD.findall(context.lower()))
    return set(_WORD.findall(statement.lower())) <= have


class HalluJudge(Adapter):
    """Rule-based verdicts for the selfcheck / claims / verify prompts."""

    name = "hallujudge"
    calls: ClassVar[list[tuple[str, Request]]] = []

    def __init__(self, model: str = "", options: AdapterOptions | None = None) -> None:
        super().__init__(model or "json", options or AdapterOptions())
        self.mode = self.model
        self.capabilities = Capabilities(
            max_concurrency=32, seed=True, json_schema=self.mode != "prose"
        )

    async def generate(self, request: Request) -> Response:
        HalluJudge.calls.append((self.mode, request))
        if self.mode == "fail":
            raise PermanentError("HTTP 400: the fake judge always fails")
        if self.mode == "garbage":
            return Response(text="Hmm, hard to say.")
        if self.mode == "cutoff":
            return Response(text='{"claims": ["Paris is', finish_reason="length")
        data = fenced(request)
        if "RESPONSE" in data:
            claims = split_sentences(data["RESPONSE"])
            return Response(text=json.dumps({"claims": claims}))
        if self.mode == "badverdict":
            return Response(text="maybe")
        statement = data.get("SENTENCE", data.get("CLAIM", ""))
        ok = supported(statement, data["CONTEXT"])
        if self.mode == "prose":
            return Response(text="Yes." if ok else "No, it is not.")
        if "SENTENCE" in data:
            return Response(text=json.dumps({"answer": "Yes" if ok else "No"}))
        return Response(
            text=json.dumps({"reasoning": "by words", "verdict": "yes" if ok else "no"})
        )


def build_nli_model(
    folder: Path,
    *,
    kind: str = "bert",
    id2label: dict[int, str] | None = None,
    bias: list[float] | None = None,
) -> Path:
    """A tiny random sequence classifier with a word-level tokenizer, saved to `folder`.

    `bias` sets the classifier's output bias (its weights zeroed), so that the output
    probabilities are softmax(bias) whatever the input: a known answer for label mapping.
    """
    import torch
    from transformers import (
        BertConfig,
        BertForSequenceClassification,
        BertTokenizerFast,
        DebertaV2Config,
        DebertaV2ForSequenceClassification,
    )

    words = [
        "paris", "is", "the", "capital", "of", "france", "tower", "was", "built", "in", "1889",
        "designed", "by", "leonardo", "eiffel", "a", "city", "big", "small", "it", "london",
        "england",
    ]  # fmt: skip
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", ".", ",", *words]
    labels = (
        id2label if id2label is not None else {0: "CONTRADICTION", 1: "NEUTRAL", 2: "ENTAILMENT"}
    )
    common: dict[str, Any] = {
        "vocab_size": len(vocab),
        "hidden_size": 16,
        "num_hidden_layers": 1,
        "num_attention_heads": 2,
        "intermediate_size": 32,
        "max_position_embeddings": 64,
        "num_labels": len(labels),
        "id2label": labels,
        "label2id": {v: k for k, v in labels.items()},
    }
    torch.manual_seed(0)
    model: Any
    if kind == "deberta":
        model = DebertaV2ForSequenceClassification(DebertaV2Config(type_vocab_size=0, **common))
        head = model.classifier
    else:
        model = BertForSequenceClassification(BertConfig(**common))
        head = model.classifier
    if bias is not None:
        with torch.no_grad():
            head.weight.zero_()
            head.bias.copy_(torch.tensor(bias))
    model.save_pretrained(folder)
    BertTokenizerFast(vocab={w: i for i, w in enumerate(vocab)}).save_pretrained(folder)
    return folder
