"""detoxify checkpoints, loaded offline.

detoxify 0.5.4 rebuilds its model with `config_class.from_pretrained(model_type)` on the
hub name stored in the checkpoint (bert-base-uncased, roberta-base, xlm-roberta-base)
before it looks at any local path, so it fails without a network even when every file is
on disk. Here the model is built from the checkpoint directly: its stored
`config.arch.args` names the transformers classes and the base model; the base model's
config and tokenizer come from a local folder (`config_path`) or, failing that, from the
Hugging Face cache with `local_files_only=True`; the checkpoint's state dict is loaded into
the model with strict key checks. Nothing is downloaded.

Checkpoints are found at `checkpoint` (a path) or where detoxify itself saves them, the
torch hub cache (`$TORCH_HOME/hub/checkpoints/<file name of detoxify's URL>`). They are
read with `torch.load(weights_only=True)`; `trust_checkpoint=True` lifts that for files
the user trusts that hold other Python objects.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

from harness.errors import ConfigError
from harness.scorers.toxicity.backend import LABELS, Prediction, standard_name
from harness.scorers.toxicity.embedded import file_sha256

DOWNLOAD_URL = "https://github.com/unitaryai/detoxify/releases/download/"
CHECKPOINT_URLS = {
    "original": DOWNLOAD_URL + "v0.1-alpha/toxic_original-c1212f89.ckpt",
    "unbiased": DOWNLOAD_URL + "v0.3-alpha/toxic_debiased-c7548aa0.ckpt",
    "multilingual": DOWNLOAD_URL + "v0.4-alpha/multilingual_debiased-0b549669.ckpt",
    "original-small": DOWNLOAD_URL + "v0.1.2/original-albert-0e1d6498.ckpt",
    "unbiased-small": DOWNLOAD_URL + "v0.1.2/unbiased-albert-c8519128.ckpt",
}
"""detoxify 0.5.4's release files (its MODEL_URLS); the hub cache keeps the file name."""

LANGUAGES = {
    "multilingual": "en,fr,es,it,pt,tr,ru",
}
"""Languages each variant was trained on; every other variant is English only."""

_LABELS = frozenset(LABELS)
_ROBERTA_LIKE = {"roberta", "xlm-roberta", "camembert"}
_CLASS_NAME = re.compile(r"^[A-Za-z0-9]+$")


def hub_checkpoint(variant: str) -> Path:
    """Where detoxify (through torch.hub) saves a variant's checkpoint."""
    import torch

    name = CHECKPOINT_URLS[variant].rsplit("/", 1)[1]
    return Path(torch.hub.get_dir()) / "checkpoints" / name


def find_checkpoint(variant: str, checkpoint: str | None) -> Path:
    """The checkpoint file to load, or a ConfigError saying where it looked and how to get it."""
    if variant not in CHECKPOINT_URLS:
        raise ConfigError(
            f"unknown detoxify variant '{variant}'; choose one of {', '.join(CHECKPOINT_URLS)}"
        )
    path = Path(checkpoint).expanduser() if checkpoint else hub_checkpoint(variant)
    if path.is_file():
        return path
    where = f"checkpoint={checkpoint}" if checkpoint else f"the torch hub cache ({path})"
    raise ConfigError(
        f"no detoxify '{variant}' checkpoint: looked in {where}. Get it on a machine with "
        f"internet with `python -c \"from detoxify import Detoxify; Detoxify('{variant}')\"` "
        f"(it saves into the torch hub cache), or download {CHECKPOINT_URLS[variant]} and "
        "pass --scorer-option toxicity.checkpoint=PATH"
    )


