"""Sentences and word tokens for the hallucination scorers, without downloaded data.

Sentences come from the splitter ROUGE uses (`harness.metrics._tokenize.split_sentences`:
every line break ends a sentence; within a line, rules for . ! ? and common abbreviations),
so no nltk or spaCy data is needed. Word tokens keep punctuation as tokens of their own, as
spaCy's tokenizer does for the SelfCheckGPT n-gram model.
"""

from __future__ import annotations

import re

from harness.metrics._tokenize import split_sentences

MIN_SAMPLE_TOKENS = 4
"""SelfCheckGPT keeps a sample's sentences of more than 3 tokens (it compares against them)."""

_WORD = re.compile(r"\w+(?:['\u2019.-]\w+)*|[^\w\s]")


def word_tokens(text: str, *, lowercase: bool = True) -> list[str]:
    """Words (with inner apostrophes, hyphens, dots) and punctuation marks, in order."""
    tokens = _WORD.findall(text)
    return [t.lower() for t in tokens] if lowercase else tokens


def sentences(text: str) -> list[str]:
    """The sentences of a response, in order (none for an empty one)."""
    return split_sentences(text)


def sample_sentences(text: str, min_tokens: int = MIN_SAMPLE_TOKENS) -> list[str]:
    """The sentences of a sample that a main sentence is compared with.

    Sentences of fewer than `min_tokens` tokens are left out (list markers, "Sure!"), as
    SelfCheckGPT does; a sample with none left counts as one sentence, the whole text
    (empty for an empty sample).
    """
    found = [s for s in split_sentences(text) if len(word_tokens(s)) >= min_tokens]
    return found or [text.strip()]


__all__ = ["MIN_SAMPLE_TOKENS", "sample_sentences", "sentences", "word_tokens"]
