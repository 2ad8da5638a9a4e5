"""Tokenizer and sentence splitter for ROUGE that keep non-ASCII text.

rouge-score's default tokenizer lower-cases and replaces everything outside ``[a-z0-9]``
with spaces, so French loses its accented letters, and German, Chinese or Russian text
scores zero. `UnicodeTokenizer` gives the same tokens as rouge-score on ASCII text (so
the official ROUGE-1.5.5 vectors still match) and, on other text, keeps letters, digits
and combining marks of every script, with Chinese and Japanese split by character.

`split_sentences` replaces ``nltk.sent_tokenize`` (which needs downloaded punkt data)
for rougeLsum: newlines always end a sentence; otherwise a small set of rules.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from typing import Any

#: Scripts written without spaces between words, tokenized one character at a time:
#: Hiragana, Katakana, CJK Unified Ideographs (with extension A and B onwards) and
#: CJK Compatibility Ideographs.
CJK_RANGES = "\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0003134f"

_ASCII_TOKEN = re.compile(r"[a-z0-9]+")


@functools.cache
def _mark_class() -> str:
    """A regex character-class body holding every combining mark (category M*)."""
    ranges: list[tuple[int, int]] = []
    for cp in [*range(0x30000), *range(0xE0100, 0xE01F0)]:
        if unicodedata.category(chr(cp))[0] == "M":
            if ranges and ranges[-1][1] == cp - 1:
                ranges[-1] = (ranges[-1][0], cp)
            else:
                ranges.append((cp, cp))
    return "".join(f"{chr(a)}-{chr(b)}" if a != b else chr(a) for a, b in ranges)


@functools.cache
def _unicode_token() -> re.Pattern[str]:
    """One CJK character, or a run of letters, digits and combining marks."""
    return re.compile(f"[{CJK_RANGES}]|(?:[^\\W_{CJK_RANGES}]|[{_mark_class()}])+")


class UnicodeTokenizer:
    """Lower-cased word tokens of any script; rouge-score's tokens on ASCII text.

    ASCII text: the runs of ``[a-z0-9]`` after lower-casing, exactly as
    ``rouge_score.tokenize.tokenize``. Other text: NFKC-normalised, lower-cased runs of
    letters, digits and combining marks, each Chinese/Japanese character on its own.
    With `use_stemmer`, the Porter stemmer (nltk, as rouge-score) stems ASCII tokens of
    more than 3 characters; it only makes sense for English.
    """

    def __init__(self, use_stemmer: bool = False) -> None:
        self.use_stemmer = use_stemmer
        self._stemmer: Any = None
        self._stems: dict[str, str] = {}
        if use_stemmer:
            from nltk.stem import porter

            self._stemmer = porter.PorterStemmer()

    def tokenize(self, text: str) -> list[str]:
        """The tokens of `text` (the method rouge-score's scorer calls)."""
        if text.isascii():
            tokens = _ASCII_TOKEN.findall(text.lower())
        else:
            tokens = _unicode_token().findall(unicodedata.normalize("NFKC", text).lower())
        if self._stemmer is not None:
            tokens = [self._stem(t) if len(t) > 3 and t.isascii() else t for t in tokens]
        return tokens

    def _stem(self, token: str) -> str:
        stem = self._stems.get(token)
        if stem is None:
            if len(self._stems) > 200_000:
                self._stems.clear()
            stem = self._stems[token] = self._stemmer.stem(token)
        return stem


# -- sentence splitting -------------------------------------------------------------------

_TERMINAL = ".!?\u2026\u0964\u0965\u061f\u06d4"  # . ! ? … । ॥ ؟ ۔
_CLOSERS = "\"'\u201d\u2019\u00bb)\\]"
# Each run of end marks is tried once, from its start, without backtracking: "." * 20000
# took 5 s with a plain `+` (every dot started a match that failed at the end of the run).
_CANDIDATE = re.compile(f"(?<![{_TERMINAL}])[{_TERMINAL}]++[{_CLOSERS}]*+\\s+")
_CJK_MARKS = "\u3002\uff01\uff1f"  # 。！？
_CJK_STOP = re.compile(f"(?<![{_CJK_MARKS}])[{_CJK_MARKS}]++[{_CLOSERS}\u300d\u300f]*+\\s*")
_ABBREVIATIONS = frozenset(
    ["mr", "mrs", "ms", "dr", "prof", "sr", "jr", "st", "vs", "etc", "no", "fig", "eq", "al",
     "approx", "dept", "est", "inc", "ltd", "co", "corp", "jan", "feb", "mar", "apr", "jun",
     "jul", "aug", "sep", "sept", "oct", "nov", "dec", "e.g", "i.e", "u.s", "u.k"]
)  # fmt: skip


def _ends_abbreviation(text: str, end: int) -> bool:
    """True when the period before `end` closes an abbreviation or an initial."""
    start = end
    while start > 0 and not text[start - 1].isspace():
        start -= 1
    word = text[start:end].lstrip("\"'(\u201c\u2018[").lower()
    return (len(word) == 1 and word.isalpha()) or word in _ABBREVIATIONS


def _split_line(line: str) -> list[str]:
    sentences: list[str] = []
    start = 0
    for match in _CANDIDATE.finditer(line):
        after = match.end()
        if after >= len(line) or line[after].islower():
            continue
        period = match.group().startswith(".") and len(match.group().rstrip()) == 1
        if period and _ends_abbreviation(line, match.start()):
            continue
        sentences.append(line[start : match.start() + len(match.group().rstrip())])
        start = after
    sentences.append(line[start:])
    pieces: list[str] = []
    for sentence in sentences:
        cut = 0
        for match in _CJK_STOP.finditer(sentence):
            if match.end() < len(sentence):
                pieces.append(sentence[cut : match.start() + len(match.group().rstrip())])
                cut = match.end()
        pieces.append(sentence[cut:])
    return [p.strip() for p in pieces if p.strip()]


def split_sentences(text: str) -> list[str]:
    """Sentences of `text`: every line break ends one; within a line, a rule-based split.

    Within a line a sentence ends at ``. ! ? …`` (and ``। ॥ ؟ ۔``), with any closing
    quotes or brackets, followed by white space and a character that is not lower-case,
    unless the period closes a single-letter initial or a common English abbreviation
    (Mr., Dr., e.g., ...); it also ends after ``。！？`` with or without a space.
    """
    out: list[str] = []
    for line in text.splitlines():
        if line.strip():
            out.extend(_split_line(line))
    return out


def warm() -> None:
    """Build the lazily compiled patterns now (so timing excludes a one-off 0.1 s)."""
    _unicode_token()


__all__ = ["CJK_RANGES", "UnicodeTokenizer", "split_sentences", "warm"]