def read_checkpoint(path: Path, trust: bool) -> dict[str, Any]:
    """A detoxify checkpoint dict ({'config': ..., 'state_dict': ...}), checked."""
    import pickle

    import torch

    try:
        loaded = torch.load(path, map_location="cpu", weights_only=not trust)
    except pickle.UnpicklingError as exc:
        raise ConfigError(
            f"{path}: holds Python objects beyond tensors and plain data ({exc}); if you "
            "trust the file, add --scorer-option toxicity.trust_checkpoint=true"
        ) from exc
    except (OSError, RuntimeError, EOFError) as exc:
        raise ConfigError(f"{path}: not a readable torch checkpoint ({exc})") from exc
    if not isinstance(loaded, dict) or "config" not in loaded or "state_dict" not in loaded:
        raise ConfigError(f"{path}: not a detoxify checkpoint (needs 'config' and 'state_dict')")
    return loaded


def _arch(loaded: dict[str, Any], path: Path) -> tuple[str, str, str, int, list[str]]:
    try:
        args = loaded["config"]["arch"]["args"]
        classes = [standard_name(str(c)) for c in loaded["config"]["dataset"]["args"]["classes"]]
        model_type, model_name = str(args["model_type"]), str(args["model_name"])
        tokenizer_name, num_classes = str(args["tokenizer_name"]), int(args["num_classes"])
    except (KeyError, TypeError, ValueError) as exc:
        raise ConfigError(f"{path}: the checkpoint's config lacks {exc}") from exc
    if not (_CLASS_NAME.match(model_name) and model_name.endswith("ForSequenceClassification")):
        raise ConfigError(f"{path}: model_name '{model_name}' is not a classification model")
    if not (_CLASS_NAME.match(tokenizer_name) and "Tokenizer" in tokenizer_name):
        raise ConfigError(f"{path}: tokenizer_name '{tokenizer_name}' is not a tokenizer class")
    if not classes or len(classes) > num_classes:
        raise ConfigError(f"{path}: {len(classes)} class names for {num_classes} outputs")
    # the `unbiased` checkpoints have 16 outputs for 7 named classes (the rest are identity
    # heads); detoxify reads the first len(classes) outputs, and so does this backend
    return model_type, model_name, tokenizer_name, num_classes, classes


def hf_cache_dir() -> Path:
    """The Hugging Face hub cache as the environment names it now (HF's documented order)."""
    if os.environ.get("HF_HUB_CACHE"):
        return Path(os.environ["HF_HUB_CACHE"]).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME") or "~/.cache"
    home = os.environ.get("HF_HOME") or str(Path(xdg) / "huggingface")
    return Path(home).expanduser() / "hub"


def _looked_in(config_path: str | None) -> str:
    return config_path or f"the Hugging Face cache ({hf_cache_dir()})"


def _clean_state_dict(state: dict[str, Any]) -> dict[str, Any]:
    """Strip a Lightning 'model.' prefix; rename old LayerNorm gamma/beta."""
    if state and all(key.startswith("model.") for key in state):
        state = {key[len("model.") :]: value for key, value in state.items()}
    renamed = {}
    for key, value in state.items():
        key = re.sub(r"LayerNorm\.gamma$", "LayerNorm.weight", key)
        renamed[re.sub(r"LayerNorm\.beta$", "LayerNorm.bias", key)] = value
    return renamed


