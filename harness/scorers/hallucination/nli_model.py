"""A local Hugging Face NLI classifier: P(entailment), P(neutral), P(contradiction).

Any sequence-classification checkpoint the user has, by folder (or a name already in the
Hugging Face cache), loaded with `local_files_only`: nothing is downloaded. Which output is
which comes from the config's `id2label` (entailment / neutral / contradiction, any case;
also `not_entailment` for two-way models), or from the `labels` option when the config only
says LABEL_0, LABEL_1, ... A one-output model (the first Vectara HHEM) is read as
P(consistent) = sigmoid(logit), counted as entailment, unless its one label says otherwise
(contradiction, hallucinated: then it is refused rather than read backwards). Pairs are
(premise, hypothesis), truncated longest-first to the model's maximum length, run in
length-sorted batches.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.errors import ConfigError
from harness.metrics._encoder import (
    DEVICES,
    check_tokenizer,
    input_limit,
    positions,
    quiet_loading,
    torch_device,
)

MIN_LENGTH = 8
"""Fewest tokens a (premise, hypothesis) pair may be cut to: its special tokens and a few
words."""
ENTAILMENT = "entailment"
NEUTRAL = "neutral"
CONTRADICTION = "contradiction"
NOT_ENTAILMENT = "not_entailment"
_ALIASES = {
    "entailment": ENTAILMENT,
    "entail": ENTAILMENT,
    "entails": ENTAILMENT,
    "entailed": ENTAILMENT,
    "neutral": NEUTRAL,
    "contradiction": CONTRADICTION,
    "contradict": CONTRADICTION,
    "contradicts": CONTRADICTION,
    "contradicted": CONTRADICTION,
    "not_entailment": NOT_ENTAILMENT,
    "non_entailment": NOT_ENTAILMENT,
    "not_entailed": NOT_ENTAILMENT,
    "consistent": ENTAILMENT,
    "inconsistent": CONTRADICTION,
    "hallucinated": CONTRADICTION,
    "hallucination": CONTRADICTION,
}


@dataclass(frozen=True, slots=True)
class NLIProbs:
    """Probabilities of one (premise, hypothesis) pair; None where the model has no such label."""

    entailment: float
    contradiction: float | None
    neutral: float | None
    truncated: bool = False


def resolve_model(model: str, option: str) -> str:
    """A model folder, or a name already in the Hugging Face cache; never a download."""
    path = Path(model).expanduser()
    if path.is_dir():
        if not (path / "config.json").is_file():
            raise ConfigError(
                f"{option}: the folder {path.resolve()} has no config.json; point it at a "
                "Hugging Face model folder (config.json, weights, tokenizer files)"
            )
        return str(path.resolve())
    looked = f"looked for a folder at {path.resolve()}"
    if model.count("/") <= 1 and not model.startswith((".", "/", "~")):
        from huggingface_hub import try_to_load_from_cache
        from huggingface_hub.constants import HF_HUB_CACHE

        cached = None
        with contextlib.suppress(Exception):
            cached = try_to_load_from_cache(model, "config.json")
        if isinstance(cached, str):
            return model
        looked += f" and for '{model}' in the Hugging Face cache ({HF_HUB_CACHE})"
    raise ConfigError(
        f"NLI model '{model}' not found: {looked}; the harness never downloads models. Pass "
        f"{option}=/path/to/folder holding an NLI classifier (config.json, weights, "
        "tokenizer), e.g. a DeBERTa-MNLI checkpoint"
    )


def _canonical(label: str) -> str | None:
    return _ALIASES.get(label.strip().lower().replace("-", "_").replace(" ", "_"))


def label_map(config: Any, labels: str | Sequence[str] | None, name: str, option: str) -> list[str]:
    """The canonical label of each output index, from the config's id2label, or from `labels`
    where the config only says LABEL_0, LABEL_1, ... (a `labels` that contradicts a config
    naming its labels is an error, not an override)."""
    count = int(config.num_labels)
    id2label = {int(k): str(v) for k, v in (config.id2label or {}).items()}
    configured = [id2label.get(i, f"LABEL_{i}") for i in range(count)]
    named = all(_canonical(n) is not None for n in configured)
    names = configured
    if labels is not None:
        names = [p.strip() for p in labels.split(",")] if isinstance(labels, str) else list(labels)
        if len(names) != count:
            raise ConfigError(
                f"{option}: {len(names)} labels given but the model has {count} outputs"
            )
        if named and [_canonical(n) for n in names] != [_canonical(n) for n in configured]:
            raise ConfigError(
                f"{option}={','.join(names)} contradicts the NLI model '{name}', whose config "
                f"names its outputs {', '.join(configured)}; drop {option}"
            )
    if count == 1:
        if _canonical(names[0]) in (ENTAILMENT, None):
            return [ENTAILMENT]
        raise ConfigError(
            f"the one output of the NLI model '{name}' is labelled '{names[0]}': the nli "
            "scorer reads a one-output model as P(consistent) (entailment), so it cannot use "
            "this one"
        )
    canonical = [_canonical(n) for n in names]
    unknown = [n for n, c in zip(names, canonical, strict=True) if c is None]
    if unknown or ENTAILMENT not in canonical or len(set(canonical)) != len(canonical):
        raise ConfigError(
            f"cannot tell which output of the NLI model '{name}' is which: its labels are "
            f"{', '.join(names)}; name them in output order with {option}="
            "entailment,neutral,contradiction (or entailment,not_entailment)"
        )
    return [c for c in canonical if c is not None]


def _position_limit(config: Any) -> int | None:
    """The most tokens a model with absolute position embeddings reads; None for relative
    positions (DeBERTa), which read longer inputs at a cost in quality, not an error."""
    relative = not getattr(config, "position_biased_input", True) or getattr(
        config, "position_embedding_type", "absolute"
    ) not in ("absolute", None)
    if relative or not getattr(config, "max_position_embeddings", None):
        return None
    return positions(config)


class NLIModel:
    """An NLI sequence classifier loaded once, predicting in batches."""

    def __init__(
        self,
        model: str,
        *,
        labels: str | Sequence[str] | None = None,
        batch_size: int = 16,
        max_length: int | None = None,
        device: str = "auto",
        threads: int | None = None,
        option: str = "nli",
    ) -> None:
        import torch
        from transformers import AutoConfig, AutoModelForSequenceClassification, AutoTokenizer

        if batch_size < 1:
            raise ConfigError(f"{option}.batch_size must be at least 1, not {batch_size}")
        if device.split(":")[0] not in DEVICES:
            raise ConfigError(f"{option}.device '{device}' is not one of {', '.join(DEVICES)}")
        if threads is not None:
            if threads < 1:
                raise ConfigError(f"{option}.threads must be at least 1, not {threads}")
            torch.set_num_threads(threads)
        self.name = model
        location = resolve_model(model, f"{option}.model")
        try:
            config = AutoConfig.from_pretrained(location, local_files_only=True)
        except (OSError, ValueError) as exc:
            raise ConfigError(f"cannot read the config of NLI model '{model}': {exc}") from exc
        architectures = list(getattr(config, "architectures", None) or [])
        if architectures and not any(
            a.endswith("ForSequenceClassification") for a in architectures
        ):
            raise ConfigError(self._not_classifier(f"its config names {', '.join(architectures)}"))
        if max_length is not None and max_length < MIN_LENGTH:
            raise ConfigError(
                f"{option}.max_length must be at least {MIN_LENGTH} tokens, not {max_length}"
            )
        try:
            with quiet_loading():
                self.tokenizer = AutoTokenizer.from_pretrained(location, local_files_only=True)
                loaded, info = AutoModelForSequenceClassification.from_pretrained(
                    location, local_files_only=True, output_loading_info=True
                )
        except ValueError as exc:
            if "ForSequenceClassification" in str(exc) or "Unrecognized" in str(exc):
                raise ConfigError(self._not_classifier(str(exc).splitlines()[0])) from exc
            raise ConfigError(f"cannot load NLI model '{model}': {exc}") from exc
        except OSError as exc:
            raise ConfigError(f"cannot load NLI model '{model}': {exc}") from exc
        prefix = f"{loaded.base_model_prefix}."
        head = [k for k in info.get("missing_keys", ()) if not k.startswith(prefix)]
        if head:
            raise ConfigError(
                self._not_classifier(f"it has no trained classifier head (missing {head[0]})")
            )
        check_tokenizer(self.tokenizer, config, f"NLI model '{model}'")
        self.labels = label_map(config, labels, model, f"{option}.labels")
        self.device = torch_device(device, option)
        self.model = loaded.eval().to(self.device)
        most = _position_limit(config)
        if max_length is not None and most is not None and max_length > most:
            raise ConfigError(
                f"{option}.max_length={max_length} is more than the NLI model '{model}' "
                f"reads ({most} tokens)"
            )
        self.max_length = int(max_length or input_limit(self.tokenizer, config))
        self.batch_size = batch_size
        self.model_type = str(config.model_type)

    def _not_classifier(self, why: str) -> str:
        return (
            f"'{self.name}' is not a sequence-classification model ({why}); the NLI scorer "
            "needs an NLI classifier checkpoint (…ForSequenceClassification with entailment / "
            "contradiction labels), such as a DeBERTa-MNLI or Vectara HHEM model"
        )

    def settings(self) -> dict[str, Any]:
        """What identifies the model's numbers."""
        import transformers

        return {
            "model": self.name,
            "model_type": self.model_type,
            "labels": ",".join(self.labels),
            "max_length": self.max_length,
            "transformers": transformers.__version__,
        }

    def predict(self, premises: Sequence[str], hypotheses: Sequence[str]) -> list[NLIProbs]:
        """Probabilities for each (premise, hypothesis) pair; equal pairs are run once."""
        if len(premises) != len(hypotheses):
            raise ValueError(f"{len(premises)} premises but {len(hypotheses)} hypotheses")
        distinct: dict[tuple[str, str], int] = {}
        index = [
            distinct.setdefault((p, h), len(distinct))
            for p, h in zip(premises, hypotheses, strict=True)
        ]
        pairs = list(distinct)
        results = self._predict(pairs) if pairs else []
        return [results[i] for i in index]

    def _predict(self, pairs: list[tuple[str, str]]) -> list[NLIProbs]:
        import torch

        lengths = [
            len(ids)
            for ids in self.tokenizer(
                [p for p, _ in pairs], [h for _, h in pairs], truncation=False, verbose=False
            )["input_ids"]
        ]
        order = sorted(range(len(pairs)), key=lambda i: lengths[i], reverse=True)
        out: list[NLIProbs | None] = [None] * len(pairs)
        with torch.inference_mode():
            for start in range(0, len(order), self.batch_size):
                chunk = order[start : start + self.batch_size]
                encoded = self.tokenizer(
                    [pairs[i][0] for i in chunk],
                    [pairs[i][1] for i in chunk],
                    truncation="longest_first",
                    max_length=self.max_length,
                    padding=True,
                    return_tensors="pt",
                ).to(self.device)
                logits = self.model(**encoded).logits.float()
                if logits.shape[-1] == 1:
                    probs = torch.sigmoid(logits)
                else:
                    probs = torch.softmax(logits, dim=-1)
                for row, i in enumerate(chunk):
                    values = dict(zip(self.labels, probs[row].tolist(), strict=True))
                    entail = values[ENTAILMENT]
                    out[i] = NLIProbs(
                        entailment=entail,
                        contradiction=values.get(CONTRADICTION),
                        neutral=values.get(NEUTRAL),
                        truncated=lengths[i] > self.max_length,
                    )
        return [p for p in out if p is not None]


__all__ = [
    "CONTRADICTION",
    "ENTAILMENT",
    "NEUTRAL",
    "NLIModel",
    "NLIProbs",
    "label_map",
    "resolve_model",
]
