"""Sentences and word tokens for the hallucination scorers, without downloaded data.

Sentences come from the splitter ROUGE uses (`harness.metrics._tokenize.split_sentences`:
every line break ends a sentence; within a line, rules for . ! ? and common abbreviations),
so no nltk or spaCy data is needed. Word tokens keep punctuation as tokens of their own, as
spaCy's tokenizer does for the SelfCheckGPT n-gram model.
"""

from __future__ import annotations

import re

from harness.metrics._tokenize import split_sentences

MIN_SENTENCE_TOKENS = 4
"""SelfCheckGPT compares with a sample's sentences of more than 3 tokens."""

_WORD = re.compile(r"\w+(?:['\u2019.-]\w+)*|[^\w\s]")


def word_tokens(text: str, *, lowercase: bool = True) -> list[str]:
    """Words (with inner apostrophes, hyphens, dots) and punctuation marks, in order."""
    tokens = _WORD.findall(text)
    return [t.lower() for t in tokens] if lowercase else tokens


_UNSPACED = "\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
"""Kana and CJK ideographs: scripts written without spaces, where a run is many words."""
_SIZE_TOKEN = re.compile(
    rf"[{_UNSPACED}]|[^\W{_UNSPACED}]+(?:['\u2019.-][^\W{_UNSPACED}]+)*|[^\w\s]"
)


def _size(sentence: str) -> int:
    """Tokens as a fragment test counts them: words, punctuation, and each kana or CJK
    character (a run of them is several words; `word_tokens` keeps it as one)."""
    return len(_SIZE_TOKEN.findall(sentence))


def sentences(text: str, min_tokens: int = MIN_SENTENCE_TOKENS) -> list[str]:
    """The sentences of a response, in order (none for an empty one).

    A fragment of fewer than `min_tokens` tokens (a list marker "1.", "Sure!", "No.") joins
    the sentence after it, and a last one the sentence before: nothing is scored alone that
    no sentence of a sample could match, and no word is dropped. (SelfCheckGPT drops such
    fragments from the samples only, so a response "1. X" scored against copies of itself
    would look inconsistent.) A response of only fragments is one sentence.
    """
    found: list[str] = []
    pending = ""
    for sentence in split_sentences(text):
        if not word_tokens(sentence):
            continue
        sentence = f"{pending} {sentence}" if pending else sentence
        if _size(sentence) < min_tokens:
            pending = sentence
            continue
        found.append(sentence)
        pending = ""
    if pending:
        if found:
            found[-1] = f"{found[-1]} {pending}"
        else:
            found.append(pending)
    return found


def sample_sentences(text: str) -> list[str]:
    """The sentences of a sample that a main sentence is compared with: split as the main
    response is; an empty sample counts as one empty sentence."""
    return sentences(text) or [text.strip()]


__all__ = ["MIN_SENTENCE_TOKENS", "sample_sentences", "sentences", "word_tokens"]