class DetoxifyBackend:
    """A detoxify checkpoint (BERT, RoBERTa, XLM-R or ALBERT) run with transformers."""

    def __init__(
        self,
        variant: str = "original",
        checkpoint: str | None = None,
        config_path: str | None = None,
        device: str = "cpu",
        batch_size: int = 32,
        trust_checkpoint: bool = False,
    ) -> None:
        import transformers

        path = find_checkpoint(variant, checkpoint)
        loaded = read_checkpoint(path, trust_checkpoint)
        model_type, model_name, tokenizer_name, num_classes, classes = _arch(loaded, path)
        model_class = getattr(transformers, model_name, None)
        tokenizer_class = getattr(transformers, tokenizer_name, None)
        if model_class is None or tokenizer_class is None:
            missing = model_name if model_class is None else tokenizer_name
            raise ConfigError(f"{path}: transformers {transformers.__version__} has no {missing}")
        source = config_path or model_type
        if config_path and not Path(config_path).is_dir():
            raise ConfigError(f"config_path {config_path} is not a folder")
        try:
            local = {"local_files_only": True, "cache_dir": str(hf_cache_dir())}
            config = model_class.config_class.from_pretrained(
                source, num_labels=num_classes, **local
            )
            tokenizer = tokenizer_class.from_pretrained(source, **local)
        except (OSError, ValueError) as exc:
            raise ConfigError(
                f"the detoxify checkpoint {path.name} needs the config and tokenizer of "
                f"'{model_type}': not found in {_looked_in(config_path)}. Save them once "
                f"where there is internet with AutoConfig.from_pretrained('{model_type}')"
                f".save_pretrained(DIR) and AutoTokenizer.from_pretrained('{model_type}')"
                ".save_pretrained(DIR), then pass --scorer-option toxicity.config_path=DIR"
            ) from exc
        model = model_class(config)
        state = _clean_state_dict(dict(loaded["state_dict"]))
        result = model.load_state_dict(state, strict=False)
        unexpected = [k for k in result.unexpected_keys if not k.endswith("position_ids")]
        if result.missing_keys or unexpected:
            raise ConfigError(
                f"{path}: weights do not fit {model_name}({source}): missing "
                f"{result.missing_keys[:5]}, unexpected {unexpected[:5]}"
            )
        try:
            self.model = model.to(device).eval()
        except (RuntimeError, AssertionError, ValueError) as exc:
            raise ConfigError(f"toxicity device '{device}' cannot be used: {exc}") from exc
        self.tokenizer = tokenizer
        self.device = device
        self.batch_size = batch_size
        self.classes = classes
        self.labels = tuple(classes)
        limit = min(int(tokenizer.model_max_length), int(config.max_position_embeddings))
        if getattr(config, "model_type", "") in _ROBERTA_LIKE:
            limit = min(limit, int(config.max_position_embeddings) - 2)
        self.max_tokens = limit
        try:
            detoxify_version = version("detoxify")
        except PackageNotFoundError:
            detoxify_version = "absent"
        self._describe = {
            "model": f"detoxify-{variant}",
            "architecture": model_name,
            "base": model_type,
            "checkpoint": path.name,
            "weights": file_sha256(path)[:16],
            "detoxify": detoxify_version,
            "transformers": transformers.__version__,
            "max_tokens": limit,
            "device": device,
            "languages": LANGUAGES.get(variant, "en"),
        }

    def describe(self) -> dict[str, Any]:
        return dict(self._describe)

    def predict(self, texts: list[str]) -> list[Prediction]:
        import torch

        if not texts:
            return []
        full = self.tokenizer(texts, truncation=False, verbose=False)["input_ids"]
        lengths = [len(ids) for ids in full]
        order = sorted(range(len(texts)), key=lengths.__getitem__)
        rows: list[Sequence[float]] = [()] * len(texts)
        with torch.inference_mode():
            for start in range(0, len(order), self.batch_size):
                chunk = order[start : start + self.batch_size]
                inputs = self.tokenizer(
                    [texts[i] for i in chunk],
                    return_tensors="pt",
                    truncation=True,
                    max_length=self.max_tokens,
                    padding=True,
                ).to(self.device)
                probs = torch.sigmoid(self.model(**inputs).logits).float().cpu().tolist()
                for i, row in zip(chunk, probs, strict=True):
                    rows[i] = row
        predictions = []
        for row, length in zip(rows, lengths, strict=True):
            named = dict(zip(self.classes, row[: len(self.classes)], strict=True))
            predictions.append(
                Prediction(
                    scores={k: v for k, v in named.items() if k in _LABELS},
                    truncated=length > self.max_tokens,
                    n_tokens=length,
                    extra={k: v for k, v in named.items() if k not in _LABELS},
                )
            )
        return predictions
