"""The embedded model's word tokenizer, read from its pickle without trusting it.

`toxic-comment-classifier` ships its Keras `Tokenizer` as a pickle. Unpickling runs
whatever the file names, so it is read with an `Unpickler` whose `find_class` resolves
only an explicit allow-list: a tiny stand-in for the Keras class (which never runs Keras
code; it only receives the saved attributes) and the three plain classes its attributes
use (`OrderedDict`, `defaultdict`, `int`). Anything else in the file stops the load.

Reading the pickle each time (about 0.8 s) was chosen over a converted JSON copy: nothing
derived from the package is shipped or cached, so the tokenizer always matches the
installed weights, and the file hash in the scorer's signature names exactly what ran.

Tokenisation follows the documented Keras behaviour (`text_to_word_sequence`,
`texts_to_sequences`, `pad_sequences` with its defaults): lower-case, replace each filter
character by the split character, split on it, drop empty pieces, keep words whose index is
below `num_words`, then keep the last `maxlen` ids and pad with 0 in front.
"""

from __future__ import annotations

import collections
import pickle
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from harness.errors import ConfigError


class KerasTokenizerState:
    """Stand-in for `keras...text.Tokenizer`: holds the pickled attributes, runs nothing."""

    def __setstate__(self, state: Any) -> None:
        if not isinstance(state, dict) or not all(isinstance(k, str) for k in state):
            raise pickle.UnpicklingError("tokenizer state is not a dict of attributes")
        self.__dict__.update(state)


ALLOWED_CLASSES: dict[tuple[str, str], Any] = {
    ("keras.src.legacy.preprocessing.text", "Tokenizer"): KerasTokenizerState,
    ("keras.preprocessing.text", "Tokenizer"): KerasTokenizerState,
    ("keras_preprocessing.text", "Tokenizer"): KerasTokenizerState,
    ("collections", "OrderedDict"): collections.OrderedDict,
    ("collections", "defaultdict"): collections.defaultdict,
    ("builtins", "int"): int,
}
"""Every global the tokenizer pickle may name; the Keras class maps to the stand-in."""


class RestrictedUnpickler(pickle.Unpickler):
    """An unpickler that resolves only `ALLOWED_CLASSES`."""

    def find_class(self, module: str, name: str) -> Any:
        try:
            return ALLOWED_CLASSES[(module, name)]
        except KeyError:
            raise pickle.UnpicklingError(
                f"refusing to load '{module}.{name}': not in the tokenizer allow-list"
            ) from None


@dataclass(frozen=True)
class WordTokenizer:
    """Keras-compatible word tokenizer: text -> ids in `word_index`, left-padded to `maxlen`."""

    word_index: dict[str, int]
    """Only the words that `texts_to_sequences` can emit (index below `num_words`)."""
    filters: str
    split: str
    lower: bool
    maxlen: int
    oov_index: int | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "_table", str.maketrans(dict.fromkeys(self.filters, self.split)))

    def words(self, text: str) -> list[str]:
        """Keras `text_to_word_sequence`."""
        if self.lower:
            text = text.lower()
        pieces = text.translate(self._table).split(self.split)  # type: ignore[attr-defined]
        return [piece for piece in pieces if piece]

    def ids(self, text: str) -> list[int]:
        """Keras `texts_to_sequences` for one text (before padding or truncation)."""
        index, oov = self.word_index, self.oov_index
        if oov is None:
            return [i for word in self.words(text) if (i := index.get(word)) is not None]
        return [index.get(word, oov) for word in self.words(text)]

    def encode(self, texts: Sequence[str]) -> tuple[np.ndarray, list[int]]:
        """Ids padded/truncated to `maxlen` in front (Keras defaults), and each text's length."""
        batch = np.zeros((len(texts), self.maxlen), dtype=np.int64)
        lengths = []
        for row, text in enumerate(texts):
            ids = self.ids(text)
            lengths.append(len(ids))
            kept = ids[-self.maxlen :]
            if kept:
                batch[row, self.maxlen - len(kept) :] = kept
        return batch, lengths


def read_tokenizer_pickle(path: Path) -> KerasTokenizerState:
    """Unpickle a Keras tokenizer through the allow-list; any other class is refused."""
    try:
        with path.open("rb") as handle:
            state = RestrictedUnpickler(handle).load()
    except FileNotFoundError:
        raise ConfigError(
            f"tokenizer file {path} is missing: reinstall with "
            "`pip install --no-deps --force-reinstall toxic-comment-classifier`"
        ) from None
    except (pickle.UnpicklingError, EOFError, AttributeError, TypeError, ValueError) as exc:
        raise ConfigError(f"{path}: not a plain Keras tokenizer pickle ({exc})") from exc
    if not isinstance(state, KerasTokenizerState):
        raise ConfigError(f"{path}: holds a {type(state).__name__}, not a Keras tokenizer")
    return state


def load_tokenizer(path: Path, maxlen: int) -> WordTokenizer:
    """The packaged tokenizer, checked field by field, as a `WordTokenizer`."""
    state = read_tokenizer_pickle(path)
    attrs = state.__dict__
    word_index = attrs.get("word_index")
    num_words = attrs.get("num_words")
    if not isinstance(word_index, dict) or not all(
        isinstance(w, str) and isinstance(i, int) for w, i in word_index.items()
    ):
        raise ConfigError(f"{path}: the tokenizer has no word_index of words to ints")
    if attrs.get("char_level") or attrs.get("analyzer") is not None:
        raise ConfigError(f"{path}: char-level or custom-analyzer tokenizers are not supported")
    filters, split, lower = attrs.get("filters"), attrs.get("split"), attrs.get("lower")
    if not isinstance(filters, str) or not isinstance(split, str) or not split:
        raise ConfigError(f"{path}: the tokenizer's filters/split settings are not strings")
    if num_words is not None and not isinstance(num_words, int):
        raise ConfigError(f"{path}: the tokenizer's num_words is not an int")
    oov_token = attrs.get("oov_token")
    oov_index = word_index.get(oov_token) if oov_token is not None else None
    if num_words:
        word_index = {w: i for w, i in word_index.items() if i < num_words}
        if oov_index is not None:
            # Keras maps words past num_words to the OOV id too.
            full = attrs["word_index"]
            word_index = {w: (i if i < num_words else oov_index) for w, i in full.items()}
    return WordTokenizer(
        word_index=word_index,
        filters=filters,
        split=split,
        lower=bool(lower),
        maxlen=maxlen,
        oov_index=oov_index,
    )
